/*
 * tests/test_rules.c - each rule on synthetic series, positive and negative, and the trigger
 * lifecycle. A small simulator feeds one or two series second by second, moves the watermark
 * as a replay would (latest time minus the lateness), and collects the triggers.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/engine.h>
#include <tripline/symtab.h>
#include <tripline/time.h>

#define T0  (INT64_C(1762214400) * TL_NS_PER_S) /* 2025-11-04T00:00:00Z */
#define MIN TL_NS_PER_MIN

static struct tl_symtab *syms;
static struct tl_engine *eng;
static struct tl_trigger got[256];
static size_t n_got;
static uint32_t res, dep, dep2, gpt4o;
static uint64_t seed;

static void setup(void)
{
	syms = tl_symtab_new(1000);
	cr_assert(eq(int, tl_symtab_intern(syms, "AOAI-X", 6, &res), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "chat", 4, &dep), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "other", 5, &dep2), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "gpt-4o", 6, &gpt4o), 0));
	n_got = 0;
	seed = 12345;
}

static void teardown(void)
{
	tl_engine_free(eng);
	eng = NULL;
	tl_symtab_free(syms);
}

TestSuite(rules, .init = setup, .fini = teardown, .timeout = 60);

static const struct tl_price prices[] = { { "gpt-4o", 2.50, 1.25, 10.00 } };

static void start(const struct tl_rules *rules, const struct tl_deployment_rules *deps, size_t n)
{
	struct tl_engine_opts o = { .prices = prices,
				    .n_prices = 1,
				    .rules = rules,
				    .deployments = deps,
				    .n_deployments = n };

	eng = tl_engine_new(&o, syms);
	cr_assert(ne(ptr, eng, NULL));
}

static double unit(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (double)(seed >> 11) * 0x1.0p-53;
}

/* What one second of a series looks like; the callback sets it for the time given. */
struct second {
	int requests;
	double latency_ms; /* median; the spread is fixed */
	double p5xx, p429, pfilter, prefuse;
	uint32_t tokens_out;
};

typedef void (*shape_fn)(int64_t t, struct second *s);

static void collect(void)
{
	size_t n;
	struct tl_trigger *t = tl_engine_triggers(eng, &n);

	for (size_t i = 0; i < n && n_got < 256; i++)
		got[n_got++] = t[i];
	tl_engine_clear_triggers(eng);
}

/* Feed [from, to) second by second for @deployment, with @shape. */
static void run(int64_t from, int64_t to, uint32_t deployment, uint64_t series, shape_fn shape)
{
	for (int64_t t = from; t < to; t += TL_NS_PER_S) {
		struct second s = { 0 };

		shape(t, &s);
		for (int i = 0; i < s.requests; i++) {
			struct tl_event e = {
				.time_ns = t + (int64_t)(unit() * 1e9),
				.series = series,
				.fingerprint = seed | 1,
				.resource = res,
				.deployment = deployment,
				.model = gpt4o,
				.kind = TL_EV_REQUEST,
				.status = 200,
				.flags = TL_EVF_LATENCY | TL_EVF_GUARDRAIL_CHECKED |
					 TL_EVF_REFUSAL_CHECKED,
			};
			double u = unit();

			e.u.req.latency_ms = (float)(s.latency_ms * exp(0.3 * (unit() - 0.5)));
			if (u < s.p5xx)
				e.status = 500;
			else if ((u -= s.p5xx) < s.p429)
				e.status = 429;
			if (unit() < s.pfilter)
				e.flags |= TL_EVF_GUARDRAIL_FAILED;
			if (unit() < s.prefuse)
				e.flags |= TL_EVF_REFUSAL;
			if (s.tokens_out) {
				e.flags |= TL_EVF_TOKENS;
				e.u.req.tokens_out = s.tokens_out;
			}
			tl_engine_push(eng, &e);
		}
		tl_engine_advance(eng, t + TL_NS_PER_S - 2 * MIN);
		collect();
	}
}

