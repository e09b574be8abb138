/*
 * tools/alert_format.c - trigger events as webhook request bodies (see alert_format.h).
 *
 * The line is parsed once with the tree's JSON parser (ingest/json.h) into struct
 * tl_alert_event, whose strings point into the parser; every body is then written from
 * those fields alone, never by copying raw text from the line. So a body is valid JSON by
 * construction: punctuation from here, strings through tl_buf_json_str, numbers through
 * tl_buf_json_num or %lld. The `json` format writes the members in the order the engine
 * does (detect/trigger.c, detect/changes.c, the evidence snapshot), so a line tripline wrote
 * comes back byte for byte, without its newline.
 *
 * Bodies, in short (the tests check each field):
 *   json          the event
 *   pagerduty     {routing_key, event_action trigger|resolve, dedup_key = incident_id,
 *                  client, payload{summary, source, severity, timestamp, component, group,
 *                  class, custom_details = the event}}; update = trigger again, same key
 *   azure-common  {schemaId, data{essentials{alertId = incident_id, alertRule, severity,
 *   -alert         signalType, monitorCondition Fired|Resolved, monitoringService,
 *                  alertTargetIDs, configurationItems, originAlertId, firedDateTime,
 *                  resolvedDateTime, description, ...Version}, alertContext{the observation}}}
 *   slack         {text, blocks[header, section (reason), section fields, context]}
 *   teams         {type message, attachments[{Adaptive Card 1.4: title, reason, FactSet}]}
 *   alertmanager  [{labels, annotations, startsAt, endsAt (resolved only)}]
 *
 * No clock, no randomness, no I/O. Thread: one tl_alert_format per thread.
 */
#include "alert_format.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/buf.h>
#include <tripline/time.h>

#include "json.h"

/* ---- reading ---------------------------------------------------------------------------- */

enum {
	S_TYPE,
	S_ID,
	S_RULE,
	S_SEVERITY,
	S_RESOURCE,
	S_DEPLOYMENT,
	S_MODEL,
	S_MODEL_VERSION,
	S_FIRED,
	S_UPDATED,
	S_WSTART,
	S_WEND,
	S_OBSERVED,
	S_BASELINE,
	S_THRESHOLD,
	S_UNIT,
	S_RESOLVED,
	S_DURATION,
	S_IMPACT,
	S_I_SINCE,
	S_I_FIRST, /* TL_ALERT_IMPACT_N slots, in enum tl_alert_impact order */
	S_CHANGES = S_I_FIRST + TL_ALERT_IMPACT_N,
	S_OMITTED,
	S_ACTION,
	S_A_KIND,
	S_A_REASON,
	S_A_TARGET,
	S_T_MODEL_VERSION,
	S_T_PROMPT_VERSION,
	S_T_DEPLOYMENT,
	S_OWNER,
	S_COMMANDER,
	S_COMMS,
	S_SNAPSHOT,
	S_P_PATH,
	S_P_FILE,
	N_SLOTS,
};

enum {
	C_TIME,
	C_KIND,
	C_FROM,
	C_TO,
	C_OPERATION,
	C_STATUS,
	C_SCOPE,
	C_MODEL,
	C_MODEL_VERSION,
	C_RAI,
	N_C,
};

static const char *const impact_names[TL_ALERT_IMPACT_N] = {
	"requests", "errors_5xx", "throttled_429", "guardrail_failed", "refusals", "cost_usd",
};

struct tl_alert_format {
	struct tl_json *js;
	struct tl_jkeys target, action, impact, snap, event, change;
	struct tl_jval vals[N_SLOTS], cvals[N_C];
	char *doc; /* the line, padded for the parser */
	size_t doc_cap;
	unsigned n_objects; /* records the parser delivered for this line */
	bool whole;         /* the one record delivered is the whole line */
	struct tl_alert_event ev;
	struct tl_alert_change *changes;
	size_t n_changes, changes_cap;
	int64_t changes_dropped; /* over TL_ALERT_CHANGES_MAX */
	bool oom;
	struct tl_buf out, text, facts; /* scratch for render */
};

static int keys_init(struct tl_alert_format *af)
{
	const struct tl_jkey_spec target[] = {
		{ "model_version", S_T_MODEL_VERSION, 0, NULL },
		{ "prompt_version", S_T_PROMPT_VERSION, 0, NULL },
		{ "deployment", S_T_DEPLOYMENT, 0, NULL },
	};
	const struct tl_jkey_spec action[] = {
		{ "kind", S_A_KIND, 0, NULL },
		{ "reason", S_A_REASON, 0, NULL },
		{ "target", S_A_TARGET, 0, &af->target },
	};
	const struct tl_jkey_spec snap[] = {
		{ "path", S_P_PATH, 0, NULL },
		{ "file", S_P_FILE, 0, NULL },
	};
	struct tl_jkey_spec impact[TL_ALERT_IMPACT_N + 1];
	const struct tl_jkey_spec event[] = {
		{ "type", S_TYPE, 0, NULL },
		{ "incident_id", S_ID, 0, NULL },
		{ "rule", S_RULE, 0, NULL },
		{ "severity", S_SEVERITY, 0, NULL },
		{ "resource", S_RESOURCE, 0, NULL },
		{ "deployment", S_DEPLOYMENT, 0, NULL },
		{ "model", S_MODEL, 0, NULL },
		{ "model_version", S_MODEL_VERSION, 0, NULL },
		{ "fired_at", S_FIRED, 0, NULL },
		{ "updated_at", S_UPDATED, 0, NULL },
		{ "window_start", S_WSTART, 0, NULL },
		{ "window_end", S_WEND, 0, NULL },
		{ "observed", S_OBSERVED, 0, NULL },
		{ "baseline", S_BASELINE, 0, NULL },
		{ "threshold", S_THRESHOLD, 0, NULL },
		{ "unit", S_UNIT, 0, NULL },
		{ "resolved_at", S_RESOLVED, 0, NULL },
		{ "duration_s", S_DURATION, 0, NULL },
		{ "impact", S_IMPACT, 0, &af->impact },
		{ "recent_changes", S_CHANGES, 0, NULL },
		{ "recent_changes_omitted", S_OMITTED, 0, NULL },
		{ "action", S_ACTION, 0, &af->action },
		{ "owner", S_OWNER, 0, NULL },
		{ "incident_commander", S_COMMANDER, 0, NULL },
		{ "comms_owner", S_COMMS, 0, NULL },
		{ "snapshot", S_SNAPSHOT, 0, &af->snap },
	};
	const struct tl_jkey_spec change[] = {
		{ "time", C_TIME, 0, NULL },
		{ "kind", C_KIND, 0, NULL },
		{ "from", C_FROM, 0, NULL },
		{ "to", C_TO, 0, NULL },
		{ "operation", C_OPERATION, 0, NULL },
		{ "status", C_STATUS, 0, NULL },
		{ "scope", C_SCOPE, 0, NULL },
		{ "model", C_MODEL, 0, NULL },
		{ "model_version", C_MODEL_VERSION, 0, NULL },
		{ "rai_policy", C_RAI, 0, NULL },
	};

	impact[0] = (struct tl_jkey_spec){ "since", S_I_SINCE, 0, NULL };
	for (int i = 0; i < TL_ALERT_IMPACT_N; i++)
		impact[i + 1] =
		    (struct tl_jkey_spec){ impact_names[i], (uint16_t)(S_I_FIRST + i), 0, NULL };
#define N(a) (sizeof(a) / sizeof((a)[0]))
	if (tl_jkeys_init(&af->target, target, N(target)) < 0 ||
	    tl_jkeys_init(&af->action, action, N(action)) < 0 ||
	    tl_jkeys_init(&af->snap, snap, N(snap)) < 0 ||
	    tl_jkeys_init(&af->impact, impact, N(impact)) < 0 ||
	    tl_jkeys_init(&af->event, event, N(event)) < 0 ||
	    tl_jkeys_init(&af->change, change, N(change)) < 0)
		return -1;
#undef N
	return 0;
}

