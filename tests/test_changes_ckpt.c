/*
 * tests/test_changes_ckpt.c - tl_changes_save() / tl_changes_load(): a tracker fed up to a
 * checkpoint, saved and loaded into a fresh one in another "process" (its own symbol table,
 * so other symbols), then fed the rest, annotates every later trigger as the uninterrupted
 * tracker does; and bad blobs are refused without harm.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/buf.h>
#include <tripline/changes.h>
#include <tripline/decode.h>
#include <tripline/error.h>
#include <tripline/hash.h>
#include <tripline/symtab.h>
#include <tripline/time.h>
#include <tripline/trigger.h>

#define T0      (INT64_C(1773039600) * TL_NS_PER_S) /* 2026-03-09T07:00:00Z */
#define S       TL_NS_PER_S
#define MIN     TL_NS_PER_MIN
#define H       TL_NS_PER_HOUR
#define END     (T0 + 5 * H)
#define TICK    (10 * S)

#define RES     "AOAI-FABRIKAM-WEU"
#define SUPPORT "support-gpt4o"
#define BATCH   "batch-gpt4o"
#define VA      "2024-05-13"
#define VB      "2024-08-06"
#define VC      "2024-11-20"

/* One process: its own symbol table and tracker, and the annotations it wrote. */
struct proc {
	struct tl_symtab *syms;
	struct tl_changes *c;
	int64_t note_at[16];
	char *note[16];
	size_t n_notes;
};

static uint32_t sym(struct proc *p, const char *s)
{
	uint32_t v = 0;

	if (!s)
		return 0;
	cr_assert(eq(int, tl_symtab_intern(p->syms, s, strlen(s), &v), 0));
	return v;
}

static uint64_t key(const char *dep)
{
	return tl_series_key(tl_fold_hash(RES, strlen(RES)), tl_fold_hash(dep, strlen(dep)));
}

/* @skew names interned first give this process other symbols than the one before. */
static void proc_init(struct proc *p, const struct tl_changes_opts *o, int skew)
{
	*p = (struct proc){ .syms = tl_symtab_new(1000) };
	cr_assert(p->syms != NULL);
	for (int i = 0; i < skew; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "another-name-%d", i);
		(void)sym(p, name);
	}
	p->c = tl_changes_new(o, p->syms);
	cr_assert(p->c != NULL);
}

static void proc_fini(struct proc *p)
{
	for (size_t i = 0; i < p->n_notes; i++)
		free(p->note[i]);
	tl_changes_free(p->c);
	tl_symtab_free(p->syms);
}

/*
 * The story, as the reader thread sees it (arrival order):
 *   support: VA from T0; rolls out VB over three minutes from 3h (records of 75 s before
 *     arrive late until 3h10, so VB leads from 3h02); a deployment write at 3h05, delivered
 *     again at 3h25; latency fires at 3h20 (update 3h50, resolved 4h10); VC from 4h30,
 *     latency fires at 4h45.
 *   batch: VA with prompt v11, then v12 from 3h30; errors 1h .. 1h30; refusal fires at 3h55.
 *   the account: a RAI policy write (Start, then Success) at 2h50, an account write at 4h20.
 */
struct change_step {
	int64_t arrive, time;
	const char *dep;
	uint8_t op, phase;
	const char *detail;
};

static const struct change_step changes[] = {
	{ T0 + 2 * H + 50 * MIN, T0 + 2 * H + 50 * MIN, TL_ACCOUNT_DEPLOYMENT,
	  TL_CHANGE_RAI_POLICY_WRITE, TL_PHASE_START, "strict-filter" },
	{ T0 + 2 * H + 51 * MIN, T0 + 2 * H + 51 * MIN, TL_ACCOUNT_DEPLOYMENT,
	  TL_CHANGE_RAI_POLICY_WRITE, TL_PHASE_SUCCESS, "strict-filter" },
	{ T0 + 3 * H + 5 * MIN, T0 + 3 * H + 5 * MIN, SUPPORT, TL_CHANGE_DEPLOYMENT_WRITE,
	  TL_PHASE_SUCCESS, NULL },
	{ T0 + 3 * H + 25 * MIN, T0 + 3 * H + 5 * MIN, SUPPORT, TL_CHANGE_DEPLOYMENT_WRITE,
	  TL_PHASE_SUCCESS, NULL },
	{ T0 + 4 * H + 20 * MIN, T0 + 4 * H + 20 * MIN, TL_ACCOUNT_DEPLOYMENT,
	  TL_CHANGE_ACCOUNT_WRITE, TL_PHASE_SUCCESS, NULL },
};