/* The end of the input: close everything up to @end. */
static void finish(int64_t end)
{
	tl_engine_advance(eng, end);
	collect();
}

static size_t count(enum tl_rule rule, enum tl_trigger_type type)
{
	size_t n = 0;

	for (size_t i = 0; i < n_got; i++)
		n += got[i].rule == rule && got[i].type == type;
	return n;
}

static const struct tl_trigger *first(enum tl_rule rule, enum tl_trigger_type type)
{
	for (size_t i = 0; i < n_got; i++)
		if (got[i].rule == rule && got[i].type == type)
			return &got[i];
	return NULL;
}

static bool quiet(void)
{
	return n_got == 0;
}

/* ---- shapes ----------------------------------------------------------------------------- */

static int64_t inc_start, inc_end;

static void steady(int64_t t, struct second *s)
{
	(void)t;
	s->requests = 2;
	s->latency_ms = 800;
}

static void latency_x3(int64_t t, struct second *s)
{
	steady(t, s);
	if (t >= inc_start && t < inc_end)
		s->latency_ms *= 3;
}

static void drift_up(int64_t t, struct second *s)
{
	steady(t, s);
	if (t >= inc_start) {
		double f = (double)(t - inc_start) / (double)(inc_end - inc_start);

		s->latency_ms *= 1.0 + 0.5 * (f > 1 ? 1 : f);
	}
}

static void low_volume_x3(int64_t t, struct second *s)
{
	latency_x3(t, s);
	s->requests = (t / TL_NS_PER_S) % 4 == 0; /* 15 a minute: under min_requests */
}

static void errors_6pct(int64_t t, struct second *s)
{
	steady(t, s);
	s->p5xx = t >= inc_start && t < inc_end ? 0.06 : 0.001;
}

static void errors_25pct(int64_t t, struct second *s)
{
	steady(t, s);
	s->p5xx = t >= inc_start && t < inc_end ? 0.25 : 0.001;
}

static void throttled_12pct(int64_t t, struct second *s)
{
	steady(t, s);
	s->p429 = t >= inc_start && t < inc_end ? 0.12 : 0.01;
}

static void filtered(int64_t t, struct second *s)
{
	steady(t, s);
	s->pfilter = t >= inc_start && t < inc_end ? 0.03 : 0.0;
}

static void filtered_low_volume(int64_t t, struct second *s)
{
	filtered(t, s);
	s->requests = (t / TL_NS_PER_S) % 2; /* 150 in 5 minutes: under 200 */
}

static void filtered_background(int64_t t, struct second *s)
{
	steady(t, s);
	s->pfilter = 0.002;
}

static void refusing(int64_t t, struct second *s)
{
	steady(t, s);
	s->prefuse = t >= inc_start && t < inc_end ? 0.08 : 0.0;
}

static void refusing_vs_high_baseline(int64_t t, struct second *s)
{
	steady(t, s);
	s->prefuse = t >= inc_start && t < inc_end ? 0.03 : 0.015;
}

static void spending(int64_t t, struct second *s)
{
	steady(t, s);
	/* 10 000 output tokens a request at 10 USD / 1 M: 0.1 USD, 0.2 USD a second */
	s->tokens_out = t >= inc_start && t < inc_end ? 10000 : 0;
}

/* ---- latency ---------------------------------------------------------------------------- */