struct tl_alert_format *tl_alert_format_new(bool *ret_cpu_ok)
{
	struct tl_alert_format *af = calloc(1, sizeof(*af));
	bool cpu_ok = true;

	if (!af) {
		*ret_cpu_ok = true;
		return NULL;
	}
	if (keys_init(af) < 0)
		abort(); /* a bug: the key sets above do not fit */
	af->js = tl_json_new(TL_ALERT_LINE_MAX, &cpu_ok);
	*ret_cpu_ok = cpu_ok;
	if (!af->js) {
		free(af);
		return NULL;
	}
	return af;
}

void tl_alert_format_free(struct tl_alert_format *af)
{
	if (!af)
		return;
	tl_json_free(af->js);
	free(af->doc);
	free(af->changes);
	tl_buf_fini(&af->out);
	tl_buf_fini(&af->text);
	tl_buf_fini(&af->facts);
	free(af);
}

void tl_alert_request_fini(struct tl_alert_request *req)
{
	tl_buf_fini(&req->body);
}

static int fail(char *err, size_t err_len, int r, const char *fmt, ...) TL_PRINTF(4, 5);

static int fail(char *err, size_t err_len, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		(void)vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return r;
}

static struct tl_alert_str str_of(const struct tl_jval *v)
{
	if (v->type != TL_JT_STRING)
		return (struct tl_alert_str){ NULL, 0 };
	return (struct tl_alert_str){ v->s, v->n };
}

static bool str_is(struct tl_alert_str s, const char *lit)
{
	return s.s && s.n == strlen(lit) && memcmp(s.s, lit, s.n) == 0;
}

static bool time_of(const struct tl_jval *v, int64_t *ret_ns)
{
	return v->type == TL_JT_STRING && tl_time_parse(v->s, v->n, ret_ns) == 0;
}

static struct tl_alert_num num_of(const struct tl_jval *v)
{
	switch (v->type) {
	case TL_JT_NULL:
		return (struct tl_alert_num){ .kind = TL_ALERT_NUM_NULL };
	case TL_JT_INT:
		return (
		    struct tl_alert_num){ .kind = TL_ALERT_NUM_INT, .i = v->i, .d = (double)v->i };
	case TL_JT_DOUBLE:
		return (struct tl_alert_num){ .kind = TL_ALERT_NUM_DOUBLE, .d = v->d };
	default:
		return (struct tl_alert_num){ .kind = TL_ALERT_NUM_ABSENT };
	}
}

static bool num_has(const struct tl_alert_num *v)
{
	return v->kind == TL_ALERT_NUM_INT || v->kind == TL_ALERT_NUM_DOUBLE;
}

static int on_object(void *ud, const struct tl_jrec *jr)
{
	struct tl_alert_format *af = ud;

	af->n_objects++;
	af->whole = !jr->not_object && jr->raw == af->doc;
	return 0;
}

static int on_change(void *ud, const struct tl_jrec *jr)
{
	struct tl_alert_format *af = ud;
	const struct tl_jval *c = af->cvals;

	if (jr->not_object)
		return 0;
	if (af->n_changes == TL_ALERT_CHANGES_MAX) {
		af->changes_dropped++;
		return 0;
	}
	if (af->n_changes == af->changes_cap) {
		size_t cap = af->changes_cap ? af->changes_cap * 2 : 16;
		struct tl_alert_change *p = realloc(af->changes, cap * sizeof(*p));

		if (!p) {
			af->oom = true;
			return 1;
		}
		af->changes = p;
		af->changes_cap = cap;
	}
	af->changes[af->n_changes++] = (struct tl_alert_change){
		.time = str_of(&c[C_TIME]),
		.kind = str_of(&c[C_KIND]),
		.from = str_of(&c[C_FROM]),
		.to = str_of(&c[C_TO]),
		.operation = str_of(&c[C_OPERATION]),
		.status = str_of(&c[C_STATUS]),
		.scope = str_of(&c[C_SCOPE]),
		.model = str_of(&c[C_MODEL]),
		.model_version = str_of(&c[C_MODEL_VERSION]),
		.rai_policy = str_of(&c[C_RAI]),
	};
	return 0;
}

/* The required string member @name in slot @slot: a non-empty string. */
static int need_str(const struct tl_jval *v, const char *name, struct tl_alert_str *ret, char *err,
		    size_t err_len)
{
	if (v->type == TL_JT_ABSENT)
		return fail(err, err_len, TL_EMISSING, "not a trigger event: no '%s'", name);
	if (v->type != TL_JT_STRING || v->n == 0)
		return fail(err, err_len, TL_ETYPE,
			    "not a trigger event: '%s' must be a non-empty string", name);
	*ret = str_of(v);
	return 0;
}

