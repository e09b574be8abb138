/*
 * tests/test_changes.c - change correlation and the last known stable version: recent_changes,
 * the rollback decision and its target, one change for interleaved records, bounds.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/buf.h>
#include <tripline/changes.h>
#include <tripline/decode.h>
#include <tripline/symtab.h>
#include <tripline/time.h>
#include <tripline/trigger.h>

#define T0  (INT64_C(1773039600) * TL_NS_PER_S) /* 2026-03-09T07:00:00Z */
#define MIN TL_NS_PER_MIN
#define H   TL_NS_PER_HOUR

static struct tl_symtab *syms;
static struct tl_changes *chg;
static uint32_t res, dep, dep2, va, vb, vc, p1, p2;
static uint64_t key1, key2, key_acct;

static uint32_t sym(const char *s)
{
	uint32_t v = 0;

	cr_assert(eq(int, tl_symtab_intern(syms, s, strlen(s), &v), 0));
	return v;
}

static uint64_t key(uint32_t r, const char *d)
{
	return tl_series_key(tl_symtab_fold_hash(syms, r), tl_fold_hash(d, strlen(d)));
}

static void setup(void)
{
	syms = tl_symtab_new(1000);
	cr_assert(syms != NULL);
	chg = tl_changes_new(NULL, syms);
	cr_assert(chg != NULL);
	res = sym("AOAI-FABRIKAM-WEU");
	dep = sym("support-gpt4o");
	dep2 = sym("batch-gpt4o");
	va = sym("2024-05-13");
	vb = sym("2024-08-06");
	vc = sym("2024-11-20");
	p1 = sym("v11");
	p2 = sym("v12");
	key1 = key(res, "support-gpt4o");
	key2 = key(res, "batch-gpt4o");
	key_acct = key(res, TL_ACCOUNT_DEPLOYMENT);
}

static void teardown(void)
{
	tl_changes_free(chg);
	tl_symtab_free(syms);
}

TestSuite(changes, .init = setup, .fini = teardown, .timeout = 30);

static void req(uint64_t series, int64_t t, uint32_t mv, uint32_t pv)
{
	const struct tl_event ev = { .time_ns = t,
				     .series = series,
				     .resource = res,
				     .deployment = series == key2 ? dep2 : dep,
				     .model_version = mv,
				     .prompt_version = pv,
				     .status = 200,
				     .kind = TL_EV_REQUEST };

	tl_changes_event(chg, &ev);
}

/* Requests every 10 s in [from, to). */
static void traffic(uint64_t series, int64_t from, int64_t to, uint32_t mv, uint32_t pv)
{
	for (int64_t t = from; t < to; t += 10 * TL_NS_PER_S)
		req(series, t, mv, pv);
}

static void change(uint64_t series, int64_t t, uint8_t op, uint8_t phase, uint32_t detail)
{
	const struct tl_event ev = { .time_ns = t,
				     .series = series,
				     .resource = res,
				     .deployment = series == key1 ? dep : 0,
				     .kind = TL_EV_CHANGE,
				     .origin = TL_ORIGIN_ACTIVITY,
				     .u.change = { .op = op, .phase = phase, .detail = detail } };

	tl_changes_event(chg, &ev);
}

static struct tl_trigger trig(uint8_t type, uint8_t rule, uint64_t series, int64_t fired_at,
			      int64_t window_start, uint8_t severity)
{
	struct tl_trigger t = { .at = fired_at,
				.fired_at = fired_at,
				.window_start = window_start,
				.window_end = fired_at,
				.incident = series * 7 + rule + (uint64_t)fired_at,
				.series = series,
				.resource = res,
				.deployment = series == key2 ? dep2 : dep,
				.type = type,
				.rule = rule,
				.severity = severity,
				.action = rule == TL_RULE_COST || rule == TL_RULE_THROTTLING
					      ? TL_ACTION_THROTTLE
					      : TL_ACTION_INVESTIGATE,
				.fallback = "" };

	(void)snprintf(t.reason, sizeof(t.reason), "engine says so");
	return t;
}

/* Fire a latency trigger at @at (window from @at - 5 min) and annotate it. */
static struct tl_trigger fire_latency(uint64_t series, int64_t at, struct tl_annotation *a)
{
	struct tl_trigger t = trig(TL_TRIGGER_FIRE, TL_RULE_LATENCY, series, at, at - 5 * MIN, 2);