struct trigger_step {
	int64_t arrive;
	uint8_t type, rule;
	const char *dep;
	int64_t fired_at, window_start, resolved_at;
};

static const struct trigger_step triggers[] = {
	{ T0 + 1 * H, TL_TRIGGER_FIRE, TL_RULE_ERRORS, BATCH, T0 + 1 * H, T0 + 55 * MIN, 0 },
	{ T0 + 1 * H + 35 * MIN, TL_TRIGGER_RESOLVED, TL_RULE_ERRORS, BATCH, T0 + 1 * H,
	  T0 + 1 * H + 34 * MIN, T0 + 1 * H + 30 * MIN },
	{ T0 + 3 * H + 20 * MIN, TL_TRIGGER_FIRE, TL_RULE_LATENCY, SUPPORT, T0 + 3 * H + 20 * MIN,
	  T0 + 3 * H + 15 * MIN, 0 },
	{ T0 + 3 * H + 50 * MIN, TL_TRIGGER_UPDATE, TL_RULE_LATENCY, SUPPORT, T0 + 3 * H + 20 * MIN,
	  T0 + 3 * H + 45 * MIN, 0 },
	{ T0 + 3 * H + 55 * MIN, TL_TRIGGER_FIRE, TL_RULE_REFUSAL, BATCH, T0 + 3 * H + 55 * MIN,
	  T0 + 3 * H + 50 * MIN, 0 },
	{ T0 + 4 * H + 10 * MIN, TL_TRIGGER_RESOLVED, TL_RULE_LATENCY, SUPPORT,
	  T0 + 3 * H + 20 * MIN, T0 + 4 * H + 9 * MIN, T0 + 4 * H + 5 * MIN },
	{ T0 + 4 * H + 45 * MIN, TL_TRIGGER_FIRE, TL_RULE_LATENCY, SUPPORT, T0 + 4 * H + 45 * MIN,
	  T0 + 4 * H + 40 * MIN, 0 },
	{ T0 + 4 * H + 46 * MIN, TL_TRIGGER_FIRE, TL_RULE_COST, SUPPORT, T0 + 4 * H + 46 * MIN,
	  T0 + 4 * H, 0 },
};

/* The versions of request @i of the tick at @t. */
static void versions(const char *dep, int64_t t, int i, const char **mv, const char **pv)
{
	*mv = VA;
	*pv = NULL;
	if (!strcmp(dep, BATCH)) {
		*pv = t < T0 + 3 * H + 30 * MIN ? "v11" : "v12";
		return;
	}
	if (t >= T0 + 4 * H + 30 * MIN)
		*mv = VC;
	else if (t >= T0 + 3 * H + 3 * MIN)
		*mv = VB;
	else if (t >= T0 + 3 * H)
		*mv = i <= (t - T0 - 3 * H) / MIN ? VB : VA; /* 1, 2, then 3 of 3 */
}

static void request(struct proc *p, const char *dep, int64_t t, int i)
{
	const char *mv, *pv;

	versions(dep, t, i, &mv, &pv);
	const struct tl_event ev = { .time_ns = t,
				     .series = key(dep),
				     .resource = sym(p, RES),
				     .deployment = sym(p, dep),
				     .model_version = sym(p, mv),
				     .prompt_version = sym(p, pv),
				     .status = 200,
				     .kind = TL_EV_REQUEST };

	tl_changes_event(p->c, &ev);
}

