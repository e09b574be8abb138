/*
 * ingest/flat.c - the fast path for a record that is one flat JSON object (see
 * tl_flat_visit() in ingest_int.h).
 *
 * A RequestResponse line is an object of a dozen strings and numbers. simdjson indexes every
 * structural character of the line (stage 1), then walks them and copies each string it
 * returns. For this shape less does: an index of the quotes that open and close strings (64
 * bytes a step, escapes resolved with bit masks, so the `properties` string full of \" is
 * crossed in one jump), then a walk from quote to quote that leaves strings where they are. Like
 * embedded.c, the recognizer is narrow on purpose: the first byte outside its grammar (a
 * nested value, a number that is not a short integer, a byte that is not printable ASCII, an
 * escape in a key) sends the whole document to simdjson, which then decides, so errors and
 * their messages stay simdjson's. It never delivers a record it has not read to the end.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ingest_int.h"

/* Spaces: the index has declined the other whitespace (control characters). */
static inline const char *skip_ws(const char *p, const char *e)
{
	while (p < e && *p == ' ')
		p++;
	return p;
}

/* Whether @c may follow a backslash in a string this path accepts (all but \u). */
static inline bool simple_escape(char c)
{
	return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
	       c == 't';
}

/* Records longer than this go to simdjson (a RequestResponse line is under 1 KiB). */
#define FLAT_MAX   4096
#define FLAT_WORDS (FLAT_MAX / 64)

/*
 * Where a record's strings start and end, found before it is walked: bit i of a word is byte
 * 64 * w + i of the record.
 */
struct flat_index {
	uint64_t quote[FLAT_WORDS];     /* quotes that are not escaped: strings open and close */
	uint64_t backslash[FLAT_WORDS]; /* every backslash */
	size_t n_words;
};

/*
 * Of the 64 bytes at @p, bit i set where byte i is a quote (*@q), a backslash (*@b), below
 * 0x20 or above 0x7f (*@c).
 */
static inline void masks64(const char *p, uint64_t *q, uint64_t *b, uint64_t *c)
{
#if defined(__AVX2__)
	const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\');
	const __m256i space = _mm256_set1_epi8(0x20);
	const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)p);
	const __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));

#define TL_M64(cmp)                                          \
	((uint64_t)(uint32_t)_mm256_movemask_epi8(cmp(lo)) | \
	 (uint64_t)(uint32_t)_mm256_movemask_epi8(cmp(hi)) << 32)
#define TL_EQ_Q(w) _mm256_cmpeq_epi8(w, quote)
#define TL_EQ_B(w) _mm256_cmpeq_epi8(w, bslash)
	/* signed compare: bytes 0x80 to 0xff are negative, so below 0x20 too */
#define TL_LT_SP(w) _mm256_cmpgt_epi8(space, w)
	*q = TL_M64(TL_EQ_Q);
	*b = TL_M64(TL_EQ_B);
	*c = TL_M64(TL_LT_SP);
#undef TL_M64
#undef TL_EQ_Q
#undef TL_EQ_B
#undef TL_LT_SP
#elif defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	*q = *b = *c = 0;
	for (int i = 0; i < 4; i++) {
		const __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));

		*q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, quote)) << (16 * i);
		*b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, bslash)) << (16 * i);
		/* signed compare: bytes 0x80 to 0xff are negative, so below 0x20 too */
		*c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(w, space)) << (16 * i);
	}
#else
	*q = *b = *c = 0;
	for (int i = 0; i < 64; i++) {
		const unsigned char x = (unsigned char)p[i];

		*q |= (uint64_t)(x == '"') << i;
		*b |= (uint64_t)(x == '\\') << i;
		*c |= (uint64_t)(x < 0x20 || x > 0x7f) << i;
	}
#endif
}

/*
 * Index @len bytes at @doc (63 readable bytes after them). False when the record holds a
 * byte this path declines: a control character or any byte above 0x7f (even between tokens:
 * a record on one line has none), or an escape other than the simple ones.
 */
static bool flat_index(struct flat_index *ix, const char *doc, size_t len)
{
	uint64_t carry = 0; /* the next word's first byte is escaped */

	ix->n_words = (len + 63) / 64;
	for (size_t w = 0; w < ix->n_words; w++) {
		const char *p = doc + 64 * w;
		const uint64_t in =
		    len - 64 * w >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << (len - 64 * w)) - 1;
		uint64_t q, b, c, esc;

		masks64(p, &q, &b, &c);
		if (c & in)
			return false;
		q &= in;
		b &= in;
		if (!(b & ((b << 1) | carry))) {
			/* no backslash is itself escaped: each escapes the byte after it */
			esc = (b << 1) | carry;
			carry = b >> 63;
		} else {
			/* runs of backslashes: pair them off in order */
			esc = carry;
			carry = 0;
			for (uint64_t r = b; r; r &= r - 1) {
				const int i = __builtin_ctzll(r);

				if (esc & (UINT64_C(1) << i))
					continue; /* this backslash is escaped */
				if (i == 63)
					carry = 1;
				else
					esc |= UINT64_C(1) << (i + 1);
			}
		}
		/* every escape is a simple one: \" needs no look */
		for (uint64_t r = esc & ~q & in; r; r &= r - 1)
			if (!simple_escape(p[__builtin_ctzll(r)]))
				return false;
		ix->quote[w] = q & ~esc;
		ix->backslash[w] = b;
	}
	return true;
}