	tl_changes_trigger(chg, &t);
	tl_changes_annotate(chg, &t, a);
	return t;
}

static char *json(const struct tl_annotation *a)
{
	static struct tl_buf b;

	tl_buf_reset(&b);
	tl_annotation_json(a, syms, &b);
	tl_buf_put(&b, "", 1);
	cr_assert(tl_buf_ok(&b));
	return b.p;
}

Test(changes, acceptance_rollback_to_the_version_that_ran_quietly)
{
	struct tl_annotation a;

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 20 * MIN, vb, 0);
	fire_latency(key1, T0 + 3 * H + 20 * MIN, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, va));
	cr_assert(eq(u32, a.target_prompt_version, 0));
	cr_assert(eq(str, a.reason,
		     "latency regression began 15 min after model_version 2024-05-13 -> "
		     "2024-08-06; 2024-05-13 ran 3h without incident"));
	cr_assert(eq(u32, a.n_recent, 1));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_MODEL_VERSION));
	cr_assert(eq(i64, a.recent[0].time_ns, T0 + 3 * H));
	cr_assert(eq(str, json(&a),
		     ",\"recent_changes\":[{\"time\":\"2026-03-09T10:00:00.000Z\","
		     "\"kind\":\"model_version\",\"from\":\"2024-05-13\",\"to\":\"2024-08-06\"}],"
		     "\"action\":{\"kind\":\"rollback\",\"target\":{\"model_version\":"
		     "\"2024-05-13\"},\"reason\":\"latency regression began 15 min after "
		     "model_version 2024-05-13 -> 2024-08-06; 2024-05-13 ran 3h without "
		     "incident\"}"));
}

Test(changes, annotation_does_not_depend_on_later_events_or_trigger_events)
{
	struct tl_annotation a, b, c;
	struct tl_trigger t;
	char first[1024];

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 20 * MIN, vb, 0);
	t = fire_latency(key1, T0 + 3 * H + 20 * MIN, &a);
	(void)snprintf(first, sizeof(first), "%s", json(&a));
	/* the reader runs on: a third version, more incidents, the resolution */
	traffic(key1, T0 + 3 * H + 20 * MIN, T0 + 3 * H + 25 * MIN, vb, 0);
	traffic(key1, T0 + 3 * H + 25 * MIN, T0 + 3 * H + 40 * MIN, vc, 0);
	tl_changes_annotate(chg, &t, &b);
	cr_assert(eq(str, json(&b), first));
	struct tl_trigger r = t;

	r.type = TL_TRIGGER_RESOLVED;
	r.at = T0 + 3 * H + 45 * MIN;
	r.resolved_at = T0 + 3 * H + 40 * MIN;
	r.window_start = r.at - MIN;
	tl_changes_trigger(chg, &r);
	tl_changes_annotate(chg, &r, &c);
	cr_assert(eq(str, json(&c), first));
}

Test(changes, open_minutes_are_read_as_they_stood_at_fired_at)
{
	const int64_t at = T0 + 3 * H + 10 * MIN;
	struct tl_annotation a, b;
	struct tl_trigger t;
	char first[1024];

	/* B leads the last four minutes, still open; C's first minute ends at fired_at */
	traffic(key1, T0, at - 4 * MIN, va, 0);
	traffic(key1, at - 4 * MIN, at - 30 * TL_NS_PER_S, vb, 0);
	traffic(key1, at - 30 * TL_NS_PER_S, at, vc, 0);
	t = fire_latency(key1, at, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, va));
	/* the incident's window began a minute before the change: A's last minute is not quiet */
	cr_assert(eq(str, a.reason,
		     "latency regression began 0 min after model_version 2024-05-13 -> "
		     "2024-08-06; 2024-05-13 ran 3h5m without incident"));
	(void)snprintf(first, sizeof(first), "%s", json(&a));
	/* C is confirmed after fired_at, dated before it: still not seen */
	traffic(key1, at, at + 20 * MIN, vc, 0);
	tl_changes_annotate(chg, &t, &b);
	cr_assert(eq(str, json(&b), first));
	cr_assert(eq(u64, tl_changes_get_counts(chg)->version_changes, 2));
}

