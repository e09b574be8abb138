/*
 * tests/test_retain.c - raw-record retention: exact bytes and order through pins, the time,
 * per-series and total byte bounds and what dropped_until says after them, pins across expiry,
 * overlapping pins, max_pin_bytes, forgotten series.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/retain.h>

#define S_NS INT64_C(1000000000)

TestSuite(retain, .timeout = 60);

/* A record the tests add, to compare with what comes back. */
struct rec {
	int64_t t;
	uint8_t flags;
	uint32_t len;
	unsigned char *p;
};

struct recs {
	struct rec v[20000];
	size_t n;
};

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* @len bytes: JSON-ish text (compressible) or random bytes. */
static unsigned char *make_bytes(uint32_t len, bool random)
{
	unsigned char *p = malloc(len + 1);

	for (uint32_t i = 0; i < len; i++)
		p[i] = random ? (unsigned char)next_rand()
			      : (unsigned char)"{\"time\":\"2025-11-04\",\"x\":12}"[i % 28];
	return p;
}

static void add(struct tl_retain *r, struct recs *out, uint64_t series, int64_t t, uint32_t len,
		bool random)
{
	struct rec *e = out ? &out->v[out->n++] : &(struct rec){ 0 };

	e->t = t;
	e->len = len;
	e->flags = (uint8_t)(t / S_NS);
	e->p = make_bytes(len, random);
	cr_assert(eq(int, tl_retain_add(r, series, t, e->p, len, e->flags), 0));
	if (!out)
		free(e->p);
}

static void recs_free(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].p);
	rs->n = 0;
}

/* What tl_retain_pin_each() gave. */
struct got {
	const struct recs *want;
	size_t from; /* index in want of the first record expected */
	size_t n;
	bool bad;
};

static int check_cb(void *ud, int64_t t, uint8_t flags, const void *raw, uint32_t len)
{
	struct got *g = ud;
	const struct rec *e = &g->want->v[g->from + g->n];

	if (g->from + g->n >= g->want->n) {
		g->bad = true;
		return 1;
	}
	if (e->t != t || e->flags != flags || e->len != len || (len && memcmp(e->p, raw, len) != 0))
		g->bad = true;
	g->n++;
	return 0;
}

/* The pin's records are want->v[from..from+n) exactly. */
static void expect_pin(struct tl_retain_pin *pin, const struct recs *want, size_t from, size_t n)
{
	struct got g = { .want = want, .from = from };

	cr_assert(eq(int, tl_retain_pin_each(pin, check_cb, &g), 0));
	cr_assert_not(g.bad, "records differ from those added (from %zu)", from);
	cr_assert(eq(sz, g.n, n));
}

Test(retain, pin_gives_back_exact_bytes_flags_and_order_per_series)
{
	/* the older blocks get compressed, the newer stay as they are: both read back */
	struct tl_retain_opts o = { .block_bytes = 1024, .max_raw_bytes = 16384 };
	static struct recs a, b;
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_stats st;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 300; i++) {
		uint32_t len = (uint32_t)(i % 7 == 0 ? 0 : i % 50 == 0 ? 3000 : 10 + i % 200);

		add(r, &a, 1, (int64_t)i * S_NS, len, i % 3 == 0);
		add(r, &b, 2, (int64_t)i * S_NS, len / 2, false);
	}
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.records_in, 600));
	cr_assert(ge(u64, st.blocks_sealed, 11));
	cr_assert(ge(u64, st.staged_records, 1));
	cr_assert(eq(u64, st.series, 2));
	cr_assert(ge(u64, st.blocks_compressed, 11));
	cr_assert(le(u64, st.raw_bytes, 16384));
	cr_assert(ge(u64, st.raw_bytes, 1));
	cr_assert(st.compression_ratio > 1.5, "compression ratio %g", st.compression_ratio);
	cr_assert(eq(int, tl_retain_pin(r, 1, &pin), 0));
	expect_pin(pin, &a, 0, a.n);
	tl_retain_unpin(pin);
	cr_assert(eq(int, tl_retain_pin(r, 2, &pin), 0));
	expect_pin(pin, &b, 0, b.n);
	cr_assert(eq(i64, tl_retain_dropped_until(r, 1), INT64_MIN));
	tl_retain_unpin(pin);
	tl_retain_free(r);
	recs_free(&a);
	recs_free(&b);
}

