/*
 * tripline/trigger.h - trigger events: what a rule says when it starts firing, while it
 * fires, and when it recovers (../shared/interfaces.md, "Trigger events").
 *
 * A struct tl_trigger is fixed-size (names are symbols) so shards can pass it through rings;
 * tl_trigger_json() writes it as one JSON line.
 */
#ifndef TL_TRIGGER_H
#define TL_TRIGGER_H
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/rules.h>
#include <tripline/symtab.h>

struct tl_series_seed;

enum tl_trigger_type {
	TL_TRIGGER_FIRE = 1, /* "trigger" */
	TL_TRIGGER_UPDATE,   /* "update": every update_every while firing, and on escalation */
	TL_TRIGGER_RESOLVED, /* "resolved" */
};

enum tl_action {
	TL_ACTION_INVESTIGATE = 1,
	TL_ACTION_FAILOVER, /* to the configured fallback (Sev0/Sev1) */
	TL_ACTION_THROTTLE, /* cost and throttling */
	TL_ACTION_ROLLBACK,
};

enum tl_measure { TL_UNIT_MS = 1, TL_UNIT_RATIO, TL_UNIT_USD };

struct tl_trigger {
	int64_t at;           /* event time the event is emitted at (a bucket end) */
	int64_t fired_at;     /* when the rule started firing */
	int64_t window_start; /* the window the observation covers */
	int64_t window_end;
	int64_t resolved_at; /* resolved: when the condition stopped holding */
	uint64_t incident;   /* the incident id's hash: stable across its events */
	uint64_t series;
	uint32_t resource, deployment, model, model_version;
	double observed;
	double baseline; /* NaN when the rule has none */
	double threshold;
	uint8_t type;         /* enum tl_trigger_type */
	uint8_t rule;         /* enum tl_rule */
	uint8_t severity;     /* 0..4 for Sev0..Sev4 */
	uint8_t action;       /* enum tl_action */
	uint8_t unit;         /* enum tl_measure */
	const char *fallback; /* the failover target (from the config; outlives the event) */
	const char *owner;    /* these three: "" or NULL for none */
	const char *incident_commander; /* (the config's; each outlives the event) */
	const char *comms_owner;
	struct tl_impact {
		uint64_t requests, errors_5xx, throttled_429, guardrail_failed, refusals;
		double cost_usd;
	} impact; /* update, resolved: what the series' buckets after fired_at held, up to `at` */
	struct tl_series_seed *seed; /* "trigger" with tl_engine_opts.export_seeds: the series'
				      * state, the receiver's to free; else NULL */
	char reason[120];            /* one line for the responder */
};

/**
 * tl_trigger_id() - the incident id: "tl-" and 16 hex digits. @buf holds 20 bytes.
 */
char *tl_trigger_id(uint64_t incident, char *buf);

/**
 * tl_trigger_json() - append @t to @b as one JSON object and a newline, names through @syms.
 * Thread: any (reads @syms).
 */
void tl_trigger_json(const struct tl_trigger *t, const struct tl_symtab *syms, struct tl_buf *b);

/* What the evidence adds to a trigger event's JSON (tl_trigger_json_ex()). */
struct tl_trigger_extra {
	const char *decided; /* `,"recent_changes":[...],"action":{...}`, in place of the
			      * event's own (no changes, its action); NULL: those */
	size_t decided_len;
	const char *tail; /* more members, each with its leading comma; NULL: none */
	size_t tail_len;
};

/**
 * tl_trigger_json_ex() - tl_trigger_json() with @x's members (NULL: none).
 */
void tl_trigger_json_ex(const struct tl_trigger *t, const struct tl_symtab *syms,
			const struct tl_trigger_extra *x, struct tl_buf *b);

/**
 * tl_trigger_cmp() - the output order: by time, resource, deployment, rule, type.
 * Return: <0, 0, >0. Thread: any.
 */
int tl_trigger_cmp(const struct tl_trigger *a, const struct tl_trigger *b,
		   const struct tl_symtab *syms);

#endif /* TL_TRIGGER_H */
