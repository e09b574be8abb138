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
#include <stdbool.h>
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
