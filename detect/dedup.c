/*
 * detect/dedup.c - the duplicate window (see tripline/dedup.h).
 *
 * Slices form a ring indexed by slot % n_slices, where slot = floor(time / slice_ns). Each
 * slice is an open-addressing table of 64-bit fingerprints (0 marks an empty cell), grown by
 * doubling while the total stays under max_entries. Slices behind the watermark are cleared
 * and reused, so steady state allocates nothing. Before the first watermark the window is
 * anchored at the first record's slot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/dedup.h>
#include <tripline/time.h>

struct slice {
	int64_t slot;    /* which slot the table holds; INT64_MIN = none */
	uint64_t *cells; /* power-of-two size */
	uint64_t mask;   /* cells - 1; 0 when unallocated */
	uint64_t used;
};

struct tl_dedup {
	struct tl_dedup_opts o;
	int64_t oldest; /* the oldest slot kept; INT64_MIN until anchored */
	uint64_t total; /* fingerprints held over all slices */
	uint64_t unchecked;
	/* the slot of the last time looked up, to skip two divisions for the next record,
	 * which is most often in the same slot */
	int64_t memo_lo, memo_slot;
	struct slice *memo;
	struct slice slices[];
};

struct tl_dedup *tl_dedup_new(const struct tl_dedup_opts *opts)
{
	struct tl_dedup_opts o = { .slice_ns = 2 * TL_NS_PER_MIN,
				   .n_slices = 4,
				   .max_entries = UINT64_C(8) << 20 };
	struct tl_dedup *d;

	if (opts) {
		if (opts->slice_ns > 0)
			o.slice_ns = opts->slice_ns;
		if (opts->n_slices > 0)
			o.n_slices = opts->n_slices;
		if (opts->max_entries > 0)
			o.max_entries = opts->max_entries;
	}
	if (o.slice_ns < TL_NS_PER_S)
		o.slice_ns = TL_NS_PER_S;
	if (o.n_slices > 64)
		o.n_slices = 64;
	d = calloc(1, sizeof(*d) + o.n_slices * sizeof(struct slice));
	if (!d)
		return NULL;
	d->o = o;
	d->oldest = INT64_MIN;
	d->memo = &d->slices[0]; /* slot 0: [0, slice_ns) */
	for (uint32_t i = 0; i < o.n_slices; i++)
		d->slices[i].slot = INT64_MIN;
	return d;
}

void tl_dedup_free(struct tl_dedup *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->o.n_slices; i++)
		free(d->slices[i].cells);
	free(d);
}

static void slice_reset(struct tl_dedup *d, struct slice *s, int64_t slot)
{
	if (s->used) {
		memset(s->cells, 0, (s->mask + 1) * sizeof(*s->cells));
		d->total -= s->used;
		s->used = 0;
	}
	s->slot = slot;
}

/* Cells of a slice's first table: 1024, or fewer if max_entries needs fewer. */
static uint64_t first_cells(uint64_t max_entries)
{
	uint64_t n = 2;

	if (max_entries >= 512)
		return 1024;
	while (n < 2 * max_entries)
		n <<= 1;
	return n;
}

static bool slice_grow(struct tl_dedup *d, struct slice *s)
{
	uint64_t n = s->mask ? (s->mask + 1) * 2 : first_cells(d->o.max_entries);
	uint64_t *cells;

	/* a table is at most half full, so its size is bounded by 2 * max_entries: the first
	 * one rounded up to a power of two */
	if (s->mask && n > 2 * d->o.max_entries)
		return false;
	cells = calloc(n, sizeof(*cells));
	if (!cells)
		return false;
	for (uint64_t i = 0; s->mask && i <= s->mask; i++) {
		uint64_t fp = s->cells[i];

		if (fp) {
			uint64_t j = fp & (n - 1);

			while (cells[j])
				j = (j + 1) & (n - 1);
			cells[j] = fp;
		}
	}
	free(s->cells);
	s->cells = cells;
	s->mask = n - 1;
	return true;
}

void tl_dedup_advance(struct tl_dedup *d, int64_t watermark_ns)
{
	const int64_t oldest = tl_floor_div(watermark_ns, d->o.slice_ns) - 1;

	if (d->oldest != INT64_MIN && oldest <= d->oldest)
		return;
	for (uint32_t i = 0; i < d->o.n_slices; i++)
		if (d->slices[i].slot != INT64_MIN && d->slices[i].slot < oldest)
			slice_reset(d, &d->slices[i], INT64_MIN);
	d->oldest = oldest;
}

static inline bool memo_holds(const struct tl_dedup *d, int64_t time_ns)
{
	return time_ns >= d->memo_lo && time_ns - d->memo_lo < d->o.slice_ns;
}

/* The place in the ring of the slice of @slot. */
static inline uint64_t ring_pos(const struct tl_dedup *d, int64_t slot)
{
	const int64_t n = d->o.n_slices;

	return (uint64_t)(slot % n + n) % (uint64_t)n;
}