Test(changes, target_is_the_most_recent_stable_version)
{
	struct tl_annotation a;

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 5 * H, vb, 0);
	traffic(key1, T0 + 5 * H, T0 + 5 * H + 10 * MIN, vc, 0);
	fire_latency(key1, T0 + 5 * H + 10 * MIN, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, vb));
	cr_assert(eq(str, a.reason,
		     "latency regression began 5 min after model_version 2024-08-06 -> "
		     "2024-11-20; 2024-08-06 ran 2h without incident"));
	cr_assert(eq(u32, a.n_recent, 1)); /* A -> B is more than recent_ns ago */
}

Test(changes, a_version_with_an_incident_is_not_stable)
{
	struct tl_annotation a;
	struct tl_trigger f, r;

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 30 * MIN, vb, 0);
	/* errors fire on B from +25 min to +60 min: no quiet hour on B */
	f = trig(TL_TRIGGER_FIRE, TL_RULE_ERRORS, key1, T0 + 3 * H + 30 * MIN,
		 T0 + 3 * H + 25 * MIN, 2);
	tl_changes_trigger(chg, &f);
	traffic(key1, T0 + 3 * H + 30 * MIN, T0 + 4 * H + 20 * MIN, vb, 0);
	r = f;
	r.type = TL_TRIGGER_RESOLVED;
	r.at = T0 + 4 * H + 5 * MIN;
	r.resolved_at = T0 + 4 * H;
	tl_changes_trigger(chg, &r);
	traffic(key1, T0 + 4 * H + 20 * MIN, T0 + 4 * H + 40 * MIN, vc, 0);
	fire_latency(key1, T0 + 4 * H + 40 * MIN, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, va));
	cr_assert(eq(str, a.reason,
		     "latency regression began 15 min after model_version 2024-08-06 -> "
		     "2024-11-20; 2024-05-13 ran 3h without incident"));
}

Test(changes, an_incident_resolved_after_fired_at_still_covers_it)
{
	struct tl_annotation a;
	struct tl_trigger f;

	/* B: 70 min, an incident from +10 min still firing when C's trigger fires */
	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 15 * MIN, vb, 0);
	f = trig(TL_TRIGGER_FIRE, TL_RULE_GUARDRAIL, key1, T0 + 3 * H + 15 * MIN,
		 T0 + 3 * H + 10 * MIN, 2);
	tl_changes_trigger(chg, &f);
	traffic(key1, T0 + 3 * H + 15 * MIN, T0 + 4 * H + 10 * MIN, vb, 0);
	traffic(key1, T0 + 4 * H + 10 * MIN, T0 + 4 * H + 30 * MIN, vc, 0);
	fire_latency(key1, T0 + 4 * H + 30 * MIN, &a);
	cr_assert(eq(u32, a.target_model_version, va));
}

Test(changes, interleaved_records_around_a_change_make_one_change)
{
	/* B's records per minute, of 12: A, B, A, B, B, B lead */
	static const int b_of_12[] = { 4, 7, 5, 11, 12, 12 };
	const int64_t m0 = T0 + 3 * H - 2 * MIN;
	struct tl_annotation a;

	traffic(key1, T0, m0, va, 0);
	/* each pair of minutes arrives newest first */
	for (int p = 0; p < 6; p += 2)
		for (int j = p + 1; j >= p; j--)
			for (int i = 0; i < 12; i++)
				req(key1, m0 + j * MIN + i * 5 * TL_NS_PER_S,
				    i < b_of_12[j] ? vb : va, 0);
	traffic(key1, m0 + 6 * MIN, m0 + 25 * MIN, vb, 0);
	fire_latency(key1, m0 + 25 * MIN, &a);
	cr_assert(eq(u32, a.n_recent, 1));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_MODEL_VERSION));
	cr_assert(eq(i64, a.recent[0].time_ns, m0 + 3 * MIN));
	cr_assert(eq(u32, a.recent[0].from, va));
	cr_assert(eq(u32, a.recent[0].to, vb));
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, va));
	cr_assert(eq(str, a.reason,
		     "latency regression began 17 min after model_version 2024-05-13 -> "
		     "2024-08-06; 2024-05-13 ran 3h1m without incident"));
	cr_assert(eq(u64, tl_changes_get_counts(chg)->version_changes, 1));
}

