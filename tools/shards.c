/*
 * tools/shards.c - detector shards (see shards.h).
 *
 * Threads: the caller (reader) thread owns the input rings' producing ends and the output
 * rings' consuming ends; shard k's thread owns its engine alone (single writer per series).
 * The reader sends events and, at every bucket end the watermark passes, a watermark message
 * numbered step by step to every shard; each shard answers every watermark message with the
 * triggers it produced (maybe none) under the same number. Step s is written once all shards
 * have answered it, sorted as the single-threaded engine's output is: the result is the same
 * bytes for any number of shards.
 */
#include "shards.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tripline/buf.h>
#include <tripline/hash.h>
#include <tripline/ring.h>
#include <tripline/time.h>

#define TL_SHARD_RING 4096
#define TL_OUT_RING   256
#define TL_BATCH      64 /* events handed to the engine at once (it prefetches in a batch) */
/* steps that can be unanswered at once: in the shards' input rings, or answered and waiting */
#define TL_STEPS (TL_SHARD_RING + TL_OUT_RING + 2)

enum msg_kind { MSG_EVENT = 1, MSG_WATERMARK, MSG_SYNC, MSG_END };

struct in_msg {
	uint8_t kind;
	uint64_t step;
	int64_t watermark;
	struct tl_event ev;
};

struct out_msg {
	uint64_t step;
	size_t n;
	struct tl_trigger *t; /* malloc'd, n of them; NULL when none */
};

struct shard {
	struct tl_engine *engine;
	struct tl_event batch[TL_BATCH]; /* events waiting to go in, in order */
	size_t n_batch;
	struct tl_ring in, out;
	pthread_t thread;
	bool running;
	bool have_pending; /* the reader holds this shard's answer for the next step */
	struct out_msg pending;
};

struct tl_shards {
	unsigned n;
	struct shard *s;
	struct tl_report *report;
	int64_t bucket_ns;
	int64_t last_step_wm; /* the last watermark sent */
	uint64_t steps_sent, steps_written;
	struct tl_trigger *merge;
	size_t cap_merge;
	int64_t step_wm[TL_STEPS]; /* the watermark of step k, at k % TL_STEPS */
	void (*on_step)(void *ud, int64_t watermark_ns);
	void *on_step_ud;
};

static void pause_briefly(unsigned *spins)
{
	if (++*spins < 64) {
		sched_yield();
		return;
	}
	struct timespec ts = { 0, 50 * 1000 };

	nanosleep(&ts, NULL);
}

/* Hand the waiting events to the engine (before anything else reaches it). */
static void flush(struct shard *sh)
{
	if (sh->n_batch) {
		tl_engine_push_batch(sh->engine, sh->batch, sh->n_batch);
		sh->n_batch = 0;
	}
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;
	struct in_msg m;

	for (unsigned spins = 0;;) {
		if (!tl_ring_pop_spsc(&sh->in, &m)) {
			flush(sh); /* nothing more to batch with for now */
			pause_briefly(&spins);
			continue;
		}
		spins = 0;
		if (m.kind == MSG_EVENT) {
			sh->batch[sh->n_batch++] = m.ev;
			if (sh->n_batch == TL_BATCH)
				flush(sh);
			continue;
		}
		flush(sh);
		struct out_msg o = { .step = m.step };

		if (m.kind == MSG_WATERMARK) {
			size_t n;
			struct tl_trigger *t;

			tl_engine_advance(sh->engine, m.watermark);
			t = tl_engine_triggers(sh->engine, &n);
			if (n) {
				o.t = malloc(n * sizeof(*t));
				if (o.t) {
					memcpy(o.t, t, n * sizeof(*t));
					o.n = n;
				}
			}
			tl_engine_clear_triggers(sh->engine);
		}
		for (unsigned w = 0; !tl_ring_push_spsc(&sh->out, &o);)
			pause_briefly(&w);
		if (m.kind == MSG_END)
			return NULL;
	}
}

/* Write every step all shards have answered, up to step @until; with @wait, until then. */
static void drain_until(struct tl_shards *p, uint64_t until, bool wait)
{
	while (p->steps_written < until) {
		size_t total = 0;
		bool all = true;

		for (unsigned k = 0; k < p->n; k++) {
			struct shard *sh = &p->s[k];

			for (unsigned spins = 0; !sh->have_pending;) {
				if (tl_ring_pop_spsc(&sh->out, &sh->pending)) {
					sh->have_pending = true;
					break;
				}
				if (!wait)
					break;
				pause_briefly(&spins);
			}
			if (!sh->have_pending) {
				all = false;
				break;
			}
			total += sh->pending.n;
		}
		if (!all)
			return;
		if (total > p->cap_merge) {
			struct tl_trigger *m = realloc(p->merge, total * sizeof(*m));

			if (m) {
				p->merge = m;
				p->cap_merge = total;
			}
		}
		size_t n = 0;

		for (unsigned k = 0; k < p->n; k++) {
			struct shard *sh = &p->s[k];

			for (size_t i = 0; i < sh->pending.n && n < p->cap_merge; i++)
				p->merge[n++] = sh->pending.t[i];
			free(sh->pending.t);
			sh->have_pending = false;
		}
		if (n)
			(void)tl_report_triggers(p->report, p->merge, n);
		if (p->on_step)
			p->on_step(p->on_step_ud, p->step_wm[p->steps_written % TL_STEPS]);
		p->steps_written++;
	}
}