static void change(struct proc *p, const struct change_step *g)
{
	const struct tl_event ev = {
		.time_ns = g->time,
		.series = key(g->dep),
		.resource = sym(p, RES),
		.deployment = sym(p, g->dep),
		.kind = TL_EV_CHANGE,
		.origin = TL_ORIGIN_ACTIVITY,
		.u.change = { .op = g->op, .phase = g->phase, .detail = sym(p, g->detail) }
	};

	tl_changes_event(p->c, &ev);
}

static char *render(struct proc *p, const struct tl_annotation *a)
{
	struct tl_buf b = { 0 };

	tl_annotation_json(a, p->syms, &b);
	cr_assert(tl_buf_ok(&b));
	return b.p;
}

static void trigger(struct proc *p, const struct trigger_step *g)
{
	struct tl_trigger t = { .at = g->arrive,
				.fired_at = g->fired_at,
				.window_start = g->window_start,
				.window_end = g->arrive,
				.resolved_at = g->resolved_at,
				.incident = key(g->dep) * 7 + g->rule + (uint64_t)g->fired_at,
				.series = key(g->dep),
				.resource = sym(p, RES),
				.deployment = sym(p, g->dep),
				.type = g->type,
				.rule = g->rule,
				.severity = 2,
				.action = g->rule == TL_RULE_COST ? TL_ACTION_THROTTLE
								  : TL_ACTION_INVESTIGATE,
				.fallback = "" };
	struct tl_annotation a;

	(void)snprintf(t.reason, sizeof(t.reason), "engine says so");
	tl_changes_trigger(p->c, &t);
	tl_changes_annotate(p->c, &t, &a);
	cr_assert(p->n_notes < 16);
	p->note_at[p->n_notes] = g->arrive;
	p->note[p->n_notes++] = render(p, &a);
}

/* Everything that arrives in [@from, @to), in arrival order. */
static void play(struct proc *p, int64_t from, int64_t to)
{
	for (int64_t t = T0; t < END && t < to; t += TICK) {
		if (t < from)
			continue;
		for (int i = 0; i < 3; i++) {
			request(p, SUPPORT, t + i * S, i);
			request(p, BATCH, t + i * S, i);
		}
		if (t >= T0 + 3 * H && t < T0 + 3 * H + 10 * MIN)
			request(p, SUPPORT, t - 75 * S, 2);
		for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
			if (changes[i].arrive == t)
				change(p, &changes[i]);
		for (size_t i = 0; i < sizeof(triggers) / sizeof(triggers[0]); i++)
			if (triggers[i].arrive == t)
				trigger(p, &triggers[i]);
	}
}

static void save(const struct proc *p, struct tl_buf *b)
{
	tl_buf_reset(b);
	cr_assert(eq(int, tl_changes_save(p->c, b), 0));
	cr_assert(tl_buf_ok(b));
}

/* A new process (other symbols, options @o) restored from @blob. */
static void restart(struct proc *p, const struct tl_changes_opts *o, const struct tl_buf *blob)
{
	char err[200] = "";

	proc_init(p, o, 37);
	cr_assert(eq(int, tl_changes_load(p->c, p->syms, blob->p, blob->n, err, sizeof(err)), 0),
		  "%s", err);
}

/* Fed until @at, saved, restored in a new process, fed the rest. */
static void interrupted(struct proc *p, int64_t at, struct tl_buf *blob)
{
	struct proc before;

	proc_init(&before, NULL, 0);
	play(&before, T0, at);
	save(&before, blob);
	proc_fini(&before);
	restart(p, NULL, blob);
	play(p, at, END);
}

/* The uninterrupted run, shared by the tests. */
static struct proc ref;

static void setup(void)
{
	proc_init(&ref, NULL, 0);
	play(&ref, T0, END);
	cr_assert(eq(sz, ref.n_notes, sizeof(triggers) / sizeof(triggers[0])));
}

static void teardown(void)
{
	proc_fini(&ref);
}

TestSuite(changes_ckpt, .init = setup, .fini = teardown, .timeout = 60);

