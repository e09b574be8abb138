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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
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
	bool export_seeds;   /* each "trigger" event carries its series' seed (tl_trigger.seed) */
};

/*
 * A series' baseline state as a trigger saw it, for evidence snapshots: enough to start
 * another engine on the same series at a minute boundary C up to an hour before the trigger
 * (tl_engine_seed()) and re-run the series' records from C on, which then give the same
 * trigger. Minutes are in time order, oldest first; the i-th entry of the per-minute spend
 * arrays is the minute last_minute - i minutes.
 */
#define TL_SEED_MINUTES 64
#define TL_SEED_HOURS   25
struct tl_series_seed {
	int64_t last_minute; /* start of the newest minute closed */
	uint32_t horizon;    /* minutes in lat, ref and mflag */
	uint16_t *lat;       /* 1 + the latency statistic's histogram bin, 0 = no data */
	uint8_t *ref;        /* refusal-rate code, 0 = no data */
	uint8_t *mflag;      /* TL_SEED_LAT_EXCL, ... */
	int64_t at_min[TL_SEED_MINUTES]; /* the minute day_at[i], hour_at[i] are of (INT64_MIN:
					  * none; the series was idle and spent nothing) */
	double day_at[TL_SEED_MINUTES];  /* spend of the UTC day at the end of at_min[i] */
	double hour_at[TL_SEED_MINUTES]; /* spend of the hour there */
	float min_spend[TL_SEED_MINUTES];
	float hours[TL_SEED_HOURS]; /* spend of each past hour, newest first */
	uint32_t hours_n;           /* of them in use by the hourly rule (at most 24) */
	int64_t last_hour_push;     /* the end of hours[0], INT64_MIN = none */
	bool hour_spike;
	float hour_spike_value, hour_median;
};

/* tl_series_seed.mflag bits */
enum {
	TL_SEED_LAT_EXCL = 1,    /* kept out of the latency baseline (breaching or firing) */
	TL_SEED_REF_EXCL = 2,    /* kept out of the refusal baseline */
	TL_SEED_LAT_BREACH = 16, /* the latency statistic breached in that minute */
};

/** tl_series_seed_new() - a seed of @horizon minutes, arrays zeroed. NULL: out of memory. */
struct tl_series_seed *tl_series_seed_new(uint32_t horizon);
/** tl_series_seed_free() - NULL is a no-op. */
void tl_series_seed_free(struct tl_series_seed *seed);
/** tl_seed_latency_ms() - the latency a minute's code stands for (NaN for 0). */
double tl_seed_latency_ms(uint16_t code);
/** tl_seed_refusal_rate() - the refusal rate a minute's code stands for (NaN for 0). */
double tl_seed_refusal_rate(uint8_t code);

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

/**
 * tl_engine_seed() - start series (@ev's series, resource, deployment) of a new engine, one
 * that has seen no event or watermark yet, as @seed says it stood at minute boundary @from:
 * its baselines, spend and latency streak; windows empty, every rule ok. Events from @from
 * on can follow. Return: 0, -EINVAL (@from is not a minute boundary within the hour before
 * the seed's last minute, the horizons differ, or the engine has started), or -ENOMEM.
 */
int tl_engine_seed(struct tl_engine *e, const struct tl_event *ev,
		   const struct tl_series_seed *seed, int64_t from);

/** tl_engine_ahead_ns() - how far past the closed time an event may be before it is dropped
 * as ahead (tl_engine_counts.ahead). */
int64_t tl_engine_ahead_ns(const struct tl_engine *e);

/** tl_engine_lateness() - the lateness in effect. */
int64_t tl_engine_lateness(const struct tl_engine *e);

/** tl_engine_watermark() - the latest watermark taken, a bucket end (INT64_MIN: none yet). */
int64_t tl_engine_watermark(const struct tl_engine *e);

/**
 * tl_engine_save() - append the engine's whole state to @out as one self-describing blob: a
 * magic, a format version, the geometry it was taken with and a checksum, then every series
 * (its rings, baselines, open minutes' histograms, spend and rule states), the counts, the
 * watermark and closed time, and both duplicate windows. Names are written as text (symbols
 * differ between processes). Little-endian fixed-width fields, uncompressed: the caller
 * compresses. Triggers not yet taken (tl_engine_triggers()) are not part of the state.
 * Return: 0, or -ENOMEM (@out may then hold part of a blob). Thread: the owner, with the
 * engine between pushes.
 */
int tl_engine_save(const struct tl_engine *e, struct tl_buf *out);

/**
 * tl_engine_load() - restore the @n bytes at @p, one blob of tl_engine_save(), into @e: an
 * engine that has taken no event, watermark or seed, made with settings of the same geometry
 * (bucket, lateness, horizon, ring and longest rule window, max_series, the duplicate windows).
 * Rules, thresholds and prices may differ (a configuration reload): each series takes the
 * current rules of its deployment. Given the same events and watermarks from there on, @e
 * then does exactly what the saved engine would have: same triggers, incident ids, counts.
 * @err: what was wrong (for TL_EMISMATCH the setting with its saved and current value).
 * Return: 0; TL_ECORRUPT (not a checkpoint, checksum, truncated, impossible values);
 * TL_EMISMATCH (other geometry or format version); -EINVAL (@e has started); -ENOMEM, or a
 * tl_symtab_intern() error. On failure @e is as it was, but for names added to its symbol
 * table. Reads nothing outside the @n bytes, whatever they hold. Thread: the owner.
 */
int tl_engine_load(struct tl_engine *e, const void *p, size_t n, char *err, size_t errlen);

#endif /* TL_ENGINE_H */