/* The first unescaped quote at or after byte @from, or SIZE_MAX. */
static inline size_t next_quote(const struct flat_index *ix, size_t from)
{
	size_t w = from / 64;

	if (w >= ix->n_words)
		return SIZE_MAX;
	uint64_t m = ix->quote[w] & (~UINT64_C(0) << (from % 64));

	while (!m) {
		if (++w >= ix->n_words)
			return SIZE_MAX;
		m = ix->quote[w];
	}
	return 64 * w + (size_t)__builtin_ctzll(m);
}

/* Whether bytes [@a, @b) hold a backslash. */
static inline bool any_backslash(const struct flat_index *ix, size_t a, size_t b)
{
	if (b - a < 64 - a % 64) /* within one word, as most strings are */
		return (ix->backslash[a / 64] >> (a % 64)) & ((UINT64_C(1) << (b - a)) - 1);
	for (size_t w = a / 64; w * 64 < b; w++) {
		uint64_t m = ix->backslash[w];

		if (w == a / 64)
			m &= ~UINT64_C(0) << (a % 64);
		if (w == (b - 1) / 64 && b % 64)
			m &= (UINT64_C(1) << (b % 64)) - 1;
		if (m)
			return true;
	}
	return false;
}

bool tl_flat_visit(const char *doc, size_t len, const struct tl_jkeys *ks, struct tl_jval *vals,
		   tl_json_record_fn fn, void *ud, int *ret_stop)
{
	const char *p = doc, *e = doc + len;
	struct flat_index ix;

	if (len > FLAT_MAX || !flat_index(&ix, doc, len))
		return false;
	p = skip_ws(p, e);
	if (p == e || *p++ != '{')
		return false;
	tl_jkeys_clear(ks, vals);
	p = skip_ws(p, e);
	if (p < e && *p == '}') {
		p++;
		goto out_end;
	}
	for (;;) {
		if (p == e || *p != '"')
			return false;
		/* @p follows a structural character: its quote is not escaped */
		const size_t ko = (size_t)(p - doc) + 1, kc = next_quote(&ix, ko);

		if (kc == SIZE_MAX || any_backslash(&ix, ko, kc))
			return false; /* simdjson's walk skips a key with an escape: so would we */
		const char *k = doc + ko, *ke = doc + kc;
		const size_t klen = kc - ko;

		if (klen == 7 && memcmp(k, "records", 7) == 0)
			return false; /* perhaps an envelope */
		p = skip_ws(ke + 1, e);
		if (p == e || *p++ != ':')
			return false;
		p = skip_ws(p, e);
		if (p == e)
			return false;

		const struct tl_jkey *key = tl_jkeys_find(ks, k, klen);
		/* written in place, a field at a time (see embedded.c: store forwarding) */
		struct tl_jval sink, *v = key ? &vals[key->slot] : &sink;

		v->escaped = false;
		if (*p == '"') {
			const size_t so = (size_t)(p - doc) + 1, sc = next_quote(&ix, so);

			if (sc == SIZE_MAX)
				return false;
			const bool esc = any_backslash(&ix, so, sc);

			/* a slot that is not raw wants the text unescaped: simdjson's job */
			if (esc && key && !(key->flags & TL_JK_RAWSTR))
				return false;
			v->type = TL_JT_STRING;
			v->escaped = esc;
			v->s = doc + so;
			v->n = sc - so;
			p = doc + sc + 1;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			if (!(p = tl_flat_int(p, e, &v->i)))
				return false;
			v->type = TL_JT_INT;
		} else if (e - p >= 4 && memcmp(p, "true", 4) == 0) {
			v->type = TL_JT_BOOL;
			v->b = true;
			p += 4;
		} else if (e - p >= 5 && memcmp(p, "false", 5) == 0) {
			v->type = TL_JT_BOOL;
			v->b = false;
			p += 5;
		} else if (e - p >= 4 && memcmp(p, "null", 4) == 0) {
			v->type = TL_JT_NULL;
			p += 4;
		} else {
			return false; /* a nested object or array, or not JSON */
		}
		p = skip_ws(p, e);
		if (p == e)
			return false;
		if (*p == '}') {
			p++;
			break;
		}
		if (*p++ != ',')
			return false;
		p = skip_ws(p, e);
	}
out_end:
	if (skip_ws(p, e) != e)
		return false; /* trailing content: simdjson reports it */

	const struct tl_jrec rec = { vals, doc, (size_t)(p - doc), false };

	*ret_stop = fn(ud, &rec);
	return true;
}
