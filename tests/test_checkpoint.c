/*
 * tests/test_checkpoint.c - engine checkpoints (tl_engine_save(), tl_engine_load()): an engine
 * saved at some point, loaded into a new engine (of a new symbol table, as in a new process)
 * and given the same events and watermarks from there on, writes byte for byte the trigger
 * events an engine never stopped writes, and ends with the same counts and series totals.
 * And a blob that is not a checkpoint of this geometry is refused, never read out of bounds.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/engine.h>
#include <tripline/hash.h>
#include <tripline/symtab.h>
#include <tripline/time.h>

#define T0  (INT64_C(1762214400) * TL_NS_PER_S) /* 2025-11-04T00:00:00Z */
#define MIN TL_NS_PER_MIN
#define SEC TL_NS_PER_S

TestSuite(checkpoint, .timeout = 120);

static const struct tl_price prices[] = { { "gpt-4o", 2.50, 1.25, 10.00 } };

enum incident { NONE, LATENCY, REFUSAL, SPEND };

/* A run of the same events and watermarks, saved and loaded at save_at[] (none: never). */
struct run {
	enum incident kind;
	int64_t inc_start, inc_end, end;
	int64_t save_at[8];
	int n_save;
	bool seeds;       /* export_seeds, and each seed's digest in the log */
	int64_t first_wm; /* a watermark before the first event (0: none) */
	struct tl_engine_opts opts;
	struct tl_rules rules;
	/* results */
	struct tl_buf log;   /* every trigger event's JSON, in the order produced */
	struct tl_buf final; /* the checkpoint at the end */
	struct tl_trigger tr[256];
	size_t n_tr;
	struct tl_engine_counts counts;
	struct tl_series_stats stats[8];
	char names[8][4][32]; /* resource, deployment, model, model_version of each series */
	size_t n_series;
	size_t blob_bytes;
};

/* An engine with its own symbol table and the symbols the events use in it. */
struct proc {
	struct tl_symtab *syms;
	struct tl_engine *e;
	uint32_t res[3], dep[3], model, version;
};

static const char *const res_names[3] = { "AOAI-X", "AOAI-X", "AOAI-Y" };
static const char *const dep_names[3] = { "chat", "embed", "batch" };

static uint32_t intern(struct tl_symtab *syms, const char *s)
{
	uint32_t sym;

	cr_assert(eq(int, tl_symtab_intern(syms, s, strlen(s), &sym), 0));
	return sym;
}

/* A new process: @junk names first, so the symbols differ from the last one's. */
static void proc_start(struct proc *p, const struct run *r, int junk)
{
	char name[32];

	p->syms = tl_symtab_new(1000);
	cr_assert(ne(ptr, p->syms, NULL));
	for (int i = 0; i < junk; i++) {
		(void)snprintf(name, sizeof(name), "junk-%d", i);
		(void)intern(p->syms, name);
	}
	p->version = intern(p->syms, "2024-11-20");
	for (int i = 2; i >= 0; i--) {
		p->dep[i] = intern(p->syms, dep_names[i]);
		p->res[i] = intern(p->syms, res_names[i]);
	}
	p->model = intern(p->syms, "gpt-4o");
	p->e = tl_engine_new(&r->opts, p->syms);
	cr_assert(ne(ptr, p->e, NULL));
}

static void proc_stop(struct proc *p)
{
	tl_engine_free(p->e);
	tl_symtab_free(p->syms);
}

static uint64_t rng;

static double unit(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1.0p-53;
}

/* An event as the generator made it, its names given by series number (0..2). */
struct gen_event {
	struct tl_event ev;
	int series;
	int64_t due; /* a repeat: when it is delivered again */
};

static void push(struct proc *p, const struct gen_event *g)
{
	struct tl_event ev = g->ev;

	ev.resource = p->res[g->series];
	ev.deployment = p->dep[g->series];
	ev.model = p->model;
	ev.model_version = p->version;
	tl_engine_push(p->e, &ev);
}

