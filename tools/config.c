/*
 * tools/config.c - load the YAML configuration (see tools/config.h).
 *
 * tools/yamltree.c builds a small tree of the document with line numbers; the tree is
 * then checked against one table per section (key, type, bounds, field, documentation).
 * Rules at the top level apply to every deployment; a deployment's own keys then apply over
 * them, whatever order the sections come in.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/time.h>

#include "cli.h"
#include "yamltree.h"

/* ---- tables ----------------------------------------------------------------------------- */

/* O_UINT0: a whole number from lo to hi, or 0 (which stands for a default) */
enum otype {
	O_DURATION,
	O_DOUBLE,
	O_UINT,
	O_UINT0,
	O_BOOL,
	O_QUANTILE,
	O_STRING,
	O_RATIOS,
	O_TEXT
};

struct opt {
	const char *key;
	enum otype t;
	size_t off;
	double lo, hi;
	const char *doc;
	size_t size; /* O_STRING: bytes of the char array */
};

#define OFF(type, field) offsetof(type, field)

static const struct opt latency_opts[] = {
	{ "enabled", O_BOOL, OFF(struct tl_rule_latency, enabled), 0, 1, "false turns the rule off",
	  0 },
	{ "statistic", O_QUANTILE, OFF(struct tl_rule_latency, statistic), 0.5, 0.999,
	  "the quantile of each 1-minute window: p50 .. p99.9", 0 },
	{ "factor", O_DOUBLE, OFF(struct tl_rule_latency, factor), 1.0, 1000,
	  "fires above factor x the baseline (the median minute of the horizon)", 0 },
	{ "for", O_DURATION, OFF(struct tl_rule_latency, for_ns), 60e9, 86400e9,
	  "for this many consecutive minutes", 0 },
	{ "min_requests", O_UINT, OFF(struct tl_rule_latency, min_requests), 1, 1e9,
	  "a minute with fewer requests neither breaches nor counts in the baseline", 0 },
	{ "severe_factor", O_DOUBLE, OFF(struct tl_rule_latency, severe_factor), 1.0, 1000,
	  "Sev1 (and failover, with a fallback) from this multiple of the baseline", 0 },
};

static const struct opt rate_opts[] = {
	{ "enabled", O_BOOL, OFF(struct tl_rule_rate, enabled), 0, 1, "false turns the rule off",
	  0 },
	{ "rate", O_DOUBLE, OFF(struct tl_rule_rate, rate), 0, 1,
	  "fires when this share of requests is exceeded over the window", 0 },
	{ "window", O_DURATION, OFF(struct tl_rule_rate, window_ns), 10e9, 3600e9,
	  "the sliding window, evaluated at every bucket", 0 },
	{ "min_requests", O_UINT, OFF(struct tl_rule_rate, min_requests), 1, 1e9,
	  "needs at least this many requests in the window", 0 },
	{ "severe_rate", O_DOUBLE, OFF(struct tl_rule_rate, severe_rate), 0, 1,
	  "Sev1 (and failover, with a fallback) from this share", 0 },
};

static const struct opt refusal_opts[] = {
	{ "enabled", O_BOOL, OFF(struct tl_rule_refusal, enabled), 0, 1, "false turns the rule off",
	  0 },
	{ "rate", O_DOUBLE, OFF(struct tl_rule_refusal, rate), 0, 1,
	  "fires above max(rate, factor x baseline rate) over the window", 0 },
	{ "factor", O_DOUBLE, OFF(struct tl_rule_refusal, factor), 1.0, 1000,
	  "the baseline is the median minute's refusal rate over the horizon", 0 },
	{ "window", O_DURATION, OFF(struct tl_rule_refusal, window_ns), 10e9, 3600e9,
	  "the sliding window", 0 },
	{ "min_requests", O_UINT, OFF(struct tl_rule_refusal, min_requests), 1, 1e9,
	  "needs at least this many requests whose refusal state is known", 0 },
	{ "severe_rate", O_DOUBLE, OFF(struct tl_rule_refusal, severe_rate), 0, 1,
	  "Sev1 from this share", 0 },
};

static const struct opt cost_opts[] = {
	{ "enabled", O_BOOL, OFF(struct tl_rule_cost, enabled), 0, 1, "false turns the rule off",
	  0 },
	{ "daily_budget_usd", O_DOUBLE, OFF(struct tl_rule_cost, daily_budget_usd), 0, 1e12,
	  "per deployment and UTC day of event time", 0 },
	{ "warn_at", O_RATIOS, OFF(struct tl_rule_cost, warn_at), 0, 10,
	  "shares of the budget announced once when crossed (Sev4 below 0.8, Sev3, Sev2 from "
	  "1.0, which stays open for the rest of the UTC day)",
	  0 },
	{ "hourly_factor", O_DOUBLE, OFF(struct tl_rule_cost, hourly_factor), 1.0, 1000,
	  "an hour above this multiple of the median hour of the last day fires", 0 },
	{ "rate_window", O_DURATION, OFF(struct tl_rule_cost, rate_window_ns), 60e9, 3840e9,
	  "the spend rate that projects the day comes from this window", 0 },
};

static const struct opt top_opts[] = {
	{ "lateness", O_DURATION, OFF(struct tl_config, lateness_ns), 1e9, 86400e9,
	  "how late a record may arrive before its bucket closes", 0 },
	{ "bucket", O_DURATION, OFF(struct tl_config, bucket_ns), 1e9, 60e9,
	  "width of the fine buckets the window rules step by (divides a minute)", 0 },
};

static const struct opt baseline_opts[] = {
	{ "horizon", O_DURATION, OFF(struct tl_config, horizon_ns), 3600e9, 30 * 86400e9,
	  "baselines are medians over this much history", 0 },
	{ "min_history", O_DURATION, OFF(struct tl_config, min_history_ns), 60e9, 30 * 86400e9,
	  "baseline rules stay quiet until a series has this much", 0 },
};

static const struct opt trigger_opts[] = {
	{ "hold", O_DURATION, OFF(struct tl_config, hold_ns), 10e9, 86400e9,
	  "a rule resolves after its condition has been false this long", 0 },
	{ "update_every", O_DURATION, OFF(struct tl_config, update_every_ns), 60e9, 86400e9,
	  "status updates while firing (the runbook's 30 minutes)", 0 },
};

