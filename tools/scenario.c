/*
 * tools/scenario.c - read a `tripline gen` scenario (see tools/scenario.h).
 *
 * tools/yamltree.c builds a small tree of the document with line numbers (bounded in size,
 * depth and values); the tree is then checked key by key against one table per section.
 * Names that reach the generated JSON and URLs are restricted to [A-Za-z0-9._-], so the
 * generator never has to escape them.
 */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamltree.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* the document itself; TL_SCN_MAX_* bound what it describes */
static const struct tl_yt_limits limits = {
	.max_bytes = TL_SCN_MAX_BYTES, .max_nodes = 200000, .max_depth = 16, .strict = true
};

/* ---- values ----------------------------------------------------------------------------- */

enum otype { O_NAME, O_DOUBLE, O_UINT, O_BOOL, O_VIA, O_CLOCK, O_CLOCK_END, O_EFFECT, O_EXPECT };

struct opt {
	const char *key;
	enum otype t;
	size_t off;
	double lo, hi;
	bool required;
};

#define OFF(type, field) offsetof(type, field)

static const struct opt deployment_opts[] = {
	{ "name", O_NAME, OFF(struct tl_scn_deployment, name), 0, 0, true },
	{ "model", O_NAME, OFF(struct tl_scn_deployment, model), 0, 0, false },
	{ "version", O_NAME, OFF(struct tl_scn_deployment, version), 0, 0, false },
	{ "via", O_VIA, OFF(struct tl_scn_deployment, via), 0, 0, false },
	{ "embedding", O_BOOL, OFF(struct tl_scn_deployment, embedding), 0, 0, false },
	{ "peak_rate", O_DOUBLE, OFF(struct tl_scn_deployment, peak_rate), 0, 1e5, false },
	{ "stream_share", O_DOUBLE, OFF(struct tl_scn_deployment, stream_share), 0, 1, false },
	{ "latency_ms", O_DOUBLE, OFF(struct tl_scn_deployment, latency_ms), 1, 600000, false },
	{ "latency_sigma", O_DOUBLE, OFF(struct tl_scn_deployment, latency_sigma), 0, 2, false },
	{ "ttfb_ms", O_DOUBLE, OFF(struct tl_scn_deployment, ttfb_ms), 1, 600000, false },
	{ "prompt_tokens", O_DOUBLE, OFF(struct tl_scn_deployment, prompt_tokens), 1, 1e6, false },
	{ "completion_tokens", O_DOUBLE, OFF(struct tl_scn_deployment, completion_tokens), 0, 1e6,
	  false },
	{ "replicas", O_UINT, OFF(struct tl_scn_deployment, replicas), 1, TL_SCN_MAX_SERIES,
	  false },
};

/* deployment: is resolved by hand (it names a deployment or one replica) */
static const struct opt incident_opts[] = {
	{ "rule", O_NAME, OFF(struct tl_scn_incident, rule), 0, 0, true },
	{ "deployment", O_NAME, 0, 0, 0, true },
	{ "start", O_CLOCK, OFF(struct tl_scn_incident, start_s), 0, 0, true },
	{ "end", O_CLOCK_END, OFF(struct tl_scn_incident, end_s), 0, 0, true },
	{ "effect", O_EFFECT, OFF(struct tl_scn_incident, effect), 0, 0, true },
	{ "amount", O_DOUBLE, OFF(struct tl_scn_incident, amount), 0, 1e4, true },
	{ "expect", O_EXPECT, OFF(struct tl_scn_incident, fire), 0, 0, false },
};

static const struct opt change_opts[] = {
	{ "deployment", O_NAME, 0, 0, 0, true },
	{ "at", O_CLOCK, OFF(struct tl_scn_change, at_s), 0, 0, true },
	{ "version", O_NAME, OFF(struct tl_scn_change, version), 0, 0, true },
};

static const char *const rules[] = { "latency", "guardrail",  "refusal",
				     "errors",  "throttling", "cost" };

static const char *const effects[] = { [TL_SCN_LATENCY] = "latency",
				       [TL_SCN_DRIFT] = "drift",
				       [TL_SCN_5XX] = "5xx",
				       [TL_SCN_429] = "429",
				       [TL_SCN_GUARDRAIL] = "guardrail",
				       [TL_SCN_REFUSAL] = "refusal",
				       [TL_SCN_TOKENS] = "tokens" };