Test(rules, latency_fires_once_after_five_minutes_and_resolves)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 80 * MIN;
	run(T0, T0 + 100 * MIN, dep, 1, latency_x3);
	finish(T0 + 100 * MIN);
	cr_assert(eq(sz, count(TL_RULE_LATENCY, TL_TRIGGER_FIRE), 1));
	cr_assert(eq(sz, count(TL_RULE_LATENCY, TL_TRIGGER_RESOLVED), 1));
	const struct tl_trigger *f = first(TL_RULE_LATENCY, TL_TRIGGER_FIRE);
	const struct tl_trigger *r = first(TL_RULE_LATENCY, TL_TRIGGER_RESOLVED);

	cr_assert(eq(i64, f->fired_at, inc_start + 5 * MIN), "fires at the end of the 5th minute");
	cr_assert(eq(i64, f->window_start, inc_start));
	cr_assert(ge(dbl, f->observed / f->baseline, 2.5));
	cr_assert(eq(dbl, f->threshold, 2.0 * f->baseline));
	cr_assert(eq(int, f->unit, TL_UNIT_MS));
	cr_assert(eq(int, f->severity, 2));
	cr_assert(eq(int, f->action, TL_ACTION_INVESTIGATE));
	cr_assert(eq(u64, r->incident, f->incident), "one incident id from trigger to resolved");
	cr_assert(eq(i64, r->resolved_at, inc_end + MIN), "the first good minute ends then");
	cr_assert(eq(i64, r->at, r->resolved_at + 5 * MIN), "after the hold");
}

Test(rules, a_three_minute_spike_does_not_fire)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 63 * MIN;
	run(T0, T0 + 90 * MIN, dep, 1, latency_x3);
	finish(T0 + 90 * MIN);
	cr_assert(quiet());
}

Test(rules, a_slow_half_again_drift_over_two_hours_does_not_fire)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 180 * MIN;
	run(T0, T0 + 240 * MIN, dep, 1, drift_up);
	finish(T0 + 240 * MIN);
	cr_assert(quiet());
}

Test(rules, low_volume_does_not_fire)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 80 * MIN;
	run(T0, T0 + 100 * MIN, dep, 1, low_volume_x3);
	finish(T0 + 100 * MIN);
	cr_assert(quiet());
}

Test(rules, without_thirty_minutes_of_history_latency_stays_quiet)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 15 * MIN;
	inc_end = T0 + 28 * MIN;
	run(T0, T0 + 29 * MIN, dep, 1, latency_x3);
	finish(T0 + 29 * MIN);
	cr_assert(eq(sz, count(TL_RULE_LATENCY, TL_TRIGGER_FIRE), 0));
}

Test(rules, an_incident_does_not_teach_the_baseline)
{
	start(NULL, NULL, 0);
	/* a 3 hour incident: were its minutes in the baseline, the median would reach it
	 * after 90 minutes and the rule would resolve while latency is still x3 */
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 240 * MIN;
	run(T0, T0 + 250 * MIN, dep, 1, latency_x3);
	finish(T0 + 250 * MIN);
	cr_assert(eq(sz, count(TL_RULE_LATENCY, TL_TRIGGER_FIRE), 1));
	const struct tl_trigger *r = first(TL_RULE_LATENCY, TL_TRIGGER_RESOLVED);

	cr_assert(ne(ptr, (void *)r, NULL));
	cr_assert(eq(i64, r->resolved_at, inc_end + MIN));
	/* updates every 30 minutes while firing */
	cr_assert(ge(sz, count(TL_RULE_LATENCY, TL_TRIGGER_UPDATE), 5));
}

Test(rules, severe_latency_with_a_fallback_fails_over)
{
	struct tl_deployment_rules d = { .name = "CHAT" };

	tl_rules_defaults(&d.rules);
	strcpy(d.rules.fallback, "chat-mini");
	start(NULL, &d, 1);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 70 * MIN;
	run(T0, T0 + 80 * MIN, dep, 1, latency_x3);
	finish(T0 + 80 * MIN);
	/* x3 is under the Sev1 factor 4: investigate, no failover */
	cr_assert(eq(int, first(TL_RULE_LATENCY, TL_TRIGGER_FIRE)->action, TL_ACTION_INVESTIGATE));
	teardown();
	setup();
	d.rules.latency.severe_factor = 2.5;
	start(NULL, &d, 1);
	run(T0, T0 + 80 * MIN, dep, 1, latency_x3);
	finish(T0 + 80 * MIN);
	const struct tl_trigger *f = first(TL_RULE_LATENCY, TL_TRIGGER_FIRE);

	cr_assert(eq(int, f->severity, 1));
	cr_assert(eq(int, f->action, TL_ACTION_FAILOVER));
	cr_assert(eq(str, (char *)f->fallback, "chat-mini"));
}