static int fill(struct tl_alert_format *af, char *err, size_t err_len)
{
	static const char *const types[] = { "trigger", "update", "resolved" };
	const struct tl_jval *v = af->vals;
	struct tl_alert_event *ev = &af->ev;
	struct tl_alert_str sev = { 0 };
	int r;

	*ev = (struct tl_alert_event){ 0 };
	for (int i = 0; i < 3; i++)
		if (v[S_TYPE].type == TL_JT_STRING && str_is(str_of(&v[S_TYPE]), types[i]))
			ev->type = (uint8_t)(TL_ALERT_TRIGGER + i);
	if (!ev->type)
		return fail(err, err_len, v[S_TYPE].type == TL_JT_ABSENT ? TL_EMISSING : TL_EVALUE,
			    "not a trigger event: 'type' must be trigger, update or resolved");
	if ((r = need_str(&v[S_ID], "incident_id", &ev->incident_id, err, err_len)) ||
	    (r = need_str(&v[S_RULE], "rule", &ev->rule, err, err_len)) ||
	    (r = need_str(&v[S_SEVERITY], "severity", &sev, err, err_len)) ||
	    (r = need_str(&v[S_RESOURCE], "resource", &ev->resource, err, err_len)) ||
	    (r = need_str(&v[S_DEPLOYMENT], "deployment", &ev->deployment, err, err_len)))
		return r;
	if (sev.n != 4 || memcmp(sev.s, "Sev", 3) != 0 || sev.s[3] < '0' || sev.s[3] > '4')
		return fail(err, err_len, TL_EVALUE,
			    "not a trigger event: 'severity' must be Sev0 to Sev4");
	ev->severity = (uint8_t)(sev.s[3] - '0');
	if (!time_of(&v[S_FIRED], &ev->fired_at_ns))
		return fail(err, err_len, v[S_FIRED].type == TL_JT_ABSENT ? TL_EMISSING : TL_ETIME,
			    "not a trigger event: 'fired_at' must be a time");
	ev->has_resolved = time_of(&v[S_RESOLVED], &ev->resolved_at_ns);
	if (ev->type == TL_ALERT_RESOLVED && !ev->has_resolved)
		return fail(err, err_len,
			    v[S_RESOLVED].type == TL_JT_ABSENT ? TL_EMISSING : TL_ETIME,
			    "not a trigger event: a resolved event needs 'resolved_at', a time");
	ev->has_updated = time_of(&v[S_UPDATED], &ev->updated_at_ns);
	ev->has_window_start = time_of(&v[S_WSTART], &ev->window_start_ns);
	ev->has_window_end = time_of(&v[S_WEND], &ev->window_end_ns);
	ev->model = str_of(&v[S_MODEL]);
	ev->model_version = str_of(&v[S_MODEL_VERSION]);
	ev->unit = str_of(&v[S_UNIT]);
	ev->owner = str_of(&v[S_OWNER]);
	ev->incident_commander = str_of(&v[S_COMMANDER]);
	ev->comms_owner = str_of(&v[S_COMMS]);
	ev->observed = num_of(&v[S_OBSERVED]);
	ev->baseline = num_of(&v[S_BASELINE]);
	ev->threshold = num_of(&v[S_THRESHOLD]);
	ev->duration_s = num_of(&v[S_DURATION]);
	if (ev->duration_s.kind == TL_ALERT_NUM_NULL)
		ev->duration_s.kind = TL_ALERT_NUM_ABSENT;
	if (v[S_IMPACT].type == TL_JT_OBJECT) {
		ev->has_impact = true;
		ev->impact_since = str_of(&v[S_I_SINCE]);
		for (int i = 0; i < TL_ALERT_IMPACT_N; i++) {
			ev->impact[i] = num_of(&v[S_I_FIRST + i]);
			if (ev->impact[i].kind == TL_ALERT_NUM_NULL)
				ev->impact[i].kind = TL_ALERT_NUM_ABSENT;
		}
	}
	if (v[S_ACTION].type == TL_JT_OBJECT) {
		ev->has_action = true;
		ev->action_kind = str_of(&v[S_A_KIND]);
		ev->action_reason = str_of(&v[S_A_REASON]);
		if (v[S_A_TARGET].type == TL_JT_OBJECT) {
			ev->has_target = true;
			ev->target_model_version = str_of(&v[S_T_MODEL_VERSION]);
			ev->target_prompt_version = str_of(&v[S_T_PROMPT_VERSION]);
			ev->target_deployment = str_of(&v[S_T_DEPLOYMENT]);
		}
	}
	/* the snapshot is its path, or an object naming it ({"path":...} or "file") */
	ev->snapshot = str_of(&v[S_SNAPSHOT]);
	if (v[S_SNAPSHOT].type == TL_JT_OBJECT) {
		ev->snapshot = str_of(&v[S_P_PATH]);
		if (!ev->snapshot.s)
			ev->snapshot = str_of(&v[S_P_FILE]);
	}
	ev->changes_omitted = num_of(&v[S_OMITTED]);
	if (ev->changes_omitted.kind != TL_ALERT_NUM_INT || ev->changes_omitted.i < 0)
		ev->changes_omitted.kind = TL_ALERT_NUM_ABSENT;

	/* the changes last: the level 1 parse leaves the level 0 strings above valid */
	af->n_changes = 0;
	af->changes_dropped = 0;
	if (v[S_CHANGES].type == TL_JT_ARRAY) {
		r = tl_json_each(af->js, 1, v[S_CHANGES].s, v[S_CHANGES].n, &af->change, af->cvals,
				 on_change, af);
		if (af->oom || r == -ENOMEM) {
			af->oom = false;
			return fail(err, err_len, -ENOMEM, "out of memory");
		}
		if (r)
			return fail(err, err_len, TL_EJSON,
				    "not JSON: 'recent_changes' is damaged");
		ev->has_changes = true;
		ev->changes = af->changes;
		ev->n_changes = af->n_changes;
		if (af->changes_dropped) {
			int64_t o = ev->changes_omitted.kind == TL_ALERT_NUM_INT
					? ev->changes_omitted.i
					: 0;

			o = o > INT64_MAX - af->changes_dropped ? INT64_MAX
								: o + af->changes_dropped;
			ev->changes_omitted =
			    (struct tl_alert_num){ TL_ALERT_NUM_INT, o, (double)o };
		}
	}
	return 0;
}

int tl_alert_format_read(struct tl_alert_format *af, const char *line, size_t len,
			 const struct tl_alert_event **ret_ev, char *err, size_t err_len)
{
	struct tl_json_error jerr;
	int r;

	if (len > TL_ALERT_LINE_MAX)
		return fail(err, err_len, TL_ETOOBIG, "event line of %zu bytes, over the %d limit",
			    len, TL_ALERT_LINE_MAX);
	if (len + TL_JSON_PADDING > af->doc_cap) {
		size_t cap = len + TL_JSON_PADDING;
		char *d = realloc(af->doc, cap);

		if (!d)
			return fail(err, err_len, -ENOMEM, "out of memory");
		af->doc = d;
		af->doc_cap = cap;
	}
	if (len)
		memcpy(af->doc, line, len);
	memset(af->doc + len, ' ', TL_JSON_PADDING);
	af->n_objects = 0;
	af->whole = false;
	r = tl_json_visit(af->js, af->doc, len, &af->event, af->vals, on_object, af, &jerr);
	if (r == TL_EJSON)
		return fail(err, err_len, TL_EJSON, "not JSON: %s at byte %zu", jerr.message,
			    jerr.offset);
	if (r)
		return fail(err, err_len, r, "not JSON: %s", tl_strerror(r));
	if (af->n_objects != 1 || !af->whole)
		return fail(err, err_len, TL_ETYPE, "not a trigger event: not one JSON object");
	if ((r = fill(af, err, err_len)))
		return r;
	*ret_ev = &af->ev;
	return 0;
}

/* ---- JSON output -------------------------------------------------------------------------- */