/* A digest of what a seed holds, for the log. */
static uint64_t seed_digest(const struct tl_series_seed *sd)
{
	uint64_t h = tl_hash64(sd->lat, sd->horizon * sizeof(uint16_t), (uint64_t)sd->last_minute);

	h = tl_hash64(sd->ref, sd->horizon, h);
	h = tl_hash64(sd->mflag, sd->horizon, h);
	h = tl_hash64(sd->at_min, sizeof(sd->at_min), h);
	h = tl_hash64(sd->day_at, sizeof(sd->day_at), h);
	h = tl_hash64(sd->hour_at, sizeof(sd->hour_at), h);
	h = tl_hash64(sd->min_spend, sizeof(sd->min_spend), h);
	h = tl_hash64(sd->hours, sizeof(sd->hours), h);
	h = tl_hash_combine(h, sd->hours_n);
	h = tl_hash_combine(h, (uint64_t)sd->last_hour_push);
	return tl_hash_combine(h, sd->hour_spike);
}

static void take_triggers(struct run *r, struct proc *p)
{
	size_t n;
	struct tl_trigger *tr = tl_engine_triggers(p->e, &n);

	for (size_t i = 0; i < n; i++) {
		tl_trigger_json(&tr[i], p->syms, &r->log);
		if (tr[i].seed) {
			tl_buf_printf(&r->log, "seed %016llx\n",
				      (unsigned long long)seed_digest(tr[i].seed));
			tl_series_seed_free(tr[i].seed);
			tr[i].seed = NULL;
		}
		if (r->n_tr < sizeof(r->tr) / sizeof(r->tr[0]))
			r->tr[r->n_tr++] = tr[i];
	}
	tl_engine_clear_triggers(p->e);
}

/* Save the engine, end the process, start another and load what it saved. */
static void restart(struct run *r, struct proc *p, int junk)
{
	struct tl_buf blob = { 0 };
	char err[200];

	cr_assert(eq(int, tl_engine_save(p->e, &blob), 0));
	r->blob_bytes = blob.n;
	proc_stop(p);
	proc_start(p, r, junk);
	cr_assert(eq(int, tl_engine_load(p->e, blob.p, blob.n, err, sizeof(err)), 0), "%s", err);
	tl_buf_fini(&blob);
}

/*
 * Feed [T0, end) second by second, the same events every time: series 0 has the incident,
 * series 1 takes tokens logged twice (gateway and GatewayLlmLogs), series 2 goes quiet from
 * 40 to 165 min. Some records are delivered again 45 s later (duplicates). At each
 * save_at, before the events of that second, the engine restarts from its checkpoint.
 */