Test(retain, expire_drops_blocks_older_than_keep_and_dropped_until_follows)
{
	struct tl_retain_opts o = { .block_bytes = 2048, .keep_ns = 100 * S_NS };
	static struct recs a;
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_pin_stats ps;
	struct tl_retain_stats st;
	int64_t du;
	size_t first = 0;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 1000; i++) /* one record a second, 100 bytes: 20 per block */
		add(r, &a, 7, (int64_t)i * S_NS, 100, true);
	cr_assert(eq(int, tl_retain_expire(r, 1000 * S_NS), 0));
	du = tl_retain_dropped_until(r, 7);
	/* every block whose newest record is older than 900 s is gone, and only those */
	cr_assert(lt(i64, du, 900 * S_NS));
	cr_assert(ge(i64, du, 880 * S_NS));
	tl_retain_stats(r, &st);
	cr_assert(ge(u64, st.dropped_time_records, 801));
	cr_assert(eq(u64, st.dropped_time_records + st.records + st.staged_records, 1000));
	while (a.v[first].t <= du)
		first++;
	cr_assert(eq(int, tl_retain_pin(r, 7, &pin), 0));
	tl_retain_pin_stats(pin, &ps);
	cr_assert(eq(i64, ps.dropped_until, du));
	cr_assert(eq(i64, ps.first_ns, a.v[first].t));
	expect_pin(pin, &a, first, a.n - first);
	tl_retain_unpin(pin);
	tl_retain_free(r);
	recs_free(&a);
}

Test(retain, series_byte_bound_drops_oldest_blocks_first)
{
	struct tl_retain_opts o = { .block_bytes = 1024, .max_series_bytes = 8192 };
	static struct recs a, b;
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_pin_stats ps;
	struct tl_retain_stats st;
	int64_t du;
	size_t first = 0;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 400; i++) {
		add(r, &a, 1, (int64_t)i * S_NS, 200, true); /* incompressible: ~5 per block */
		add(r, &b, 2, (int64_t)i * S_NS, 20, false); /* compresses well: stays */
	}
	tl_retain_stats(r, &st);
	cr_assert(ge(u64, st.dropped_series_records, 301));
	cr_assert(eq(u64, st.dropped_time_records, 0));
	du = tl_retain_dropped_until(r, 1);
	cr_assert(ge(i64, du, (300 * S_NS) + 1));
	cr_assert(eq(i64, tl_retain_dropped_until(r, 2), INT64_MIN));
	/* the pin seals the staged records, which may drop one more block */
	cr_assert(eq(int, tl_retain_pin(r, 1, &pin), 0));
	tl_retain_pin_stats(pin, &ps);
	cr_assert(ge(i64, ps.dropped_until, du));
	cr_assert(eq(i64, ps.dropped_until, tl_retain_dropped_until(r, 1)));
	while (a.v[first].t <= ps.dropped_until)
		first++;
	cr_assert(eq(i64, ps.first_ns, a.v[first].t));
	expect_pin(pin, &a, first, a.n - first);
	tl_retain_unpin(pin);
	cr_assert(eq(int, tl_retain_pin(r, 2, &pin), 0));
	expect_pin(pin, &b, 0, b.n);
	tl_retain_unpin(pin);
	tl_retain_stats(r, &st);
	cr_assert(le(u64, st.held_bytes, 8192 + 8192));
	tl_retain_free(r);
	recs_free(&a);
	recs_free(&b);
}

Test(retain, blocks_a_pin_holds_are_not_compressed_and_read_back_either_way)
{
	struct tl_retain_opts o = { .block_bytes = 1024, .max_raw_bytes = 1 };
	static struct recs a;
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_stats st;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 1000; i++)
		add(r, &a, 1, (int64_t)i * S_NS, 60, false);
	tl_retain_stats(r, &st);
	/* 1 byte: every block is compressed when sealed, the last 32 still in flight */
	cr_assert(eq(u64, st.raw_bytes, 0));
	cr_assert(ge(u64, st.blocks_sealed, 33));
	cr_assert(eq(u64, st.blocks_compressed, st.blocks_sealed - 32));
	cr_assert(eq(int, tl_retain_pin(r, 1, &pin), 0));
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.staged_records, 0)); /* the pin sealed them */
	for (int i = 1000; i < 1100; i++)
		add(r, &a, 1, (int64_t)i * S_NS, 60, false);
	tl_retain_stats(r, &st);
	cr_assert(lt(u64, st.blocks_compressed + 32, st.blocks_sealed));
	expect_pin(pin, &a, 0, 1100);
	tl_retain_unpin(pin);
	tl_retain_free(r);
	recs_free(&a);
}