/* The annotation the uninterrupted run wrote for the trigger step arriving at @at. */
static const char *ref_note(int64_t at)
{
	for (size_t i = 0; i < ref.n_notes; i++)
		if (ref.note_at[i] == at)
			return ref.note[i];
	cr_assert(false, "no annotation at %lld", (long long)at);
	return NULL;
}

Test(changes_ckpt, the_uninterrupted_story_is_what_a_responder_expects)
{
	const char *a = ref_note(T0 + 3 * H + 20 * MIN);

	/* rolled back to VA, and every change of the hour listed once, oldest first */
	cr_assert(eq(str, (char *)a,
		     ",\"recent_changes\":[{\"time\":\"2026-03-09T09:51:00.000Z\",\"kind\":"
		     "\"rai_policy_write\",\"operation\":"
		     "\"Microsoft.CognitiveServices/accounts/raiPolicies/write\",\"status\":"
		     "\"Succeeded\",\"scope\":\"account\",\"rai_policy\":\"strict-filter\"},"
		     "{\"time\":\"2026-03-09T10:02:00.000Z\",\"kind\":\"model_version\",\"from\":"
		     "\"2024-05-13\",\"to\":\"2024-08-06\"},{\"time\":\"2026-03-09T10:05:00.000Z\","
		     "\"kind\":\"deployment_write\",\"operation\":"
		     "\"Microsoft.CognitiveServices/accounts/deployments/write\",\"status\":"
		     "\"Succeeded\"}],\"action\":{\"kind\":\"rollback\",\"target\":{"
		     "\"model_version\":\"2024-05-13\"},\"reason\":\"latency regression began 13 "
		     "min after model_version 2024-05-13 -> 2024-08-06; 2024-05-13 ran 3h2m "
		     "without incident\"}"));
	/* the update and the resolution say the same */
	cr_assert(eq(str, (char *)ref_note(T0 + 3 * H + 50 * MIN), (char *)a));
	cr_assert(eq(str, (char *)ref_note(T0 + 4 * H + 10 * MIN), (char *)a));
	/* batch: its prompt goes back to v11, stable since its errors resolved */
	cr_assert(strstr(ref_note(T0 + 3 * H + 55 * MIN),
			 "\"target\":{\"model_version\":\"2024-05-13\",\"prompt_version\":\"v11\"},"
			 "\"reason\":\"refusal spike began 20 min after prompt_version v11 -> v12; "
			 "v11 ran 2h without incident\"") != NULL);
	/* VB had an incident: the target is still VA, learned hours before */
	cr_assert(strstr(ref_note(T0 + 4 * H + 45 * MIN),
			 "\"target\":{\"model_version\":\"2024-05-13\"},\"reason\":\"latency "
			 "regression began 10 min after model_version 2024-08-06 -> 2024-11-20; "
			 "2024-05-13 ran 3h2m without incident\"") != NULL);
	cr_assert(eq(u64, tl_changes_get_counts(ref.c)->repeated, 1));
}