/* what each effect's amount may be */
static const struct {
	double lo, hi;
	const char *what;
} amounts[] = {
	[TL_SCN_LATENCY] = { 0.01, 100, "a latency factor" },
	[TL_SCN_DRIFT] = { 0, 100, "a relative rise" },
	[TL_SCN_5XX] = { 0, 1, "a share of calls" },
	[TL_SCN_429] = { 0, 1, "a share of calls" },
	[TL_SCN_GUARDRAIL] = { 0, 1, "a share of calls" },
	[TL_SCN_REFUSAL] = { 0, 1, "a share of calls" },
	[TL_SCN_TOKENS] = { 0.01, 1000, "a completion length factor" },
};

const char *tl_scenario_effect_name(enum tl_scn_effect e)
{
	return (unsigned)e < N(effects) ? effects[e] : "?";
}

static bool is_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n < TL_SCN_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* HH:MM or HH:MM:SS from 00:00 to 24:00 (only @end may be 24:00). Return: seconds, or -1. */
static int32_t parse_clock(const char *s, bool end)
{
	int v[3] = { 0, 0, 0 }, k = 0;
	const char *p = s;

	for (;;) {
		int digits = 0, x = 0;

		while (*p >= '0' && *p <= '9' && digits < 2) {
			x = x * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0 || (k > 0 && digits != 2))
			return -1;
		v[k++] = x;
		if (*p == '\0')
			break;
		if (*p++ != ':' || k == 3)
			return -1;
	}
	if (k < 2 || v[1] > 59 || v[2] > 59)
		return -1;
	const int32_t t = v[0] * 3600 + v[1] * 60 + v[2];

	return t < 86400 || (end && t == 86400) ? t : -1;
}

static const char *describe(enum otype t)
{
	switch (t) {
	case O_NAME:
		return "a name of letters, digits, '.', '_' and '-' (at most 63)";
	case O_DOUBLE:
		return "a number";
	case O_UINT:
		return "a whole number";
	case O_BOOL:
		return "true or false";
	case O_VIA:
		return "aoai or apim";
	case O_CLOCK:
		return "a time of day HH:MM or HH:MM:SS";
	case O_CLOCK_END:
		return "a time of day HH:MM or HH:MM:SS, up to 24:00";
	case O_EFFECT:
		return "latency, drift, 5xx, 429, guardrail, refusal or tokens";
	default:
		return "fire or none";
	}
}

static int set_value(struct tl_yt_ctx *c, const struct opt *o, const struct tl_yt_node *key,
		     const struct tl_yt_node *v, void *base)
{
	char *p = (char *)base + o->off;
	const char *s = v->text;
	char *end;
	double d;
	int32_t t;
	int e = -1;

	if (v->t != TL_YT_SCALAR)
		return tl_yt_fail(c, v->line, "key '%s': expected %s", key->text, describe(o->t));
	switch (o->t) {
	case O_NAME:
		if (!is_name(s))
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%.80s'",
					  key->text, describe(o->t), s);
		memcpy(p, s, strlen(s) + 1);
		return 0;
	case O_DOUBLE:
	case O_UINT:
		d = strtod(s, &end);
		if (*end || end == s || !isfinite(d))
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%.80s'",
					  key->text, describe(o->t), s);
		if (d < o->lo || d > o->hi || (o->t == O_UINT && d != floor(d)))
			return tl_yt_fail(c, v->line, "key '%s': %s is out of range (%g to %g)",
					  key->text, s, o->lo, o->hi);
		if (o->t == O_UINT) {
			uint32_t u = (uint32_t)d;

			memcpy(p, &u, sizeof(u));
		} else {
			memcpy(p, &d, sizeof(d));
		}
		return 0;
	case O_BOOL:
	case O_EXPECT: {
		const char *yes = o->t == O_BOOL ? "true" : "fire",
			   *no = o->t == O_BOOL ? "false" : "none";
		bool b;

		if (strcmp(s, yes) == 0)
			b = true;
		else if (strcmp(s, no) == 0)
			b = false;
		else
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%.80s'",
					  key->text, describe(o->t), s);
		memcpy(p, &b, sizeof(b));
		return 0;
	}
	case O_VIA:
		if (strcmp(s, "aoai") == 0)
			e = TL_SCN_AOAI;
		else if (strcmp(s, "apim") == 0)
			e = TL_SCN_APIM;
		break;
	case O_EFFECT:
		for (size_t i = 0; i < N(effects); i++)
			if (strcmp(s, effects[i]) == 0)
				e = (int)i;
		break;
	case O_CLOCK:
	case O_CLOCK_END:
		if ((t = parse_clock(s, o->t == O_CLOCK_END)) < 0)
			return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%.80s'",
					  key->text, describe(o->t), s);
		memcpy(p, &t, sizeof(t));
		return 0;
	}
	if (e < 0)
		return tl_yt_fail(c, v->line, "key '%s': expected %s, got '%.80s'", key->text,
				  describe(o->t), s);
	memcpy(p, &e, sizeof(e));
	return 0;
}

