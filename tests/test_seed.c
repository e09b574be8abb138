/*
 * tests/test_seed.c - a series' seed (tl_engine_opts.export_seeds, tl_engine_seed()): a second
 * engine started from the seed a trigger carried, at a minute boundary before the trigger, and
 * given the same events from there on, fires the same trigger: same incident, time, window,
 * observation, baseline and severity. This is what `tripline replay SNAPSHOT` relies on.
 */
#include <errno.h>
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
static uint32_t res, dep, gpt4o;
static uint64_t rng;
static const struct tl_price prices[] = { { "gpt-4o", 2.50, 1.25, 10.00 } };

static void setup(void)
{
	syms = tl_symtab_new(1000);
	cr_assert(eq(int, tl_symtab_intern(syms, "AOAI-X", 6, &res), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "chat", 4, &dep), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "gpt-4o", 6, &gpt4o), 0));
}

static void teardown(void)
{
	tl_symtab_free(syms);
}

TestSuite(seed, .init = setup, .fini = teardown, .timeout = 60);

static double unit(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1.0p-53;
}

enum incident { LATENCY, ERRORS, REFUSAL, SPEND, SPEND_AFTER_A_GAP };

struct run {
	enum incident kind;
	int64_t inc_start, inc_end, end;
	struct tl_rules rules;
	struct tl_trigger fire; /* the first "trigger" event of the rule */
	bool fired;
	enum tl_rule rule;
};

/*
 * Feed [T0, end) second by second (the same events every time: the generator restarts), the
 * watermark a replay would give; events before @from are not given, nor watermarks before it.
 * With @seed, the engine starts from it at @from. Keeps the first trigger of the run's rule.
 */
static void feed(struct run *r, const struct tl_series_seed *seed, int64_t from, bool export)
{
	struct tl_engine_opts o = {
		.prices = prices, .n_prices = 1, .rules = &r->rules, .export_seeds = export
	};
	struct tl_engine *e = tl_engine_new(&o, syms);
	const uint64_t series = 42;

	cr_assert(ne(ptr, e, NULL));
	if (seed) {
		struct tl_event k = { .series = series, .resource = res, .deployment = dep };

		cr_assert(eq(int, tl_engine_seed(e, &k, seed, from), 0));
	}
	rng = 12345;
	r->fired = false;
	for (int64_t t = T0; t < r->end; t += TL_NS_PER_S) {
		const bool in = t >= r->inc_start && t < r->inc_end;

		/* 25 quiet minutes, 20 before the incident: the series goes idle */
		const bool quiet = r->kind == SPEND_AFTER_A_GAP && t >= r->inc_start - 45 * MIN &&
				   t < r->inc_start - 20 * MIN;

		for (int i = 0; i < 3; i++) {
			struct tl_event ev = {
				.time_ns = t + (int64_t)(unit() * 1e9),
				.series = series,
				.fingerprint = rng | 1,
				.resource = res,
				.deployment = dep,
				.model = gpt4o,
				.kind = TL_EV_REQUEST,
				.status = 200,
				.flags = TL_EVF_LATENCY | TL_EVF_REFUSAL_CHECKED | TL_EVF_TOKENS,
			};
			double lat = 700 * exp(0.4 * (unit() - 0.5)), u = unit();

			ev.u.req.latency_ms = (float)(r->kind == LATENCY && in ? 3 * lat : lat);
			ev.u.req.tokens_out = (uint32_t)(50 + 100 * unit());
			if ((r->kind == SPEND || r->kind == SPEND_AFTER_A_GAP) && in)
				ev.u.req.tokens_out *= 40;
			if (u < (r->kind == ERRORS && in ? 0.09 : 0.002))
				ev.status = 503;
			if (unit() < (r->kind == REFUSAL && in ? 0.09 : 0.004))
				ev.flags |= TL_EVF_REFUSAL;
			if (ev.time_ns >= from && !quiet)
				tl_engine_push(e, &ev);
		}
		const int64_t wm = t + TL_NS_PER_S - 2 * MIN;

		if (wm >= from)
			tl_engine_advance(e, wm);
		size_t n;
		struct tl_trigger *tr = tl_engine_triggers(e, &n);

		for (size_t i = 0; i < n; i++) {
			if (!r->fired && tr[i].rule == r->rule && tr[i].type == TL_TRIGGER_FIRE) {
				r->fire = tr[i];
				r->fired = true;
			} else {
				tl_series_seed_free(tr[i].seed);
			}
		}
		tl_engine_clear_triggers(e);
	}
	tl_engine_free(e);
}