Test(changes_ckpt, a_restored_tracker_annotates_as_the_uninterrupted_one)
{
	/* before the changes; the rollout's minutes still open; the first delivery of the
	 * write in, not the second; just after a trigger; batch's new prompt not confirmed;
	 * VC not yet confirmed; after everything */
	static const int64_t at[] = {
		T0 + 10 * S,
		T0 + 1 * H + 10 * MIN,
		T0 + 2 * H + 55 * MIN,
		T0 + 3 * H + 90 * S,
		T0 + 3 * H + 2 * MIN + 30 * S,
		T0 + 3 * H + 10 * MIN,
		T0 + 3 * H + 15 * MIN,
		T0 + 3 * H + 20 * MIN + 10 * S,
		T0 + 3 * H + 31 * MIN,
		T0 + 4 * H + 31 * MIN,
		END,
	};
	struct tl_buf blob = { 0 }, mine = { 0 }, theirs = { 0 };

	save(&ref, &theirs);
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		struct proc p;
		size_t j = 0;

		interrupted(&p, at[k], &blob);
		for (size_t i = 0; i < ref.n_notes; i++) {
			if (ref.note_at[i] < at[k])
				continue;
			cr_assert(lt(sz, j, p.n_notes));
			cr_assert(eq(i64, p.note_at[j], ref.note_at[i]));
			cr_assert(eq(str, p.note[j], ref.note[i]),
				  "checkpoint %zu, trigger at %lld", k,
				  (long long)((ref.note_at[i] - T0) / MIN));
			j++;
		}
		cr_assert(eq(sz, j, p.n_notes));
		/* the whole state, counters included, ends the same */
		save(&p, &mine);
		cr_assert(eq(sz, mine.n, theirs.n), "checkpoint %zu", k);
		cr_assert(memcmp(mine.p, theirs.p, mine.n) == 0, "checkpoint %zu", k);
		proc_fini(&p);
	}
	tl_buf_fini(&blob);
	tl_buf_fini(&mine);
	tl_buf_fini(&theirs);
}

Test(changes_ckpt, what_was_learned_before_the_checkpoint_is_kept)
{
	struct tl_buf blob = { 0 };
	struct proc p;

	/* after VB is confirmed and the write came in, before anything fired on support */
	interrupted(&p, T0 + 3 * H + 12 * MIN, &blob);
	cr_assert(eq(sz, p.n_notes, 6));
	/* recent_changes lists the policy write, VB and the deployment write, all from before */
	cr_assert(strstr(p.note[0], "\"rai_policy\":\"strict-filter\"") != NULL);
	cr_assert(strstr(p.note[0], "\"from\":\"2024-05-13\",\"to\":\"2024-08-06\"") != NULL);
	cr_assert(strstr(p.note[0], "\"kind\":\"deployment_write\"") != NULL);
	/* VA's quiet three hours, all before the checkpoint, make it the target */
	cr_assert(strstr(p.note[0], "\"action\":{\"kind\":\"rollback\",\"target\":{"
				    "\"model_version\":\"2024-05-13\"}") != NULL);
	/* batch's errors incident, an hour before the checkpoint, still bounds v11's quiet run */
	cr_assert(strstr(p.note[2], "v11 ran 2h without incident") != NULL);
	cr_assert(eq(u64, tl_changes_get_counts(p.c)->version_changes,
		     tl_changes_get_counts(ref.c)->version_changes));
	proc_fini(&p);
	tl_buf_fini(&blob);
}

Test(changes_ckpt, a_change_delivered_again_after_the_checkpoint_is_listed_once)
{
	struct tl_buf blob = { 0 };
	struct proc p;
	const char *first, *second;

	/* the write arrived at 3h05, again at 3h25; the checkpoint lies between */
	interrupted(&p, T0 + 3 * H + 15 * MIN, &blob);
	cr_assert(eq(u64, tl_changes_get_counts(p.c)->repeated, 1));
	cr_assert(
	    eq(u64, tl_changes_get_counts(p.c)->changes, tl_changes_get_counts(ref.c)->changes));
	/* the update at 3h50 comes after the redelivery */
	first = strstr(p.note[1], "\"kind\":\"deployment_write\"");
	cr_assert(first != NULL);
	second = strstr(first + 1, "\"kind\":\"deployment_write\"");
	cr_assert(second == NULL);
	proc_fini(&p);
	tl_buf_fini(&blob);
}