static void feed(struct run *r)
{
	static struct gen_event fifo[1024];
	size_t head = 0, tail = 0;
	struct proc p;
	int save = 0;

	r->opts.prices = prices;
	r->opts.n_prices = 1;
	r->opts.rules = &r->rules;
	r->opts.export_seeds = r->seeds;
	r->log = (struct tl_buf){ 0 };
	r->n_tr = 0;
	proc_start(&p, r, 0);
	if (r->first_wm)
		tl_engine_advance(p.e, r->first_wm);
	rng = 12345;
	for (int64_t t = T0; t < r->end; t += SEC) {
		const bool in = t >= r->inc_start && t < r->inc_end;

		if (save < r->n_save && t == r->save_at[save])
			restart(r, &p, 3 + save++);

		for (int i = 0; i < 5; i++) {
			const int series = i < 3 ? 0 : i - 2;
			struct gen_event g = {
				.series = series,
				.ev = { .time_ns = t + (int64_t)(unit() * 1e9),
					.series = 42 + (uint64_t)series,
					.fingerprint = rng | 1,
					.kind = TL_EV_REQUEST,
					.status = 200,
					.flags = TL_EVF_LATENCY | TL_EVF_REFUSAL_CHECKED |
						 TL_EVF_TOKENS | TL_EVF_GUARDRAIL_CHECKED },
			};
			const double lat = 700 * exp(0.4 * (unit() - 0.5)), u = unit();

			g.ev.u.req.latency_ms =
			    (float)(r->kind == LATENCY && in && !series ? 3 * lat : lat);
			g.ev.u.req.tokens_in = (uint32_t)(200 * unit());
			g.ev.u.req.tokens_out = (uint32_t)(50 + 100 * unit());
			if (r->kind == SPEND && in && !series)
				g.ev.u.req.tokens_out *= 40;
			if (u < 0.002)
				g.ev.status = 503;
			else if (u < 0.004)
				g.ev.status = 429;
			if (unit() < (r->kind == REFUSAL && in && !series ? 0.09 : 0.004))
				g.ev.flags |= TL_EVF_REFUSAL;
			if (series == 2 && t >= T0 + 40 * MIN && t < T0 + 165 * MIN)
				continue;
			if (series == 1 && unit() < 0.3)
				g.ev.usage_key = g.ev.fingerprint * 3;
			push(&p, &g);
			if (unit() < 0.03 && (tail + 1) % 1024 != head) {
				g.due = t + 45 * SEC;
				fifo[tail] = g;
				tail = (tail + 1) % 1024;
			}
			if (g.ev.usage_key) { /* the same tokens again, from GatewayLlmLogs */
				g.ev.kind = TL_EV_USAGE;
				g.ev.fingerprint = g.ev.usage_key + 1;
				g.due = t + 20 * SEC;
				if ((tail + 1) % 1024 != head) {
					fifo[tail] = g;
					tail = (tail + 1) % 1024;
				}
			}
		}
		/* the repeats due by now, in the order queued */
		while (head != tail && fifo[head].due <= t) {
			push(&p, &fifo[head]);
			head = (head + 1) % 1024;
		}
		tl_engine_advance(p.e, t + SEC - 2 * MIN);
		take_triggers(r, &p);
	}
	cr_assert(eq(int, save, r->n_save), "every save point was reached");
	r->counts = *tl_engine_get_counts(p.e);
	r->n_series = tl_engine_series_count(p.e);
	cr_assert(le(sz, r->n_series, 8));
	for (size_t i = 0; i < r->n_series; i++) {
		const struct tl_series_stats *st = tl_engine_series_at(p.e, i);
		const uint32_t sym[4] = { st->resource, st->deployment, st->model,
					  st->model_version };

		r->stats[i] = *st;
		for (int k = 0; k < 4; k++)
			(void)snprintf(r->names[i][k], sizeof(r->names[i][k]), "%s",
				       tl_symtab_str(p.syms, sym[k], NULL));
	}
	/* the processes intern the names in the same order: the same checkpoint */
	r->final = (struct tl_buf){ 0 };
	cr_assert(eq(int, tl_engine_save(p.e, &r->final), 0));
	proc_stop(&p);
	cr_assert(tl_buf_ok(&r->log));
}

/* Run @a as it is and with its save points; both must say exactly the same. */
static void check_same(struct run *a)
{
	struct run b = *a;

	a->n_save = 0;
	feed(a);
	feed(&b);
	cr_assert(ge(sz, a->log.n, 1), "the run writes trigger events");
	cr_assert(eq(sz, b.log.n, a->log.n));
	cr_assert(eq(int, memcmp(b.log.p, a->log.p, a->log.n), 0),
		  "the trigger events differ:\n%s\n----\n%s", a->log.p, b.log.p);
	cr_assert(eq(int, memcmp(&b.counts, &a->counts, sizeof(a->counts)), 0));
	cr_assert(eq(u64, b.counts.duplicate, a->counts.duplicate));
	cr_assert(ge(u64, a->counts.duplicate, 100), "the run repeats records");
	cr_assert(ge(u64, a->counts.tokens_repeated, 1000), "and tokens");
	cr_assert(eq(sz, b.n_series, a->n_series));
	for (size_t i = 0; i < a->n_series; i++) {
		struct tl_series_stats x = a->stats[i], y = b.stats[i];

		for (int k = 0; k < 4; k++)
			cr_assert(eq(str, b.names[i][k], a->names[i][k]));
		/* the symbols differ between the processes; the rest is equal */
		x.resource = x.deployment = x.model = x.model_version = 0;
		y.resource = y.deployment = y.model = y.model_version = 0;
		cr_assert(eq(int, memcmp(&x, &y, sizeof(x)), 0), "series %zu's totals", i);
	}
	cr_assert(eq(sz, b.final.n, a->final.n));
	cr_assert(eq(int, memcmp(b.final.p, a->final.p, a->final.n), 0), "the end states differ");
	a->n_save = b.n_save;
	a->blob_bytes = b.blob_bytes;
	tl_buf_fini(&b.log);
	tl_buf_fini(&b.final);
	tl_buf_fini(&a->final);
}

