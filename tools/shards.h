/*
 * tools/shards.h - the detector shards: N engines, each owning the series whose key hashes to
 * it, fed through SPSC rings by the thread that reads (tools/shards.c).
 */
#ifndef TL_TOOLS_SHARDS_H
#define TL_TOOLS_SHARDS_H
#include <stddef.h>
#include <stdint.h>

#include <tripline/engine.h>
#include <tripline/symtab.h>

#include "report.h"

struct tl_shards;

/**
 * tl_shards_new() - @n engines with @opts; their triggers go to @report, in order.
 * With @n == 1 the engine runs in the caller's thread.
 * Return: 0 or -errno.
 */
int tl_shards_new(unsigned n, const struct tl_engine_opts *opts, struct tl_symtab *syms,
		  struct tl_report *report, struct tl_shards **ret);

/** tl_shards_push() - an event, to the shard owning its series. */
void tl_shards_push(struct tl_shards *p, const struct tl_event *ev);

/**
 * tl_shards_advance() - the watermark moved: every shard closes the buckets it passed, and the
 * triggers of each step are written once all shards have made it.
 */
void tl_shards_advance(struct tl_shards *p, int64_t watermark_ns);

/**
 * tl_shards_wait() - return once every trigger at or before @watermark_ns has been written:
 * the steps up to the first whose watermark reaches it (at once with one shard).
 */
void tl_shards_wait(struct tl_shards *p, int64_t watermark_ns);

/**
 * tl_shards_written_wm() - the watermark of the last step whose triggers have been written,
 * INT64_MIN before any.
 */
int64_t tl_shards_written_wm(const struct tl_shards *p);

/**
 * tl_shards_barrier() - return once every shard has taken every event sent so far into its
 * engine and every trigger up to now is written; the engines are then idle until the next
 * push or advance, so the caller may read them (tl_shards_engine()).
 */
void tl_shards_barrier(struct tl_shards *p);

/** tl_shards_n() / tl_shards_engine() - the number of shards, shard @k's engine. */
unsigned tl_shards_n(const struct tl_shards *p);
struct tl_engine *tl_shards_engine(struct tl_shards *p, unsigned k);

/**
 * tl_shards_last_wm() / tl_shards_set_last_wm() - the last watermark step sent (a bucket
 * end, INT64_MIN before any); set it when the engines were restored from a checkpoint taken
 * there, before any push.
 */
int64_t tl_shards_last_wm(const struct tl_shards *p);
void tl_shards_set_last_wm(struct tl_shards *p, int64_t watermark_ns);

/**
 * tl_shards_reload() - take new rules: after a barrier, each engine's state goes into a new
 * engine made with @opts (tl_engine_save(), tl_engine_load()), which then does what the old
 * would have, under the new rules and thresholds. All engines or none are replaced.
 * @err: why not (for TL_EMISMATCH the setting whose change needs a restart).
 * Return: 0; TL_EMISMATCH (@opts change the geometry: bucket, lateness, horizon, ...);
 * TL_ECORRUPT (cannot happen with a state just saved); -ENOMEM. The engines as they were on
 * failure. Thread: the caller's (the reader).
 */
int tl_shards_reload(struct tl_shards *p, const struct tl_engine_opts *opts, struct tl_symtab *syms,
		     char *err, size_t errlen);

/**
 * tl_shards_on_step() - call @cb in the caller's thread each time a step's triggers (maybe
 * none) have been written: after a watermark step, with its watermark (a bucket end), and
 * after a barrier's or the finish's empty step, with the last watermark or INT64_MAX.
 */
void tl_shards_on_step(struct tl_shards *p, void (*cb)(void *ud, int64_t watermark_ns), void *ud);

/** tl_shards_finish() - stop the threads after all they were given, write the last triggers. */
void tl_shards_finish(struct tl_shards *p);

/** tl_shards_counts() - the counts of all shards added up. */
void tl_shards_counts(const struct tl_shards *p, struct tl_engine_counts *ret);

/** tl_shards_series_count() / _at() - every shard's series, shard by shard. */
size_t tl_shards_series_count(const struct tl_shards *p);
const struct tl_series_stats *tl_shards_series_at(const struct tl_shards *p, size_t i);

/** tl_shards_series_bytes() - the fixed bytes of one series (rings, baselines, state). */
size_t tl_shards_series_bytes(const struct tl_shards *p);

/** tl_shards_ahead_ns() - how far past the closed time an event is dropped as ahead. */
int64_t tl_shards_ahead_ns(const struct tl_shards *p);

/** tl_shards_memory() - bytes the engines hold. */
size_t tl_shards_memory(const struct tl_shards *p);

void tl_shards_free(struct tl_shards *p);

#endif /* TL_TOOLS_SHARDS_H */