Test(rules, a_deployment_override_applies_to_that_deployment_only)
{
	struct tl_deployment_rules d = { .name = "other" };

	tl_rules_defaults(&d.rules);
	d.rules.latency.factor = 5.0;
	start(NULL, &d, 1);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 80 * MIN;
	run(T0, T0 + 90 * MIN, dep2, 2, latency_x3);
	finish(T0 + 90 * MIN);
	cr_assert(quiet(), "factor 5 for 'other': x3 is fine");
	teardown();
	setup();
	start(NULL, &d, 1);
	run(T0, T0 + 90 * MIN, dep, 1, latency_x3);
	finish(T0 + 90 * MIN);
	cr_assert(eq(sz, count(TL_RULE_LATENCY, TL_TRIGGER_FIRE), 1), "'chat' keeps factor 2");
}

/* ---- rate rules ------------------------------------------------------------------------- */

Test(rules, errors_fire_within_the_minute_and_escalate)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 10 * MIN;
	inc_end = T0 + 25 * MIN;
	run(T0, T0 + 40 * MIN, dep, 1, errors_25pct);
	finish(T0 + 40 * MIN);
	cr_assert(eq(sz, count(TL_RULE_ERRORS, TL_TRIGGER_FIRE), 1));
	const struct tl_trigger *f = first(TL_RULE_ERRORS, TL_TRIGGER_FIRE);

	/* at 25 % of 2 requests a second, the 5 minute window passes 5 % once 30 of its 600
	 * requests failed: 60 s after onset; the rule fires at the next evaluation */
	cr_assert(le(i64, f->fired_at - inc_start, MIN + 20 * TL_NS_PER_S),
		  "fired %lld s after onset", (long long)((f->fired_at - inc_start) / TL_NS_PER_S));
	cr_assert(ge(sz, count(TL_RULE_ERRORS, TL_TRIGGER_UPDATE), 1), "Sev1 once past 20 %%");
	cr_assert(eq(int, first(TL_RULE_ERRORS, TL_TRIGGER_UPDATE)->severity, 1));
	cr_assert(eq(sz, count(TL_RULE_ERRORS, TL_TRIGGER_RESOLVED), 1));
}

Test(rules, six_percent_errors_fire_and_throttling_throttles)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 10 * MIN;
	inc_end = T0 + 25 * MIN;
	run(T0, T0 + 40 * MIN, dep, 1, errors_6pct);
	run(T0 + 40 * MIN, T0 + 41 * MIN, dep, 1, steady);
	cr_assert(eq(sz, count(TL_RULE_ERRORS, TL_TRIGGER_FIRE), 1));
	cr_assert(eq(int, first(TL_RULE_ERRORS, TL_TRIGGER_FIRE)->severity, 2));
	teardown();
	setup();
	start(NULL, NULL, 0);
	run(T0, T0 + 40 * MIN, dep, 1, throttled_12pct);
	finish(T0 + 40 * MIN);
	cr_assert(eq(sz, count(TL_RULE_THROTTLING, TL_TRIGGER_FIRE), 1));
	cr_assert(eq(int, first(TL_RULE_THROTTLING, TL_TRIGGER_FIRE)->action, TL_ACTION_THROTTLE));
}

Test(rules, guardrail_needs_one_percent_of_two_hundred)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 10 * MIN;
	inc_end = T0 + 25 * MIN;
	run(T0, T0 + 40 * MIN, dep, 1, filtered);
	finish(T0 + 40 * MIN);
	cr_assert(eq(sz, count(TL_RULE_GUARDRAIL, TL_TRIGGER_FIRE), 1));
	cr_assert(eq(int, first(TL_RULE_GUARDRAIL, TL_TRIGGER_FIRE)->unit, TL_UNIT_RATIO));
	teardown();
	setup();
	start(NULL, NULL, 0);
	run(T0, T0 + 40 * MIN, dep, 1, filtered_low_volume);
	finish(T0 + 40 * MIN);
	cr_assert(quiet(), "150 requests in 5 minutes: under min_requests");
	teardown();
	setup();
	start(NULL, NULL, 0);
	run(T0, T0 + 40 * MIN, dep, 1, filtered_background);
	finish(T0 + 40 * MIN);
	cr_assert(quiet(), "0.2 %% is under 1 %%");
}