/* The first trigger event of @type for @rule, NULL if none. */
static const struct tl_trigger *find(const struct run *r, enum tl_rule rule, uint8_t type)
{
	for (size_t i = 0; i < r->n_tr; i++)
		if (r->tr[i].rule == rule && r->tr[i].type == type)
			return &r->tr[i];
	return NULL;
}

static struct run latency_run(void)
{
	struct run r = { .kind = LATENCY,
			 .inc_start = T0 + 150 * MIN,
			 .inc_end = T0 + 170 * MIN,
			 .end = T0 + 185 * MIN };

	tl_rules_defaults(&r.rules);
	return r;
}

Test(checkpoint, latency_learned_before_the_save_fires_after_it)
{
	struct run r = latency_run();

	/* 15 minutes before the incident: too few to learn a baseline again */
	r.save_at[r.n_save++] = T0 + 135 * MIN;
	check_same(&r);
	const struct tl_trigger *fire = find(&r, TL_RULE_LATENCY, TL_TRIGGER_FIRE);

	cr_assert(ne(ptr, (void *)fire, NULL));
	cr_assert(ge(i64, fire->fired_at, r.save_at[0] + 1));
	const bool has_baseline = !isnan(fire->baseline);

	cr_assert(has_baseline);
	tl_buf_fini(&r.log);
}

Test(checkpoint, latency_firing_at_the_save_resolves_after_it)
{
	struct run r = latency_run();

	r.save_at[r.n_save++] = T0 + 162 * MIN;
	check_same(&r);
	const struct tl_trigger *fire = find(&r, TL_RULE_LATENCY, TL_TRIGGER_FIRE);
	const struct tl_trigger *done = find(&r, TL_RULE_LATENCY, TL_TRIGGER_RESOLVED);

	cr_assert(ne(ptr, (void *)fire, NULL));
	cr_assert(ne(ptr, (void *)done, NULL));
	cr_assert(le(i64, fire->at, r.save_at[0]), "it fired before the save");
	cr_assert(ge(i64, done->at, r.save_at[0] + 1), "and resolves after it");
	cr_assert(eq(u64, done->incident, fire->incident), "as the same incident");
	cr_assert(eq(i64, done->fired_at, fire->fired_at));
	cr_assert(ge(i64, done->impact.requests, 1), "with the impact counted before the save");
	tl_buf_fini(&r.log);
}

Test(checkpoint, spend_of_the_day_is_carried_across)
{
	struct run r = { .kind = SPEND,
			 .inc_start = T0 + 150 * MIN,
			 .inc_end = T0 + 170 * MIN,
			 .end = T0 + 185 * MIN,
			 .seeds = true };

	tl_rules_defaults(&r.rules);
	r.rules.cost.daily_budget_usd = 1000;
	r.save_at[r.n_save++] = T0 + 140 * MIN;
	r.save_at[r.n_save++] = T0 + 160 * MIN;
	check_same(&r);
	const struct tl_trigger *fire = find(&r, TL_RULE_COST, TL_TRIGGER_FIRE);

	cr_assert(ne(ptr, (void *)fire, NULL));
	cr_assert(ge(i64, fire->fired_at, r.save_at[0] + 1));
	tl_buf_fini(&r.log);
}