static void key(struct tl_buf *b, const char *k)
{
	tl_buf_printf(b, ",\"%s\":", k);
}

static void put_str(struct tl_buf *b, struct tl_alert_str s)
{
	tl_buf_json_str(b, s.s ? s.s : "", s.n);
}

static void kv_str(struct tl_buf *b, const char *k, struct tl_alert_str s)
{
	if (!s.s)
		return;
	key(b, k);
	put_str(b, s);
}

static void kv_lit(struct tl_buf *b, const char *k, const char *lit)
{
	key(b, k);
	tl_buf_json_str(b, lit, strlen(lit));
}

/* A double as the engine writes it; tl_buf_json_num() is for the magnitudes tripline
 * produces, so larger ones go out as %.17g (valid JSON, and exact). */
static void put_double(struct tl_buf *b, double v)
{
	if (fabs(v) < 1e15)
		tl_buf_json_num(b, v);
	else
		tl_buf_printf(b, "%.17g", v);
}

static void put_num(struct tl_buf *b, const struct tl_alert_num *v)
{
	if (v->kind == TL_ALERT_NUM_INT)
		tl_buf_printf(b, "%lld", (long long)v->i);
	else if (v->kind == TL_ALERT_NUM_DOUBLE)
		put_double(b, v->d);
	else
		tl_buf_puts(b, "null");
}

static void kv_num(struct tl_buf *b, const char *k, const struct tl_alert_num *v)
{
	if (v->kind == TL_ALERT_NUM_ABSENT)
		return;
	key(b, k);
	put_num(b, v);
}

static void put_time(struct tl_buf *b, int64_t ns)
{
	char t[TL_TIME_TEXT_LEN + 1];

	tl_buf_printf(b, "\"%s\"", tl_time_format(ns, t));
}

static void put_time_text(struct tl_buf *b, int64_t ns)
{
	char t[TL_TIME_TEXT_LEN + 1];

	tl_buf_puts(b, tl_time_format(ns, t));
}

static void kv_time(struct tl_buf *b, const char *k, bool has, int64_t ns)
{
	if (!has)
		return;
	key(b, k);
	put_time(b, ns);
}

/*
 * Objects whose members are all optional: members are written with a leading comma, and
 * obj_end() drops the first one. @pos is what obj_begin() returned.
 */
static size_t obj_begin(struct tl_buf *b)
{
	tl_buf_puts(b, "{");
	return b->n;
}

static void obj_end(struct tl_buf *b, size_t pos)
{
	if (tl_buf_ok(b) && b->n > pos && b->p[pos] == ',') {
		memmove(b->p + pos, b->p + pos + 1, b->n - pos - 1);
		b->n--;
	}
	tl_buf_puts(b, "}");
}

static void put_changes(struct tl_buf *b, const struct tl_alert_event *ev)
{
	if (!ev->has_changes)
		return;
	key(b, "recent_changes");
	tl_buf_puts(b, "[");
	for (size_t i = 0; i < ev->n_changes; i++) {
		const struct tl_alert_change *c = &ev->changes[i];
		size_t pos;

		if (i)
			tl_buf_puts(b, ",");
		pos = obj_begin(b);
		kv_str(b, "time", c->time);
		kv_str(b, "kind", c->kind);
		kv_str(b, "from", c->from);
		kv_str(b, "to", c->to);
		kv_str(b, "operation", c->operation);
		kv_str(b, "status", c->status);
		kv_str(b, "scope", c->scope);
		kv_str(b, "model", c->model);
		kv_str(b, "model_version", c->model_version);
		kv_str(b, "rai_policy", c->rai_policy);
		obj_end(b, pos);
	}
	tl_buf_puts(b, "]");
	kv_num(b, "recent_changes_omitted", &ev->changes_omitted);
}

static void put_impact(struct tl_buf *b, const struct tl_alert_event *ev)
{
	size_t pos;

	if (!ev->has_impact)
		return;
	key(b, "impact");
	pos = obj_begin(b);
	kv_str(b, "since", ev->impact_since);
	for (int i = 0; i < TL_ALERT_IMPACT_N; i++)
		kv_num(b, impact_names[i], &ev->impact[i]);
	obj_end(b, pos);
}

static void put_action(struct tl_buf *b, const struct tl_alert_event *ev)
{
	size_t pos;

	if (!ev->has_action)
		return;
	key(b, "action");
	pos = obj_begin(b);
	kv_str(b, "kind", ev->action_kind);
	if (ev->has_target) {
		size_t tpos;

		key(b, "target");
		tpos = obj_begin(b);
		kv_str(b, "model_version", ev->target_model_version);
		kv_str(b, "prompt_version", ev->target_prompt_version);
		kv_str(b, "deployment", ev->target_deployment);
		obj_end(b, tpos);
	}
	kv_str(b, "reason", ev->action_reason);
	obj_end(b, pos);
}

static const char *type_name(const struct tl_alert_event *ev)
{
	static const char *const names[] = { "?", "trigger", "update", "resolved" };

	return names[ev->type <= TL_ALERT_RESOLVED ? ev->type : 0];
}

/* owner, incident_commander, comms_owner: those the event names */
static void put_people(struct tl_buf *b, const struct tl_alert_event *ev)
{
	kv_str(b, "owner", ev->owner);
	kv_str(b, "incident_commander", ev->incident_commander);
	kv_str(b, "comms_owner", ev->comms_owner);
}

/* The event, members in the engine's order. */
static void put_event(struct tl_buf *b, const struct tl_alert_event *ev)
{
	tl_buf_printf(b, "{\"type\":\"%s\"", type_name(ev));
	kv_str(b, "incident_id", ev->incident_id);
	kv_str(b, "rule", ev->rule);
	tl_buf_printf(b, ",\"severity\":\"Sev%u\"", (unsigned)ev->severity);
	kv_str(b, "resource", ev->resource);
	kv_str(b, "deployment", ev->deployment);
	kv_str(b, "model", ev->model);
	kv_str(b, "model_version", ev->model_version);
	kv_time(b, "fired_at", true, ev->fired_at_ns);
	kv_time(b, "updated_at", ev->has_updated, ev->updated_at_ns);
	kv_time(b, "window_start", ev->has_window_start, ev->window_start_ns);
	kv_time(b, "window_end", ev->has_window_end, ev->window_end_ns);
	kv_num(b, "observed", &ev->observed);
	kv_num(b, "baseline", &ev->baseline);
	kv_num(b, "threshold", &ev->threshold);
	kv_str(b, "unit", ev->unit);
	kv_time(b, "resolved_at", ev->has_resolved, ev->resolved_at_ns);
	kv_num(b, "duration_s", &ev->duration_s);
	put_impact(b, ev);
	put_changes(b, ev);
	put_action(b, ev);
	put_people(b, ev);
	kv_str(b, "snapshot", ev->snapshot);
	tl_buf_puts(b, "}");
}

/* ---- text for people ---------------------------------------------------------------------- */

