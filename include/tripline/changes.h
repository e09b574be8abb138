/*
 * tripline/changes.h - what changed on a series before a rule fired, and the version to roll
 * back to (issue 4, "evidence").
 *
 * The reader thread feeds every event the engine counted, in input order, and every trigger
 * event, in output order. Per series (resource, deployment) the module keeps, for the horizon:
 *   - control-plane changes from the Activity Log: the Success of deployments/write,
 *     deployments/delete, raiPolicies/write and accounts/write (Start, Accept and Failure
 *     change nothing). raiPolicies/write and accounts/write are account-level (deployment
 *     "*") and belong to every series of their resource;
 *   - the version timeline: segments of (model_version, prompt_version) with when each was
 *     first seen, confirmed and last seen;
 *   - when a rule fired on it (fired_at .. resolved_at).
 *
 * The version timeline is built from event time, one minute at a time. Each minute's value of
 * a dimension (model version, prompt version, each on its own) is the one most requests of
 * that minute carried. A new value replaces the current one when it is the value of `settle`
 * minutes with traffic in a row (default 2); a minute of the current value in between starts
 * the count again. The change is dated at the new value's first record in the first of those
 * minutes. So records that arrive out of order, and old and new versions mixed while a deploy
 * rolls out, give one change, not a flapping list. A minute is decided once the series'
 * newest minute is more than the lateness past it; until then it stays open and is read as it
 * stands.
 *
 * Everything is deterministic: an annotation reads only what happened at or before the
 * trigger's fired_at (events, and trigger events emitted before it), so the same input order
 * gives the same annotation whenever it is asked for, provided every event at or before
 * fired_at was passed before it. Events older than their series' open minutes are counted as
 * late and ignored. Entries are kept `lead` past the horizon so that annotating late does not
 * change the answer; a series with more than max_per_series changes (or segments, or
 * incidents) in that time loses its oldest ones.
 *
 * tl_changes_save() and tl_changes_load() carry the whole state over a restart, so that a
 * restarted process annotates as an uninterrupted one would.
 *
 * Not thread-safe: one instance, driven by the reader thread.
 */
#ifndef TL_CHANGES_H
#define TL_CHANGES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/event.h>
#include <tripline/symtab.h>
#include <tripline/trigger.h>

/* The most recent changes one annotation lists. */
#define TL_CHANGES_MAX_RECENT 16

enum tl_change_kind {
	TL_CHK_MODEL_VERSION = 1, /* "model_version" */
	TL_CHK_PROMPT_VERSION,    /* "prompt_version" */
	TL_CHK_DEPLOYMENT_WRITE,  /* "deployment_write" */
	TL_CHK_DEPLOYMENT_DELETE, /* "deployment_delete" */
	TL_CHK_RAI_POLICY_WRITE,  /* "rai_policy_write" */
	TL_CHK_ACCOUNT_WRITE,     /* "account_write" */
};

/* One entry of recent_changes. Names are symbols. */
struct tl_change {
	int64_t time_ns;
	uint8_t kind;  /* enum tl_change_kind */
	bool account;  /* account-level: applies to every deployment of the resource */
	uint32_t from; /* versions: the previous and the new value */
	uint32_t to;
	uint32_t model; /* control-plane: what the ARM body said (0 = absent) */
	uint32_t model_version;
	uint32_t detail;    /* RAI policy name */
	uint32_t operation; /* the operation's text if the decoder kept it, else 0 */
};

struct tl_changes_opts {
	int64_t horizon_ns;       /* how long changes are kept and looked back on: 24 h */
	int64_t recent_ns;        /* changes this long before fired_at are listed: 60 min */
	int64_t stable_after_ns;  /* quiet run that makes a version stable: 60 min */
	int64_t change_window_ns; /* a change this recent may be rolled back: 60 min */
	int64_t settle_ns;        /* minutes a new version must lead to count: 2 min */
	int64_t lateness_ns;      /* the engine's: minutes stay open this long: 2 min */
	int64_t lead_ns;          /* how far events may run ahead of the triggers: 1 h */
	uint32_t max_per_series;  /* changes, segments and incidents per series: 64 */
	uint32_t max_series;      /* series followed (further ones counted): 1 M */
};

struct tl_changes_counts {
	uint64_t events;          /* events passed */
	uint64_t changes;         /* control-plane changes recorded */
	uint64_t repeated;        /* the same change again (a redelivered record), not recorded */
	uint64_t version_changes; /* version changes confirmed (model and prompt) */
	uint64_t late;            /* versioned events older than their series' open minutes */
	uint64_t dropped;         /* entries dropped at max_per_series */
	uint64_t series_dropped;  /* events and triggers of series past max_series */
	uint64_t series_freed;    /* series idle past the horizon, freed */
	uint64_t oom;             /* entries lost to failed allocations */
};

/* What tl_changes_annotate() says about one trigger event. */
struct tl_annotation {
	struct tl_change recent[TL_CHANGES_MAX_RECENT]; /* oldest first */
	uint32_t n_recent;
	uint32_t n_recent_omitted;     /* older changes in the window, not listed */
	uint8_t action;                /* enum tl_action: the trigger's, or TL_ACTION_ROLLBACK */
	uint32_t target_model_version; /* rollback target (symbols; 0 = absent) */
	uint32_t target_prompt_version;
	const char *fallback; /* failover target: the trigger's (borrowed) */
	int64_t change_ns;    /* rollback: the change rolled back */
	int64_t stable_ns;    /* rollback: how long the target ran without incident */
	char reason[224];     /* one line for the responder */
};

