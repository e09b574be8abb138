/*
 * tripline/dedup.h - drop records delivered twice (Event Hubs delivers at least once).
 *
 * A duplicate has the same category, correlation id and time as a record already seen, so
 * it also falls in the same time slice: the window keeps one fingerprint table per slice of
 * event time (slice width = the lateness setting), n_slices of them from the watermark's
 * slice on, and forgets a whole slice once the watermark has passed it by a slice. Only the
 * watermark moves the window (never one record's time), so every shard of a sharded engine
 * decides the same. Memory is bounded by max_entries over all slices; past that, and for
 * records older than the window or too far ahead of it, records pass unchecked and are
 * counted. Not thread-safe: one window per detector shard.
 */
#ifndef TL_DEDUP_H
#define TL_DEDUP_H
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/error.h>

struct tl_dedup_opts {
	int64_t slice_ns;     /* width of a time slice; default 2 min */
	uint32_t n_slices;    /* slices kept; default 4: one behind the watermark, three ahead */
	uint64_t max_entries; /* fingerprints kept over all slices; default 8 M */
};

enum tl_dedup_result {
	TL_DEDUP_NEW = 0,       /* first time seen; now remembered */
	TL_DEDUP_DUPLICATE = 1, /* seen before in the window */
	TL_DEDUP_UNCHECKED = 2, /* older than the window, too far ahead of it, or it is full */
};

struct tl_dedup_stats {
	uint64_t entries;   /* fingerprints held now */
	uint64_t unchecked; /* records that could not be checked */
	uint64_t bytes;     /* memory held by the tables */
};

struct tl_dedup;

/** tl_dedup_new() - a window with @opts (NULL: defaults). Return: NULL if out of memory. */
struct tl_dedup *tl_dedup_new(const struct tl_dedup_opts *opts);
/** tl_dedup_free() - NULL is a no-op. */
void tl_dedup_free(struct tl_dedup *d);

/**
 * tl_dedup_check() - look up @fingerprint (nonzero) of a record at @time_ns, and remember it.
 * Return: enum tl_dedup_result. Thread: the shard owning @d.
 */
enum tl_dedup_result tl_dedup_check(struct tl_dedup *d, int64_t time_ns, uint64_t fingerprint);

/**
 * tl_dedup_prefetch() - start loading the cell tl_dedup_check() will probe first for this
 * record, so a batch can overlap its memory latencies. Changes nothing. Thread: the owner.
 */
void tl_dedup_prefetch(const struct tl_dedup *d, int64_t time_ns, uint64_t fingerprint);

/**
 * tl_dedup_advance() - the watermark moved to @watermark_ns: slices older than a slice
 * before it are forgotten. Thread: the shard owning @d.
 */
void tl_dedup_advance(struct tl_dedup *d, int64_t watermark_ns);

void tl_dedup_get_stats(const struct tl_dedup *d, struct tl_dedup_stats *ret_stats);

/**
 * tl_dedup_save() - append @d's whole state to @out: its settings, its position, and each
 * slice's table as it lies in memory (little-endian; the layout is in dedup.c). A failed
 * append shows in tl_buf_ok(@out). Thread: the owner, between checks.
 */
void tl_dedup_save(const struct tl_dedup *d, struct tl_buf *out);

/**
 * tl_dedup_load() - restore the state tl_dedup_save() wrote at the start of the @n bytes at
 * @p into @d, a window that has checked nothing yet, made with the same settings. It then
 * decides every later record as the saved window would have.
 * @ret_used: the bytes the state took, written on success only.
 * @err: what was wrong, for TL_EMISMATCH the setting with its saved and current value.
 * Return: 0, TL_ECORRUPT (truncated or impossible), TL_EMISMATCH, -EINVAL (@d has checked
 * records), -ENOMEM. On failure @d is unchanged. Reads nothing outside the @n bytes.
 */
int tl_dedup_load(struct tl_dedup *d, const void *p, size_t n, size_t *ret_used, char *err,
		  size_t errlen);

#endif /* TL_DEDUP_H */