static void put_s(struct tl_buf *b, struct tl_alert_str s)
{
	if (s.s)
		tl_buf_put(b, s.s, s.n);
}

/* @v in the event's unit: "2310 ms", "4.20%", "$123.45". */
static void put_value(struct tl_buf *b, const struct tl_alert_num *v, struct tl_alert_str unit)
{
	if (str_is(unit, "ms")) {
		tl_buf_printf(b, "%.0f ms", v->d);
	} else if (str_is(unit, "ratio")) {
		tl_buf_printf(b, "%.2f%%", v->d * 100);
	} else if (str_is(unit, "usd")) {
		tl_buf_printf(b, "$%.2f", v->d);
	} else {
		tl_buf_printf(b, "%g", v->d);
		if (unit.s && unit.n) {
			tl_buf_puts(b, " ");
			put_s(b, unit);
		}
	}
}

/* "45s", "5m30s", "1h05m00s", "2d03h04m05s" */
static void put_duration(struct tl_buf *b, int64_t s)
{
	if (s < 60)
		tl_buf_printf(b, "%llds", (long long)s);
	else if (s < 3600)
		tl_buf_printf(b, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		tl_buf_printf(b, "%lldh%02lldm%02llds", (long long)(s / 3600),
			      (long long)(s / 60 % 60), (long long)(s % 60));
	else
		tl_buf_printf(b, "%lldd%02lldh%02lldm%02llds", (long long)(s / 86400),
			      (long long)(s / 3600 % 24), (long long)(s / 60 % 60),
			      (long long)(s % 60));
}

/* Seconds from firing to resolution: duration_s, else resolved_at - fired_at. */
static bool duration_of(const struct tl_alert_event *ev, int64_t *ret_s)
{
	if (ev->duration_s.kind == TL_ALERT_NUM_INT && ev->duration_s.i >= 0) {
		*ret_s = ev->duration_s.i;
		return true;
	}
	if (ev->duration_s.kind == TL_ALERT_NUM_DOUBLE && ev->duration_s.d >= 0 &&
	    ev->duration_s.d < 9e18) {
		*ret_s = (int64_t)ev->duration_s.d;
		return true;
	}
	if (ev->has_resolved && ev->resolved_at_ns >= ev->fired_at_ns) {
		*ret_s = (ev->resolved_at_ns - ev->fired_at_ns) / TL_NS_PER_S;
		return true;
	}
	return false;
}

static void put_where(struct tl_buf *b, const struct tl_alert_event *ev)
{
	put_s(b, ev->resource);
	tl_buf_puts(b, "/");
	put_s(b, ev->deployment);
}

/* "rollback to model_version 2024-08-06"; "investigate"; "" without an action kind. */
static void put_action_text(struct tl_buf *b, const struct tl_alert_event *ev)
{
	const struct {
		const char *name;
		struct tl_alert_str v;
	} t[] = {
		{ "deployment ", ev->target_deployment },
		{ "model_version ", ev->target_model_version },
		{ "prompt_version ", ev->target_prompt_version },
	};
	bool first = true;

	if (!ev->action_kind.s)
		return;
	put_s(b, ev->action_kind);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!t[i].v.s)
			continue;
		tl_buf_puts(b, first ? " to " : ", ");
		tl_buf_puts(b, t[i].name);
		put_s(b, t[i].v);
		first = false;
	}
}

/* "[Sev2] latency on R/D"; "[Sev1] still firing: ..."; "[Resolved] ... after 41m00s" */
static void put_title(struct tl_buf *b, const struct tl_alert_event *ev)
{
	int64_t s;

	if (ev->type == TL_ALERT_RESOLVED)
		tl_buf_puts(b, "[Resolved] ");
	else
		tl_buf_printf(b, "[Sev%u] %s", (unsigned)ev->severity,
			      ev->type == TL_ALERT_UPDATE ? "still firing: " : "");
	put_s(b, ev->rule);
	tl_buf_puts(b, " on ");
	put_where(b, ev);
	if (ev->type == TL_ALERT_RESOLVED && duration_of(ev, &s)) {
		tl_buf_puts(b, " after ");
		put_duration(b, s);
	}
}

/* "11808 ms vs threshold 6627 ms (baseline 3314 ms)" */
static void put_observation(struct tl_buf *b, const struct tl_alert_event *ev)
{
	if (!num_has(&ev->observed))
		return;
	put_value(b, &ev->observed, ev->unit);
	if (num_has(&ev->threshold)) {
		tl_buf_puts(b, " vs threshold ");
		put_value(b, &ev->threshold, ev->unit);
	}
	if (num_has(&ev->baseline)) {
		tl_buf_puts(b, " (baseline ");
		put_value(b, &ev->baseline, ev->unit);
		tl_buf_puts(b, ")");
	}
}

/* One readable line: the title, the observation, and (while firing) the action. */
static void put_summary(struct tl_buf *b, const struct tl_alert_event *ev)
{
	put_title(b, ev);
	if (num_has(&ev->observed)) {
		tl_buf_puts(b, ": ");
		put_observation(b, ev);
	}
	if (ev->type == TL_ALERT_RESOLVED)
		tl_buf_printf(b, " (Sev%u)", (unsigned)ev->severity);
	else if (ev->action_kind.s) {
		tl_buf_puts(b, "; action: ");
		put_action_text(b, ev);
	}
}

/* Cut @t to at most @max bytes (>= 3) at a UTF-8 boundary, ending in "...". With
 * @entities, never inside an HTML entity (&amp;). */
static void truncate_text(struct tl_buf *t, size_t max, bool entities)
{
	size_t cut;

	if (!tl_buf_ok(t) || t->n <= max)
		return;
	cut = max - 3;
	while (cut > 0 && ((unsigned char)t->p[cut] & 0xc0) == 0x80)
		cut--;
	if (entities)
		for (size_t k = cut; k > 0 && cut - k < 6; k--) {
			if (t->p[k - 1] == ';')
				break;
			if (t->p[k - 1] == '&') {
				cut = k - 1;
				break;
			}
		}
	t->n = cut;
	tl_buf_puts(t, "...");
}

/* @n bytes of @s with Slack's mrkdwn control characters escaped. */
static void put_mrkdwn(struct tl_buf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = s[i] == '&'   ? "&amp;"
				: s[i] == '<' ? "&lt;"
				: s[i] == '>' ? "&gt;"
					      : NULL;

		if (!e)
			continue;
		tl_buf_put(b, s + run, i - run);
		tl_buf_puts(b, e);
		run = i + 1;
	}
	tl_buf_put(b, s + run, n - run);
}

/* A fact a message shows: a title and a value, @len bytes at @off in af->facts. */
struct fact {
	const char *title;
	size_t off, len;
};

#define N_FACTS 11

struct facts {
	struct fact f[N_FACTS];
	size_t n;
};