static const struct opt deployment_opts[] = {
	{ "fallback", O_STRING, OFF(struct tl_rules, fallback), 0, 0,
	  "the deployment to fail over to on Sev0/Sev1", sizeof(((struct tl_rules *)0)->fallback) },
	{ "owner", O_STRING, OFF(struct tl_rules, owner), 0, 0, "who is paged for it",
	  sizeof(((struct tl_rules *)0)->owner) },
	{ "incident_commander", O_STRING, OFF(struct tl_rules, incident_commander), 0, 0,
	  "who runs its incidents", sizeof(((struct tl_rules *)0)->incident_commander) },
	{ "comms_owner", O_STRING, OFF(struct tl_rules, comms_owner), 0, 0,
	  "who tells the affected teams", sizeof(((struct tl_rules *)0)->comms_owner) },
};

static const struct opt price_opts[] = {
	{ "input", O_DOUBLE, OFF(struct tl_price, input), 0, 1e6, "USD per 1 M prompt tokens", 0 },
	{ "cached_input", O_DOUBLE, OFF(struct tl_price, cached_input), 0, 1e6,
	  "USD per 1 M cached prompt tokens (default: input)", 0 },
	{ "output", O_DOUBLE, OFF(struct tl_price, output), 0, 1e6, "USD per 1 M completion tokens",
	  0 },
};

static const struct opt evidence_opts[] = {
	{ "snapshots", O_BOOL, OFF(struct tl_config_evidence, snapshots), 0, 1,
	  "an evidence snapshot per trigger (--out/snapshots)", 0 },
	{ "keep", O_DURATION, OFF(struct tl_config_evidence, keep_ns), 60e9, 86400e9,
	  "raw records kept per series, for the time before a trigger", 0 },
	{ "post", O_DURATION, OFF(struct tl_config_evidence, post_ns), 0, 3600e9,
	  "records after a trigger that join its snapshot", 0 },
	{ "series_max_mib", O_UINT, OFF(struct tl_config_evidence, series_max_mib), 1, 65536,
	  "compressed records kept per series (MiB)", 0 },
	{ "snapshot_max_mib", O_UINT, OFF(struct tl_config_evidence, snapshot_max_mib), 1, 65536,
	  "bound on one snapshot file (MiB)", 0 },
	{ "level", O_UINT, OFF(struct tl_config_evidence, level), 1, 19,
	  "zstd level of retained records and snapshots", 0 },
	{ "window_log", O_UINT0, OFF(struct tl_config_evidence, window_log), 10, 27,
	  "zstd window of retained records, log2 of bytes (10 to 27; 0: the level's)", 0 },
	{ "stable_after", O_DURATION, OFF(struct tl_config_evidence, stable_after_ns), 60e9,
	  30 * 86400e9, "a version this long without incident is a rollback target", 0 },
	{ "change_window", O_DURATION, OFF(struct tl_config_evidence, change_window_ns), 60e9,
	  86400e9, "a regression this soon after a version change recommends rollback", 0 },
	{ "recent_changes", O_DURATION, OFF(struct tl_config_evidence, recent_ns), 60e9, 86400e9,
	  "changes this long before a trigger are listed in it", 0 },
	{ "journal_max_age", O_DURATION, OFF(struct tl_config_evidence, journal_max_age_ns), 3600e9,
	  3650 * 86400e9, "journal segments older than this are deleted", 0 },
	{ "journal_max_mib", O_UINT, OFF(struct tl_config_evidence, journal_max_mib), 1, 1048576,
	  "bound on the journal (MiB); its oldest segments go first", 0 },
};