Test(rules, refusal_is_judged_against_its_baseline)
{
	start(NULL, NULL, 0);
	inc_start = T0 + 60 * MIN;
	inc_end = T0 + 70 * MIN;
	run(T0, T0 + 90 * MIN, dep, 1, refusing);
	finish(T0 + 90 * MIN);
	cr_assert(eq(sz, count(TL_RULE_REFUSAL, TL_TRIGGER_FIRE), 1), "8 %% over a 0 baseline");
	teardown();
	setup();
	start(NULL, NULL, 0);
	/* 1.5 % is normal here: the threshold is 3 x 1.5 = 4.5 %, and 3 % stays under it */
	run(T0, T0 + 90 * MIN, dep, 1, refusing_vs_high_baseline);
	finish(T0 + 90 * MIN);
	cr_assert(eq(sz, count(TL_RULE_REFUSAL, TL_TRIGGER_FIRE), 0));
}

/* ---- cost ------------------------------------------------------------------------------- */

Test(rules, cost_warns_at_each_share_of_the_budget)
{
	struct tl_rules r;

	tl_rules_defaults(&r);
	r.cost.daily_budget_usd = 100;
	start(&r, NULL, 0);
	/* 0.2 USD a second from 00:10: 50 % after 250 s, 100 % after 500 s */
	inc_start = T0 + 10 * MIN;
	inc_end = T0 + 20 * MIN;
	run(T0, T0 + 60 * MIN, dep, 1, spending);
	finish(T0 + 60 * MIN);
	cr_assert(eq(sz, count(TL_RULE_COST, TL_TRIGGER_FIRE), 1));
	/* over budget, it stays open for the rest of the day */
	cr_assert(eq(sz, count(TL_RULE_COST, TL_TRIGGER_RESOLVED), 0));
	const struct tl_trigger *f = first(TL_RULE_COST, TL_TRIGGER_FIRE);

	cr_assert(eq(int, f->unit, TL_UNIT_USD));
	cr_assert(eq(int, f->action, TL_ACTION_THROTTLE));
	cr_assert(le(i64, f->fired_at - inc_start, 5 * MIN));
	/* on course past the budget after the first minute, before any share is crossed: Sev3;
	 * 50 % and 80 % are no news at that severity */
	cr_assert(eq(int, f->severity, 3));
	cr_assert(lt(dbl, f->observed, 50));
	/* it escalates to Sev2 when the budget is spent */
	const struct tl_trigger *u = first(TL_RULE_COST, TL_TRIGGER_UPDATE);

	cr_assert(ne(ptr, (void *)u, NULL));
	cr_assert(eq(int, u->severity, 2));
	cr_assert(ge(dbl, u->observed, 100));
	cr_assert(le(i64, u->at, inc_start + 500 * TL_NS_PER_S + 10 * TL_NS_PER_S));
}

Test(rules, each_share_is_news_when_the_projection_stays_under_the_budget)
{
	const double share[] = { 50, 80, 100 };
	const int sev[] = { 4, 3, 2 };
	struct tl_rules r;
	size_t k = 0;

	tl_rules_defaults(&r);
	r.cost.daily_budget_usd = 100;
	start(&r, NULL, 0);
	/* 0.2 USD a second from 23:50, so near the day's end that the projection stays under the
	 * budget: 50 % after 250 s fires, 80 % after 400 s and 100 % after 500 s update */
	inc_start = T0 + 24 * 60 * MIN - 10 * MIN;
	inc_end = T0 + 24 * 60 * MIN;
	run(inc_start - 20 * MIN, inc_end + 10 * MIN, dep, 1, spending);
	finish(inc_end + 10 * MIN);
	for (size_t i = 0; i < n_got; i++) {
		const struct tl_trigger *t = &got[i];

		if (t->rule != TL_RULE_COST || t->type == TL_TRIGGER_RESOLVED)
			continue;
		cr_assert(lt(sz, k, 3), "one event per share: %s", t->reason);
		cr_assert(eq(int, t->type, k ? TL_TRIGGER_UPDATE : TL_TRIGGER_FIRE));
		cr_assert(eq(int, t->severity, sev[k]));
		/* in the bucket that crossed it: 2 USD a bucket */
		cr_assert(ge(dbl, t->observed, share[k]));
		cr_assert(lt(dbl, t->observed, share[k] + 2.5));
		k++;
	}
	cr_assert(eq(sz, k, 3));
}