Test(retain, total_byte_bound_drops_the_oldest_blocks_of_any_series)
{
	struct tl_retain_opts o = { .block_bytes = 1024, .max_total_bytes = 16384 };
	struct tl_retain *r;
	struct tl_retain_stats st;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 50; i++)
		add(r, NULL, 1, (int64_t)i * S_NS, 500, true); /* old series 1 */
	for (int i = 50; i < 150; i++)
		add(r, NULL, 2, (int64_t)i * S_NS, 500, true);
	tl_retain_stats(r, &st);
	cr_assert(ge(u64, st.dropped_total_records, 1));
	cr_assert(le(u64, st.held_bytes, 16384));
	/* series 1 went first: all its sealed blocks are gone before any of series 2's */
	cr_assert(ge(i64, tl_retain_dropped_until(r, 1), 47 * S_NS));
	tl_retain_free(r);
}

Test(retain, pin_keeps_records_across_expiry_and_collects_later_ones)
{
	struct tl_retain_opts o = { .block_bytes = 1024, .keep_ns = 60 * S_NS };
	static struct recs a;
	struct tl_retain *r;
	struct tl_retain_pin *p1, *p2;
	struct tl_retain_pin_stats ps;
	struct tl_retain_stats st;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 100; i++)
		add(r, &a, 3, (int64_t)i * S_NS, 90, true);
	cr_assert(eq(int, tl_retain_pin(r, 3, &p1), 0)); /* seals the staged records too */
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.staged_records, 0));
	for (int i = 100; i < 300; i++) {
		add(r, &a, 3, (int64_t)i * S_NS, 90, true);
		add(r, NULL, 4, (int64_t)i * S_NS, 90, true); /* another series: not pinned */
		if (i == 200)
			cr_assert(eq(int, tl_retain_pin(r, 3, &p2), 0));
		if (i % 10 == 0)
			cr_assert(eq(int, tl_retain_expire(r, (int64_t)i * S_NS), 0));
	}
	tl_retain_stats(r, &st);
	cr_assert(ge(u64, st.dropped_time_records, 151));
	cr_assert(eq(u64, st.pins, 2));
	/* p1 holds all 300, staged ones included; p2 what was retained at 200 s and after */
	expect_pin(p1, &a, 0, 300);
	tl_retain_pin_stats(p2, &ps);
	cr_assert(ge(i64, ps.dropped_until, (100 * S_NS) + 1));
	{
		size_t first = 0;

		while (a.v[first].t <= ps.dropped_until)
			first++;
		expect_pin(p2, &a, first, 300 - first);
	}
	tl_retain_unpin(p1);
	/* closed pins survive the retention */
	tl_retain_free(r);
	tl_retain_pin_stats(p2, &ps);
	cr_assert(eq(u64, ps.omitted_records, 0));
	cr_assert(eq(i64, ps.last_ns, 299 * S_NS));
	tl_retain_unpin(p2);
	recs_free(&a);
}