Test(changes, a_single_minute_of_another_version_is_no_change)
{
	struct tl_annotation a;

	traffic(key1, T0, T0 + 2 * H, va, 0);
	traffic(key1, T0 + 2 * H, T0 + 2 * H + MIN, vb, 0);
	traffic(key1, T0 + 2 * H + MIN, T0 + 3 * H, va, 0);
	fire_latency(key1, T0 + 3 * H, &a);
	cr_assert(eq(u32, a.n_recent, 0));
	cr_assert(eq(u8, a.action, TL_ACTION_INVESTIGATE));
	cr_assert(eq(str, a.reason, "engine says so"));
}

Test(changes, a_change_outside_the_change_window_is_not_rolled_back)
{
	struct tl_annotation a;

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 4 * H + 5 * MIN, vb, 0);
	fire_latency(key1, T0 + 4 * H + 5 * MIN, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_INVESTIGATE));
	cr_assert(eq(u32, a.target_model_version, 0));
	cr_assert(eq(u32, a.n_recent, 0));
}

Test(changes, failover_stays_for_sev1_with_a_fallback)
{
	struct tl_annotation a;
	struct tl_trigger t;

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 20 * MIN, vb, 0);
	t = trig(TL_TRIGGER_FIRE, TL_RULE_LATENCY, key1, T0 + 3 * H + 20 * MIN,
		 T0 + 3 * H + 15 * MIN, 1);
	t.fallback = "support-gpt4o-mini";
	t.action = TL_ACTION_FAILOVER;
	tl_changes_trigger(chg, &t);
	tl_changes_annotate(chg, &t, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_FAILOVER));
	cr_assert(eq(u32, a.n_recent, 1));
	cr_assert(eq(str, strstr(json(&a), ",\"action\""),
		     ",\"action\":{\"kind\":\"failover\",\"target\":{\"deployment\":"
		     "\"support-gpt4o-mini\"},\"reason\":\"engine says so\"}"));
	/* the same at Sev2 rolls back */
	t.severity = 2;
	t.action = TL_ACTION_INVESTIGATE;
	tl_changes_annotate(chg, &t, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
}

Test(changes, cost_and_throttling_never_roll_back)
{
	struct tl_annotation a;
	struct tl_trigger t;

	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 20 * MIN, vb, 0);
	for (uint8_t rule = TL_RULE_THROTTLING; rule <= TL_RULE_COST; rule++) {
		t = trig(TL_TRIGGER_FIRE, rule, key1, T0 + 3 * H + 20 * MIN, T0 + 3 * H, 2);
		tl_changes_trigger(chg, &t);
		tl_changes_annotate(chg, &t, &a);
		cr_assert(eq(u8, a.action, TL_ACTION_THROTTLE));
		cr_assert(eq(u32, a.n_recent, 1)); /* the change is still listed */
	}
	/* and their incidents do not make a version unstable */
	fire_latency(key1, T0 + 3 * H + 20 * MIN, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
}

Test(changes, account_changes_reach_every_deployment_of_the_resource)
{
	struct tl_annotation a;
	uint32_t pol = sym("strict-filter");
	const int64_t at = T0 + 2 * H;

	traffic(key1, T0, at, va, 0);
	traffic(key2, T0, at, va, 0);
	change(key_acct, at - 20 * MIN, TL_CHANGE_RAI_POLICY_WRITE, TL_PHASE_START, pol);
	change(key_acct, at - 19 * MIN, TL_CHANGE_RAI_POLICY_WRITE, TL_PHASE_SUCCESS, pol);
	change(key1, at - 10 * MIN, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_FAILURE, 0);
	change(key1, at - 5 * MIN, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_SUCCESS, 0);

	fire_latency(key2, at, &a);
	cr_assert(eq(u32, a.n_recent, 1));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_RAI_POLICY_WRITE));
	cr_assert(a.recent[0].account);
	cr_assert(eq(str, json(&a),
		     ",\"recent_changes\":[{\"time\":\"2026-03-09T08:41:00.000Z\","
		     "\"kind\":\"rai_policy_write\",\"operation\":"
		     "\"Microsoft.CognitiveServices/accounts/raiPolicies/write\","
		     "\"status\":\"Succeeded\",\"scope\":\"account\",\"rai_policy\":"
		     "\"strict-filter\"}],\"action\":{\"kind\":\"investigate\",\"reason\":"
		     "\"engine says so\"}"));

	fire_latency(key1, at, &a);
	cr_assert(eq(u32, a.n_recent, 2));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_RAI_POLICY_WRITE));
	cr_assert(eq(u8, a.recent[1].kind, TL_CHK_DEPLOYMENT_WRITE));
	cr_assert_not(a.recent[1].account);
	/* a deployment write with no version to go back to does not roll back */
	cr_assert(eq(u8, a.action, TL_ACTION_INVESTIGATE));
}