Test(changes_ckpt, new_options_apply_from_the_load_on)
{
	/* a shorter lateness and far fewer entries per series than the saved tracker had */
	const struct tl_changes_opts wide = { .lateness_ns = 10 * MIN };
	const struct tl_changes_opts narrow = { .lateness_ns = MIN, .max_per_series = 2 };
	struct tl_buf blob = { 0 }, again = { 0 };
	struct proc before, p, q;

	proc_init(&before, &wide, 0);
	play(&before, T0, T0 + 3 * H + 8 * MIN); /* VB's minutes still open at 10 min lateness */
	save(&before, &blob);
	restart(&p, &narrow, &blob);
	/* the minutes the shorter lateness no longer holds open were decided at the load */
	cr_assert(eq(u64, tl_changes_get_counts(p.c)->version_changes, 1));
	cr_assert(eq(u64, tl_changes_get_counts(before.c)->version_changes, 0));
	cr_assert(eq(sz, tl_changes_series_count(p.c), tl_changes_series_count(before.c)));
	play(&p, T0 + 3 * H + 8 * MIN, END);
	cr_assert(strstr(p.note[0], "\"action\":{\"kind\":\"rollback\",\"target\":{"
				    "\"model_version\":\"2024-05-13\"}") != NULL);
	/* and what it holds now is saved and loaded again as it is */
	save(&p, &blob);
	restart(&q, &narrow, &blob);
	save(&q, &again);
	cr_assert(eq(sz, again.n, blob.n));
	cr_assert(memcmp(again.p, blob.p, blob.n) == 0);
	proc_fini(&q);
	proc_fini(&p);
	proc_fini(&before);
	tl_buf_fini(&blob);
	tl_buf_fini(&again);
}

Test(changes_ckpt, a_longer_lateness_does_not_reopen_decided_minutes)
{
	const struct tl_changes_opts longer = { .lateness_ns = 10 * MIN };
	struct tl_buf blob = { 0 };
	struct proc before, p;
	uint64_t late;

	proc_init(&before, NULL, 0);
	play(&before, T0, T0 + 2 * H);
	save(&before, &blob);
	late = tl_changes_get_counts(before.c)->late;
	restart(&p, &longer, &blob);
	/* minute 1h51 was decided with VA before the checkpoint: records of VB for it are late
	 * now as they were then, and change nothing */
	for (int i = 0; i < 50; i++) {
		const struct tl_event ev = { .time_ns = T0 + H + 51 * MIN + i * S,
					     .series = key(SUPPORT),
					     .resource = sym(&p, RES),
					     .deployment = sym(&p, SUPPORT),
					     .model_version = sym(&p, VB),
					     .kind = TL_EV_REQUEST };

		tl_changes_event(p.c, &ev);
	}
	cr_assert(eq(u64, tl_changes_get_counts(p.c)->late, late + 50));
	play(&p, T0 + 2 * H, END);
	cr_assert(eq(sz, p.n_notes, 6));
	for (size_t i = 0; i < p.n_notes; i++)
		cr_assert(eq(str, p.note[i], (char *)ref_note(p.note_at[i])));
	proc_fini(&p);
	proc_fini(&before);
	tl_buf_fini(&blob);
}

Test(changes_ckpt, a_smaller_max_per_series_keeps_the_newest_entries)
{
	const struct tl_changes_opts two = { .max_per_series = 2 };
	struct tl_buf blob = { 0 };
	struct proc before, p;

	proc_init(&before, NULL, 0);
	play(&before, T0, T0 + H);
	for (int i = 0; i < 5; i++) {
		const struct change_step g = { .time = T0 + H - (5 - i) * MIN,
					       .dep = SUPPORT,
					       .op = TL_CHANGE_DEPLOYMENT_DELETE + (i == 4),
					       .phase = TL_PHASE_SUCCESS };

		change(&before, &g);
	}
	save(&before, &blob);
	restart(&p, &two, &blob);
	cr_assert(eq(u64, tl_changes_get_counts(p.c)->dropped, 3));
	play(&p, T0 + H, T0 + 3 * H + 21 * MIN);
	/* the two newest of the five, and the changes after the load as before */
	cr_assert(strstr(ref_note(T0 + 3 * H + 20 * MIN), "deployment_delete") == NULL);
	proc_fini(&p);
	proc_init(&p, &two, 0);
	cr_assert(eq(int, tl_changes_load(p.c, p.syms, blob.p, blob.n, NULL, 0), 0));
	const struct tl_trigger t = { .at = T0 + H,
				      .fired_at = T0 + H,
				      .incident = 1,
				      .series = key(SUPPORT),
				      .resource = sym(&p, RES),
				      .type = TL_TRIGGER_FIRE,
				      .rule = TL_RULE_LATENCY,
				      .action = TL_ACTION_INVESTIGATE,
				      .fallback = "" };
	struct tl_annotation a;

	tl_changes_annotate(p.c, &t, &a);
	cr_assert(eq(u32, a.n_recent, 2));
	cr_assert(eq(i64, a.recent[0].time_ns, T0 + H - 2 * MIN));
	cr_assert(eq(u8, a.recent[0].kind, TL_CHK_DEPLOYMENT_DELETE));
	cr_assert(eq(i64, a.recent[1].time_ns, T0 + H - MIN));
	cr_assert(eq(u8, a.recent[1].kind, TL_CHK_RAI_POLICY_WRITE));
	proc_fini(&p);
	proc_fini(&before);
	tl_buf_fini(&blob);
}