/* The slice of @slot's place in the ring, and @slot, of a record at @time_ns. */
static inline struct slice *slice_of(struct tl_dedup *d, int64_t time_ns, int64_t *ret_slot)
{
	if (memo_holds(d, time_ns)) {
		*ret_slot = d->memo_slot;
		return d->memo;
	}
	const int64_t slot = tl_floor_div(time_ns, d->o.slice_ns);
	struct slice *s = &d->slices[ring_pos(d, slot)];

	if (time_ns >= 0) { /* slot * slice_ns cannot overflow */
		d->memo_lo = slot * d->o.slice_ns;
		d->memo_slot = slot;
		d->memo = s;
	}
	*ret_slot = slot;
	return s;
}

void tl_dedup_prefetch(const struct tl_dedup *d, int64_t time_ns, uint64_t fingerprint)
{
	/* as slice_of(), but the memo stays the checks' own: records a batch ahead would move
	 * it back and forth at each slice boundary */
	const bool memo = memo_holds(d, time_ns);
	const int64_t slot = memo ? d->memo_slot : tl_floor_div(time_ns, d->o.slice_ns);
	const struct slice *s = memo ? d->memo : &d->slices[ring_pos(d, slot)];

	if (s->slot == slot && s->mask)
		__builtin_prefetch(&s->cells[(fingerprint ? fingerprint : 1) & s->mask]);
}

enum tl_dedup_result tl_dedup_check(struct tl_dedup *d, int64_t time_ns, uint64_t fingerprint)
{
	const int64_t n = d->o.n_slices;
	int64_t slot;
	struct slice *s = slice_of(d, time_ns, &slot);

	if (fingerprint == 0)
		fingerprint = 1;
	if (d->oldest == INT64_MIN)
		d->oldest = slot - 1; /* before any watermark: around the first record */
	if (slot < d->oldest || slot >= d->oldest + n) {
		d->unchecked++;
		return TL_DEDUP_UNCHECKED;
	}
	if (s->slot != slot)
		slice_reset(d, s, slot); /* held a slot the window has left */
	if (s->mask) {
		for (uint64_t i = fingerprint & s->mask; s->cells[i]; i = (i + 1) & s->mask)
			if (s->cells[i] == fingerprint)
				return TL_DEDUP_DUPLICATE;
	}
	if (d->total >= d->o.max_entries ||
	    ((s->used + 1) * 2 > s->mask + 1 && !slice_grow(d, s))) {
		d->unchecked++;
		return TL_DEDUP_UNCHECKED;
	}
	uint64_t i = fingerprint & s->mask;

	while (s->cells[i])
		i = (i + 1) & s->mask;
	s->cells[i] = fingerprint;
	s->used++;
	d->total++;
	return TL_DEDUP_NEW;
}

void tl_dedup_get_stats(const struct tl_dedup *d, struct tl_dedup_stats *ret_stats)
{
	uint64_t bytes = sizeof(*d) + d->o.n_slices * sizeof(struct slice);

	for (uint32_t i = 0; i < d->o.n_slices; i++)
		if (d->slices[i].mask)
			bytes += (d->slices[i].mask + 1) * sizeof(uint64_t);
	*ret_stats = (struct tl_dedup_stats){ .entries = d->total,
					      .unchecked = d->unchecked,
					      .bytes = bytes };
}

/* ---- save and load ---------------------------------------------------------------------- */

/*
 * The saved state, every field little-endian:
 *   i64 slice_ns, u32 n_slices, u64 max_entries   the settings, checked on load
 *   i64 oldest, u64 unchecked
 *   n_slices x { i64 slot, u64 used, u64 cells (0: no table), cells x u64 }
 * A table is written as it lies, empty cells included, so a load puts every fingerprint back
 * in its cell and later probes go exactly as they would have (the file is compressed).
 */