Test(retain, max_pin_bytes_omits_later_records_and_counts_them)
{
	struct tl_retain_opts o = { .block_bytes = 1024, .max_pin_bytes = 4096 };
	static struct recs a;
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_pin_stats ps;
	struct got g = { .want = &a };

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 10; i++)
		add(r, &a, 5, (int64_t)i * S_NS, 100, true);
	cr_assert(eq(int, tl_retain_pin(r, 5, &pin), 0));
	for (int i = 10; i < 200; i++)
		add(r, &a, 5, (int64_t)i * S_NS, 100, true);
	cr_assert(eq(int, tl_retain_pin_close(pin), 0));
	tl_retain_pin_stats(pin, &ps);
	cr_assert(le(u64, ps.bytes, 4096));
	cr_assert(ge(u64, ps.omitted_records, 101));
	cr_assert(eq(u64, ps.records + ps.omitted_records, 200));
	/* what it holds has no holes: the first records, in order */
	cr_assert(eq(int, tl_retain_pin_each(pin, check_cb, &g), 0));
	cr_assert_not(g.bad);
	cr_assert(eq(u64, g.n, ps.records));
	tl_retain_unpin(pin);
	/* a pin of more than fits holds the newest blocks */
	cr_assert(eq(int, tl_retain_pin(r, 5, &pin), 0));
	tl_retain_pin_stats(pin, &ps);
	cr_assert(ge(u64, ps.omitted_records, 1));
	expect_pin(pin, &a, 200 - ps.records, ps.records);
	tl_retain_unpin(pin);
	tl_retain_free(r);
	recs_free(&a);
}

Test(retain, expire_seals_old_staging_and_forgets_idle_series)
{
	struct tl_retain_opts o = { .keep_ns = 60 * S_NS, .stage_ns = 10 * S_NS };
	struct tl_retain *r;
	struct tl_retain_stats st;
	int64_t du;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 5; i++)
		add(r, NULL, 9, (int64_t)i * S_NS, 50, false);
	cr_assert(eq(int, tl_retain_expire(r, 10 * S_NS), 0)); /* 0 s is not older than 0 s */
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.blocks_sealed, 0));
	cr_assert(eq(int, tl_retain_expire(r, 11 * S_NS), 0));
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.blocks_sealed, 1));
	cr_assert(eq(u64, st.staged_records, 0));
	cr_assert(eq(int, tl_retain_expire(r, 64 * S_NS), 0));
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.series, 1)); /* its block is not past keep_ns yet */
	cr_assert(eq(int, tl_retain_expire(r, 65 * S_NS), 0));
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.series, 0));
	cr_assert(eq(u64, st.series_freed, 1));
	cr_assert(eq(u64, st.blocks, 0));
	du = tl_retain_dropped_until(r, 9);
	cr_assert(eq(i64, du, 4 * S_NS));
	add(r, NULL, 9, 70 * S_NS, 50, false); /* comes back: what it had is gone */
	cr_assert(eq(i64, tl_retain_dropped_until(r, 9), 4 * S_NS));
	tl_retain_free(r);
}

Test(retain, staged_records_past_keep_are_dropped_without_being_sealed)
{
	struct tl_retain_opts o = { .keep_ns = 60 * S_NS, .stage_ns = 1000 * S_NS };
	struct tl_retain *r;
	struct tl_retain_stats st;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 5; i++)
		add(r, NULL, 9, (int64_t)i * S_NS, 50, false);
	add(r, NULL, 10, 30 * S_NS, 50, false);
	cr_assert(eq(int, tl_retain_expire(r, 70 * S_NS), 0));
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.blocks_sealed, 0));
	cr_assert(eq(u64, st.dropped_time_records, 5));
	cr_assert(eq(u64, st.staged_records, 1));
	cr_assert(eq(u64, st.series, 1));
	cr_assert(eq(i64, tl_retain_dropped_until(r, 9), 4 * S_NS));
	/* tracked all along: nothing of it dropped */
	cr_assert(eq(i64, tl_retain_dropped_until(r, 10), INT64_MIN));
	tl_retain_free(r);
}

Test(retain, a_pin_keeps_late_records_that_arrive_while_it_is_open)
{
	struct tl_retain_opts o = { .threads = -1 };
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_pin_stats ps;
	struct recs want = { 0 };

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 5; i++)
		add(r, &want, 7, (1000 + i) * S_NS, 40, false);
	cr_assert(eq(int, tl_retain_pin(r, 7, &pin), 0));
	/* a record with an old event time arrives after the trigger, then the watermark moves
	 * past keep: the pin must still have it (it is evidence, received as it was) */
	add(r, &want, 7, 1001 * S_NS, 40, false);
	cr_assert(eq(int, tl_retain_expire(r, (1001 + 16 * 60) * S_NS), 0));
	cr_assert(eq(int, tl_retain_pin_close(pin), 0));
	tl_retain_pin_stats(pin, &ps);
	cr_assert(eq(u64, ps.omitted_records, 0));
	expect_pin(pin, &want, 0, 6);
	tl_retain_unpin(pin);
	recs_free(&want);
	tl_retain_free(r);
}