struct tl_changes;

/**
 * tl_changes_new() - an empty module. @o: NULL or zero fields for the defaults.
 * @syms: names events and triggers carry (borrowed; must outlive the module).
 * Return: NULL when out of memory or @o is invalid (a negative duration).
 * Thread: any.
 */
struct tl_changes *tl_changes_new(const struct tl_changes_opts *o, const struct tl_symtab *syms);
/** tl_changes_free() - NULL is a no-op. */
void tl_changes_free(struct tl_changes *c);

/**
 * tl_changes_event() - one event the engine counted (not late), in input order; a change
 * delivered twice is recorded once. Only requests with a model or prompt version and Activity Log
 * changes are kept. Failures (a cap, memory) are counted, never returned. Thread: reader.
 */
void tl_changes_event(struct tl_changes *c, const struct tl_event *ev);

/**
 * tl_changes_trigger() - one trigger event (trigger, update, resolved), in output order:
 * records when a rule fired on its series. Cost and throttling incidents do not count
 * against a version (they say nothing about one) and are not kept. Thread: reader.
 */
void tl_changes_trigger(struct tl_changes *c, const struct tl_trigger *t);

/**
 * tl_changes_annotate() - recent_changes and the action for trigger event @t.
 *
 * Anchored at @t->fired_at, so trigger, update and resolved events of one incident say the
 * same. recent_changes: changes at [fired_at - recent, fired_at], at most
 * TL_CHANGES_MAX_RECENT, newest last. Action: rollback when the rule is latency, errors,
 * guardrail or refusal, a model or prompt version change or a deployments/write happened in
 * [fired_at - change_window, fired_at], and the series has a last known stable version that
 * differs from the current one; unless @t fails over (a fallback and Sev0/Sev1). Otherwise
 * the trigger's own action and reason.
 *
 * Last known stable version: the most recent (model_version, prompt_version) other than the
 * current one that ran at least stable_after with no incident of latency, errors, guardrail
 * or refusal on the series (incidents that fired before fired_at, from their onset, the
 * start of their first window, to their resolution if it was reported before fired_at; and
 * this one from its onset).
 *
 * Call tl_changes_trigger() on the trigger event of an incident before annotating its
 * update and resolved events. @out is overwritten. Thread: reader.
 */
void tl_changes_annotate(struct tl_changes *c, const struct tl_trigger *t,
			 struct tl_annotation *out);

/**
 * tl_annotation_json() - append @a as `,"recent_changes":[...],"action":{...}`: the two
 * members of a trigger event's JSON object that it decides, names through @syms.
 * Thread: any (reads @syms).
 */
void tl_annotation_json(const struct tl_annotation *a, const struct tl_symtab *syms,
			struct tl_buf *b);

/**
 * tl_changes_save() - append the whole state of @c to @out as one self-describing blob: a
 * magic, the format version, the length and a checksum, then the state (names as text, since
 * symbols differ between processes). The same state gives the same bytes.
 * Return: 0, or -ENOMEM (nothing appended; @out may be marked out of memory). Thread: reader.
 */
int tl_changes_save(const struct tl_changes *c, struct tl_buf *out);

/**
 * tl_changes_load() - restore the @n bytes at @p, written by tl_changes_save(), into @c.
 * @c: fresh from tl_changes_new() (nothing passed to it yet).
 * @syms: the table @c was made with; the blob's names are interned into it.
 * @err: on failure, what is wrong (may be NULL).
 *
 * @c's options may differ from the saved tracker's (a config reload): the state is kept and
 * the new options apply from now on. A smaller max_per_series keeps each series' newest
 * entries (the others count as dropped), a shorter lateness decides the open minutes it no
 * longer keeps open, and more series than max_series are all kept (no new one is followed
 * until there is room). Any input is checked before use: the checksum, every length, count,
 * name reference, time range and order. Times must lie in 1970 .. 2262, as tl_time_parse()
 * gives them: a tracker fed earlier times saves a blob that does not load.
 * Return: 0; TL_ECORRUPT (not a checkpoint, truncated, checksum, impossible values);
 * TL_EMISMATCH (another format version); -EINVAL (@c is not fresh, or @syms is not its
 * table); -ENOMEM, or a tl_symtab_intern() error (TL_EFULL). On failure @c is as it was, but
 * for names added to @syms.
 * Thread: reader (interns into @syms).
 */
int tl_changes_load(struct tl_changes *c, struct tl_symtab *syms, const void *p, size_t n,
		    char *err, size_t errlen);

/** tl_changes_get_counts() - counters since tl_changes_new(), carried over by tl_changes_load(). */
const struct tl_changes_counts *tl_changes_get_counts(const struct tl_changes *c);

/** tl_changes_series_count() - series followed now. */
size_t tl_changes_series_count(const struct tl_changes *c);

/** tl_changes_memory() - bytes the module holds. */
size_t tl_changes_memory(const struct tl_changes *c);

#endif /* TL_CHANGES_H */