Test(checkpoint, refusals_breaching_in_the_minute_of_a_save)
{
	struct run r = latency_run();

	/* saves in the middle of minutes, the rule breaching before, firing after */
	r.kind = REFUSAL;
	r.seeds = true; /* the minutes' flags show in the seed */
	for (int i = 0; i < 6; i++)
		r.save_at[r.n_save++] = T0 + (150 + 2 * i) * MIN + 30 * SEC;
	check_same(&r);
	const struct tl_trigger *fire = find(&r, TL_RULE_REFUSAL, TL_TRIGGER_FIRE);

	cr_assert(ne(ptr, (void *)fire, NULL));
	const struct tl_trigger *done = find(&r, TL_RULE_REFUSAL, TL_TRIGGER_RESOLVED);

	cr_assert(ne(ptr, (void *)done, NULL));
	/* and right after it resolved: the minute it resolved in stays out of the baseline */
	const int64_t at = done->at;

	tl_buf_fini(&r.log);
	cr_assert(ne(i64, at % MIN, 0), "it resolves inside a minute");
	r.n_save = 0;
	r.save_at[r.n_save++] = at + 2 * MIN; /* given the watermark of `at` */
	check_same(&r);
	tl_buf_fini(&r.log);
}

Test(checkpoint, several_saves_in_a_row_change_nothing)
{
	struct run r = latency_run();
	const int64_t at[] = { 1, 30, 60, 121, 140, 155, 158, 163, 171, 176 };

	r.seeds = true;
	for (size_t i = 0; i < 8; i++)
		r.save_at[r.n_save++] = T0 + at[i + 2] * MIN;
	check_same(&r);
	cr_assert(ne(ptr, (void *)find(&r, TL_RULE_LATENCY, TL_TRIGGER_RESOLVED), NULL));
	tl_buf_fini(&r.log);

	/* in the first minutes, before and after the first watermark */
	r = latency_run();
	r.save_at[r.n_save++] = T0 + at[0] * SEC;
	r.save_at[r.n_save++] = T0 + at[1] * SEC;
	r.save_at[r.n_save++] = T0 + 2 * MIN + 10 * SEC;
	check_same(&r);
	tl_buf_fini(&r.log);
}