Test(retain, max_series_refuses_new_series_and_counts)
{
	struct tl_retain_opts o = { .max_series = 3 };
	struct tl_retain *r;
	struct tl_retain_stats st;
	struct tl_retain_pin *pin;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (uint64_t s = 1; s <= 3; s++)
		cr_assert(eq(int, tl_retain_add(r, s, 0, "x", 1, 0), 0));
	cr_assert(eq(int, tl_retain_add(r, 4, 0, "x", 1, 0), TL_EFULL));
	cr_assert(eq(int, tl_retain_pin(r, 4, &pin), TL_EFULL));
	cr_assert(eq(int, tl_retain_add(r, 2, 0, "y", 1, 0), 0));
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.records_rejected, 1));
	cr_assert(eq(u64, st.records_in, 4));
	tl_retain_free(r);
}

Test(retain, many_series_survive_table_growth_and_removal)
{
	struct tl_retain_opts o = { .keep_ns = 10 * S_NS, .stage_ns = S_NS };
	struct tl_retain *r;
	struct tl_retain_stats st;
	struct tl_retain_pin *pin;
	struct tl_retain_pin_stats ps;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	/* even series stop at 10 s, odd ones go on: removal must keep the odd ones findable */
	for (int t = 0; t < 40; t++) {
		for (uint64_t s = 0; s < 5000; s++)
			if (t < 10 || s % 2)
				cr_assert(
				    eq(int, tl_retain_add(r, s * 0x10001, t * S_NS, &s, 8, 1), 0));
		cr_assert(eq(int, tl_retain_expire(r, t * S_NS), 0));
	}
	tl_retain_stats(r, &st);
	cr_assert(eq(u64, st.series, 2500));
	cr_assert(eq(u64, st.series_freed, 2500));
	for (uint64_t s = 1; s < 5000; s += 2) {
		cr_assert(eq(int, tl_retain_pin(r, s * 0x10001, &pin), 0));
		tl_retain_pin_stats(pin, &ps);
		cr_assert(ge(u64, ps.records, 1));
		cr_assert(eq(i64, ps.last_ns, 39 * S_NS));
		tl_retain_unpin(pin);
	}
	tl_retain_free(r);
}

/* A closed pin read on a thread of its own while the adder goes on. */
struct reader {
	struct tl_retain_pin *pin;
	const struct recs *want;
	size_t n;
	int rc;
	bool bad;
};

static void *read_pin(void *arg)
{
	struct reader *rd = arg;
	struct got g = { .want = rd->want };

	for (int k = 0; k < 3 && rd->rc == 0 && !g.bad; k++) {
		g.n = 0;
		rd->rc = tl_retain_pin_each(rd->pin, check_cb, &g);
	}
	rd->bad = g.bad || g.n != rd->n;
	return NULL;
}

/*
 * The same calls with compression on the adder's thread and on the compressor thread: what
 * is retained and dropped, and every counter, must be the same. Series 1 compresses well and
 * passes its byte bound, series 2 does not compress; pins are read and released on other
 * threads while blocks are compressed, and released by the adder (an unpin elsewhere would
 * let a block be compressed or not by timing).
 */