static void fact_begin(struct tl_alert_format *af, struct facts *fs, const char *title)
{
	assert(fs->n < N_FACTS); /* build_facts() adds at most 11 */
	fs->f[fs->n] = (struct fact){ title, af->facts.n, 0 };
}

static void fact_end(struct tl_alert_format *af, struct facts *fs)
{
	fs->f[fs->n].len = af->facts.n - fs->f[fs->n].off;
	fs->n++;
}

/* The facts of a chat message or a description: severity, deployment, observed vs
 * baseline, action, snapshot, duration, impact, owner, incident commander, comms owner,
 * incident. Slack takes at most 10 fields: all of these but the incident are 10. */
static void build_facts(struct tl_alert_format *af, const struct tl_alert_event *ev,
			struct facts *fs)
{
	struct tl_buf *f = &af->facts;
	int64_t s;

	tl_buf_reset(f);
	fs->n = 0;
	fact_begin(af, fs, "Severity");
	tl_buf_printf(f, "Sev%u", (unsigned)ev->severity);
	fact_end(af, fs);
	fact_begin(af, fs, "Deployment");
	put_s(f, ev->deployment);
	tl_buf_puts(f, " on ");
	put_s(f, ev->resource);
	if (ev->model.s) {
		tl_buf_puts(f, " (");
		put_s(f, ev->model);
		if (ev->model_version.s) {
			tl_buf_puts(f, " ");
			put_s(f, ev->model_version);
		}
		tl_buf_puts(f, ")");
	}
	fact_end(af, fs);
	if (num_has(&ev->observed)) {
		fact_begin(af, fs, "Observed vs baseline");
		put_value(f, &ev->observed, ev->unit);
		tl_buf_puts(f, " vs ");
		if (num_has(&ev->baseline))
			put_value(f, &ev->baseline, ev->unit);
		else
			tl_buf_puts(f, "no baseline");
		if (num_has(&ev->threshold)) {
			tl_buf_puts(f, " (threshold ");
			put_value(f, &ev->threshold, ev->unit);
			tl_buf_puts(f, ")");
		}
		fact_end(af, fs);
	}
	if (ev->action_kind.s) {
		fact_begin(af, fs, "Action");
		put_action_text(f, ev);
		fact_end(af, fs);
	}
	if (ev->snapshot.s) {
		fact_begin(af, fs, "Snapshot");
		put_s(f, ev->snapshot);
		fact_end(af, fs);
	}
	if (ev->type == TL_ALERT_RESOLVED && duration_of(ev, &s)) {
		fact_begin(af, fs, "Duration");
		put_duration(f, s);
		fact_end(af, fs);
	}
	if (ev->has_impact) {
		static const char *const words[TL_ALERT_IMPACT_N] = {
			"requests", "5xx", "429s", "guardrail failures", "refusals", NULL,
		};
		bool first = true;

		fact_begin(af, fs, "Impact since firing");
		for (int i = 0; i < TL_ALERT_IMPACT_N; i++) {
			const struct tl_alert_num *v = &ev->impact[i];

			if (!num_has(v))
				continue;
			tl_buf_puts(f, first ? "" : ", ");
			if (i == TL_ALERT_IMPACT_COST_USD)
				tl_buf_printf(f, "$%.2f", v->d);
			else
				tl_buf_printf(f, "%.0f %s", v->d, words[i]);
			first = false;
		}
		fact_end(af, fs);
	}
	if (ev->owner.s) {
		fact_begin(af, fs, "Owner");
		put_s(f, ev->owner);
		fact_end(af, fs);
	}
	if (ev->incident_commander.s) {
		fact_begin(af, fs, "Incident commander");
		put_s(f, ev->incident_commander);
		fact_end(af, fs);
	}
	if (ev->comms_owner.s) {
		fact_begin(af, fs, "Comms owner");
		put_s(f, ev->comms_owner);
		fact_end(af, fs);
	}
	fact_begin(af, fs, "Incident");
	put_s(f, ev->incident_id);
	fact_end(af, fs);
}

/* The value of fact @i; valid until af->facts changes. */
static const char *fact_value(const struct tl_alert_format *af, const struct facts *fs, size_t i)
{
	return af->facts.p ? af->facts.p + fs->f[i].off : "";
}

/* ---- the formats -------------------------------------------------------------------------- */

static const char *pd_severity(unsigned sev)
{
	static const char *const names[] = { "critical", "critical", "error", "warning", "info" };

	return names[sev <= 4 ? sev : 2];
}

/* The time the event speaks for: resolved_at, updated_at, else fired_at. */
static int64_t event_time(const struct tl_alert_event *ev)
{
	if (ev->type == TL_ALERT_RESOLVED && ev->has_resolved)
		return ev->resolved_at_ns;
	if (ev->type == TL_ALERT_UPDATE && ev->has_updated)
		return ev->updated_at_ns;
	return ev->fired_at_ns;
}

static void text_str(struct tl_alert_format *af, struct tl_buf *b, size_t max)
{
	truncate_text(&af->text, max, false);
	tl_buf_json_str(b, af->text.p ? af->text.p : "", af->text.n);
}

static void render_pagerduty(struct tl_alert_format *af, const struct tl_alert_event *ev,
			     const char *routing_key, struct tl_buf *b)
{
	tl_buf_puts(b, "{\"routing_key\":");
	tl_buf_json_str(b, routing_key, strlen(routing_key));
	kv_lit(b, "event_action", ev->type == TL_ALERT_RESOLVED ? "resolve" : "trigger");
	kv_str(b, "dedup_key", ev->incident_id);
	kv_lit(b, "client", "tripline");
	tl_buf_puts(b, ",\"payload\":{\"summary\":");
	tl_buf_reset(&af->text);
	put_summary(&af->text, ev);
	text_str(af, b, 1024); /* Events API v2: at most 1024 characters */
	key(b, "source");
	tl_buf_reset(&af->text);
	put_where(&af->text, ev);
	text_str(af, b, SIZE_MAX);
	kv_lit(b, "severity", pd_severity(ev->severity));
	key(b, "timestamp");
	put_time(b, event_time(ev));
	kv_str(b, "component", ev->deployment);
	kv_str(b, "group", ev->resource);
	kv_str(b, "class", ev->rule);
	key(b, "custom_details");
	put_event(b, ev);
	tl_buf_puts(b, "}}");
}