Test(changes, a_deployment_write_counts_as_a_change_to_roll_back)
{
	struct tl_annotation a;

	/* B came in 2 h ago (out of the change window), then a deployment write */
	traffic(key1, T0, T0 + 3 * H, va, 0);
	traffic(key1, T0 + 3 * H, T0 + 3 * H + 30 * MIN, vb, 0);
	struct tl_trigger f = trig(TL_TRIGGER_FIRE, TL_RULE_ERRORS, key1, T0 + 3 * H + 10 * MIN,
				   T0 + 3 * H + 5 * MIN, 2);

	tl_changes_trigger(chg, &f);
	traffic(key1, T0 + 3 * H + 30 * MIN, T0 + 5 * H, vb, 0);
	change(key1, T0 + 5 * H - 10 * MIN, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_SUCCESS, 0);
	fire_latency(key1, T0 + 5 * H, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, va));
	cr_assert(eq(str, a.reason,
		     "latency regression began 5 min after a deployment write; 2024-05-13 ran "
		     "3h without incident"));
}

Test(changes, recent_changes_window_bounds)
{
	struct tl_annotation a;
	const int64_t at = T0 + 2 * H;

	traffic(key1, T0, at, va, 0);
	change(key1, at - 61 * MIN, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_SUCCESS, 0);
	change(key1, at - 60 * MIN, TL_CHANGE_DEPLOYMENT_DELETE, TL_PHASE_SUCCESS, 0);
	change(key1, at, TL_CHANGE_ACCOUNT_WRITE, TL_PHASE_SUCCESS, 0);
	change(key1, at + 1, TL_CHANGE_RAI_POLICY_WRITE, TL_PHASE_SUCCESS, 0);
	fire_latency(key1, at, &a);
	cr_assert(eq(u32, a.n_recent, 2));
	cr_assert(eq(i64, a.recent[0].time_ns, at - 60 * MIN));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_DEPLOYMENT_DELETE));
	cr_assert(eq(i64, a.recent[1].time_ns, at));
	cr_assert(eq(u8, a.recent[1].kind, TL_CHK_ACCOUNT_WRITE));
}

Test(changes, prompt_version_changes_roll_back_to_a_prompt)
{
	struct tl_annotation a;

	traffic(key1, T0, T0 + 2 * H, vc, p1);
	traffic(key1, T0 + 2 * H, T0 + 2 * H + 30 * MIN, vc, p2);
	struct tl_trigger t = trig(TL_TRIGGER_FIRE, TL_RULE_REFUSAL, key1, T0 + 2 * H + 30 * MIN,
				   T0 + 2 * H + 25 * MIN, 2);

	tl_changes_trigger(chg, &t);
	tl_changes_annotate(chg, &t, &a);
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, vc));
	cr_assert(eq(u32, a.target_prompt_version, p1));
	cr_assert(eq(str, a.reason,
		     "refusal spike began 25 min after prompt_version v11 -> v12; v11 ran 2h "
		     "without incident"));
	cr_assert(eq(u32, a.n_recent, 1));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_PROMPT_VERSION));
	cr_assert(strstr(json(&a), "\"target\":{\"model_version\":\"2024-11-20\","
				   "\"prompt_version\":\"v11\"}") != NULL);
}

Test(changes, records_without_a_prompt_version_do_not_split_the_timeline)
{
	struct tl_annotation a;

	/* RequestResponse records carry no prompt version, native events do */
	for (int64_t t = T0; t < T0 + 3 * H; t += 10 * TL_NS_PER_S)
		req(key1, t, va, t % (30 * TL_NS_PER_S) ? 0 : p1);
	for (int64_t t = T0 + 3 * H; t < T0 + 3 * H + 20 * MIN; t += 10 * TL_NS_PER_S)
		req(key1, t, vb, t % (30 * TL_NS_PER_S) ? 0 : p1);
	fire_latency(key1, T0 + 3 * H + 20 * MIN, &a);
	cr_assert(eq(u32, a.n_recent, 1));
	cr_assert(eq(u8, a.action, TL_ACTION_ROLLBACK));
	cr_assert(eq(u32, a.target_model_version, va));
	cr_assert(eq(u32, a.target_prompt_version, p1));
}