Test(checkpoint, a_save_of_no_series_loads)
{
	struct tl_symtab *syms = tl_symtab_new(100);
	struct tl_engine *e = tl_engine_new(NULL, syms), *f = tl_engine_new(NULL, syms);
	struct tl_buf blob = { 0 };
	char err[200];

	/* nothing at all */
	cr_assert(eq(int, tl_engine_save(e, &blob), 0));
	cr_assert(eq(int, tl_engine_load(f, blob.p, blob.n, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(sz, tl_engine_series_count(f), 0));
	cr_assert(eq(i64, tl_engine_watermark(f), INT64_MIN));
	tl_engine_free(f);
	/* watermarks only */
	tl_engine_advance(e, T0);
	tl_buf_reset(&blob);
	cr_assert(eq(int, tl_engine_save(e, &blob), 0));
	f = tl_engine_new(NULL, syms);
	cr_assert(eq(int, tl_engine_load(f, blob.p, blob.n, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(i64, tl_engine_watermark(f), T0));
	cr_assert(eq(sz, tl_engine_series_count(f), 0));
	tl_engine_free(e);
	tl_engine_free(f);
	tl_symtab_free(syms);
	tl_buf_fini(&blob);

	/* a run saved before its first event, with no watermark yet and with one, goes on as
	 * one never saved */
	struct run r = latency_run();

	r.save_at[r.n_save++] = T0;
	r.save_at[r.n_save++] = T0 + 121 * MIN;
	check_same(&r);
	tl_buf_fini(&r.log);
	r = latency_run();
	r.first_wm = T0 - 5 * MIN;
	r.save_at[r.n_save++] = T0;
	check_same(&r);
	tl_buf_fini(&r.log);
}

Test(checkpoint, a_record_seen_before_the_save_is_a_duplicate_after)
{
	struct tl_symtab *syms = tl_symtab_new(100);
	struct tl_engine *e = tl_engine_new(NULL, syms), *f;
	struct tl_event ev = { .time_ns = T0 + 10 * SEC,
			       .series = 42,
			       .fingerprint = 777,
			       .usage_key = 778,
			       .kind = TL_EV_REQUEST,
			       .status = 200,
			       .flags = TL_EVF_TOKENS };
	struct tl_buf blob = { 0 };
	char err[200];

	ev.resource = intern(syms, "AOAI-X");
	ev.deployment = intern(syms, "chat");
	ev.u.req.tokens_in = 10;
	tl_engine_push(e, &ev);
	tl_engine_advance(e, T0);
	cr_assert(eq(int, tl_engine_save(e, &blob), 0));
	f = tl_engine_new(NULL, syms);
	cr_assert(eq(int, tl_engine_load(f, blob.p, blob.n, err, sizeof(err)), 0), "%s", err);
	tl_engine_push(f, &ev);
	cr_assert(eq(u64, tl_engine_get_counts(f)->duplicate, 1));
	cr_assert(eq(u64, tl_engine_get_counts(f)->decoded, 1));
	ev.fingerprint = 779; /* the same request's tokens from another record */
	tl_engine_push(f, &ev);
	cr_assert(eq(u64, tl_engine_get_counts(f)->tokens_repeated, 10));
	cr_assert(eq(u64, tl_engine_series_at(f, 0)->requests, 2));
	tl_engine_free(e);
	tl_engine_free(f);
	tl_symtab_free(syms);
	tl_buf_fini(&blob);
}

/* A blob of a small engine, at the end of a run with an incident firing. */
static struct tl_buf small_blob(struct tl_engine_opts *o, struct tl_symtab *syms)
{
	struct tl_engine *e = tl_engine_new(o, syms);
	struct tl_buf blob = { 0 };
	uint32_t res = intern(syms, "AOAI-X"), dep = intern(syms, "chat");

	for (int64_t t = T0; t < T0 + 70 * MIN; t += SEC) {
		struct tl_event ev = { .time_ns = t,
				       .series = 42 + (uint64_t)(t / SEC % 2),
				       .fingerprint = (uint64_t)t,
				       .resource = res,
				       .deployment = dep,
				       .kind = TL_EV_REQUEST,
				       .status = t > T0 + 60 * MIN ? 503 : 200,
				       .flags = TL_EVF_LATENCY | TL_EVF_TOKENS };

		if (t / SEC % 5 == 0)
			ev.usage_key = (uint64_t)t / 7;
		ev.u.req.tokens_in = 100;
		ev.u.req.latency_ms = (float)(100 + t / SEC % 50);
		tl_engine_push(e, &ev);
		tl_engine_advance(e, t - 2 * MIN);
	}
	size_t n;

	(void)tl_engine_triggers(e, &n);
	cr_assert(ge(sz, n, 1), "an incident is firing");
	cr_assert(eq(int, tl_engine_save(e, &blob), 0));
	tl_engine_free(e);
	return blob;
}

static struct tl_engine_opts small_opts(void)
{
	return (struct tl_engine_opts){ .horizon_ns = 60 * MIN, .dedup.max_entries = 64 };
}

/* Write the body length and checksum of the @n bytes at @p again. */
static void reseal(unsigned char *p, size_t n)
{
	const uint64_t body = n - 32, sum = tl_hash64(p + 32, body, TL_HASH_SEED);

	for (int i = 0; i < 8; i++) {
		p[16 + i] = (unsigned char)(body >> (8 * i));
		p[24 + i] = (unsigned char)(sum >> (8 * i));
	}
}

static int load_fresh(const struct tl_engine_opts *o, struct tl_symtab *syms, const void *p,
		      size_t n, char *err, size_t errlen)
{
	struct tl_engine *e = tl_engine_new(o, syms);
	int r = tl_engine_load(e, p, n, err, errlen);

	if (r == 0) { /* whatever it took, it runs */
		const int64_t w = tl_engine_watermark(e) == INT64_MIN ? T0 : tl_engine_watermark(e);

		for (int i = 1; i <= 30; i++)
			tl_engine_advance(e, w + i * 10 * SEC);
	}
	tl_engine_free(e);
	return r;
}

/* With TL_WRITE_CORPUS=DIR, the blobs of small_blob() and of an empty engine are written to
 * DIR: the seed corpus of tests/fuzz/fuzz_checkpoint.c (tests/fuzz/corpus/checkpoint/). */
static void write_corpus(const char *name, const struct tl_buf *b)
{
	const char *dir = getenv("TL_WRITE_CORPUS");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	cr_assert(ne(ptr, f, NULL), "%s", path);
	cr_assert(eq(sz, fwrite(b->p, 1, b->n, f), b->n));
	cr_assert(eq(int, fclose(f), 0));
}

Test(checkpoint, a_blob_loads_and_saves_again_the_same)
{
	struct tl_symtab *syms = tl_symtab_new(100);
	struct tl_engine_opts o = small_opts();
	struct tl_buf blob = small_blob(&o, syms), again = { 0 };
	struct tl_symtab *other = tl_symtab_new(100);
	struct tl_engine *e = tl_engine_new(&o, other);
	char err[200];

	write_corpus("two-series-firing", &blob);
	cr_assert(eq(int, tl_engine_load(e, blob.p, blob.n, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(sz, tl_engine_series_count(e), 2));
	cr_assert(eq(int, tl_engine_save(e, &again), 0));
	cr_assert(eq(sz, again.n, blob.n));
	cr_assert(eq(int, memcmp(again.p, blob.p, blob.n), 0));
	cr_assert(eq(int, tl_engine_load(e, blob.p, blob.n, err, sizeof(err)), -EINVAL),
		  "an engine that has started");
	tl_engine_free(e);
	/* appended after other bytes, the blob is the same */
	tl_buf_reset(&again);
	tl_buf_puts(&again, "header");
	e = tl_engine_new(&o, other);
	cr_assert(eq(int, tl_engine_load(e, blob.p, blob.n, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, tl_engine_save(e, &again), 0));
	cr_assert(eq(int, memcmp(again.p + 6, blob.p, blob.n), 0));
	tl_engine_free(e);
	/* an engine with nothing, and one with only a watermark */
	e = tl_engine_new(&o, other);
	tl_buf_reset(&again);
	cr_assert(eq(int, tl_engine_save(e, &again), 0));
	write_corpus("empty", &again);
	tl_engine_advance(e, T0);
	tl_buf_reset(&again);
	cr_assert(eq(int, tl_engine_save(e, &again), 0));
	write_corpus("watermark-only", &again);
	tl_engine_free(e);
	tl_symtab_free(other);
	tl_symtab_free(syms);
	tl_buf_fini(&blob);
	tl_buf_fini(&again);
}

Test(checkpoint, every_truncation_is_refused)
{
	struct tl_symtab *syms = tl_symtab_new(100);
	struct tl_engine_opts o = small_opts();
	struct tl_buf blob = small_blob(&o, syms);
	char err[200];

	cr_assert(le(sz, blob.n, 64 * 1024), "a small blob: %zu bytes", blob.n);
	for (size_t n = 0; n < blob.n; n++) {
		/* exactly n bytes, so ASan sees a read past them */
		unsigned char *cut = malloc(n ? n : 1);

		memcpy(cut, blob.p, n);
		cr_assert(eq(int, load_fresh(&o, syms, cut, n, err, sizeof(err)), TL_ECORRUPT),
			  "cut at %zu", n);
		/* sealed again, so that the reading itself meets the end */
		if (n >= 32) {
			reseal(cut, n);
			cr_assert(
			    eq(int, load_fresh(&o, syms, cut, n, err, sizeof(err)), TL_ECORRUPT),
			    "cut at %zu and sealed: %s", n, err);
		}
		free(cut);
	}
	tl_symtab_free(syms);
	tl_buf_fini(&blob);
}

Test(checkpoint, flipped_bytes_are_refused_or_harmless)
{
	struct tl_symtab *syms = tl_symtab_new(100);
	struct tl_engine_opts o = small_opts();
	struct tl_buf blob = small_blob(&o, syms);
	unsigned char *copy = malloc(blob.n);
	size_t loaded = 0;
	char err[200];

	for (size_t i = 0; i < blob.n; i++) {
		memcpy(copy, blob.p, blob.n);
		copy[i] ^= (unsigned char)(1u << (i % 8));
		cr_assert(lt(int, load_fresh(&o, syms, copy, blob.n, err, sizeof(err)), 0),
			  "byte %zu flipped", i);
		/* sealed again, the reader sees the flip: it refuses it or runs with it */
		if (i >= 32) {
			reseal(copy, blob.n);
			loaded += load_fresh(&o, syms, copy, blob.n, err, sizeof(err)) == 0;
		}
	}
	cr_assert(ge(sz, loaded, 1), "a flip in a count is a state like any other");
	free(copy);
	tl_symtab_free(syms);
	tl_buf_fini(&blob);
}

Test(checkpoint, another_geometry_is_refused_by_name)
{
	struct tl_symtab *syms = tl_symtab_new(100);
	struct tl_engine_opts o = small_opts();
	struct tl_buf blob = small_blob(&o, syms);
	struct {
		struct tl_engine_opts o;
		const char *what;
	} cases[] = {
		{ small_opts(), "bucket_ns: saved 10000000000, now 5000000000" },
		{ small_opts(), "lateness_ns" },
		{ small_opts(), "horizon (minutes): saved 60, now 120" },
		{ small_opts(), "max_series" },
		{ small_opts(), "duplicate window n_slices: saved 4, now 8" },
		{ small_opts(), "duplicate window max_entries" },
		{ small_opts(), "longest window" },
	};
	struct tl_rules wide;
	char err[200];

	cases[0].o.bucket_ns = 5 * SEC;
	cases[1].o.lateness_ns = 3 * MIN;
	cases[2].o.horizon_ns = 120 * MIN;
	cases[3].o.max_series = 10;
	cases[4].o.dedup.n_slices = 8;
	cases[5].o.dedup.max_entries = 65;
	tl_rules_defaults(&wide);
	wide.errors.window_ns = 10 * MIN;
	cases[6].o.rules = &wide;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		cr_assert(eq(int, load_fresh(&cases[i].o, syms, blob.p, blob.n, err, sizeof(err)),
			     TL_EMISMATCH),
			  "%s", cases[i].what);
		cr_assert(ne(ptr, strstr(err, cases[i].what), NULL), "'%s' names '%s'", err,
			  cases[i].what);
	}
	/* rules and prices may change; a window within the widest one too */
	struct tl_rules other;
	struct tl_deployment_rules dep = { .name = "CHAT" };
	struct tl_engine_opts reload = small_opts();

	tl_rules_defaults(&other);
	other.latency.factor = 3;
	tl_rules_defaults(&dep.rules);
	dep.rules.errors.window_ns = 2 * MIN;
	reload.rules = &other;
	reload.deployments = &dep;
	reload.n_deployments = 1;
	reload.prices = prices;
	reload.n_prices = 1;
	cr_assert(eq(int, load_fresh(&reload, syms, blob.p, blob.n, err, sizeof(err)), 0), "%s",
		  err);
	/* another format version */
	unsigned char *copy = malloc(blob.n);

	memcpy(copy, blob.p, blob.n);
	copy[8] = 99; /* a version this build does not know */
	cr_assert(eq(int, load_fresh(&o, syms, copy, blob.n, err, sizeof(err)), TL_EMISMATCH));
	cr_assert(ne(ptr, strstr(err, "format version"), NULL), "%s", err);
	memcpy(copy, "TLENGINX", 8);
	cr_assert(eq(int, load_fresh(&o, syms, copy, blob.n, err, sizeof(err)), TL_ECORRUPT));
	free(copy);
	tl_symtab_free(syms);
	tl_buf_fini(&blob);
}