Test(changes_ckpt, an_empty_tracker_round_trips)
{
	struct tl_buf blob = { 0 }, again = { 0 };
	struct proc empty, p;

	proc_init(&empty, NULL, 0);
	save(&empty, &blob);
	restart(&p, NULL, &blob);
	save(&p, &again);
	cr_assert(eq(sz, again.n, blob.n));
	cr_assert(memcmp(again.p, blob.p, blob.n) == 0);
	cr_assert(eq(sz, tl_changes_series_count(p.c), 0));
	play(&p, T0, END);
	for (size_t i = 0; i < ref.n_notes; i++)
		cr_assert(eq(str, p.note[i], ref.note[i]));
	proc_fini(&p);
	proc_fini(&empty);
	tl_buf_fini(&blob);
	tl_buf_fini(&again);
}

Test(changes_ckpt, save_appends)
{
	struct tl_buf b = { 0 }, alone = { 0 };
	struct proc p;

	tl_buf_puts(&b, "before");
	cr_assert(eq(int, tl_changes_save(ref.c, &b), 0));
	save(&ref, &alone);
	cr_assert(eq(sz, b.n, 6 + alone.n));
	cr_assert(memcmp(b.p, "before", 6) == 0);
	cr_assert(memcmp(b.p + 6, alone.p, alone.n) == 0);
	proc_init(&p, NULL, 0);
	cr_assert(eq(int, tl_changes_load(p.c, p.syms, b.p + 6, b.n - 6, NULL, 0), 0));
	proc_fini(&p);
	tl_buf_fini(&b);
	tl_buf_fini(&alone);
}

Test(changes_ckpt, only_a_fresh_tracker_with_its_own_table_loads)
{
	struct tl_buf blob = { 0 };
	struct proc p, other;
	char err[200];

	save(&ref, &blob);
	proc_init(&p, NULL, 0);
	proc_init(&other, NULL, 0);
	cr_assert(
	    eq(int, tl_changes_load(p.c, other.syms, blob.p, blob.n, err, sizeof(err)), -EINVAL));
	play(&p, T0, T0 + MIN);
	cr_assert(eq(int, tl_changes_load(p.c, p.syms, blob.p, blob.n, err, sizeof(err)), -EINVAL));
	cr_assert(strstr(err, "fresh") != NULL);
	proc_fini(&other);
	proc_fini(&p);
	tl_buf_fini(&blob);
}

/* A load of @n bytes at @b into a fresh process fails with TL_ECORRUPT (TL_EMISMATCH for a
 * byte of the format version) and says why; the tracker still works, and loads a good blob
 * afterwards. */
static void refused(const void *b, size_t n, const struct tl_buf *good, const char *what, size_t at)
{
	const bool version = !strcmp(what, "flipped byte") && at >= 8 && at < 12;
	const int want = version ? TL_EMISMATCH : TL_ECORRUPT;
	struct proc p;
	char err[200] = "";

	proc_init(&p, NULL, 0);
	cr_assert(eq(int, tl_changes_load(p.c, p.syms, b, n, err, sizeof(err)), want), "%s %zu",
		  what, at);
	cr_assert(ne(sz, strlen(err), 0));
	cr_assert(eq(sz, tl_changes_series_count(p.c), 0));
	cr_assert(eq(u64, tl_changes_get_counts(p.c)->events, 0));
	cr_assert(eq(int, tl_changes_load(p.c, p.syms, good->p, good->n, err, sizeof(err)), 0));
	proc_fini(&p);
}

