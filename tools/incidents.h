/*
 * tools/incidents.h - the incident journal as `tripline incidents` and `tripline postmortem`
 * read it: each record parsed as a trigger event (../shared/interfaces.md, "Trigger events").
 */
#ifndef TL_TOOLS_INCIDENTS_H
#define TL_TOOLS_INCIDENTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_INC_NO_TIME      INT64_MIN /* a time the event does not carry */
#define TL_INC_DURATION_LEN 32

enum tl_inc_type { TL_INC_OTHER, TL_INC_TRIGGER, TL_INC_UPDATE, TL_INC_RESOLVED };

/* The members of an event's "impact" object, in this order. */
enum tl_inc_impact {
	TL_IMPACT_REQUESTS,
	TL_IMPACT_ERRORS_5XX,
	TL_IMPACT_GUARDRAIL_FAILED,
	TL_IMPACT_REFUSALS,
	TL_IMPACT_COST_USD,
	TL_IMPACT_THROTTLED_429,
	TL_IMPACT_N,
};

/* One entry of "recent_changes", in words. */
struct tl_inc_change {
	int64_t time_ns; /* TL_INC_NO_TIME if it has none */
	char *text;      /* e.g. "model_version changed from 2024-08-06 to 2024-11-20" */
};

/* One journal record as a trigger event. Every string is owned; absent ones are NULL. */
struct tl_inc_event {
	char *raw; /* the record: one JSON object */
	size_t raw_len;
	int64_t time_ns; /* the record's event time in the journal */
	uint8_t type;    /* enum tl_inc_type */
	char *id, *rule, *resource, *deployment, *model, *model_version, *unit, *owner;
	char *incident_commander, *comms_owner;
	int severity; /* 0..4 for Sev0..Sev4, -1 if absent */
	int64_t fired_at, updated_at, window_start, window_end, resolved_at;
	double observed, baseline, threshold; /* NAN when absent or null */
	char *action_kind, *action_reason;
	char *action_target; /* in words, e.g. "model_version 2024-08-06" */
	struct tl_inc_change *changes;
	size_t n_changes;
	int64_t changes_omitted;
	char *snapshot; /* the evidence snapshot's path, as the event gives it */
	bool has_impact;
	double impact[TL_IMPACT_N]; /* NAN when the member is absent */
};

/*
 * Called for each event in journal order. @ev belongs to the reader and is freed after the
 * call, unless the callback takes it: copies *@ev and zeroes it. Return 0 to go on.
 */
typedef int (*tl_inc_fn)(void *ud, struct tl_inc_event *ev);

/**
 * tl_incidents_read() - every event of the journal in @out_dir/journal, in order. Damaged
 * records and records that are not trigger events are skipped with a warning on stderr.
 * Return: 0; -ENOENT when there is no journal; another -errno (after an error on stderr);
 * or the nonzero value @fn returned.
 */
int tl_incidents_read(const char *out_dir, tl_inc_fn fn, void *ud);

/**
 * tl_incident_load() - the events of incident @id, in journal order (*@ret_n is 0 when there
 * are none). Return: as tl_incidents_read().
 */
int tl_incident_load(const char *out_dir, const char *id, struct tl_inc_event **ret_evs,
		     size_t *ret_n);

void tl_inc_event_fini(struct tl_inc_event *ev);
void tl_incident_free(struct tl_inc_event *evs, size_t n);

/** tl_inc_duration() - @ns as "45s", "5m30s", "1h05m00s" or "2d03h04m05s". @buf: 32 bytes. */
char *tl_inc_duration(int64_t ns, char *buf);

/** tl_inc_journal_missing() - the error for an @out_dir without a journal, on stderr. */
void tl_inc_journal_missing(const char *cmd, const char *out_dir);

#endif /* TL_TOOLS_INCIDENTS_H */