static void render_azure(struct tl_alert_format *af, const struct tl_alert_event *ev,
			 struct tl_buf *b)
{
	tl_buf_puts(b, "{\"schemaId\":\"azureMonitorCommonAlertSchema\",\"data\":{\"essentials\":{"
		       "\"alertId\":");
	put_str(b, ev->incident_id);
	key(b, "alertRule");
	tl_buf_reset(&af->text);
	tl_buf_puts(&af->text, "tripline ");
	put_s(&af->text, ev->rule);
	text_str(af, b, SIZE_MAX);
	tl_buf_printf(b, ",\"severity\":\"Sev%u\"", (unsigned)ev->severity);
	kv_lit(b, "signalType", "Log");
	kv_lit(b, "monitorCondition", ev->type == TL_ALERT_RESOLVED ? "Resolved" : "Fired");
	kv_lit(b, "monitoringService", "tripline");
	tl_buf_puts(b, ",\"alertTargetIDs\":[");
	tl_buf_reset(&af->text);
	put_where(&af->text, ev);
	text_str(af, b, SIZE_MAX);
	tl_buf_puts(b, "],\"configurationItems\":[");
	put_str(b, ev->deployment);
	tl_buf_puts(b, "]");
	kv_str(b, "originAlertId", ev->incident_id);
	kv_time(b, "firedDateTime", true, ev->fired_at_ns);
	if (ev->type == TL_ALERT_RESOLVED)
		kv_time(b, "resolvedDateTime", ev->has_resolved, ev->resolved_at_ns);
	key(b, "description");
	tl_buf_reset(&af->text);
	put_summary(&af->text, ev);
	text_str(af, b, SIZE_MAX);
	tl_buf_puts(b, ",\"essentialsVersion\":\"1.0\",\"alertContextVersion\":\"1.0\"}");

	/* the observation, in the event's own words */
	tl_buf_printf(b, ",\"alertContext\":{\"type\":\"%s\"", type_name(ev));
	kv_str(b, "rule", ev->rule);
	kv_str(b, "resource", ev->resource);
	kv_str(b, "deployment", ev->deployment);
	kv_str(b, "model", ev->model);
	kv_str(b, "model_version", ev->model_version);
	kv_num(b, "observed", &ev->observed);
	kv_num(b, "baseline", &ev->baseline);
	kv_num(b, "threshold", &ev->threshold);
	kv_str(b, "unit", ev->unit);
	kv_time(b, "window_start", ev->has_window_start, ev->window_start_ns);
	kv_time(b, "window_end", ev->has_window_end, ev->window_end_ns);
	kv_time(b, "updated_at", ev->has_updated, ev->updated_at_ns);
	kv_num(b, "duration_s", &ev->duration_s);
	put_impact(b, ev);
	put_changes(b, ev);
	put_action(b, ev);
	put_people(b, ev);
	kv_str(b, "snapshot", ev->snapshot);
	tl_buf_puts(b, "}}}");
}

/* Slack's limits: header text 150 characters, a field 2000, a section text 3000. */
static void render_slack(struct tl_alert_format *af, const struct tl_alert_event *ev,
			 struct tl_buf *b)
{
	struct facts fs;
	bool first = true;

	tl_buf_reset(&af->facts);
	tl_buf_reset(&af->text);
	put_summary(&af->facts, ev); /* facts is free until build_facts() */
	put_mrkdwn(&af->text, af->facts.p ? af->facts.p : "", af->facts.n);
	tl_buf_puts(b, "{\"text\":");
	truncate_text(&af->text, 3000, true);
	tl_buf_json_str(b, af->text.p ? af->text.p : "", af->text.n);