static void drain(struct tl_shards *p, bool wait)
{
	drain_until(p, p->steps_sent, wait);
}

void tl_shards_wait(struct tl_shards *p, int64_t watermark_ns)
{
	uint64_t until = p->steps_written;

	/* a step closes the buckets from the one before's watermark to its own: the triggers
	 * up to @watermark_ns are in the steps up to the first that reaches it */
	if (until > 0 && p->step_wm[(until - 1) % TL_STEPS] >= watermark_ns)
		return;
	while (until < p->steps_sent && p->step_wm[until++ % TL_STEPS] < watermark_ns)
		;
	drain_until(p, until, true);
}

int64_t tl_shards_written_wm(const struct tl_shards *p)
{
	if (p->n == 1)
		return p->last_step_wm;
	return p->steps_written ? p->step_wm[(p->steps_written - 1) % TL_STEPS] : INT64_MIN;
}

static void send(struct tl_shards *p, unsigned k, const struct in_msg *m)
{
	for (unsigned spins = 0; !tl_ring_push_spsc(&p->s[k].in, m);) {
		/* the shard may be waiting for us to take its answers */
		drain(p, false);
		pause_briefly(&spins);
	}
}

int tl_shards_new(unsigned n, const struct tl_engine_opts *opts, struct tl_symtab *syms,
		  struct tl_report *report, struct tl_shards **ret)
{
	struct tl_shards *p = calloc(1, sizeof(*p));
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->n = n ? n : 1;
	p->report = report;
	p->bucket_ns = opts && opts->bucket_ns > 0 ? opts->bucket_ns : 10 * INT64_C(1000000000);
	p->last_step_wm = INT64_MIN;
	p->s = calloc(p->n, sizeof(*p->s));
	if (!p->s) {
		free(p);
		return -ENOMEM;
	}
	for (unsigned k = 0; k < p->n; k++) {
		struct shard *sh = &p->s[k];

		sh->engine = tl_engine_new(opts, syms);
		if (!sh->engine) {
			r = -ENOMEM;
			break;
		}
		if (p->n == 1)
			continue;
		if ((r = tl_ring_init(&sh->in, TL_SHARD_RING, sizeof(struct in_msg))) < 0 ||
		    (r = tl_ring_init(&sh->out, TL_OUT_RING, sizeof(struct out_msg))) < 0)
			break;
		if ((r = -pthread_create(&sh->thread, NULL, shard_main, sh)) < 0)
			break;
		sh->running = true;
	}
	if (r < 0) {
		tl_shards_finish(p);
		tl_shards_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void tl_shards_push(struct tl_shards *p, const struct tl_event *ev)
{
	if (p->n == 1) {
		struct shard *sh = &p->s[0];

		sh->batch[sh->n_batch++] = *ev;
		if (sh->n_batch == TL_BATCH)
			flush(sh);
		return;
	}
	struct in_msg m = { .kind = MSG_EVENT, .ev = *ev };

	send(p, (unsigned)(tl_hash_mix(ev->series) % p->n), &m);
}

void tl_shards_advance(struct tl_shards *p, int64_t watermark_ns)
{
	/* only bucket ends close anything: one step per bucket end passed */
	const int64_t b = p->bucket_ns;
	const int64_t q = tl_floor_div(watermark_ns, b) * b;

	if (q <= p->last_step_wm)
		return;
	p->last_step_wm = q;
	if (p->n == 1) {
		size_t n;
		struct tl_trigger *t;

		flush(&p->s[0]);
		tl_engine_advance(p->s[0].engine, q);
		t = tl_engine_triggers(p->s[0].engine, &n);
		if (n)
			(void)tl_report_triggers(p->report, t, n);
		tl_engine_clear_triggers(p->s[0].engine);
		if (p->on_step)
			p->on_step(p->on_step_ud, q);
		return;
	}
	p->step_wm[p->steps_sent % TL_STEPS] = q;
	struct in_msg m = { .kind = MSG_WATERMARK, .step = p->steps_sent++, .watermark = q };

	for (unsigned k = 0; k < p->n; k++)
		send(p, k, &m);
	drain(p, false);
}

void tl_shards_barrier(struct tl_shards *p)
{
	if (p->n == 1) {
		flush(&p->s[0]);
		return;
	}
	/* an empty step: each shard answers it once everything sent before is in its engine */
	p->step_wm[p->steps_sent % TL_STEPS] = p->last_step_wm;
	struct in_msg m = { .kind = MSG_SYNC, .step = p->steps_sent++ };

	for (unsigned k = 0; k < p->n; k++)
		send(p, k, &m);
	drain(p, true);
}

unsigned tl_shards_n(const struct tl_shards *p)
{
	return p->n;
}

struct tl_engine *tl_shards_engine(struct tl_shards *p, unsigned k)
{
	return k < p->n ? p->s[k].engine : NULL;
}

int64_t tl_shards_last_wm(const struct tl_shards *p)
{
	return p->last_step_wm;
}

void tl_shards_set_last_wm(struct tl_shards *p, int64_t watermark_ns)
{
	p->last_step_wm = watermark_ns;
}

int tl_shards_reload(struct tl_shards *p, const struct tl_engine_opts *opts, struct tl_symtab *syms,
		     char *err, size_t errlen)
{
	struct tl_engine **ne = calloc(p->n, sizeof(*ne));
	struct tl_buf b = { 0 };
	int r = 0;

	if (!ne)
		return -ENOMEM;
	tl_shards_barrier(p);
	for (unsigned k = 0; k < p->n && r == 0; k++) {
		tl_buf_reset(&b);
		if ((r = tl_engine_save(p->s[k].engine, &b)) < 0 || !tl_buf_ok(&b)) {
			r = -ENOMEM;
			break;
		}
		if (!(ne[k] = tl_engine_new(opts, syms)))
			r = -ENOMEM;
		else
			r = tl_engine_load(ne[k], b.p, b.n, err, errlen);
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	/* all or nothing: the shards are idle since the barrier, and the ring a shard reads
	 * its next message from orders this swap before it */
	for (unsigned k = 0; k < p->n; k++) {
		if (r == 0) {
			tl_engine_free(p->s[k].engine);
			p->s[k].engine = ne[k];
		} else {
			tl_engine_free(ne[k]);
		}
	}
	tl_buf_fini(&b);
	free(ne);
	return r;
}

void tl_shards_on_step(struct tl_shards *p, void (*cb)(void *ud, int64_t watermark_ns), void *ud)
{
	p->on_step = cb;
	p->on_step_ud = ud;
}

void tl_shards_finish(struct tl_shards *p)
{
	if (p->n == 1) {
		flush(&p->s[0]);
		return;
	}
	struct in_msg m = { .kind = MSG_END, .step = p->steps_sent };
	bool any = false;

	for (unsigned k = 0; k < p->n; k++)
		if (p->s[k].running) {
			send(p, k, &m);
			any = true;
		}
	if (any)
		p->step_wm[p->steps_sent++ % TL_STEPS] =
		    INT64_MAX; /* the END answers count as one last (empty) step */
	drain(p, true);
	for (unsigned k = 0; k < p->n; k++) {
		if (p->s[k].running) {
			pthread_join(p->s[k].thread, NULL);
			p->s[k].running = false;
		}
	}
}

void tl_shards_counts(const struct tl_shards *p, struct tl_engine_counts *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned k = 0; k < p->n; k++) {
		const struct tl_engine_counts *c = tl_engine_get_counts(p->s[k].engine);

		ret->decoded += c->decoded;
		ret->duplicate += c->duplicate;
		ret->late += c->late;
		ret->dedup_unchecked += c->dedup_unchecked;
		ret->series_dropped += c->series_dropped;
		ret->tokens_unpriced += c->tokens_unpriced;
		ret->tokens_repeated += c->tokens_repeated;
		ret->ahead += c->ahead;
	}
}

size_t tl_shards_series_count(const struct tl_shards *p)
{
	size_t n = 0;

	for (unsigned k = 0; k < p->n; k++)
		n += tl_engine_series_count(p->s[k].engine);
	return n;
}

const struct tl_series_stats *tl_shards_series_at(const struct tl_shards *p, size_t i)
{
	for (unsigned k = 0; k < p->n; k++) {
		size_t n = tl_engine_series_count(p->s[k].engine);

		if (i < n)
			return tl_engine_series_at(p->s[k].engine, i);
		i -= n;
	}
	return NULL;
}

size_t tl_shards_series_bytes(const struct tl_shards *p)
{
	return tl_engine_series_bytes(p->s[0].engine);
}

int64_t tl_shards_ahead_ns(const struct tl_shards *p)
{
	return tl_engine_ahead_ns(p->s[0].engine);
}

size_t tl_shards_memory(const struct tl_shards *p)
{
	size_t n = 0;

	for (unsigned k = 0; k < p->n; k++)
		n += tl_engine_memory(p->s[k].engine);
	return n;
}

void tl_shards_free(struct tl_shards *p)
{
	if (!p)
		return;
	for (unsigned k = 0; k < p->n; k++) {
		struct shard *sh = &p->s[k];

		if (sh->have_pending)
			free(sh->pending.t);
		if (sh->out.slots) {
			struct out_msg o;

			while (tl_ring_pop_spsc(&sh->out, &o))
				free(o.t);
		}
		tl_engine_free(sh->engine);
		tl_ring_fini(&sh->in);
		tl_ring_fini(&sh->out);
	}
	free(p->s);
	free(p->merge);
	free(p);
}