static const struct opt kafka_opts[] = {
	{ "brokers", O_TEXT, OFF(struct tl_config_kafka, brokers), 0, 0,
	  "host:port,... (absent: the embedded hub, with streaming)", 0 },
	{ "group", O_TEXT, OFF(struct tl_config_kafka, group), 0, 0, "consumer group", 0 },
	{ "connection_string_env", O_TEXT, OFF(struct tl_config_kafka, connection_string_env), 0, 0,
	  "Event Hubs: the variable holding the connection string", 0 },
	{ "connection_string_file", O_TEXT, OFF(struct tl_config_kafka, connection_string_file), 0,
	  0, "Event Hubs: a file holding it", 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct rule_section {
	const char *name;
	const struct opt *opts;
	size_t n;
	size_t off; /* of the rule in struct tl_rules */
};

static const struct rule_section rule_sections[] = {
	{ "latency", latency_opts, N(latency_opts), OFF(struct tl_rules, latency) },
	{ "guardrail", rate_opts, N(rate_opts), OFF(struct tl_rules, guardrail) },
	{ "refusal", refusal_opts, N(refusal_opts), OFF(struct tl_rules, refusal) },
	{ "errors", rate_opts, N(rate_opts), OFF(struct tl_rules, errors) },
	{ "throttling", rate_opts, N(rate_opts), OFF(struct tl_rules, throttling) },
	{ "cost", cost_opts, N(cost_opts), OFF(struct tl_rules, cost) },
};

/* ---- values ----------------------------------------------------------------------------- */

static const char *describe(enum otype t)
{
	switch (t) {
	case O_DURATION:
		return "a duration like 30s, 5m, 24h";
	case O_DOUBLE:
		return "a number";
	case O_UINT:
	case O_UINT0:
		return "a whole number";
	case O_BOOL:
		return "true or false";
	case O_QUANTILE:
		return "a quantile like p95 or p99.9";
	case O_RATIOS:
		return "a list of numbers like [0.5, 0.8, 1.0]";
	default:
		return "a string";
	}
}

static int set_value(struct tl_yt_ctx *c, const struct opt *o, const struct tl_yt_node *key,
		     const struct tl_yt_node *v, void *base)
{
	char *p = (char *)base + o->off;
	char *end;
	double d;

	if (o->t == O_RATIOS) {
		struct tl_rule_cost *cost =
		    (struct tl_rule_cost *)(p - OFF(struct tl_rule_cost, warn_at));

		if (v->t != TL_YT_SEQ || v->n == 0 || v->n > TL_COST_MAX_WARN)
			return tl_yt_fail(c, v->line, "key '%s': expected %s (1 to %d of them)",
					  key->text, describe(o->t), TL_COST_MAX_WARN);
		for (size_t i = 0; i < v->n; i++) {
			const struct tl_yt_node *x = v->kids[i];

			if (x->t != TL_YT_SCALAR ||
			    (d = strtod(x->text, &end), *end || end == x->text) ||
			    !(d > o->lo && d <= o->hi) || (i > 0 && d <= cost->warn_at[i - 1]))
				return tl_yt_fail(c, x->line,
						  "key '%s': expected increasing numbers above 0, "
						  "got '%s'",
						  key->text,
						  x->t == TL_YT_SCALAR ? x->text : "a structure");
			cost->warn_at[i] = d;
		}
		cost->n_warn = (uint32_t)v->n;
		return 0;
	}
	if (v->t != TL_YT_SCALAR)
		return tl_yt_fail(c, v->line, "key '%s': expected %s", key->text, describe(o->t));
	const char *s = v->text;

	switch (o->t) {
	case O_DURATION: {
		int64_t ns;

		if (tl_duration_parse(s, strlen(s), &ns) < 0)
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%s'", key->text,
					  describe(o->t), s);
		if ((double)ns < o->lo || (double)ns > o->hi)
			return tl_yt_fail(c, v->line, "key '%s': '%s' is out of range", key->text,
					  s);
		memcpy(p, &ns, sizeof(ns));
		return 0;
	}
	case O_DOUBLE:
	case O_UINT:
	case O_UINT0:
		d = strtod(s, &end);
		if (*end || end == s || isnan(d))
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%s'", key->text,
					  describe(o->t), s);
		if (o->t == O_UINT0 && d == 0)
			;
		else if (d < o->lo || d > o->hi || (o->t != O_DOUBLE && d != floor(d)))
			return tl_yt_fail(c, v->line, "key '%s': %s is out of range (%s%g to %g)",
					  key->text, s, o->t == O_UINT0 ? "0, or " : "", o->lo,
					  o->hi);
		if (o->t != O_DOUBLE) {
			uint32_t u = (uint32_t)d;

			memcpy(p, &u, sizeof(u));
		} else {
			memcpy(p, &d, sizeof(d));
		}
		return 0;
	case O_BOOL: {
		bool b;

		if (strcmp(s, "true") == 0)
			b = true;
		else if (strcmp(s, "false") == 0)
			b = false;
		else
			return tl_yt_fail(c, v->line, "key '%s': expected true or false, got '%s'",
					  key->text, s);
		memcpy(p, &b, sizeof(b));
		return 0;
	}
	case O_QUANTILE:
		if (s[0] != 'p' || (d = strtod(s + 1, &end), *end || end == s + 1) ||
		    !(d / 100 >= o->lo && d / 100 <= o->hi))
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%s'", key->text,
					  describe(o->t), s);
		d /= 100;
		memcpy(p, &d, sizeof(d));
		return 0;
	case O_STRING:
		if (strlen(s) >= o->size)
			return tl_yt_fail(c, v->line, "key '%s': longer than %zu characters",
					  key->text, o->size - 1);
		memcpy(p, s, strlen(s) + 1);
		return 0;
	case O_TEXT: {
		char *copy = strdup(s), **slot = (char **)(void *)p;

		if (!copy)
			return -ENOMEM;
		free(*slot);
		*slot = copy;
		return 0;
	}
	default:
		return tl_yt_fail(c, v->line, "key '%s': internal error", key->text);
	}
}

static const struct opt *find_opt(const struct opt *opts, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(opts[i].key, key) == 0)
			return &opts[i];
	return NULL;
}

static int apply_table(struct tl_yt_ctx *c, const struct tl_yt_node *m, const struct opt *opts,
		       size_t n, void *base, const char *what)
{
	int r = tl_yt_check_map(c, m, what);

	for (size_t i = 0; r == 0 && i < m->n; i += 2) {
		const struct opt *o = find_opt(opts, n, m->kids[i]->text);

		if (!o)
			return tl_yt_fail(c, m->kids[i]->line, "key '%s': unknown in %s",
					  m->kids[i]->text, what);
		r = set_value(c, o, m->kids[i], m->kids[i + 1], base);
	}
	return r;
}

/* The rule sections of @m (rules:, or a deployment) into @rules; other keys are @extra's. */
static int apply_rules(struct tl_yt_ctx *c, const struct tl_yt_node *m, struct tl_rules *rules,
		       const struct opt *extra, size_t n_extra, const char *what)
{
	int r = tl_yt_check_map(c, m, what);

	for (size_t i = 0; r == 0 && i < m->n; i += 2) {
		const char *k = m->kids[i]->text;
		const struct rule_section *sec = NULL;

		for (size_t s = 0; s < N(rule_sections); s++)
			if (strcmp(rule_sections[s].name, k) == 0)
				sec = &rule_sections[s];
		if (sec) {
			char sub[160];

			(void)snprintf(sub, sizeof(sub), "%s.%s", what, k);
			r = apply_table(c, m->kids[i + 1], sec->opts, sec->n,
					(char *)rules + sec->off, sub);
			continue;
		}
		const struct opt *o = extra ? find_opt(extra, n_extra, k) : NULL;

		if (!o)
			return tl_yt_fail(c, m->kids[i]->line, "key '%s': unknown in %s", k, what);
		r = set_value(c, o, m->kids[i], m->kids[i + 1], rules);
	}
	return r;
}

static int apply_pricing(struct tl_yt_ctx *c, const struct tl_yt_node *m, struct tl_config *cfg)
{
	int r = tl_yt_check_map(c, m, "pricing");

	for (size_t i = 0; r == 0 && i < m->n; i += 2) {
		const char *model = m->kids[i]->text;
		struct tl_price *p = NULL;

		for (size_t k = 0; k < cfg->n_prices; k++)
			if (strcmp(cfg->prices[k].model, model) == 0)
				p = &cfg->prices[k];
		if (!p) {
			struct tl_price *np =
			    realloc(cfg->prices, (cfg->n_prices + 1) * sizeof(*np));
			char *name = strdup(model);

			if (!np || !name) {
				free(name);
				if (np)
					cfg->prices = np;
				return -ENOMEM;
			}
			cfg->prices = np;
			p = &cfg->prices[cfg->n_prices++];
			*p = (struct tl_price){ .model = name, .cached_input = -1 };
		}
		char what[200];

		(void)snprintf(what, sizeof(what), "pricing.%s", model);
		r = apply_table(c, m->kids[i + 1], price_opts, N(price_opts), p, what);
	}
	return r;
}