static const struct tl_yt_node *lookup(const struct tl_yt_node *m, const char *key)
{
	for (size_t i = 0; i < m->n; i += 2)
		if (strcmp(m->kids[i]->text, key) == 0)
			return m->kids[i + 1];
	return NULL;
}

/* The keys of map @m into @base; @skip (a key handled by the caller) is only checked there. */
static int apply_table(struct tl_yt_ctx *c, const struct tl_yt_node *m, const struct opt *opts,
		       size_t n, void *base, const char *what, const char *skip)
{
	int r = tl_yt_check_map(c, m, what);

	for (size_t i = 0; r == 0 && i < m->n; i += 2) {
		const struct opt *o = NULL;

		for (size_t k = 0; k < n; k++)
			if (strcmp(opts[k].key, m->kids[i]->text) == 0)
				o = &opts[k];
		if (!o)
			return tl_yt_fail(c, m->kids[i]->line, "key '%.80s': unknown in %s",
					  m->kids[i]->text, what);
		if (skip && strcmp(o->key, skip) == 0)
			continue;
		r = set_value(c, o, m->kids[i], m->kids[i + 1], base);
	}
	for (size_t k = 0; r == 0 && k < n; k++)
		if (opts[k].required && !lookup(m, opts[k].key))
			return tl_yt_fail(c, m->line, "%s: key '%s' is missing", what, opts[k].key);
	return r;
}

/* ---- sections --------------------------------------------------------------------------- */

static void deployment_defaults(struct tl_scn_deployment *d)
{
	*d = (struct tl_scn_deployment){ .model = "gpt-4o",
					 .version = "2024-11-20",
					 .via = TL_SCN_AOAI,
					 .peak_rate = 1.0,
					 .stream_share = 0.3,
					 .latency_ms = 1200,
					 .latency_sigma = 0.45,
					 .ttfb_ms = 400,
					 .prompt_tokens = 800,
					 .completion_tokens = 200,
					 .replicas = 1 };
}

/* The replica index of "@base-NNNNN" in @name (as gen writes it), or -1. */
static int64_t replica_of(const struct tl_scn_deployment *d, const char *name)
{
	const size_t n = strlen(d->name);
	char want[16];
	char *end;
	unsigned long k;

	if (d->replicas < 2 || strncmp(name, d->name, n) != 0 || name[n] != '-' ||
	    name[n + 1] < '0' || name[n + 1] > '9')
		return -1;
	k = strtoul(name + n + 1, &end, 10);
	if (*end || k < 1 || k > d->replicas)
		return -1;
	(void)snprintf(want, sizeof(want), "%05lu", k);
	return strcmp(want, name + n + 1) == 0 ? (int64_t)k - 1 : -1;
}

/* @v, the value of a deployment: key, as a deployment index and a replica (-1: all). */
static int resolve(struct tl_yt_ctx *c, const struct tl_scenario *s, const struct tl_yt_node *v,
		   uint32_t *ret_dep, int32_t *ret_replica)
{
	if (v->t != TL_YT_SCALAR || !is_name(v->text))
		return tl_yt_fail(c, v->line, "key 'deployment': expected %s", describe(O_NAME));
	for (size_t i = 0; i < s->n_deployments; i++) {
		const struct tl_scn_deployment *d = &s->deployments[i];
		int64_t k;

		if (strcmp(d->name, v->text) == 0) {
			*ret_dep = (uint32_t)i;
			*ret_replica = -1;
			return 0;
		}
		if ((k = replica_of(d, v->text)) >= 0) {
			*ret_dep = (uint32_t)i;
			*ret_replica = (int32_t)k;
			return 0;
		}
	}
	return tl_yt_fail(c, v->line, "key 'deployment': '%s' is not a deployment of the scenario",
			  v->text);
}

