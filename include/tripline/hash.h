/*
 * tripline/hash.h - a fast 64-bit hash for keys (series, symbols, duplicate fingerprints).
 * Not cryptographic. Stable across runs and machines: incident ids and shard choice depend
 * on it, so changing it changes user-visible ids.
 */
#ifndef TL_HASH_H
#define TL_HASH_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TL_HASH_SEED UINT64_C(0x9e3779b97f4a7c15)

static inline uint64_t tl_hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static inline uint64_t tl_hash__load(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, p, n); /* little-endian hosts only; see meson.build */
	return v;
}

/*
 * The same value as tl_hash__load(p, n) for 1 <= n <= 7, from whole loads in registers: a
 * short copy into a zeroed word read back at once stalls on store forwarding, and names
 * (interned per record) mostly end in such a tail. Overlapping loads put the shared bytes
 * at the same places, so OR joins them.
 */
static inline uint64_t tl_hash__tail(const unsigned char *p, size_t n)
{
	if (n >= 4) {
		uint32_t a, b;

		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		return a | ((uint64_t)b << (8 * (n - 4)));
	}
	if (n >= 2) {
		uint16_t a, b;

		memcpy(&a, p, 2);
		memcpy(&b, p + n - 2, 2);
		return a | ((uint64_t)b << (8 * (n - 2)));
	}
	return p[0];
}

/**
 * tl_hash64() - hash @len bytes at @p with @seed.
 * Thread: any.
 */
static inline uint64_t tl_hash64(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *s = (const unsigned char *)p;
	uint64_t h = seed ^ (len * UINT64_C(0x87c37b91114253d5));

	while (len >= 16) {
		uint64_t a = tl_hash__load(s, 8), b = tl_hash__load(s + 8, 8);

		h = (h ^ tl_hash_mix(a + UINT64_C(0x2545f4914f6cdd1d))) * UINT64_C(0x100000001b3);
		h = (h ^ (b * UINT64_C(0x9fb21c651e98df25))) * UINT64_C(0xc2b2ae3d27d4eb4f);
		h ^= h >> 29;
		s += 16;
		len -= 16;
	}
	if (len >= 8) {
		h = (h ^ tl_hash_mix(tl_hash__load(s, 8) + UINT64_C(0x2545f4914f6cdd1d))) *
		    UINT64_C(0x100000001b3);
		s += 8;
		len -= 8;
	}
	if (len > 0)
		h = (h ^ (tl_hash__tail(s, len) * UINT64_C(0x9fb21c651e98df25) + len)) *
		    UINT64_C(0xc2b2ae3d27d4eb4f);
	return tl_hash_mix(h);
}

/** tl_hash_combine() - an order-dependent combination of two hashes. */
static inline uint64_t tl_hash_combine(uint64_t a, uint64_t b)
{
	return tl_hash_mix(a ^ (b + UINT64_C(0x9e3779b97f4a7c15) + (a << 6) + (a >> 2)));
}

#endif /* TL_HASH_H */
