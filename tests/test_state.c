/*
 * tests/test_state.c - the replay state's text (tripline/state.h): what is encoded decodes to
 * the same settings, rules, prices and seed; cut or altered text is refused, never trusted.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/error.h>
#include <tripline/state.h>
#include <tripline/time.h>

static const struct tl_price prices[] = { { "gpt-4o", 2.50, 1.25, 10.00 },
					  { "gpt-4o-mini", 0.15, -1, 0.60 } };

static struct tl_series_seed *some_seed(void)
{
	struct tl_series_seed *sd = tl_series_seed_new(1440);

	cr_assert(ne(ptr, sd, NULL));
	sd->last_minute = INT64_C(1762214400) * TL_NS_PER_S + 90 * TL_NS_PER_MIN;
	for (uint32_t i = 0; i < sd->horizon; i++) {
		sd->lat[i] = (uint16_t)(i % 700);
		sd->ref[i] = (uint8_t)(i * 7);
		sd->mflag[i] = (uint8_t)(i % 5 == 0 ? TL_SEED_LAT_EXCL : 0);
	}
	for (int i = 0; i < TL_SEED_MINUTES; i++) {
		sd->at_min[i] = i % 3 ? sd->last_minute - i * TL_NS_PER_MIN : INT64_MIN;
		sd->day_at[i] = 100.0 / (i + 1);
		sd->hour_at[i] = 3.25 * i;
		sd->min_spend[i] = 0.5f * (float)i;
	}
	for (int i = 0; i < TL_SEED_HOURS; i++)
		sd->hours[i] = (float)i;
	sd->hours_n = 24;
	sd->last_hour_push = sd->last_minute - 30 * TL_NS_PER_MIN;
	sd->hour_spike = true;
	sd->hour_spike_value = 7.5f;
	sd->hour_median = 2.0f;
	return sd;
}

static void some_state(struct tl_replay_state *st)
{
	memset(st, 0, sizeof(*st));
	st->lateness_ns = 2 * TL_NS_PER_MIN;
	st->bucket_ns = 10 * TL_NS_PER_S;
	st->horizon_ns = 24 * TL_NS_PER_HOUR;
	st->min_history_ns = 30 * TL_NS_PER_MIN;
	st->hold_ns = 5 * TL_NS_PER_MIN;
	st->update_every_ns = 30 * TL_NS_PER_MIN;
	tl_rules_defaults(&st->rules);
	st->rules.latency.factor = 2.5;
	st->rules.cost.daily_budget_usd = 4000;
	strcpy(st->rules.fallback, "chat-mini");
	strcpy(st->rules.owner, "assist-oncall");
	st->prices = (struct tl_price *)prices;
	st->n_prices = 2;
	strcpy(st->resource, "AOAI-FABRIKAM-WEU");
	strcpy(st->deployment, "support-gpt4o");
	st->seed = some_seed();
	st->from = st->seed->last_minute - 20 * TL_NS_PER_MIN;
}

Test(state, what_is_encoded_decodes_the_same)
{
	struct tl_replay_state a, b;
	struct tl_buf t = { 0 };
	char err[200];

	some_state(&a);
	tl_state_encode(&a, &t);
	cr_assert(tl_buf_ok(&t));
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(i64, b.lateness_ns, a.lateness_ns));
	cr_assert(eq(i64, b.update_every_ns, a.update_every_ns));
	cr_assert(eq(dbl, b.rules.latency.factor, 2.5));
	cr_assert(eq(dbl, b.rules.cost.daily_budget_usd, 4000));
	cr_assert(eq(u32, b.rules.cost.n_warn, 3));
	cr_assert(eq(dbl, b.rules.cost.warn_at[1], 0.8));
	cr_assert(eq(str, b.rules.fallback, "chat-mini"));
	cr_assert(eq(str, b.rules.owner, "assist-oncall"));
	cr_assert(eq(sz, b.n_prices, 2));
	cr_assert(eq(str, (char *)b.prices[1].model, "gpt-4o-mini"));
	cr_assert(eq(dbl, b.prices[1].cached_input, -1));
	cr_assert(eq(str, b.resource, "AOAI-FABRIKAM-WEU"));
	cr_assert(eq(str, b.deployment, "support-gpt4o"));
	cr_assert(eq(i64, b.from, a.from));
	cr_assert(eq(u32, b.seed->horizon, 1440));
	cr_assert(eq(i64, b.seed->last_minute, a.seed->last_minute));
	cr_assert(eq(int, memcmp(b.seed->lat, a.seed->lat, 1440 * 2), 0));
	cr_assert(eq(int, memcmp(b.seed->ref, a.seed->ref, 1440), 0));
	cr_assert(eq(int, memcmp(b.seed->mflag, a.seed->mflag, 1440), 0));
	cr_assert(eq(int, memcmp(b.seed->at_min, a.seed->at_min, sizeof(a.seed->at_min)), 0));
	cr_assert(eq(int, memcmp(b.seed->day_at, a.seed->day_at, sizeof(a.seed->day_at)), 0));
	cr_assert(eq(int, memcmp(b.seed->hours, a.seed->hours, sizeof(a.seed->hours)), 0));
	cr_assert(eq(u32, b.seed->hours_n, 24));
	cr_assert(eq(i64, b.seed->last_hour_push, a.seed->last_hour_push));
	cr_assert(b.seed->hour_spike);
	cr_assert(eq(flt, b.seed->hour_median, 2.0f));
	tl_state_fini(&b);
	tl_series_seed_free(a.seed);
	tl_buf_fini(&t);
}

Test(state, the_incident_commander_and_comms_owner_make_version_2_and_decode)
{
	struct tl_replay_state a, b;
	struct tl_buf t1 = { 0 }, t2 = { 0 };
	char err[200];

	/* without them: version 1, the layout older readers take ("TLS" 1 is "VExTAQ") */
	some_state(&a);
	tl_state_encode(&a, &t1);
	cr_assert(tl_buf_ok(&t1));
	cr_assert(eq(int, strncmp(t1.p, "VExTAQ", 6), 0), "%.8s", t1.p);
	cr_assert(eq(int, tl_state_decode(t1.p, t1.n, &b, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, b.rules.owner, "assist-oncall"));
	cr_assert(eq(str, b.rules.incident_commander, ""));
	cr_assert(eq(str, b.rules.comms_owner, ""));
	tl_state_fini(&b);

	/* with either: version 2 ("TLS" 2 is "VExTAg"), and both come back */
	strcpy(a.rules.incident_commander, "assist-ic");
	strcpy(a.rules.comms_owner, "assist-comms");
	tl_state_encode(&a, &t2);
	cr_assert(tl_buf_ok(&t2));
	cr_assert(eq(int, strncmp(t2.p, "VExTAg", 6), 0), "%.8s", t2.p);
	cr_assert(eq(int, tl_state_decode(t2.p, t2.n, &b, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, b.rules.owner, "assist-oncall"));
	cr_assert(eq(str, b.rules.incident_commander, "assist-ic"));
	cr_assert(eq(str, b.rules.comms_owner, "assist-comms"));
	cr_assert(eq(str, b.deployment, "support-gpt4o"));
	cr_assert(eq(i64, b.from, a.from));
	tl_state_fini(&b);
	tl_buf_reset(&t2);
	a.rules.incident_commander[0] = 0;
	tl_state_encode(&a, &t2);
	cr_assert(eq(int, strncmp(t2.p, "VExTAg", 6), 0), "the comms owner alone: %.8s", t2.p);
	cr_assert(eq(int, tl_state_decode(t2.p, t2.n, &b, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, b.rules.incident_commander, ""));
	cr_assert(eq(str, b.rules.comms_owner, "assist-comms"));
	tl_state_fini(&b);

	/* a version this tripline does not know is refused */
	tl_buf_reset(&t2);
	strcpy(a.rules.incident_commander, "assist-ic");
	tl_state_encode(&a, &t2);
	t2.p[5] = 'w'; /* "TLS" 3 is "VExTAw" */
	cr_assert(eq(int, tl_state_decode(t2.p, t2.n, &b, err, sizeof(err)), TL_EVALUE));
	cr_assert(ne(ptr, strstr(err, "another version"), NULL), "%s", err);
	tl_series_seed_free(a.seed);
	tl_buf_fini(&t1);
	tl_buf_fini(&t2);
}

Test(state, cut_or_altered_text_is_refused)
{
	struct tl_replay_state a, b;
	struct tl_buf t = { 0 };
	char err[200];

	some_state(&a);
	tl_state_encode(&a, &t);
	/* every cut at a base64 quantum: too short */
	for (size_t n = 0; n < t.n; n += 4)
		cr_assert(eq(int, tl_state_decode(t.p, n, &b, err, sizeof(err)), TL_EVALUE),
			  "cut at %zu", n);
	/* not base64 */
	cr_assert(eq(int, tl_state_decode(t.p, t.n - 1, &b, err, sizeof(err)), TL_EVALUE));
	t.p[10] = '*';
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), TL_EVALUE));
	cr_assert(ne(ptr, strstr(err, "base64"), NULL), "%s", err);
	tl_buf_reset(&t);
	/* a setting an engine cannot run with */
	a.bucket_ns = 7 * TL_NS_PER_S;
	tl_state_encode(&a, &t);
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), TL_EVALUE));
	cr_assert(ne(ptr, strstr(err, "engine settings"), NULL), "%s", err);
	tl_buf_reset(&t);
	a.bucket_ns = 10 * TL_NS_PER_S;
	/* settings that would make the engine crawl (1 ns buckets), and times past what events
	 * carry (which would overflow the seed's minute arithmetic) */
	a.bucket_ns = 1;
	tl_state_encode(&a, &t);
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), TL_EVALUE));
	tl_buf_reset(&t);
	a.bucket_ns = 10 * TL_NS_PER_S;
	const int64_t from = a.from, last = a.seed->last_minute;

	a.from = -9000000000000000000 / TL_NS_PER_MIN * TL_NS_PER_MIN;
	tl_state_encode(&a, &t);
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), TL_EVALUE));
	cr_assert(ne(ptr, strstr(err, "out of range"), NULL), "%s", err);
	tl_buf_reset(&t);
	a.from = from;
	a.seed->last_minute = INT64_MAX / TL_NS_PER_MIN * TL_NS_PER_MIN;
	tl_state_encode(&a, &t);
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), TL_EVALUE));
	tl_buf_reset(&t);
	a.seed->last_minute = last;
	/* a seed of another horizon than the settings say */
	a.horizon_ns = 12 * TL_NS_PER_HOUR;
	tl_state_encode(&a, &t);
	cr_assert(eq(int, tl_state_decode(t.p, t.n, &b, err, sizeof(err)), TL_EVALUE));
	tl_series_seed_free(a.seed);
	tl_buf_fini(&t);
}