static int check_seq(struct tl_yt_ctx *c, const struct tl_yt_node *v, const char *what, size_t max)
{
	if (v->t != TL_YT_SEQ)
		return tl_yt_fail(c, v->line, "%s: expected a list (- {...} entries)", what);
	if (v->n > max)
		return tl_yt_fail(c, v->kids[max]->line, "%s: more than %zu entries", what, max);
	return 0;
}

static int read_deployments(struct tl_yt_ctx *c, const struct tl_yt_node *v, struct tl_scenario *s)
{
	double rate = 0;
	int r;

	if ((r = check_seq(c, v, "deployments", TL_SCN_MAX_DEPLOYMENTS)) < 0)
		return r;
	if (v->n == 0)
		return tl_yt_fail(c, v->line, "deployments: at least one is needed");
	if (!(s->deployments = calloc(v->n, sizeof(*s->deployments))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		struct tl_scn_deployment *d = &s->deployments[i];

		deployment_defaults(d);
		d->line = v->kids[i]->line;
		if ((r = apply_table(c, v->kids[i], deployment_opts, N(deployment_opts), d,
				     "deployments", NULL)) < 0)
			return r;
		if (d->embedding && !lookup(v->kids[i], "stream_share"))
			d->stream_share = 0;
		if (d->embedding && !lookup(v->kids[i], "latency_ms"))
			d->latency_ms = 110;
		s->n_deployments = i + 1;
		for (size_t j = 0; j < i; j++) {
			const struct tl_scn_deployment *o = &s->deployments[j];

			if (strcmp(o->name, d->name) == 0)
				return tl_yt_fail(c, d->line, "deployment '%s': given twice",
						  d->name);
			if (replica_of(o, d->name) >= 0 || replica_of(d, o->name) >= 0)
				return tl_yt_fail(c, d->line,
						  "deployment '%s': the same name as a replica of "
						  "another",
						  d->name);
		}
		s->n_series += d->replicas;
		rate += d->peak_rate * d->replicas;
		if (s->n_series > TL_SCN_MAX_SERIES)
			return tl_yt_fail(c, d->line, "more than %d series (replicas) in all",
					  TL_SCN_MAX_SERIES);
		if (rate > TL_SCN_MAX_RATE)
			return tl_yt_fail(c, d->line,
					  "more than %g requests/s (peak_rate x replicas) in all",
					  TL_SCN_MAX_RATE);
	}
	return 0;
}

static int read_incidents(struct tl_yt_ctx *c, const struct tl_yt_node *v, struct tl_scenario *s)
{
	int r;

	if ((r = check_seq(c, v, "incidents", TL_SCN_MAX_INCIDENTS)) < 0)
		return r;
	if (v->n && !(s->incidents = calloc(v->n, sizeof(*s->incidents))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		struct tl_scn_incident *x = &s->incidents[i];
		const struct tl_yt_node *m = v->kids[i];
		bool known = false;

		x->fire = true;
		if ((r = apply_table(c, m, incident_opts, N(incident_opts), x, "incidents",
				     "deployment")) < 0 ||
		    (r = resolve(c, s, lookup(m, "deployment"), &x->deployment, &x->replica)) < 0)
			return r;
		s->n_incidents = i + 1;
		for (size_t k = 0; k < N(rules); k++)
			known |= strcmp(x->rule, rules[k]) == 0;
		if (!known)
			return tl_yt_fail(
			    c, lookup(m, "rule")->line,
			    "key 'rule': expected latency, guardrail, refusal, errors, "
			    "throttling or cost, got '%s'",
			    x->rule);
		if (x->end_s <= x->start_s)
			return tl_yt_fail(c, lookup(m, "end")->line, "key 'end': not after start");
		if (x->amount < amounts[x->effect].lo || x->amount > amounts[x->effect].hi)
			return tl_yt_fail(c, lookup(m, "amount")->line,
					  "key 'amount': effect %s takes %s from %g to %g, got %g",
					  tl_scenario_effect_name(x->effect),
					  amounts[x->effect].what, amounts[x->effect].lo,
					  amounts[x->effect].hi, x->amount);
	}
	return 0;
}

static int read_changes(struct tl_yt_ctx *c, const struct tl_yt_node *v, struct tl_scenario *s)
{
	int r;

	if ((r = check_seq(c, v, "changes", TL_SCN_MAX_CHANGES)) < 0)
		return r;
	if (v->n && !(s->changes = calloc(v->n, sizeof(*s->changes))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		struct tl_scn_change *x = &s->changes[i];
		const struct tl_yt_node *m = v->kids[i];

		if ((r = apply_table(c, m, change_opts, N(change_opts), x, "changes",
				     "deployment")) < 0 ||
		    (r = resolve(c, s, lookup(m, "deployment"), &x->deployment, &x->replica)) < 0)
			return r;
		s->n_changes = i + 1;
		if (x->replica < 0 && s->deployments[x->deployment].replicas > 1)
			return tl_yt_fail(
			    c, lookup(m, "deployment")->line,
			    "key 'deployment': '%s' has replicas: a change names one of "
			    "them ('%s-00001')",
			    s->deployments[x->deployment].name, s->deployments[x->deployment].name);
		if (x->at_s > 86400 - TL_SCN_CHANGE_TAKES_S - 1)
			return tl_yt_fail(c, lookup(m, "at")->line,
					  "key 'at': a change takes %d s and must end the same day",
					  TL_SCN_CHANGE_TAKES_S);
	}
	return 0;
}

static int read_scenario(struct tl_yt_ctx *c, const struct tl_yt_node *root, struct tl_scenario *s)
{
	static const char *const keys[] = { "deployments", "incidents", "changes" };
	const struct tl_yt_node *v;
	int r;

	if ((r = tl_yt_check_map(c, root, "the scenario")) < 0)
		return r;
	for (size_t i = 0; i < root->n; i += 2) {
		bool known = false;

		for (size_t k = 0; k < N(keys); k++)
			known |= strcmp(root->kids[i]->text, keys[k]) == 0;
		if (!known)
			return tl_yt_fail(c, root->kids[i]->line,
					  "key '%.80s': unknown (deployments, incidents, changes)",
					  root->kids[i]->text);
	}
	if (!(v = lookup(root, "deployments")))
		return tl_yt_fail(c, root->line, "key 'deployments' is missing");
	if ((r = read_deployments(c, v, s)) < 0)
		return r;
	if ((v = lookup(root, "incidents")) && (r = read_incidents(c, v, s)) < 0)
		return r;
	if ((v = lookup(root, "changes")) && (r = read_changes(c, v, s)) < 0)
		return r;
	return 0;
}

int tl_scenario_parse(const char *name, const char *text, size_t len, struct tl_scenario *s,
		      char *err, size_t errlen)
{
	struct tl_yt_ctx c = { .path = name, .err = err, .errlen = errlen };
	struct tl_yt_node *root = NULL;
	int r;

	*s = (struct tl_scenario){ 0 };
	if (errlen)
		err[0] = '\0';
	if ((r = tl_yt_parse_text(&c, text, len, &limits, &root)) == 0 && !root)
		r = tl_yt_fail(&c, 1, "empty: a scenario needs deployments");
	else if (r == 0)
		r = read_scenario(&c, root, s);
	tl_yt_free(root);
	if (r < 0) {
		if (r == -ENOMEM && !c.failed)
			(void)tl_yt_fail(&c, 1, "out of memory");
		tl_scenario_fini(s);
	}
	return r;
}

int tl_scenario_load(const char *path, struct tl_scenario *s, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text;
	size_t n;
	int r;

	*s = (struct tl_scenario){ 0 };
	if (!f)
		return -errno;
	if (!(text = malloc(TL_SCN_MAX_BYTES + 1))) {
		fclose(f);
		return -ENOMEM;
	}
	errno = 0;
	n = fread(text, 1, TL_SCN_MAX_BYTES + 1, f);
	r = ferror(f) ? -(errno ? errno : EIO) : n > TL_SCN_MAX_BYTES ? -EFBIG : 0;
	fclose(f);
	if (r == 0)
		r = tl_scenario_parse(path, text, n, s, err, errlen);
	free(text);
	return r;
}

void tl_scenario_fini(struct tl_scenario *s)
{
	free(s->deployments);
	free(s->incidents);
	free(s->changes);
	*s = (struct tl_scenario){ 0 };
}