static int apply_kafka(struct tl_yt_ctx *c, const struct tl_yt_node *m, struct tl_config_kafka *k)
{
	int r = tl_yt_check_map(c, m, "source.kafka");

	for (size_t i = 0; r == 0 && i < m->n; i += 2) {
		const struct tl_yt_node *key = m->kids[i], *v = m->kids[i + 1];
		const struct opt *o = find_opt(kafka_opts, N(kafka_opts), key->text);

		if (o) {
			r = set_value(c, o, key, v, k);
		} else if (strcmp(key->text, "topics") == 0) {
			if (v->t != TL_YT_SEQ || v->n == 0)
				return tl_yt_fail(c, v->line,
						  "key 'topics': expected a list of topic names");
			for (size_t t = 0; t < v->n; t++) {
				char **nt = realloc(k->topics, (k->n_topics + 1) * sizeof(*nt));

				if (!nt)
					return -ENOMEM;
				k->topics = nt;
				if (v->kids[t]->t != TL_YT_SCALAR)
					return tl_yt_fail(c, v->kids[t]->line,
							  "key 'topics': expected names");
				if (!(k->topics[k->n_topics] = strdup(v->kids[t]->text)))
					return -ENOMEM;
				k->n_topics++;
			}
		} else if (strchr(key->text, '.') && v->t == TL_YT_SCALAR) {
			/* a librdkafka property, passed through as is */
			char **np = realloc(k->props, (k->n_props + 2) * sizeof(*np));

			if (!np)
				return -ENOMEM;
			k->props = np;
			k->props[k->n_props] = strdup(key->text);
			k->props[k->n_props + 1] = strdup(v->text);
			k->n_props += 2;
			if (!k->props[k->n_props - 1] || !k->props[k->n_props - 2])
				return -ENOMEM;
		} else {
			return tl_yt_fail(c, key->line,
					  "key '%s': unknown in source.kafka (librdkafka "
					  "properties have a dot, like socket.keepalive.enable)",
					  key->text);
		}
	}
	return r;
}

/* ---- sinks ------------------------------------------------------------------------------ */

static const struct opt sink_opts[] = {
	{ "name", O_TEXT, OFF(struct tl_sink, name), 0, 0,
	  "[A-Za-z0-9_.-], unique (default: type-index); names the outbox queue", 0 },
	{ "path", O_TEXT, OFF(struct tl_sink, path), 0, 0, "file: the NDJSON file appended to", 0 },
	{ "brokers", O_TEXT, OFF(struct tl_sink, brokers), 0, 0, "kafka: bootstrap servers", 0 },
	{ "topic", O_TEXT, OFF(struct tl_sink, topic), 0, 0, "kafka: the topic", 0 },
	{ "tls_verify", O_BOOL, OFF(struct tl_sink, tls_verify), 0, 1,
	  "webhook: verify the receiver's certificate (false for test receivers only)", 0 },
	{ "timeout", O_DURATION, OFF(struct tl_sink, timeout_ns), TL_NS_PER_MS, 10 * TL_NS_PER_MIN,
	  "webhook: one request's time limit", 0 },
	{ "max_age", O_DURATION, OFF(struct tl_sink, max_age_ns), TL_NS_PER_S, 30 * TL_NS_PER_DAY,
	  "an event undelivered this long goes to the dead-letter file", 0 },
	{ "retry_initial", O_DURATION, OFF(struct tl_sink, retry_initial_ns), TL_NS_PER_MS,
	  TL_NS_PER_HOUR, "the first retry's wait; it doubles, with jitter", 0 },
	{ "retry_max", O_DURATION, OFF(struct tl_sink, retry_max_ns), TL_NS_PER_MS, TL_NS_PER_DAY,
	  "the longest wait between retries (Retry-After may ask more)", 0 },
};

static const char *const sink_kinds[] = { "stdout", "file", "kafka", "webhook" };