Test(changes, memory_is_bounded_per_series_and_idle_series_are_freed)
{
	struct tl_annotation a;
	size_t mem;

	traffic(key1, T0, T0 + 10 * MIN, va, 0);
	for (int i = 0; i < 64; i++)
		change(key1, T0 + 10 * MIN + i * TL_NS_PER_S, TL_CHANGE_DEPLOYMENT_WRITE,
		       TL_PHASE_SUCCESS, 0);
	mem = tl_changes_memory(chg);
	for (int i = 64; i < 200; i++)
		change(key1, T0 + 10 * MIN + i * TL_NS_PER_S, TL_CHANGE_DEPLOYMENT_WRITE,
		       TL_PHASE_SUCCESS, 0);
	cr_assert(eq(sz, tl_changes_memory(chg), mem));
	cr_assert(eq(u64, tl_changes_get_counts(chg)->changes, 200));
	cr_assert(eq(u64, tl_changes_get_counts(chg)->dropped, 136));
	/* an older one than all kept is dropped too */
	change(key1, T0, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_SUCCESS, 0);
	cr_assert(eq(u64, tl_changes_get_counts(chg)->dropped, 137));
	fire_latency(key1, T0 + 20 * MIN, &a);
	cr_assert(eq(u32, a.n_recent, TL_CHANGES_MAX_RECENT));
	cr_assert(eq(u32, a.n_recent_omitted, 64 - TL_CHANGES_MAX_RECENT));
	cr_assert(eq(i64, a.recent[TL_CHANGES_MAX_RECENT - 1].time_ns,
		     T0 + 10 * MIN + 199 * TL_NS_PER_S));

	/* flapping versions: segments are capped too */
	for (int i = 0; i < 300; i++)
		traffic(key2, T0 + i * 5 * MIN, T0 + (i + 1) * 5 * MIN, i % 2 ? va : vb, 0);
	cr_assert(eq(u64, tl_changes_get_counts(chg)->version_changes,
		     298)); /* the last is in open minutes */
	cr_assert(lt(sz, tl_changes_memory(chg), 64 * 1024));

	/* a day and more later, only the series still active remain */
	cr_assert(eq(sz, tl_changes_series_count(chg), 2));
	traffic(key2, T0 + 48 * H, T0 + 48 * H + 30 * MIN, va, 0);
	cr_assert(eq(sz, tl_changes_series_count(chg), 1));
	cr_assert(eq(u64, tl_changes_get_counts(chg)->series_freed, 1));
}

Test(changes, late_records_past_the_open_minutes_are_counted_not_used)
{
	traffic(key1, T0, T0 + 30 * MIN, va, 0);
	req(key1, T0 + 10 * MIN, vb, 0);
	cr_assert(eq(u64, tl_changes_get_counts(chg)->late, 1));
}

Test(changes, bad_options_are_refused)
{
	struct tl_changes_opts o = { .horizon_ns = -1 };

	cr_assert_null(tl_changes_new(&o, syms));
	o = (struct tl_changes_opts){ .lateness_ns = 2 * H };
	cr_assert_null(tl_changes_new(&o, syms));
	tl_changes_free(NULL);
}

Test(changes, a_change_delivered_twice_is_listed_once)
{
	struct tl_annotation a;

	/* Event Hubs delivers at least once: the same Activity Log record arrives again,
	 * before the engine (further on) drops the repeat; a different change at the same
	 * time is still its own */
	traffic(key1, T0, T0 + 2 * H, va, 0);
	change(key1, T0 + 2 * H - 10 * MIN, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_SUCCESS, 0);
	change(key1, T0 + 2 * H - 10 * MIN, TL_CHANGE_DEPLOYMENT_WRITE, TL_PHASE_SUCCESS, 0);
	change(key1, T0 + 2 * H - 10 * MIN, TL_CHANGE_RAI_POLICY_WRITE, TL_PHASE_SUCCESS, 0);
	fire_latency(key1, T0 + 2 * H, &a);
	cr_assert(eq(u32, a.n_recent, 2));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_DEPLOYMENT_WRITE));
	cr_assert(eq(u8, a.recent[1].kind, TL_CHK_RAI_POLICY_WRITE));
	cr_assert(eq(u64, tl_changes_get_counts(chg)->repeated, 1));
}