Test(rules, a_burst_of_spend_under_budget_fires_once_and_resolves)
{
	struct tl_rules r;

	tl_rules_defaults(&r);
	r.cost.daily_budget_usd = 100;
	start(&r, NULL, 0);
	/* 60 USD in five minutes: on course far past the budget, and 50 % of it crossed */
	inc_start = T0 + 10 * MIN;
	inc_end = T0 + 15 * MIN;
	run(T0, T0 + 90 * MIN, dep, 1, spending);
	finish(T0 + 90 * MIN);
	cr_assert(eq(sz, count(TL_RULE_COST, TL_TRIGGER_FIRE), 1));
	cr_assert(eq(sz, count(TL_RULE_COST, TL_TRIGGER_RESOLVED), 1));
	const struct tl_trigger *f = first(TL_RULE_COST, TL_TRIGGER_FIRE);
	const struct tl_trigger *z = first(TL_RULE_COST, TL_TRIGGER_RESOLVED);

	cr_assert(lt(i64, f->fired_at, inc_end));
	/* once the burst has left the 15-minute rate window and the hold has passed */
	cr_assert(eq(i64, z->fired_at, f->fired_at));
	cr_assert(ge(i64, z->at, inc_end + 15 * MIN));
	cr_assert(le(i64, z->at, inc_end + 25 * MIN));
}

/* ---- event time ------------------------------------------------------------------------- */

Test(rules, late_records_do_not_reopen_closed_buckets)
{
	start(NULL, NULL, 0);
	run(T0, T0 + 20 * MIN, dep, 1, steady);
	const uint64_t late0 = tl_engine_get_counts(eng)->late;

	/* 300 failures for a window that closed ten minutes ago */
	for (int i = 0; i < 300; i++) {
		struct tl_event e = { .time_ns = T0 + 8 * MIN + i * TL_NS_PER_MS,
				      .series = 1,
				      .resource = res,
				      .deployment = dep,
				      .kind = TL_EV_REQUEST,
				      .status = 500 };

		tl_engine_push(eng, &e);
	}
	run(T0 + 20 * MIN, T0 + 30 * MIN, dep, 1, steady);
	finish(T0 + 30 * MIN);
	cr_assert(eq(u64, tl_engine_get_counts(eng)->late - late0, 300));
	cr_assert(quiet());
}

Test(rules, the_same_events_give_the_same_triggers)
{
	struct tl_trigger a[256];
	size_t na;

	start(NULL, NULL, 0);
	inc_start = T0 + 40 * MIN;
	inc_end = T0 + 60 * MIN;
	run(T0, T0 + 80 * MIN, dep, 1, errors_25pct);
	finish(T0 + 80 * MIN);
	na = n_got;
	memcpy(a, got, sizeof(a));
	teardown();
	setup();
	start(NULL, NULL, 0);
	run(T0, T0 + 80 * MIN, dep, 1, errors_25pct);
	finish(T0 + 80 * MIN);
	cr_assert(eq(sz, n_got, na));
	cr_assert(ge(sz, na, 1));
	for (size_t i = 0; i < na; i++)
		cr_assert(
		    eq(int, memcmp(&a[i], &got[i], offsetof(struct tl_trigger, fallback)), 0));
}