static void put_u64(struct tl_buf *b, uint64_t v)
{
	unsigned char t[8];

	for (int i = 0; i < 8; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	tl_buf_put(b, t, 8);
}

void tl_dedup_save(const struct tl_dedup *d, struct tl_buf *out)
{
	unsigned char chunk[4096];

	put_u64(out, (uint64_t)d->o.slice_ns);
	put_u64(out, d->o.n_slices);
	put_u64(out, d->o.max_entries);
	put_u64(out, (uint64_t)d->oldest);
	put_u64(out, d->unchecked);
	for (uint32_t i = 0; i < d->o.n_slices; i++) {
		const struct slice *s = &d->slices[i];
		const uint64_t cells = s->mask ? s->mask + 1 : 0;

		put_u64(out, (uint64_t)s->slot);
		put_u64(out, s->used);
		put_u64(out, cells);
		/* in chunks of 512 cells, one append each */
		for (uint64_t c = 0; c < cells; c += sizeof(chunk) / 8) {
			size_t k = 0;

			for (; k < sizeof(chunk) / 8 && c + k < cells; k++)
				for (int j = 0; j < 8; j++)
					chunk[8 * k + (size_t)j] =
					    (unsigned char)(s->cells[c + k] >> (8 * j));
			tl_buf_put(out, chunk, 8 * k);
		}
	}
}

/* A reader over the saved bytes; a read past the end zeroes the rest and marks it short. */
struct reader {
	const unsigned char *p;
	size_t n;
	bool short_read;
};

static uint64_t get_u64(struct reader *r)
{
	uint64_t v = 0;

	if (r->n < 8) {
		r->short_read = true;
		r->n = 0;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	r->n -= 8;
	return v;
}

/* Times and slots a window can hold: no sum or difference of two of them overflows. */
static bool slot_ok(int64_t v)
{
	return v > -(INT64_C(1) << 61) && v < (INT64_C(1) << 61);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) TL_PRINTF(3, 4);

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return TL_ECORRUPT;
}

static int mismatch(char *err, size_t errlen, const char *what, uint64_t saved, uint64_t now)
{
	if (errlen)
		(void)snprintf(err, errlen, "duplicate window %s: saved %llu, now %llu", what,
			       (unsigned long long)saved, (unsigned long long)now);
	return TL_EMISMATCH;
}

int tl_dedup_load(struct tl_dedup *d, const void *p, size_t n, size_t *ret_used, char *err,
		  size_t errlen)
{
	struct reader r = { .p = p, .n = n };
	const uint32_t ns = d->o.n_slices;
	const uint64_t first = first_cells(d->o.max_entries);
	struct slice tmp[64];
	uint64_t total = 0, v;
	uint32_t i = 0;
	int ret = -ENOMEM;

	if (d->oldest != INT64_MIN || d->total || d->unchecked)
		return -EINVAL;
	if ((v = get_u64(&r)) != (uint64_t)d->o.slice_ns && !r.short_read)
		return mismatch(err, errlen, "slice_ns", v, (uint64_t)d->o.slice_ns);
	if ((v = get_u64(&r)) != ns && !r.short_read)
		return mismatch(err, errlen, "n_slices", v, ns);
	if ((v = get_u64(&r)) != d->o.max_entries && !r.short_read)
		return mismatch(err, errlen, "max_entries", v, d->o.max_entries);
	const int64_t oldest = (int64_t)get_u64(&r);
	const uint64_t unchecked = get_u64(&r);

	if (r.short_read)
		return fail(err, errlen, "duplicate window: truncated");
	if (oldest != INT64_MIN && !slot_ok(oldest))
		return fail(err, errlen, "duplicate window: oldest slot %lld", (long long)oldest);
	memset(tmp, 0, sizeof(tmp));
	for (; i < ns; i++) {
		struct slice *s = &tmp[i];
		const int64_t slot = (int64_t)get_u64(&r);
		const uint64_t used = get_u64(&r), cells = get_u64(&r);
		uint64_t held = 0;

		if (r.short_read || cells > r.n / 8)
			goto out_truncated;
		/* a slice holds the slots of its place in the ring; a table is a power of two,
		 * of a size slice_grow() makes, at most half full; a slice no slot uses is empty */
		if (slot != INT64_MIN && (!slot_ok(slot) || ring_pos(d, slot) != i))
			goto out_impossible;
		if (cells && ((cells & (cells - 1)) || cells < 2 ||
			      (cells != first && (cells < first || cells > 2 * d->o.max_entries))))
			goto out_impossible;
		if (used * 2 > cells || (slot == INT64_MIN && used))
			goto out_impossible;
		s->slot = slot;
		if (cells) {
			s->cells = malloc(cells * sizeof(*s->cells));
			if (!s->cells)
				goto out_free;
			s->mask = cells - 1;
			for (uint64_t c = 0; c < cells; c++) {
				s->cells[c] = get_u64(&r);
				held += s->cells[c] != 0;
			}
		}
		if (held != used)
			goto out_impossible;
		s->used = used;
		total += used;
	}
	if (total > d->o.max_entries) {
		ret = fail(err, errlen, "duplicate window: %llu fingerprints, more than it keeps",
			   (unsigned long long)total);
		goto out_free;
	}
	for (i = 0; i < ns; i++) {
		free(d->slices[i].cells);
		d->slices[i] = tmp[i];
	}
	d->oldest = oldest;
	d->total = total;
	d->unchecked = unchecked;
	*ret_used = n - r.n;
	return 0;

out_truncated:
	ret = fail(err, errlen, "duplicate window: truncated");
	goto out_free;
out_impossible:
	ret = fail(err, errlen, "duplicate window: slice %u is impossible", i);
out_free:
	for (uint32_t k = 0; k < ns; k++)
		free(tmp[k].cells);
	return ret;
}