/* The original run, then one from the seed at each of several minute boundaries before it. */
static void check(enum incident kind, enum tl_rule rule, const struct tl_rules *rules)
{
	struct run a = { .kind = kind,
			 .rule = rule,
			 .inc_start = T0 + 150 * MIN,
			 .inc_end = T0 + 170 * MIN,
			 .end = T0 + 180 * MIN };

	if (rules)
		a.rules = *rules;
	else
		tl_rules_defaults(&a.rules);
	feed(&a, NULL, INT64_MIN, true);
	cr_assert(a.fired, "the original run fires %s", tl_rule_name(rule));
	cr_assert(ge(i64, a.fire.fired_at, a.inc_start), "it fires for the incident");
	cr_assert(ne(ptr, a.fire.seed, NULL), "the trigger carries its series' seed");

	const int64_t minutes_back[] = { 6, 10, 15, 25, 40 };

	for (size_t i = 0; i < sizeof(minutes_back) / sizeof(minutes_back[0]); i++) {
		/* a cost window starts with the day: count back from the trigger instead */
		const int64_t ref = rule == TL_RULE_COST ? a.fire.fired_at : a.fire.window_start;
		const int64_t from = (tl_floor_div(ref, MIN) - minutes_back[i]) * MIN;
		struct run b = a;

		feed(&b, a.fire.seed, from, false);
		cr_assert(b.fired, "%s fires again from %lld min before the window",
			  tl_rule_name(rule), (long long)minutes_back[i]);
		cr_assert(eq(u64, b.fire.incident, a.fire.incident));
		cr_assert(eq(i64, b.fire.fired_at, a.fire.fired_at));
		cr_assert(eq(i64, b.fire.window_start, a.fire.window_start));
		cr_assert(eq(int, b.fire.severity, a.fire.severity));
		cr_assert(eq(dbl, b.fire.observed, a.fire.observed));
		if (isnan(a.fire.baseline))
			cr_assert(isnan(b.fire.baseline));
		else
			cr_assert(eq(dbl, b.fire.baseline, a.fire.baseline));
		cr_assert(eq(dbl, b.fire.threshold, a.fire.threshold));
		cr_assert(eq(str, b.fire.reason, a.fire.reason));
		cr_assert(eq(ptr, b.fire.seed, NULL), "no seeds unless asked for");
	}
	tl_series_seed_free(a.fire.seed);
}

Test(seed, latency_fires_again_from_the_seed)
{
	check(LATENCY, TL_RULE_LATENCY, NULL);
}

Test(seed, errors_fire_again_from_the_seed)
{
	check(ERRORS, TL_RULE_ERRORS, NULL);
}

Test(seed, refusals_fire_again_against_the_seeded_baseline)
{
	check(REFUSAL, TL_RULE_REFUSAL, NULL);
}

Test(seed, spend_fires_again_with_the_day_so_far)
{
	struct tl_rules r;

	/* about 0.18 USD a minute before (260 USD a day), 40 x that during: the day's course
	 * passes 1000 USD in the incident, and the spend before it is part of the observation */
	tl_rules_defaults(&r);
	r.cost.daily_budget_usd = 1000;
	check(SPEND, TL_RULE_COST, &r);
}

Test(seed, spend_fires_again_when_the_series_was_idle_before)
{
	struct tl_rules r;

	/* the seed's spend sums of the idle minutes were never written: the day's spend at
	 * a start inside the gap is the one at the last minute before it */
	tl_rules_defaults(&r);
	r.cost.daily_budget_usd = 1000;
	check(SPEND_AFTER_A_GAP, TL_RULE_COST, &r);
}

Test(seed, a_seed_is_refused_where_it_cannot_hold)
{
	struct run a = { .kind = LATENCY,
			 .rule = TL_RULE_LATENCY,
			 .inc_start = T0 + 150 * MIN,
			 .inc_end = T0 + 170 * MIN,
			 .end = T0 + 160 * MIN };

	tl_rules_defaults(&a.rules);
	feed(&a, NULL, INT64_MIN, true);
	cr_assert(a.fired);
	struct tl_engine *e = tl_engine_new(NULL, syms);
	struct tl_event k = { .series = 42, .resource = res, .deployment = dep };
	const int64_t m = a.fire.seed->last_minute;

	cr_assert(eq(int, tl_engine_seed(e, &k, a.fire.seed, m + 30 * TL_NS_PER_S), -EINVAL),
		  "not a minute boundary");
	cr_assert(eq(int, tl_engine_seed(e, &k, a.fire.seed, m + 2 * MIN), -EINVAL),
		  "after the seed's minutes");
	cr_assert(eq(int, tl_engine_seed(e, &k, a.fire.seed, m - 90 * MIN), -EINVAL),
		  "more than an hour before");
	cr_assert(eq(int, tl_engine_seed(e, &k, a.fire.seed, -INT64_C(150000000) * MIN), -EINVAL),
		  "a time no event has (the difference would overflow)");
	cr_assert(eq(int, tl_engine_seed(e, &k, a.fire.seed, m - 10 * MIN), 0));
	cr_assert(eq(int, tl_engine_seed(e, &k, a.fire.seed, m - 10 * MIN), -EINVAL),
		  "an engine that has started");
	tl_engine_free(e);
	tl_series_seed_free(a.fire.seed);
}
