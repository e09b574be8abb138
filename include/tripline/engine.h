/*
 * tripline/engine.h - the detection engine: consumes decoded events in event-time order
 * (give or take the lateness), drops duplicates, keeps per-series state, and closes time
 * buckets as the watermark passes them.
 *
 * The engine reads no clock: time is the events' and the watermarks the caller passes in,
 * so the same events and watermarks give the same results, live or in replay.
 * Not thread-safe: one engine per detector shard.
 */
#ifndef TL_ENGINE_H
#define TL_ENGINE_H
#include <stddef.h>
#include <stdint.h>

#include <tripline/dedup.h>
#include <tripline/error.h>
#include <tripline/event.h>
#include <tripline/rules.h>
#include <tripline/symtab.h>
#include <tripline/trigger.h>

/* USD per 1 M tokens for one model (a model name matches its dated versions). */
struct tl_price {
	const char *model;
	double input;
	double cached_input; /* < 0: same as input */
	double output;
};

struct tl_engine_opts {
	int64_t lateness_ns; /* how late a record may be before its bucket closes; default 2 min */
	int64_t bucket_ns;   /* fine bucket width; default 10 s (divides a minute) */
	int64_t horizon_ns;  /* baseline horizon; default 24 h */
	int64_t min_history_ns;  /* history needed by baseline rules; default 30 min */
	int64_t hold_ns;         /* a rule resolves after its condition is false this long; 5 min */
	int64_t update_every_ns; /* status updates while firing; default 30 min */
	struct tl_dedup_opts dedup; /* slice_ns defaults to lateness */
	const struct tl_price *prices;
	size_t n_prices;
	const struct tl_rules *rules; /* defaults for every deployment; NULL: the runbook's */
	const struct tl_deployment_rules *deployments; /* per-deployment settings */
	size_t n_deployments;
	uint32_t max_series; /* default 1 M; events of further series are counted, not kept */
};

struct tl_engine_counts {
	uint64_t decoded;         /* events that passed into detection (duplicates excluded) */
	uint64_t duplicate;       /* repeats of an event already seen, dropped */
	uint64_t late;            /* decoded events whose bucket had already closed */
	uint64_t dedup_unchecked; /* events outside the duplicate window, or it was full */
	uint64_t series_dropped;  /* events of series past max_series */
	uint64_t tokens_unpriced; /* tokens of models without a price */
	uint64_t tokens_repeated; /* tokens of a request already counted from another record */
	uint64_t ahead;           /* events too far ahead of the watermark for the rings */
};

/* Per-series totals since the start (the --stats series). */
struct tl_series_stats {
	uint32_t resource, deployment;
	uint32_t model, model_version; /* the latest seen */
	uint64_t requests;
	uint64_t status_2xx, status_4xx, status_429, status_5xx, status_other;
	uint64_t tokens_in, tokens_out, tokens_cached;
	uint64_t guardrail_checked, guardrail_failed, refusals;
	uint64_t metric_rows, changes;
	double cost_usd;
};

struct tl_engine;

/**
 * tl_engine_new() - an engine with @opts (NULL: defaults) naming things through @syms.
 * Return: NULL when out of memory. Thread: any.
 */
struct tl_engine *tl_engine_new(const struct tl_engine_opts *opts, struct tl_symtab *syms);
/** tl_engine_free() - NULL is a no-op. */
void tl_engine_free(struct tl_engine *e);

/**
 * tl_engine_push() - one decoded event. Thread: the shard's.
 */
void tl_engine_push(struct tl_engine *e, const struct tl_event *ev);

/**
 * tl_engine_push_batch() - @n events, as n calls of tl_engine_push() would take them, with
 * the memory each needs requested ahead so the batch's cache misses overlap.
 * Thread: the shard's.
 */
void tl_engine_push_batch(struct tl_engine *e, const struct tl_event *ev, size_t n);

/**
 * tl_engine_advance() - the watermark moved to @watermark_ns (the minimum over inputs of their
 * latest event time, minus the lateness): every bucket that ends at or before it closes.
 * A watermark older than a previous one is ignored. Thread: the shard's.
 */
void tl_engine_advance(struct tl_engine *e, int64_t watermark_ns);

/**
 * tl_engine_triggers() - the trigger events emitted since the last tl_engine_clear_triggers(),
 * in the order they were produced (callers sort them, in place, with tl_trigger_cmp()).
 */
struct tl_trigger *tl_engine_triggers(struct tl_engine *e, size_t *ret_n);
void tl_engine_clear_triggers(struct tl_engine *e);

/** tl_engine_series_bytes() - memory one series holds (its rings and state). */
size_t tl_engine_series_bytes(const struct tl_engine *e);

/** tl_engine_get_counts() - the record counts. */
const struct tl_engine_counts *tl_engine_get_counts(const struct tl_engine *e);

/** tl_engine_series_count() - the series seen. */
size_t tl_engine_series_count(const struct tl_engine *e);

/** tl_engine_series_at() - the totals of series @i (0 .. count - 1), in the order first seen. */
const struct tl_series_stats *tl_engine_series_at(const struct tl_engine *e, size_t i);

/** tl_engine_memory() - bytes the engine holds (series, tables, histograms, duplicate windows). */
size_t tl_engine_memory(const struct tl_engine *e);

/** tl_engine_lateness() - the lateness in effect. */
int64_t tl_engine_lateness(const struct tl_engine *e);

#endif /* TL_ENGINE_H */
