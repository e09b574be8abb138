/*
 * tests/test_engine.c - the engine's record accounting: duplicates, late records, per-series
 * totals, cost, tokens counted once per request.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/engine.h>
#include <tripline/symtab.h>
#include <tripline/time.h>

#define T0 (INT64_C(1762264800) * TL_NS_PER_S) /* 2025-11-04T14:00:00Z */

static struct tl_symtab *syms;
static struct tl_engine *eng;
static uint32_t res, dep, gpt4o, v1120;

static const struct tl_price prices[] = {
	{ "gpt-4o", 2.50, 1.25, 10.00 },
	{ "gpt-4o-2024-05-13", 5.00, -1, 15.00 },
};

static void setup(void)
{
	struct tl_engine_opts o = { .prices = prices, .n_prices = 2 };

	syms = tl_symtab_new(1000);
	eng = tl_engine_new(&o, syms);
	cr_assert(eq(int, tl_symtab_intern(syms, "AOAI-X", 6, &res), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "chat", 4, &dep), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "gpt-4o", 6, &gpt4o), 0));
	cr_assert(eq(int, tl_symtab_intern(syms, "2024-11-20", 10, &v1120), 0));
}

static void teardown(void)
{
	tl_engine_free(eng);
	tl_symtab_free(syms);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 30);

static struct tl_event req(int64_t t, uint64_t fp, uint16_t status)
{
	return (struct tl_event){ .time_ns = t,
				  .series = 42,
				  .fingerprint = fp,
				  .resource = res,
				  .deployment = dep,
				  .status = status,
				  .kind = TL_EV_REQUEST };
}

Test(engine, duplicates_are_dropped_and_counted)
{
	struct tl_event a = req(T0, 7, 200), b = req(T0 + 1, 8, 500);

	tl_engine_push(eng, &a);
	tl_engine_push(eng, &b);
	tl_engine_push(eng, &a);
	cr_assert(eq(u64, tl_engine_get_counts(eng)->decoded, 2));
	cr_assert(eq(u64, tl_engine_get_counts(eng)->duplicate, 1));
	const struct tl_series_stats *s = tl_engine_series_at(eng, 0);

	cr_assert(eq(sz, tl_engine_series_count(eng), 1));
	cr_assert(eq(u64, s->requests, 2));
	cr_assert(eq(u64, s->status_2xx, 1));
	cr_assert(eq(u64, s->status_5xx, 1));
}

Test(engine, records_for_closed_buckets_are_late)
{
	struct tl_event e = req(T0 + 5 * TL_NS_PER_MIN, 0, 200);

	tl_engine_push(eng, &e);
	/* the watermark at 14:03:05 closes every bucket before 14:03:00 */
	tl_engine_advance(eng, T0 + 3 * TL_NS_PER_MIN + 5 * TL_NS_PER_S);
	e.time_ns = T0 + 3 * TL_NS_PER_MIN + 1;
	tl_engine_push(eng, &e); /* its bucket [14:03:00, 14:03:10) is still open */
	e.time_ns = T0 + 2 * TL_NS_PER_MIN + 59 * TL_NS_PER_S;
	tl_engine_push(eng, &e);    /* closed */
	tl_engine_advance(eng, T0); /* an older watermark changes nothing */
	e.time_ns = T0 + 2 * TL_NS_PER_MIN;
	tl_engine_push(eng, &e);
	cr_assert(eq(u64, tl_engine_get_counts(eng)->late, 2));
	cr_assert(eq(u64, tl_engine_get_counts(eng)->decoded, 4));
}

Test(engine, cost_from_tokens_with_cached_and_dated_prices)
{
	struct tl_event e = req(T0, 0, 200);
	uint32_t v0513;

	e.flags = TL_EVF_TOKENS;
	e.model = gpt4o;
	e.model_version = v1120;
	e.u.req.tokens_in = 1000000;
	e.u.req.tokens_cached = 400000;
	e.u.req.tokens_out = 100000;
	tl_engine_push(eng, &e);
	/* 600k x 2.50 + 400k x 1.25 + 100k x 10.00 per 1M = 1.5 + 0.5 + 1.0 */
	cr_assert(ieee_ulp_eq(dbl, tl_engine_series_at(eng, 0)->cost_usd, 3.0, 8));
	cr_assert(eq(int, tl_symtab_intern(syms, "2024-05-13", 10, &v0513), 0));
	e.model_version = v0513;
	e.u.req.tokens_cached = 0;
	tl_engine_push(eng, &e);
	/* the dated entry: 1M x 5.00 + 100k x 15.00 = 6.5 */
	cr_assert(ieee_ulp_eq(dbl, tl_engine_series_at(eng, 0)->cost_usd, 9.5, 8));
	cr_assert(eq(u64, tl_engine_series_at(eng, 0)->tokens_in, 2000000));
}

Test(engine, tokens_of_one_request_count_once)
{
	struct tl_event gw = req(T0, 11, 200), llm = gw;

	gw.flags = TL_EVF_TOKENS;
	gw.usage_key = 99;
	gw.u.req.tokens_in = 100;
	gw.u.req.tokens_out = 10;
	llm.kind = TL_EV_USAGE;
	llm.fingerprint = 12;
	llm.flags = TL_EVF_TOKENS;
	llm.usage_key = 99;
	llm.u.req.tokens_in = 100;
	llm.u.req.tokens_out = 10;
	tl_engine_push(eng, &gw);
	tl_engine_push(eng, &llm);
	const struct tl_series_stats *s = tl_engine_series_at(eng, 0);

	cr_assert(eq(u64, s->tokens_in, 100));
	cr_assert(eq(u64, s->tokens_out, 10));
	cr_assert(eq(u64, s->requests, 1));
	cr_assert(eq(u64, tl_engine_get_counts(eng)->tokens_repeated, 110));
	cr_assert(eq(u64, tl_engine_get_counts(eng)->tokens_unpriced, 110), "no model: no price");
}

Test(engine, a_batch_counts_exactly_as_single_pushes)
{
	struct tl_engine_opts o = { .prices = prices, .n_prices = 2 };
	struct tl_engine *single = tl_engine_new(&o, syms);
	static struct tl_event ev[3000];

	for (size_t i = 0; i < 3000; i++) {
		ev[i] = req(T0 + (int64_t)i * TL_NS_PER_MS * 50, (i % 7 == 3) ? 5 + i / 2 : 5 + i,
			    i % 11 ? 200 : 503);
		ev[i].series = 1 + i % 13;
		ev[i].flags = TL_EVF_LATENCY;
		ev[i].u.req.latency_ms = (float)(100 + i % 17);
	}
	for (size_t i = 0; i < 3000; i++)
		tl_engine_push(single, &ev[i]);
	for (size_t i = 0; i < 3000; i += 100)
		tl_engine_push_batch(eng, &ev[i], 100);
	const struct tl_engine_counts *a = tl_engine_get_counts(single),
				      *b = tl_engine_get_counts(eng);

	cr_assert(eq(u64, a->decoded, b->decoded));
	cr_assert(eq(u64, a->duplicate, b->duplicate));
	cr_assert(ge(u64, a->duplicate, 1));
	cr_assert(eq(sz, tl_engine_series_count(single), tl_engine_series_count(eng)));
	for (size_t i = 0; i < tl_engine_series_count(eng); i++) {
		cr_assert(eq(u64, tl_engine_series_at(single, i)->requests,
			     tl_engine_series_at(eng, i)->requests));
		cr_assert(eq(u64, tl_engine_series_at(single, i)->status_5xx,
			     tl_engine_series_at(eng, i)->status_5xx));
	}
	tl_engine_free(single);
}