/* A secret from the value itself, an environment variable (KEY_env) or a file (KEY_file). */
static int sink_secret(struct tl_yt_ctx *c, const struct tl_yt_node *key,
		       const struct tl_yt_node *v, const char *sink, const char *what, char **ret)
{
	const size_t kn = strlen(what);
	const char *k = key->text;
	char *val = NULL;

	if (v->t != TL_YT_SCALAR || !v->text[0])
		return tl_yt_fail(c, v->line, "sink '%s': key '%s': expected a string", sink, k);
	if (*ret)
		return tl_yt_fail(c, key->line, "sink '%s': %s given twice (%s, %s_env, %s_file)",
				  sink, what, what, what, what);
	if (strcmp(k + kn, "_env") == 0) {
		const char *e = getenv(v->text);

		if (!e || !e[0])
			return tl_yt_fail(c, v->line,
					  "sink '%s': key '%s': the variable '%s' is not set", sink,
					  k, v->text);
		val = strdup(e);
	} else if (strcmp(k + kn, "_file") == 0) {
		/* a regular file only: a FIFO or a device could block or never end */
		int fd = open(v->text, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		struct stat st = { 0 };
		char buf[8192];
		ssize_t n = -1;

		if (fd < 0)
			return tl_yt_fail(c, v->line, "sink '%s': key '%s': '%s': %s", sink, k,
					  v->text, strerror(errno));
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			n = read(fd, buf, sizeof(buf));
		close(fd);
		if (!S_ISREG(st.st_mode) || n < 0)
			return tl_yt_fail(c, v->line,
					  "sink '%s': key '%s': '%s' is not a readable file", sink,
					  k, v->text);
		if (n == (ssize_t)sizeof(buf))
			return tl_yt_fail(c, v->line, "sink '%s': key '%s': '%s' is over 8 KiB",
					  sink, k, v->text);
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			n--;
		if (n == 0 || memchr(buf, '\0', (size_t)n))
			return tl_yt_fail(c, v->line, "sink '%s': key '%s': '%s' holds no %s", sink,
					  k, v->text, what);
		val = strndup(buf, (size_t)n);
	} else {
		val = strdup(v->text);
	}
	if (!val)
		return -ENOMEM;
	*ret = val;
	return 0;
}

static int string_list(struct tl_yt_ctx *c, const struct tl_yt_node *v, const char *sink,
		       const char *k, char ***ret, size_t *ret_n)
{
	if (v->t != TL_YT_SEQ || v->n == 0)
		return tl_yt_fail(c, v->line, "sink '%s': key '%s': expected a list like [a, b]",
				  sink, k);
	if (!(*ret = calloc(v->n, sizeof(**ret))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		if (v->kids[i]->t != TL_YT_SCALAR || !v->kids[i]->text[0])
			return tl_yt_fail(c, v->kids[i]->line,
					  "sink '%s': key '%s': expected names", sink, k);
		if (!((*ret)[i] = strdup(v->kids[i]->text)))
			return -ENOMEM;
		(*ret_n)++;
	}
	return 0;
}

static int apply_sink(struct tl_yt_ctx *c, const struct tl_yt_node *m, size_t index,
		      struct tl_sink *s)
{
	const struct tl_yt_node *type = NULL;
	char name[80];
	int r;

	*s = (struct tl_sink){ .filter.min_severity = 4,
			       .tls_verify = true,
			       .timeout_ns = 10 * TL_NS_PER_S,
			       .max_age_ns = 24 * TL_NS_PER_HOUR,
			       .retry_initial_ns = TL_NS_PER_S,
			       .retry_max_ns = 5 * TL_NS_PER_MIN };
	if ((r = tl_yt_check_map(c, m, "sinks[]")) < 0)
		return r;
	for (size_t i = 0; i < m->n; i += 2)
		if (strcmp(m->kids[i]->text, "type") == 0)
			type = m->kids[i + 1];
	if (!type)
		return tl_yt_fail(c, m->line,
				  "sink %zu: key 'type' is missing (stdout, file, kafka or "
				  "webhook)",
				  index + 1);
	size_t k = 0;

	while (k < N(sink_kinds) && (type->t != TL_YT_SCALAR || strcmp(type->text, sink_kinds[k])))
		k++;
	if (k == N(sink_kinds))
		return tl_yt_fail(c, type->line,
				  "sink %zu: key 'type': expected stdout, file, kafka or "
				  "webhook",
				  index + 1);
	s->kind = (enum tl_sink_kind)k;
	(void)snprintf(name, sizeof(name), "%s-%zu", sink_kinds[k], index + 1);
	for (size_t i = 0; i < m->n; i += 2) /* the name first, for the messages below */
		if (strcmp(m->kids[i]->text, "name") == 0) {
			const struct tl_yt_node *v = m->kids[i + 1];
			size_t n = v->t == TL_YT_SCALAR ? strlen(v->text) : 0;

			if (n == 0 || n > 64 ||
			    strspn(v->text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "abcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
				return tl_yt_fail(c, v->line,
						  "sink %zu: key 'name': expected 1 to 64 of "
						  "A-Z a-z 0-9 _ . -",
						  index + 1);
			(void)snprintf(name, sizeof(name), "%s", v->text);
		}
	if (!(s->name = strdup(name)))
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i += 2) {
		const struct tl_yt_node *key = m->kids[i], *v = m->kids[i + 1];
		const char *kt = key->text;
		const struct opt *o = find_opt(sink_opts, N(sink_opts), kt);

		if (strcmp(kt, "type") == 0 || strcmp(kt, "name") == 0)
			continue;
		if (o) {
			r = set_value(c, o, key, v, s);
		} else if (strncmp(kt, "url", 3) == 0 &&
			   (!kt[3] || !strcmp(kt + 3, "_env") || !strcmp(kt + 3, "_file"))) {
			r = sink_secret(c, key, v, name, "url", &s->url);
		} else if (strncmp(kt, "routing_key", 11) == 0 &&
			   (!kt[11] || !strcmp(kt + 11, "_env") || !strcmp(kt + 11, "_file"))) {
			r = sink_secret(c, key, v, name, "routing_key", &s->routing_key);
		} else if (strcmp(kt, "format") == 0) {
			if (v->t != TL_YT_SCALAR || tl_alert_fmt_from_name(v->text, &s->format) < 0)
				return tl_yt_fail(
				    c, v->line,
				    "sink '%s': key 'format': expected json, pagerduty, "
				    "azure-common-alert, slack, teams or alertmanager",
				    name);
		} else if (strcmp(kt, "min_severity") == 0) {
			if (v->t != TL_YT_SCALAR || strlen(v->text) != 4 ||
			    strncmp(v->text, "Sev", 3) || v->text[3] < '0' || v->text[3] > '4')
				return tl_yt_fail(
				    c, v->line,
				    "sink '%s': key 'min_severity': expected Sev0 to Sev4", name);
			s->filter.min_severity = (uint8_t)(v->text[3] - '0');
		} else if (strcmp(kt, "rules") == 0) {
			if (v->t != TL_YT_SEQ || v->n == 0)
				return tl_yt_fail(c, v->line,
						  "sink '%s': key 'rules': expected a list like "
						  "[latency, errors]",
						  name);
			for (size_t j = 0; j < v->n; j++) {
				unsigned ru = 0;

				while (ru < TL_RULE_COUNT &&
				       (v->kids[j]->t != TL_YT_SCALAR ||
					strcmp(v->kids[j]->text, tl_rule_name((enum tl_rule)ru))))
					ru++;
				if (ru == TL_RULE_COUNT)
					return tl_yt_fail(
					    c, v->kids[j]->line,
					    "sink '%s': key 'rules': expected latency, "
					    "guardrail, refusal, errors, throttling or cost",
					    name);
				s->filter.rules |= 1u << ru;
			}
		} else if (strcmp(kt, "deployments") == 0) {
			r = string_list(c, v, name, kt, &s->filter.deployments,
					&s->filter.n_deployments);
		} else if (strcmp(kt, "owners") == 0) {
			r = string_list(c, v, name, kt, &s->filter.owners, &s->filter.n_owners);
		} else if (s->kind == TL_SINK_KAFKA && strchr(kt, '.') && v->t == TL_YT_SCALAR) {
			char **np = realloc(s->props, (s->n_props + 2) * sizeof(*np));

			if (!np)
				return -ENOMEM;
			s->props = np;
			s->props[s->n_props] = strdup(kt);
			s->props[s->n_props + 1] = strdup(v->text);
			s->n_props += 2;
			if (!s->props[s->n_props - 1] || !s->props[s->n_props - 2])
				return -ENOMEM;
		} else {
			return tl_yt_fail(c, key->line, "sink '%s': key '%s': unknown", name, kt);
		}
		if (r < 0)
			return r;
	}
	/* what each type needs, and nothing another type's */
	const bool web = s->kind == TL_SINK_WEBHOOK, file = s->kind == TL_SINK_FILE,
		   kafka = s->kind == TL_SINK_KAFKA;

	if (web && !s->url)
		return tl_yt_fail(c, m->line,
				  "sink '%s': a webhook needs url (or url_env, url_file)", name);
	if (web && strncmp(s->url, "https://", 8) != 0 && strncmp(s->url, "http://", 7) != 0)
		return tl_yt_fail(c, m->line,
				  "sink '%s': url: only http:// and https:// are allowed", name);
	if (web && s->format == TL_ALERT_FMT_PAGERDUTY && !s->routing_key)
		return tl_yt_fail(c, m->line,
				  "sink '%s': pagerduty needs routing_key (or "
				  "routing_key_env, routing_key_file)",
				  name);
	if (file && !s->path)
		return tl_yt_fail(c, m->line, "sink '%s': a file sink needs path", name);
	if (kafka && (!s->brokers || !s->topic))
		return tl_yt_fail(c, m->line, "sink '%s': a kafka sink needs brokers and topic",
				  name);
	if ((!web && (s->url || s->routing_key)) || (!file && s->path) ||
	    (!kafka && (s->brokers || s->topic)))
		return tl_yt_fail(c, m->line,
				  "sink '%s': a key of another sink type is set (url, "
				  "routing_key: webhook; path: file; brokers, topic: kafka)",
				  name);
	if (s->retry_max_ns < s->retry_initial_ns)
		return tl_yt_fail(c, m->line, "sink '%s': retry_max is below retry_initial", name);
	return 0;
}

static int apply_sinks(struct tl_yt_ctx *c, const struct tl_yt_node *v, struct tl_config *cfg)
{
	int r;

	if (v->t != TL_YT_SEQ)
		return tl_yt_fail(c, v->line,
				  "key 'sinks': expected a list of sinks (- type: ...)");
	if (v->n > TL_OUTBOX_MAX_SINKS)
		return tl_yt_fail(c, v->line, "key 'sinks': at most %d sinks", TL_OUTBOX_MAX_SINKS);
	if (!(cfg->sinks = calloc(v->n + 1, sizeof(*cfg->sinks))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		cfg->n_sinks++;
		if ((r = apply_sink(c, v->kids[i], i, &cfg->sinks[i])) < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->sinks[j].name, cfg->sinks[i].name) == 0)
				return tl_yt_fail(c, v->kids[i]->line,
						  "sink '%s': name given twice",
						  cfg->sinks[i].name);
	}
	return 0;
}

static int apply_root(struct tl_yt_ctx *c, const struct tl_yt_node *root, struct tl_config *cfg)
{
	const struct tl_yt_node *rules = NULL, *deps = NULL;
	int r;

	if (root->t == TL_YT_SCALAR && root->text[0] == '\0')
		return 0; /* an empty file */
	if ((r = tl_yt_check_map(c, root, "the configuration")) < 0)
		return r;
	for (size_t i = 0; i < root->n; i += 2) {
		const struct tl_yt_node *key = root->kids[i], *v = root->kids[i + 1];
		const char *k = key->text;
		const struct opt *o = find_opt(top_opts, N(top_opts), k);

		if (o)
			r = set_value(c, o, key, v, cfg);
		else if (strcmp(k, "baseline") == 0)
			r = apply_table(c, v, baseline_opts, N(baseline_opts), cfg, "baseline");
		else if (strcmp(k, "triggers") == 0)
			r = apply_table(c, v, trigger_opts, N(trigger_opts), cfg, "triggers");
		else if (strcmp(k, "pricing") == 0)
			r = apply_pricing(c, v, cfg);
		else if (strcmp(k, "evidence") == 0)
			r = apply_table(c, v, evidence_opts, N(evidence_opts), &cfg->evidence,
					"evidence");
		else if (strcmp(k, "rules") == 0)
			rules = v;
		else if (strcmp(k, "deployments") == 0)
			deps = v;
		else if (strcmp(k, "source") == 0) {
			if ((r = tl_yt_check_map(c, v, "source")) < 0)
				return r;
			for (size_t s = 0; r == 0 && s < v->n; s += 2) {
				if (strcmp(v->kids[s]->text, "kafka") != 0)
					return tl_yt_fail(c, v->kids[s]->line,
							  "key '%s': unknown in source",
							  v->kids[s]->text);
				r = apply_kafka(c, v->kids[s + 1], &cfg->kafka);
			}
		} else if (strcmp(k, "sinks") == 0)
			r = apply_sinks(c, v, cfg);
		else
			return tl_yt_fail(c, key->line, "key '%s': unknown", k);
		if (r < 0)
			return r;
	}
	if (rules && (r = apply_rules(c, rules, &cfg->rules, NULL, 0, "rules")) < 0)
		return r;
	if (!deps)
		return 0;
	if ((r = tl_yt_check_map(c, deps, "deployments")) < 0)
		return r;
	cfg->deployments = calloc(deps->n / 2 + 1, sizeof(*cfg->deployments));
	if (!cfg->deployments)
		return -ENOMEM;
	for (size_t i = 0; i < deps->n; i += 2) {
		struct tl_deployment_rules *d = &cfg->deployments[cfg->n_deployments++];
		const char *name = deps->kids[i]->text;
		char what[128];

		if (strlen(name) >= sizeof(d->name) || !name[0])
			return tl_yt_fail(c, deps->kids[i]->line,
					  "deployment '%s': not a deployment name", name);
		memcpy(d->name, name, strlen(name) + 1);
		d->rules = cfg->rules; /* the deployment's keys over the common rules */
		(void)snprintf(what, sizeof(what), "deployments.%s", name);
		if ((r = apply_rules(c, deps->kids[i + 1], &d->rules, deployment_opts,
				     N(deployment_opts), what)) < 0)
			return r;
	}
	return 0;
}

/* ---- public ----------------------------------------------------------------------------- */

/* Prices from ../shared/formats/README.md section 8.1 (third-party snapshots dated
 * 2024-11 to 2025-11; set `pricing:` for your contract). USD per 1 M tokens. */
static const struct tl_price builtin_prices[] = {
	{ "gpt-4o", 2.50, 1.25, 10.00 },
	{ "gpt-4o-2024-05-13", 5.00, -1, 15.00 },
	{ "gpt-4o-mini", 0.15, 0.075, 0.60 },
	{ "gpt-5", 1.25, -1, 10.00 },
};

void tl_config_defaults(struct tl_config *c)
{
	memset(c, 0, sizeof(*c));
	c->lateness_ns = 2 * TL_NS_PER_MIN;
	c->bucket_ns = 10 * TL_NS_PER_S;
	c->horizon_ns = 24 * TL_NS_PER_HOUR;
	c->min_history_ns = 30 * TL_NS_PER_MIN;
	c->hold_ns = 5 * TL_NS_PER_MIN;
	c->update_every_ns = 30 * TL_NS_PER_MIN;
	tl_rules_defaults(&c->rules);
	c->evidence = (struct tl_config_evidence){ .snapshots = true,
						   .keep_ns = 15 * TL_NS_PER_MIN,
						   .post_ns = 5 * TL_NS_PER_MIN,
						   .series_max_mib = 8,
						   .snapshot_max_mib = 32,
						   .level = 1,
						   .stable_after_ns = 60 * TL_NS_PER_MIN,
						   .change_window_ns = 60 * TL_NS_PER_MIN,
						   .recent_ns = 60 * TL_NS_PER_MIN,
						   .journal_max_age_ns = 90 * TL_NS_PER_DAY,
						   .journal_max_mib = 1024 };
	c->prices = calloc(N(builtin_prices), sizeof(*c->prices));
	if (c->prices) {
		for (size_t i = 0; i < N(builtin_prices); i++) {
			c->prices[i] = builtin_prices[i];
			c->prices[i].model = strdup(builtin_prices[i].model);
			if (c->prices[i].model)
				c->n_prices++;
		}
	}
}

void tl_config_free(struct tl_config *c)
{
	for (size_t i = 0; i < c->n_prices; i++)
		free((char *)(uintptr_t)c->prices[i].model);
	free(c->prices);
	free(c->deployments);
	free(c->kafka.brokers);
	free(c->kafka.group);
	free(c->kafka.connection_string_env);
	free(c->kafka.connection_string_file);
	for (size_t i = 0; i < c->kafka.n_topics; i++)
		free(c->kafka.topics[i]);
	free(c->kafka.topics);
	for (size_t i = 0; i < c->kafka.n_props; i++)
		free(c->kafka.props[i]);
	free(c->kafka.props);
	for (size_t i = 0; i < c->n_sinks; i++)
		tl_sink_fini(&c->sinks[i]);
	free(c->sinks);
	memset(c, 0, sizeof(*c));
}

int tl_config_load(const char *path, struct tl_config *cfg, char *err, size_t errlen)
{
	struct tl_yt_ctx c = { .path = path, .err = err, .errlen = errlen };
	/* far beyond any real config (it nests 5 levels deep, holds hundreds of values), and
	 * nesting bounded before the tree's recursion can exhaust the stack */
	static const struct tl_yt_limits limits = { .max_nodes = 200000,
						    .max_depth = 16,
						    .strict = true };
	struct tl_yt_node *root = NULL;
	FILE *f;
	int r;

	tl_config_defaults(cfg);
	if (!cfg->prices)
		return -ENOMEM;
	f = fopen(path, "rb");
	if (!f) {
		r = -errno;
		(void)snprintf(err, errlen, "%s: %s", path, tl_strerror(r));
		return r;
	}
	r = tl_yt_parse_file(&c, f, &limits, &root);
	fclose(f);
	if (r == 0 && root)
		r = apply_root(&c, root, cfg);
	if (r == 0 && TL_NS_PER_MIN % cfg->bucket_ns != 0)
		r = tl_yt_fail(&c, 1,
			       "key 'bucket': must divide a minute (1s, 2s, 5s, 10s, 15s, 20s, "
			       "30s, 60s)");
	tl_yt_free(root);
	if (r == -ENOMEM)
		(void)snprintf(err, errlen, "%s: out of memory", path);
	return r < 0 ? (r == -ENOMEM ? r : TL_ECONFIG) : 0;
}

void tl_config_engine_opts(const struct tl_config *c, struct tl_engine_opts *o)
{
	*o = (struct tl_engine_opts){
		.lateness_ns = c->lateness_ns,
		.bucket_ns = c->bucket_ns,
		.horizon_ns = c->horizon_ns,
		.min_history_ns = c->min_history_ns,
		.hold_ns = c->hold_ns,
		.update_every_ns = c->update_every_ns,
		.prices = c->prices,
		.n_prices = c->n_prices,
		.rules = &c->rules,
		.deployments = c->deployments,
		.n_deployments = c->n_deployments,
	};
}

/* ---- the documented example ------------------------------------------------------------- */

static void print_value(FILE *f, const struct opt *o, const void *base)
{
	const char *p = (const char *)base + o->off;

	switch (o->t) {
	case O_DURATION: {
		int64_t ns;

		memcpy(&ns, p, sizeof(ns));
		if (ns % TL_NS_PER_HOUR == 0)
			fprintf(f, "%lldh", (long long)(ns / TL_NS_PER_HOUR));
		else if (ns % TL_NS_PER_MIN == 0)
			fprintf(f, "%lldm", (long long)(ns / TL_NS_PER_MIN));
		else
			fprintf(f, "%llds", (long long)(ns / TL_NS_PER_S));
		break;
	}
	case O_DOUBLE: {
		double d;

		memcpy(&d, p, sizeof(d));
		fprintf(f, "%g", d);
		break;
	}
	case O_UINT:
	case O_UINT0: {
		uint32_t u;

		memcpy(&u, p, sizeof(u));
		fprintf(f, "%u", u);
		break;
	}
	case O_BOOL: {
		bool b;

		memcpy(&b, p, sizeof(b));
		fputs(b ? "true" : "false", f);
		break;
	}
	case O_QUANTILE: {
		double d;

		memcpy(&d, p, sizeof(d));
		fprintf(f, "p%g", d * 100);
		break;
	}
	case O_RATIOS: {
		const struct tl_rule_cost *cost =
		    (const struct tl_rule_cost *)(const void *)(p -
								OFF(struct tl_rule_cost, warn_at));

		fputc('[', f);
		for (uint32_t i = 0; i < cost->n_warn; i++)
			fprintf(f, "%s%g", i ? ", " : "", cost->warn_at[i]);
		fputc(']', f);
		break;
	}
	default:
		break;
	}
}

static void print_table(FILE *f, const char *indent, const struct opt *opts, size_t n,
			const void *base)
{
	for (size_t i = 0; i < n; i++) {
		char line[160];
		FILE *m = fmemopen(line, sizeof(line), "w");

		if (!m)
			continue;
		fprintf(m, "%s%s: ", indent, opts[i].key);
		print_value(m, &opts[i], base);
		fclose(m);
		line[sizeof(line) - 1] = '\0';
		fprintf(f, "%-34s # %s\n", line, opts[i].doc);
	}
}

void tl_config_example(FILE *f)
{
	const struct tl_sink example_sink = { .tls_verify = true,
					      .timeout_ns = 10 * TL_NS_PER_S,
					      .max_age_ns = 24 * TL_NS_PER_HOUR,
					      .retry_initial_ns = TL_NS_PER_S,
					      .retry_max_ns = 5 * TL_NS_PER_MIN };
	struct tl_config c;

	tl_config_defaults(&c);
	fputs("# tripline configuration. Every key is optional; the values below are the defaults\n"
	      "# (the runbook's numbers). Unknown keys are errors, so a typo never silently\n"
	      "# disables a rule. Durations: 30s, 5m, 24h. Generated by `tripline config "
	      "--example`.\n"
	      "\n",
	      f);
	print_table(f, "", top_opts, N(top_opts), &c);
	fputs("baseline:\n", f);
	print_table(f, "  ", baseline_opts, N(baseline_opts), &c);
	fputs("triggers:\n", f);
	print_table(f, "  ", trigger_opts, N(trigger_opts), &c);
	fputs("evidence:                          # snapshots, change correlation, the journal\n",
	      f);
	print_table(f, "  ", evidence_opts, N(evidence_opts), &c.evidence);
	fputs("pricing:                           # USD per 1 M tokens; a model name with a date\n"
	      "                                   # suffix (gpt-4o-2024-11-20) matches its base "
	      "name;\n"
	      "                                   # entries here replace or add to the built-in\n"
	      "                                   # ones below (third-party list prices, 2024-25:\n"
	      "                                   # set your contract's)\n",
	      f);
	for (size_t i = 0; i < c.n_prices; i++) {
		fprintf(f, "  %s: {input: %g, ", c.prices[i].model, c.prices[i].input);
		if (c.prices[i].cached_input >= 0)
			fprintf(f, "cached_input: %g, ", c.prices[i].cached_input);
		fprintf(f, "output: %g}\n", c.prices[i].output);
	}
	fputs("rules:                             # for every deployment\n", f);
	for (size_t s = 0; s < N(rule_sections); s++) {
		fprintf(f, "  %s:\n", rule_sections[s].name);
		print_table(f, "    ", rule_sections[s].opts, rule_sections[s].n,
			    (const char *)&c.rules + rule_sections[s].off);
	}
	fputs("deployments:               # a deployment's own settings over the rules above;\n"
	      "                          # names compare case-insensitively\n"
	      "  support-gpt4o:           # (an example)\n"
	      "    fallback: support-gpt4o-mini   # the deployment to fail over to on Sev0/Sev1\n"
	      "    owner: assist-oncall           # who is paged for it; these three travel in\n"
	      "    incident_commander: assist-ic  # every event and payload, and sinks can\n"
	      "    comms_owner: assist-comms      # filter on them (owners:)\n"
	      "    cost: {daily_budget_usd: 4000}\n"
	      "    latency: {factor: 2.5}\n"
	      "source:                   # for streaming (tripline run); replay ignores it\n"
	      "  kafka:\n"
	      "    brokers: NAMESPACE.servicebus.windows.net:9093\n"
	      "    topics: [insights-logs-requestresponse]\n"
	      "    group: tripline\n"
	      "    connection_string_env: EVENTHUB_CONNECTION_STRING  # the variable's name; the\n"
	      "                                                      # secret is never in this "
	      "file\n",
	      f);
	/* sinks need receivers and secrets: shown commented out, so this file loads as is */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (m) {
		fputs(
		    "sinks:                    # where trigger events go besides stdout (which "
		    "always\n"
		    "                          # has them all); replay sends only with --deliver\n"
		    "  - type: webhook                   # stdout, file, kafka or webhook\n"
		    "    name: pagerduty-oncall          # names its queue in DIR/outbox\n"
		    "    format: pagerduty               # json, pagerduty, azure-common-alert, "
		    "slack,\n"
		    "                                    # teams or alertmanager\n"
		    "    url: https://events.pagerduty.com/v2/enqueue  # or url_env / url_file\n"
		    "    routing_key_env: PAGERDUTY_ROUTING_KEY        # or routing_key / _file\n"
		    "    min_severity: Sev2              # Sev2, Sev1 and Sev0 only\n"
		    "    rules: [latency, errors, guardrail]           # filters: rules, "
		    "deployments,\n"
		    "    owners: [assist-oncall]                       # owners (absent: all); an\n"
		    "                                    # event matches when its owner,\n"
		    "                                    # incident_commander or comms_owner is\n"
		    "                                    # listed\n",
		    m);
		print_table(m, "    ", sink_opts + 4, N(sink_opts) - 4, &example_sink);
		fputs("  - {type: file, path: alerts.ndjson}\n"
		      "  - {type: kafka, brokers: \"HOST:9092\", topic: tripline-alerts}  # key: "
		      "incident_id\n",
		      m);
		fclose(m);
		for (char *line = text, *nl; line && *line; line = nl + 1) {
			nl = strchr(line, '\n');
			fprintf(f, "# %.*s\n", (int)(nl - line), line);
			if (!nl)
				break;
		}
		free(text);
	}
	tl_config_free(&c);
}

int tl_cmd_config(int argc, char **argv)
{
	const char *check = NULL;
	bool example = false, help = false;
	const struct tl_opt opts[] = {
		{ "check", true, &check, NULL },
		{ "example", false, NULL, &example },
		{ "help", false, NULL, &help },
	};
	int npos;

	if (tl_opts_parse(argc, argv, opts, N(opts), "config", &npos) < 0)
		return TL_EXIT_USAGE;
	if (help || (!check && !example) || npos) {
		fputs("usage: tripline config --example   print the documented configuration with "
		      "every default\n"
		      "       tripline config --check F   check F; print what is wrong with it\n",
		      help ? stdout : stderr);
		return help ? TL_EXIT_OK : TL_EXIT_USAGE;
	}
	if (example) {
		tl_config_example(stdout);
		return TL_EXIT_OK;
	}
	struct tl_config c;
	char err[512];
	int r = tl_config_load(check, &c, err, sizeof(err));

	tl_config_free(&c);
	if (r < 0) {
		tl_err("%s", err);
		return r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
	}
	fprintf(stderr, "tripline: '%s' is a valid configuration\n", check);
	return TL_EXIT_OK;
}
