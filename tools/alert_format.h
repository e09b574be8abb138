/*
 * tools/alert_format.h - a trigger event (../shared/interfaces.md, "Trigger events") as the
 * request body a webhook sink sends in each format responders' tools accept (issue 6):
 * the event as is, PagerDuty Events API v2, Azure Monitor's common alert schema, Slack and
 * Teams incoming webhooks, and Alertmanager's /api/v2/alerts.
 *
 * Two steps, so one event can go to several sinks: tl_alert_format_read() parses the event
 * line once, tl_alert_format_render() writes the request for one sink. Neither reads a
 * clock or does I/O: the request is a function of the line and the sink's settings alone.
 * Every body is JSON built from the fields the event model names (strings through
 * tl_buf_json_str), so it is valid JSON whatever the line held; members the model does not
 * name are dropped, and optional members that are absent, or of the wrong type, are omitted.
 */
#ifndef TL_TOOLS_ALERT_FORMAT_H
#define TL_TOOLS_ALERT_FORMAT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/error.h>

enum tl_alert_fmt {
	TL_ALERT_FMT_JSON,         /* "json": the trigger event */
	TL_ALERT_FMT_PAGERDUTY,    /* "pagerduty": Events API v2 */
	TL_ALERT_FMT_AZURE,        /* "azure-common-alert": azureMonitorCommonAlertSchema */
	TL_ALERT_FMT_SLACK,        /* "slack": incoming webhook, text and blocks */
	TL_ALERT_FMT_TEAMS,        /* "teams": an Adaptive Card in a message attachment */
	TL_ALERT_FMT_ALERTMANAGER, /* "alertmanager": POST /api/v2/alerts */
	TL_ALERT_FMT_COUNT,
};

/** tl_alert_fmt_name() - the config name of @fmt ("pagerduty"), or "?". Thread: any. */
const char *tl_alert_fmt_name(enum tl_alert_fmt fmt);

/**
 * tl_alert_fmt_from_name() - the format a sink's `format:` names.
 * Return: 0, or TL_EVALUE for a name that is none of them. Thread: any.
 */
TL_MUST_CHECK int tl_alert_fmt_from_name(const char *name, enum tl_alert_fmt *ret_fmt);

/* A sink's format settings. Borrowed for the duration of a call. */
struct tl_alert_sink {
	enum tl_alert_fmt fmt;
	/* pagerduty: the integration's routing key (a secret). Only the PagerDuty body holds
	 * it; no error message does. Other formats ignore it. */
	const char *routing_key;
};

/* Text borrowed from the parsed line; s is NULL when the member is absent. May hold NULs. */
struct tl_alert_str {
	const char *s;
	size_t n;
};

/* A number member: absent, null, or a value (kept as the integer or double it was). */
enum tl_alert_num_kind {
	TL_ALERT_NUM_ABSENT,
	TL_ALERT_NUM_NULL,
	TL_ALERT_NUM_INT,
	TL_ALERT_NUM_DOUBLE
};

struct tl_alert_num {
	uint8_t kind; /* enum tl_alert_num_kind */
	int64_t i;
	double d;
};

enum tl_alert_type { TL_ALERT_TRIGGER = 1, TL_ALERT_UPDATE, TL_ALERT_RESOLVED };

/* The members of "impact", in the order the engine writes them. */
enum tl_alert_impact {
	TL_ALERT_IMPACT_REQUESTS,
	TL_ALERT_IMPACT_ERRORS_5XX,
	TL_ALERT_IMPACT_THROTTLED_429,
	TL_ALERT_IMPACT_GUARDRAIL_FAILED,
	TL_ALERT_IMPACT_REFUSALS,
	TL_ALERT_IMPACT_COST_USD,
	TL_ALERT_IMPACT_N,
};

/* One element of "recent_changes" (its string members; others are dropped). */
struct tl_alert_change {
	struct tl_alert_str time, kind, from, to, operation, status, scope, model, model_version,
	    rai_policy;
};

#define TL_ALERT_CHANGES_MAX 64    /* changes kept; more are added to changes_omitted */
#define TL_ALERT_LINE_MAX    65536 /* longest event line read (tripline writes ~2 KB) */