	tl_buf_puts(
	    b, ",\"blocks\":[{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":");
	tl_buf_reset(&af->text);
	put_title(&af->text, ev);
	text_str(af, b, 150);
	tl_buf_puts(b, "}}");
	if (ev->action_reason.s) {
		tl_buf_puts(b, ",{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":");
		tl_buf_reset(&af->text);
		tl_buf_puts(&af->text, "*Why:* ");
		put_mrkdwn(&af->text, ev->action_reason.s, ev->action_reason.n);
		truncate_text(&af->text, 3000, true);
		tl_buf_json_str(b, af->text.p ? af->text.p : "", af->text.n);
		tl_buf_puts(b, "}}");
	}
	tl_buf_puts(b, ",{\"type\":\"section\",\"fields\":[");
	build_facts(af, ev, &fs);
	for (size_t i = 0; i < fs.n; i++) {
		if (strcmp(fs.f[i].title, "Incident") == 0)
			continue; /* in the context line below */
		tl_buf_reset(&af->text);
		tl_buf_printf(&af->text, "*%s*\n", fs.f[i].title);
		put_mrkdwn(&af->text, fact_value(af, &fs, i), fs.f[i].len);
		truncate_text(&af->text, 2000, true);
		tl_buf_puts(b, first ? "{\"type\":\"mrkdwn\",\"text\":"
				     : ",{\"type\":\"mrkdwn\",\"text\":");
		tl_buf_json_str(b, af->text.p ? af->text.p : "", af->text.n);
		tl_buf_puts(b, "}");
		first = false;
	}
	tl_buf_puts(b, "]},{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":");
	tl_buf_reset(&af->text);
	tl_buf_puts(&af->text, "tripline incident ");
	put_mrkdwn(&af->text, ev->incident_id.s, ev->incident_id.n);
	tl_buf_puts(&af->text, ", fired ");
	put_time_text(&af->text, ev->fired_at_ns);
	if (ev->type == TL_ALERT_RESOLVED && ev->has_resolved) {
		tl_buf_puts(&af->text, ", resolved ");
		put_time_text(&af->text, ev->resolved_at_ns);
	}
	truncate_text(&af->text, 3000, true);
	tl_buf_json_str(b, af->text.p ? af->text.p : "", af->text.n);
	tl_buf_puts(b, "}]}]}");
}

/* An Adaptive Card (1.4) in a message attachment: what Teams' Workflows webhooks take
 * (the Office 365 connectors that took MessageCards are being retired). */
static void render_teams(struct tl_alert_format *af, const struct tl_alert_event *ev,
			 struct tl_buf *b)
{
	struct facts fs;
	const char *color;

	color = ev->type == TL_ALERT_RESOLVED ? "Good"
		: ev->severity <= 1           ? "Attention"
					      : "Warning";
	tl_buf_puts(b, "{\"type\":\"message\",\"attachments\":[{\"contentType\":"
		       "\"application/vnd.microsoft.card.adaptive\",\"contentUrl\":null,"
		       "\"content\":{\"$schema\":\"http://adaptivecards.io/schemas/"
		       "adaptive-card.json\",\"type\":\"AdaptiveCard\",\"version\":\"1.4\","
		       "\"msteams\":{\"width\":\"Full\"},\"body\":[{\"type\":\"TextBlock\","
		       "\"size\":\"Medium\",\"weight\":\"Bolder\",\"wrap\":true,");
	tl_buf_printf(b, "\"color\":\"%s\",\"text\":", color);
	tl_buf_reset(&af->text);
	put_title(&af->text, ev);
	text_str(af, b, SIZE_MAX);
	tl_buf_puts(b, "},{\"type\":\"TextBlock\",\"wrap\":true,\"text\":");
	tl_buf_reset(&af->text);
	put_summary(&af->text, ev);
	if (ev->action_reason.s) {
		tl_buf_puts(&af->text, "\n\n");
		put_s(&af->text, ev->action_reason);
	}
	text_str(af, b, SIZE_MAX);
	tl_buf_puts(b, "},{\"type\":\"FactSet\",\"facts\":[");
	build_facts(af, ev, &fs);
	for (size_t i = 0; i < fs.n; i++) {
		tl_buf_puts(b, i ? ",{\"title\":" : "{\"title\":");
		tl_buf_json_str(b, fs.f[i].title, strlen(fs.f[i].title));
		tl_buf_puts(b, ",\"value\":");
		tl_buf_json_str(b, fact_value(af, &fs, i), fs.f[i].len);
		tl_buf_puts(b, "}");
	}
	tl_buf_puts(b, "]}]}}]}");
}

static void render_alertmanager(struct tl_alert_format *af, const struct tl_alert_event *ev,
				struct tl_buf *b)
{
	struct facts fs;

	tl_buf_puts(b, "[{\"labels\":{\"alertname\":");
	tl_buf_reset(&af->text);
	tl_buf_puts(&af->text, "tripline_");
	put_s(&af->text, ev->rule);
	text_str(af, b, SIZE_MAX);
	tl_buf_printf(b, ",\"severity\":\"Sev%u\"", (unsigned)ev->severity);
	kv_str(b, "rule", ev->rule);
	kv_str(b, "resource", ev->resource);
	kv_str(b, "deployment", ev->deployment);
	kv_str(b, "incident_id", ev->incident_id);
	put_people(b, ev);
	tl_buf_puts(b, "},\"annotations\":{\"summary\":");
	tl_buf_reset(&af->text);
	put_summary(&af->text, ev);
	text_str(af, b, SIZE_MAX);

	/* description: the facts, a line each, and the recent changes */
	key(b, "description");
	tl_buf_reset(&af->text);
	build_facts(af, ev, &fs);
	for (size_t i = 0; i < fs.n; i++) {
		tl_buf_printf(&af->text, "%s%s: ", i ? "\n" : "", fs.f[i].title);
		tl_buf_put(&af->text, fact_value(af, &fs, i), fs.f[i].len);
	}
	if (ev->has_window_start && ev->has_window_end) {
		tl_buf_puts(&af->text, "\nWindow: ");
		put_time_text(&af->text, ev->window_start_ns);
		tl_buf_puts(&af->text, " to ");
		put_time_text(&af->text, ev->window_end_ns);
	}
	for (size_t i = 0; i < ev->n_changes; i++) {
		const struct tl_alert_change *c = &ev->changes[i];

		tl_buf_puts(&af->text, "\nChange: ");
		put_s(&af->text, c->time);
		tl_buf_puts(&af->text, c->time.s ? " " : "");
		put_s(&af->text, c->kind.s ? c->kind : (struct tl_alert_str){ "change", 6 });
		if (c->from.s || c->to.s) {
			tl_buf_puts(&af->text, " ");
			put_s(&af->text, c->from);
			tl_buf_puts(&af->text, " -> ");
			put_s(&af->text, c->to);
		}
		if (c->operation.s) {
			tl_buf_puts(&af->text, " (");
			put_s(&af->text, c->operation);
			tl_buf_puts(&af->text, ")");
		}
	}
	text_str(af, b, SIZE_MAX);
	if (ev->action_kind.s) {
		key(b, "action");
		tl_buf_reset(&af->text);
		put_action_text(&af->text, ev);
		if (ev->action_reason.s) {
			tl_buf_puts(&af->text, ": ");
			put_s(&af->text, ev->action_reason);
		}
		text_str(af, b, SIZE_MAX);
	}
	kv_str(b, "snapshot", ev->snapshot);
	tl_buf_puts(b, "}");
	kv_time(b, "startsAt", true, ev->fired_at_ns);
	if (ev->type == TL_ALERT_RESOLVED)
		kv_time(b, "endsAt", ev->has_resolved, ev->resolved_at_ns);
	tl_buf_puts(b, "}]");
}

int tl_alert_format_render(struct tl_alert_format *af, const struct tl_alert_event *ev,
			   const struct tl_alert_sink *sink, struct tl_alert_request *req,
			   char *err, size_t err_len)
{
	struct tl_buf *b = &af->out;
	struct tl_buf swap;

	tl_buf_reset(b);
	switch (sink->fmt) {
	case TL_ALERT_FMT_JSON:
		put_event(b, ev);
		break;
	case TL_ALERT_FMT_PAGERDUTY:
		/* the key is a secret: it is never quoted in a message */
		if (!sink->routing_key || !sink->routing_key[0])
			return fail(err, err_len, TL_EVALUE, "pagerduty: no routing_key");
		render_pagerduty(af, ev, sink->routing_key, b);
		break;
	case TL_ALERT_FMT_AZURE:
		render_azure(af, ev, b);
		break;
	case TL_ALERT_FMT_SLACK:
		render_slack(af, ev, b);
		break;
	case TL_ALERT_FMT_TEAMS:
		render_teams(af, ev, b);
		break;
	case TL_ALERT_FMT_ALERTMANAGER:
		render_alertmanager(af, ev, b);
		break;
	default:
		return fail(err, err_len, TL_EVALUE, "unknown alert format %d", (int)sink->fmt);
	}
	if (!tl_buf_ok(b) || !tl_buf_ok(&af->text) || !tl_buf_ok(&af->facts)) {
		tl_buf_fini(&af->text);
		tl_buf_fini(&af->facts);
		return fail(err, err_len, -ENOMEM, "out of memory");
	}
	/* hand the body over and keep the caller's old storage as the next scratch */
	swap = req->body;
	req->body = *b;
	*b = swap;
	req->method = "POST";
	req->path = sink->fmt == TL_ALERT_FMT_ALERTMANAGER ? "/api/v2/alerts" : "";
	req->content_type = "application/json";
	return 0;
}

int tl_alert_format_line(struct tl_alert_format *af, const char *line, size_t len,
			 const struct tl_alert_sink *sink, struct tl_alert_request *req, char *err,
			 size_t err_len)
{
	const struct tl_alert_event *ev;
	int r;

	if ((r = tl_alert_format_read(af, line, len, &ev, err, err_len)))
		return r;
	return tl_alert_format_render(af, ev, sink, req, err, err_len);
}

/* ---- format names ------------------------------------------------------------------------- */

static const char *const fmt_names[TL_ALERT_FMT_COUNT] = {
	"json", "pagerduty", "azure-common-alert", "slack", "teams", "alertmanager",
};

const char *tl_alert_fmt_name(enum tl_alert_fmt fmt)
{
	return (unsigned)fmt < TL_ALERT_FMT_COUNT ? fmt_names[fmt] : "?";
}

int tl_alert_fmt_from_name(const char *name, enum tl_alert_fmt *ret_fmt)
{
	for (int i = 0; name && i < TL_ALERT_FMT_COUNT; i++)
		if (strcmp(name, fmt_names[i]) == 0) {
			*ret_fmt = (enum tl_alert_fmt)i;
			return 0;
		}
	return TL_EVALUE;
}