static void run_mixed(int threads, struct tl_retain_stats *ret_st, int64_t ret_du[2])
{
	struct tl_retain_opts o = { .block_bytes = 2048,
				    .max_series_bytes = 64 * 1024,
				    .max_raw_bytes = 48 * 1024,
				    .keep_ns = 300 * S_NS,
				    .threads = threads };
	static struct recs a;
	struct tl_retain *r;
	struct reader rd[8];
	pthread_t th[8];
	int n_th = 0;

	rng = 88172645463325252ull;
	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	for (int i = 0; i < 8000; i++) {
		const int64_t t = (int64_t)i * S_NS / 4;

		add(r, &a, 1, t, 40 + (uint32_t)(i % 300), false);
		add(r, NULL, 2, t, 100, true);
		if (i % 40 == 0)
			cr_assert(eq(int, tl_retain_expire(r, t), 0));
		if (i % 1000 == 900 && n_th > 0) {
			cr_assert(eq(int, pthread_join(th[n_th - 1], NULL), 0));
			cr_assert(eq(int, rd[n_th - 1].rc, 0));
			cr_assert_not(rd[n_th - 1].bad, "pin %d read back wrong", n_th - 1);
			tl_retain_unpin(rd[n_th - 1].pin);
		}
		if (i % 1000 == 500 && n_th < 8) {
			struct reader *x = &rd[n_th];
			struct tl_retain_pin_stats ps;
			size_t first = 0;

			*x = (struct reader){ .want = &a };
			cr_assert(eq(int, tl_retain_pin(r, 1, &x->pin), 0));
			cr_assert(eq(int, tl_retain_pin_close(x->pin), 0));
			tl_retain_pin_stats(x->pin, &ps);
			cr_assert(eq(u64, ps.omitted_records, 0));
			while (first < a.n && a.v[first].t < ps.first_ns)
				first++;
			/* check_cb compares from want->v[from]: give it the records held */
			x->n = a.n - first;
			x->want = NULL;
			static struct recs views[8];

			memcpy(views[n_th].v, &a.v[first], x->n * sizeof(a.v[0]));
			views[n_th].n = x->n;
			x->want = &views[n_th];
			cr_assert(eq(int, pthread_create(&th[n_th], NULL, read_pin, x), 0));
			n_th++;
		}
	}
	tl_retain_stats(r, ret_st);
	ret_du[0] = tl_retain_dropped_until(r, 1);
	ret_du[1] = tl_retain_dropped_until(r, 2);
	tl_retain_free(r);
	recs_free(&a);
}

Test(retain, compressor_thread_retains_and_drops_as_the_adder_would)
{
	struct tl_retain_stats inl, thr;
	int64_t du_inl[2], du_thr[2];

	run_mixed(-1, &inl, du_inl);
	run_mixed(0, &thr, du_thr);
	cr_assert(ge(u64, inl.blocks_compressed, 101));
	cr_assert(ge(u64, inl.dropped_series_records, 1));
	cr_assert(ge(u64, inl.dropped_time_records, 1));
	{
		const uint64_t *x = (const uint64_t *)&inl, *y = (const uint64_t *)&thr;

		for (size_t k = 0; k < sizeof(inl) / 8; k++)
			cr_assert(eq(u64, x[k], y[k]), "counter %zu differs", k);
	}
	cr_assert(eq(i64, du_inl[0], du_thr[0]));
	cr_assert(eq(i64, du_inl[1], du_thr[1]));
}

Test(retain, bad_zstd_level_is_a_config_error)
{
	struct tl_retain_opts o = { .window_log = 99 };
	struct tl_retain *r;

	cr_assert(eq(int, tl_retain_new(&o, &r), TL_ECONFIG));
	tl_retain_free(NULL);
	tl_retain_unpin(NULL);
}

/*
 * After a restart (tl_retain_missing_until()), every series counts as whole only after the
 * time the earlier run read up to: those held already, those first seen later, and a pin
 * says so; an earlier time does not move it back.
 */
Test(retain, records_read_before_a_restart_count_as_dropped)
{
	struct tl_retain_opts o = { .block_bytes = 1024 };
	static struct recs a, b;
	struct tl_retain *r;
	struct tl_retain_pin *pin;
	struct tl_retain_pin_stats ps;

	cr_assert(eq(int, tl_retain_new(&o, &r), 0));
	add(r, &a, 1, 10 * S_NS, 100, false);
	tl_retain_missing_until(r, 60 * S_NS);
	tl_retain_missing_until(r, 30 * S_NS); /* never back */
	cr_assert(eq(i64, tl_retain_dropped_until(r, 1), 60 * S_NS));
	cr_assert(eq(i64, tl_retain_dropped_until(r, 2), 60 * S_NS), "a series not seen yet");
	for (int i = 0; i < 5; i++)
		add(r, &b, 2, (61 + i) * S_NS, 100, false);
	cr_assert(eq(int, tl_retain_pin(r, 2, &pin), 0));
	tl_retain_pin_stats(pin, &ps);
	cr_assert(eq(i64, ps.dropped_until, 60 * S_NS));
	expect_pin(pin, &b, 0, b.n); /* its records all kept */
	tl_retain_unpin(pin);
	tl_retain_free(r);
}