/* A smaller blob than the whole story's, to try every byte of: support's rollout under way,
 * the policy write and batch's incident in. */
static void small_blob(struct tl_buf *blob)
{
	struct proc p;

	proc_init(&p, NULL, 0);
	play(&p, T0 + 2 * H + 40 * MIN, T0 + 3 * H + 2 * MIN);
	save(&p, blob);
	proc_fini(&p);
	cr_assert(ge(sz, blob->n, 200 + 1));
}

Test(changes_ckpt, every_truncation_is_refused)
{
	struct tl_buf blob = { 0 }, longer = { 0 };

	small_blob(&blob);
	for (size_t n = 0; n < blob.n; n++)
		refused(blob.p, n, &blob, "truncated to", n);
	tl_buf_put(&longer, blob.p, blob.n);
	tl_buf_put(&longer, "", 1);
	refused(longer.p, longer.n, &blob, "a byte added", 0);
	tl_buf_fini(&blob);
	tl_buf_fini(&longer);
}

Test(changes_ckpt, every_flipped_byte_is_refused)
{
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	struct tl_buf blob = { 0 };
	char *bad;

	small_blob(&blob);
	bad = malloc(blob.n);
	cr_assert(bad != NULL);
	for (size_t i = 0; i < blob.n; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(bad, blob.p, blob.n);
			bad[i] = (char)(bad[i] ^ flips[f]);
			refused(bad, blob.n, &blob, "flipped byte", i);
		}
	}
	free(bad);
	tl_buf_fini(&blob);
}

/*
 * Blobs whose checksum holds but whose content was changed (as by a bug, or by hand): each
 * is refused, or loads to a tracker that takes the rest of the story and saves and loads
 * again as it is. None crashes (the sanitizer build checks the reads).
 */
Test(changes_ckpt, changed_content_with_a_good_checksum_is_refused_or_consistent)
{
	static const uint8_t sets[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	struct tl_buf blob = { 0 }, b1 = { 0 }, b2 = { 0 };
	size_t n_refused = 0, n_loaded = 0;
	uint8_t *bad;

	small_blob(&blob);
	bad = malloc(blob.n);
	cr_assert(bad != NULL);
	for (size_t i = 32; i < blob.n; i++) {
		for (size_t f = 0; f < sizeof(sets); f++) {
			struct proc p, q;
			uint64_t sum;

			memcpy(bad, blob.p, blob.n);
			if (bad[i] == sets[f])
				continue;
			bad[i] = sets[f];
			sum = tl_hash64(bad + 32, blob.n - 32, TL_HASH_SEED);
			for (int k = 0; k < 8; k++)
				bad[24 + k] = (uint8_t)(sum >> (8 * k));
			proc_init(&p, NULL, 0);
			if (tl_changes_load(p.c, p.syms, bad, blob.n, NULL, 0) < 0) {
				n_refused++;
				proc_fini(&p);
				continue;
			}
			n_loaded++;
			play(&p, T0 + 3 * H + 2 * MIN, T0 + 3 * H + 25 * MIN);
			save(&p, &b1);
			restart(&q, NULL, &b1);
			save(&q, &b2);
			cr_assert(eq(sz, b1.n, b2.n));
			cr_assert(memcmp(b1.p, b2.p, b1.n) == 0);
			proc_fini(&q);
			proc_fini(&p);
		}
	}
	cr_assert(ge(sz, n_refused, 1000 + 1));
	cr_assert(ge(sz, n_loaded, 1));
	free(bad);
	tl_buf_fini(&blob);
	tl_buf_fini(&b1);
	tl_buf_fini(&b2);
}