/*
 * A trigger event, as read. Required (else the line is not a trigger event): type,
 * incident_id, rule, severity, resource, deployment (non-empty strings), fired_at (a time),
 * and resolved_at for a resolved event. Times are kept as instants and written back in
 * tripline's form (2025-11-04T14:05:00.000Z); a time member that does not parse is absent.
 */
struct tl_alert_event {
	uint8_t type;     /* enum tl_alert_type */
	uint8_t severity; /* 0..4 for Sev0..Sev4 */
	struct tl_alert_str incident_id, rule, resource, deployment, model, model_version, unit,
	    owner, incident_commander, comms_owner, snapshot;
	bool has_updated, has_window_start, has_window_end, has_resolved;
	int64_t fired_at_ns, updated_at_ns, window_start_ns, window_end_ns, resolved_at_ns;
	struct tl_alert_num observed, baseline, threshold, duration_s;
	bool has_impact;
	struct tl_alert_str impact_since;
	struct tl_alert_num impact[TL_ALERT_IMPACT_N];
	bool has_changes; /* "recent_changes" is an array (possibly empty) */
	const struct tl_alert_change *changes;
	size_t n_changes;
	struct tl_alert_num changes_omitted;
	bool has_action;
	struct tl_alert_str action_kind, action_reason;
	bool has_target;
	struct tl_alert_str target_model_version, target_prompt_version, target_deployment;
};

/* A request for one sink. The body is owned by the caller: tl_alert_request_fini(). */
struct tl_alert_request {
	const char *method;       /* "POST" */
	const char *path;         /* appended to the sink's URL: "" or "/api/v2/alerts" */
	const char *content_type; /* "application/json" */
	struct tl_buf body;       /* JSON text, NUL-terminated, without a trailing newline */
};

/** tl_alert_request_fini() - free @req's body; a zeroed @req is fine. */
void tl_alert_request_fini(struct tl_alert_request *req);

struct tl_alert_format;

/**
 * tl_alert_format_new() - parser and scratch space for event lines.
 * Return: NULL when out of memory, or when the CPU lacks the instructions the JSON parser
 * was built for (*@ret_cpu_ok false). Thread: the result belongs to one thread.
 */
struct tl_alert_format *tl_alert_format_new(bool *ret_cpu_ok);
void tl_alert_format_free(struct tl_alert_format *af);

/**
 * tl_alert_format_read() - parse one trigger event line (@len bytes; a trailing newline is
 * fine) as `tripline replay` prints it and the journal stores it.
 * @ret_ev: the event, valid until the next read on @af (its strings point into @af).
 * @err: on failure, what is wrong, e.g. "not a trigger event: 'type' must be trigger,
 * update or resolved" (@err_len bytes, NUL-terminated; may be NULL).
 * Return: 0; TL_EJSON (not one JSON object); TL_EMISSING, TL_ETYPE or TL_EVALUE (not a
 * trigger event); TL_ETOOBIG (over TL_ALERT_LINE_MAX); -ENOMEM.
 * Thread: the owner of @af.
 */
TL_MUST_CHECK int tl_alert_format_read(struct tl_alert_format *af, const char *line, size_t len,
				       const struct tl_alert_event **ret_ev, char *err,
				       size_t err_len);

/**
 * tl_alert_format_render() - the request for @ev in @sink's format, in *@req: method,
 * path and content type set, the body replaced. Deterministic: the same event and sink
 * give the same bytes.
 * Return: 0; TL_EVALUE (an unknown format, or pagerduty without a routing key: @err
 * says which); -ENOMEM. On failure *@req is unchanged.
 * Thread: the owner of @af.
 */
TL_MUST_CHECK int tl_alert_format_render(struct tl_alert_format *af,
					 const struct tl_alert_event *ev,
					 const struct tl_alert_sink *sink,
					 struct tl_alert_request *req, char *err, size_t err_len);

/** tl_alert_format_line() - tl_alert_format_read() then tl_alert_format_render(). */
TL_MUST_CHECK int tl_alert_format_line(struct tl_alert_format *af, const char *line, size_t len,
				       const struct tl_alert_sink *sink,
				       struct tl_alert_request *req, char *err, size_t err_len);

#endif /* TL_TOOLS_ALERT_FORMAT_H */
