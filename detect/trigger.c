/*
 * detect/trigger.c - trigger events as JSON, and their output order. Pure.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tripline/time.h>
#include <tripline/trigger.h>

static const char *const rule_names[TL_RULE_COUNT] = {
	"latency", "guardrail", "refusal", "errors", "throttling", "cost",
};

const char *tl_rule_name(enum tl_rule r)
{
	return (unsigned)r < TL_RULE_COUNT ? rule_names[r] : "?";
}

void tl_rules_defaults(struct tl_rules *r)
{
	*r = (struct tl_rules){
		.latency = { .enabled = true,
			     .statistic = 0.95,
			     .factor = 2.0,
			     .for_ns = 5 * TL_NS_PER_MIN,
			     .min_requests = 20,
			     .severe_factor = 4.0 },
		.guardrail = { .enabled = true,
			       .rate = 0.01,
			       .window_ns = 5 * TL_NS_PER_MIN,
			       .min_requests = 200,
			       .severe_rate = 0.05 },
		.errors = { .enabled = true,
			    .rate = 0.05,
			    .window_ns = 5 * TL_NS_PER_MIN,
			    .min_requests = 100,
			    .severe_rate = 0.20 },
		.throttling = { .enabled = true,
				.rate = 0.10,
				.window_ns = 5 * TL_NS_PER_MIN,
				.min_requests = 100,
				.severe_rate = 0.50 },
		.refusal = { .enabled = true,
			     .rate = 0.02,
			     .factor = 3.0,
			     .window_ns = 5 * TL_NS_PER_MIN,
			     .min_requests = 100,
			     .severe_rate = 0.10 },
		.cost = { .enabled = true,
			  .daily_budget_usd = 500,
			  .warn_at = { 0.5, 0.8, 1.0 },
			  .n_warn = 3,
			  .hourly_factor = 3.0,
			  .rate_window_ns = 15 * TL_NS_PER_MIN },
	};
}

char *tl_trigger_id(uint64_t incident, char *buf)
{
	(void)snprintf(buf, 20, "tl-%016llx", (unsigned long long)incident);
	return buf;
}

static void put_time(struct tl_buf *b, const char *key, int64_t ns)
{
	char t[TL_TIME_TEXT_LEN + 1];

	tl_buf_printf(b, ",\"%s\":\"%s\"", key, tl_time_format(ns, t));
}

static void put_name(struct tl_buf *b, const char *key, const struct tl_symtab *syms, uint32_t sym)
{
	size_t n;
	const char *s = tl_symtab_str(syms, sym, &n);

	tl_buf_printf(b, ",\"%s\":", key);
	tl_buf_json_str(b, s, n);
}

static void put_num(struct tl_buf *b, const char *key, double v)
{
	tl_buf_printf(b, ",\"%s\":", key);
	if (isnan(v))
		tl_buf_puts(b, "null");
	else
		tl_buf_json_num(b, v);
}

/* A member from the config (owner and the like): written only when set. */
static void put_opt_str(struct tl_buf *b, const char *key, const char *s)
{
	if (!s || !s[0])
		return;
	tl_buf_printf(b, ",\"%s\":", key);
	tl_buf_json_str(b, s, strlen(s));
}

void tl_trigger_json(const struct tl_trigger *t, const struct tl_symtab *syms, struct tl_buf *b)
{
	tl_trigger_json_ex(t, syms, NULL, b);
}

void tl_trigger_json_ex(const struct tl_trigger *t, const struct tl_symtab *syms,
			const struct tl_trigger_extra *x, struct tl_buf *b)
{
	static const char *const types[] = { "?", "trigger", "update", "resolved" };
	static const char *const actions[] = { "?", "investigate", "failover", "throttle",
					       "rollback" };
	static const char *const units[] = { "?", "ms", "ratio", "usd" };
	char id[20];

	tl_buf_printf(
	    b, "{\"type\":\"%s\",\"incident_id\":\"%s\",\"rule\":\"%s\",\"severity\":\"Sev%u\"",
	    types[t->type <= 3 ? t->type : 0], tl_trigger_id(t->incident, id),
	    tl_rule_name((enum tl_rule)t->rule), (unsigned)t->severity);
	put_name(b, "resource", syms, t->resource);
	put_name(b, "deployment", syms, t->deployment);
	if (t->model)
		put_name(b, "model", syms, t->model);
	if (t->model_version)
		put_name(b, "model_version", syms, t->model_version);
	put_time(b, "fired_at", t->fired_at);
	if (t->type == TL_TRIGGER_UPDATE)
		put_time(b, "updated_at", t->at);
	put_time(b, "window_start", t->window_start);
	put_time(b, "window_end", t->window_end);
	put_num(b, "observed", t->observed);
	put_num(b, "baseline", t->baseline);
	put_num(b, "threshold", t->threshold);
	tl_buf_printf(b, ",\"unit\":\"%s\"", units[t->unit <= 3 ? t->unit : 0]);
	if (t->type == TL_TRIGGER_RESOLVED) {
		put_time(b, "resolved_at", t->resolved_at);
		tl_buf_printf(b, ",\"duration_s\":%lld",
			      (long long)((t->resolved_at - t->fired_at) / TL_NS_PER_S));
	}
	if (t->type != TL_TRIGGER_FIRE) {
		const struct tl_impact *m = &t->impact;

		tl_buf_printf(b,
			      ",\"impact\":{\"since\":\"fired_at\",\"requests\":%llu,"
			      "\"errors_5xx\":%llu,\"throttled_429\":%llu,"
			      "\"guardrail_failed\":%llu,\"refusals\":%llu,\"cost_usd\":",
			      (unsigned long long)m->requests, (unsigned long long)m->errors_5xx,
			      (unsigned long long)m->throttled_429,
			      (unsigned long long)m->guardrail_failed,
			      (unsigned long long)m->refusals);
		tl_buf_json_num(b, m->cost_usd);
		tl_buf_puts(b, "}");
	}
	if (x && x->decided) {
		tl_buf_put(b, x->decided, x->decided_len);
	} else {
		tl_buf_puts(b, ",\"recent_changes\":[]");
		tl_buf_printf(b, ",\"action\":{\"kind\":\"%s\"",
			      actions[t->action <= 4 ? t->action : 0]);
		if (t->action == TL_ACTION_FAILOVER && t->fallback && t->fallback[0]) {
			tl_buf_puts(b, ",\"target\":{\"deployment\":");
			tl_buf_json_str(b, t->fallback, strlen(t->fallback));
			tl_buf_puts(b, "}");
		}
		tl_buf_puts(b, ",\"reason\":");
		tl_buf_json_str(b, t->reason, strlen(t->reason));
		tl_buf_puts(b, "}");
	}
	put_opt_str(b, "owner", t->owner);
	put_opt_str(b, "incident_commander", t->incident_commander);
	put_opt_str(b, "comms_owner", t->comms_owner);
	if (x && x->tail)
		tl_buf_put(b, x->tail, x->tail_len);
	tl_buf_puts(b, "}\n");
}

int tl_trigger_cmp(const struct tl_trigger *a, const struct tl_trigger *b,
		   const struct tl_symtab *syms)
{
	int c;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->resource != b->resource && (c = strcmp(tl_symtab_str(syms, a->resource, NULL),
						      tl_symtab_str(syms, b->resource, NULL))))
		return c;
	if (a->series != b->series) {
		c = strcmp(tl_symtab_str(syms, a->deployment, NULL),
			   tl_symtab_str(syms, b->deployment, NULL));
		if (c)
			return c;
		return a->series < b->series ? -1 : 1;
	}
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	return (int)a->type - (int)b->type;
}
