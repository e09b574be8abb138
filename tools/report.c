/*
 * tools/report.c - where trigger events go in replay and run: stdout as NDJSON, in a
 * deterministic order, and the backtest summary (per rule: incidents, firing time, first and
 * last) for stderr and --summary.
 *
 * Each step's events become a job: their lines and triggers. Without an output thread
 * (replay) a job is written as it is made; with one (run) it goes through a bounded queue
 * (mutex and condition variables: a job is a step with events, rare beside the records) to
 * the thread, which writes what has queued up as one job: a journal sync and a write for
 * all. Either way the same bytes in the same order. A job written keeps only its number
 * and time, in a done list run takes them from for its latency figures.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tripline/engine.h>
#include <tripline/fs.h>
#include <tripline/time.h>

#include "alerts.h"
#include "cli.h"

void tl_report_init(struct tl_report *r, const struct tl_symtab *syms, int fd)
{
	memset(r, 0, sizeof(*r));
	r->syms = syms;
	r->fd = fd;
	for (int i = 0; i < TL_RULE_COUNT; i++) {
		r->rules[i].first = INT64_MAX;
		r->rules[i].last = INT64_MIN;
	}
}

/* ---- writing: the journal, the sinks, then the fd ----------------------------------------- */

/*
 * One step's events (or part of one, 64 KiB at most): their lines, each trigger for the
 * journal and the sinks. Written on the caller's thread, or queued for the output thread.
 */
struct tl_report_item {
	struct tl_trigger t; /* seed NULL */
	size_t off, len;     /* its line in the job's */
};

struct job {
	struct job *next;
	uint64_t seq; /* 1, 2, ...: r->jobs once this one was handed over */
	char *p;      /* the lines */
	size_t n;
	struct tl_report_item *it;
	size_t n_it;
	int64_t written_ns; /* in the done list: when its lines were written */
};

#define QUEUE_JOBS  256         /* jobs waiting for the output thread before the caller waits */
#define QUEUE_BYTES (16u << 20) /* bytes of lines likewise */
#define DONE_MAX    4096        /* jobs written and not yet taken by tl_report_written() */

struct tl_report_out {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, room, idle;
	struct job *head, *tail; /* waiting, oldest first */
	size_t n_jobs, n_bytes;
	struct job *done_head, *done_tail; /* written: seq and written_ns only */
	size_t n_done;
	uint64_t seq_written; /* every job up to this one is written (or dropped on error) */
	bool stop;
	bool stopped; /* joined: what follows is written on the caller's thread */
	int err;
};

static void job_free(struct job *j)
{
	if (j) {
		free(j->p);
		free(j->it);
		free(j);
	}
}

/*
 * Write jobs @j[0..@n) as one: every event into the journal and the sinks, then the sinks'
 * copies and the journal made durable (one sync for all), then the lines to @fd. Return 0 or
 * the first error (@err: the error so far; once there is one, nothing more is written).
 */
static int write_jobs(struct tl_report *r, struct job *const *j, size_t n, int err)
{
	bool any = false;

	for (size_t k = 0; k < n && err == 0; k++)
		for (size_t i = 0; i < j[k]->n_it && err == 0; i++) {
			const struct tl_report_item *it = &j[k]->it[i];
			const char *line = j[k]->p + it->off;

			any = true;
			if (r->ops.journal) {
				const int e = r->ops.journal(r->ops.ud, &it->t, line, it->len);

				if (e < 0)
					err = e;
			}
			if (r->alerts && err == 0) {
				const int e =
				    tl_alerts_event(r->alerts, &it->t, r->syms, line, it->len);

				if (e < 0) {
					tl_err("%s", tl_alerts_errmsg(r->alerts));
					err = e;
				}
			}
		}
	/* the sinks' copies are durable before the journal's, and nothing is sent before
	 * both are: a crash in between makes a restart queue the event again (a duplicate
	 * delivery, which every format's dedup key makes harmless), never lose it */
	if (any && r->alerts && err == 0) {
		const int e = tl_alerts_sync(r->alerts);

		if (e < 0) {
			tl_err("%s", tl_alerts_errmsg(r->alerts));
			err = e;
		}
	}
	if (any && r->ops.sync && err == 0) {
		const int e = r->ops.sync(r->ops.ud);

		if (e < 0)
			err = e; /* not told: it is not in the journal */
	}
	if (any && r->alerts && err == 0)
		tl_alerts_kick(r->alerts);
	for (size_t k = 0; k < n && err == 0; k++) {
		const int e = tl_write_all(r->fd, j[k]->p, j[k]->n);

		if (e < 0)
			err = e;
	}
	return err;
}

/* The lines in r->buf and their events in r->items become a job. */
static struct job *take_job(struct tl_report *r)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !(j->p = malloc(r->buf.n ? r->buf.n : 1))) {
		free(j);
		return NULL;
	}
	memcpy(j->p, r->buf.p, r->buf.n);
	j->n = r->buf.n;
	j->it = r->items;
	j->n_it = r->n_items;
	r->items = NULL;
	r->n_items = r->cap_items = 0;
	tl_buf_reset(&r->buf);
	return j;
}

static void *out_main(void *arg)
{
	struct tl_report *r = arg;
	struct tl_report_out *o = r->out;
	struct job *batch[64];

	(void)pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->head && !o->stop)
			(void)pthread_cond_wait(&o->work, &o->mu);
		if (!o->head)
			break;
		/* what queued up meanwhile goes in one write: one journal sync for all */
		size_t n = 0;

		while (o->head && n < sizeof(batch) / sizeof(batch[0])) {
			struct job *j = o->head;

			o->head = j->next;
			o->n_jobs--;
			o->n_bytes -= j->n;
			batch[n++] = j;
		}
		if (!o->head)
			o->tail = NULL;
		const int err0 = o->err;

		(void)pthread_cond_broadcast(&o->room);
		(void)pthread_mutex_unlock(&o->mu);

		const int err = write_jobs(r, batch, n, err0);
		const int64_t at = tl_now_ns();

		for (size_t k = 0; k < n; k++) {
			free(batch[k]->p);
			free(batch[k]->it);
			batch[k]->p = NULL;
			batch[k]->it = NULL;
			batch[k]->next = NULL;
			batch[k]->written_ns = at;
		}
		(void)pthread_mutex_lock(&o->mu);
		if (err < 0 && o->err == 0)
			o->err = err;
		for (size_t k = 0; k < n; k++) {
			if (o->done_tail)
				o->done_tail->next = batch[k];
			else
				o->done_head = batch[k];
			o->done_tail = batch[k];
			if (++o->n_done > DONE_MAX) { /* nobody takes them: forget the oldest */
				struct job *d = o->done_head;

				o->done_head = d->next;
				o->n_done--;
				free(d);
			}
		}
		o->seq_written = batch[n - 1]->seq;
		(void)pthread_cond_broadcast(&o->idle);
	}
	(void)pthread_mutex_unlock(&o->mu);
	return NULL;
}

static void out_destroy(struct tl_report_out *o)
{
	(void)pthread_mutex_destroy(&o->mu);
	(void)pthread_cond_destroy(&o->work);
	(void)pthread_cond_destroy(&o->room);
	(void)pthread_cond_destroy(&o->idle);
	free(o);
}

int tl_report_start(struct tl_report *r)
{
	struct tl_report_out *o = calloc(1, sizeof(*o));
	int e;

	if (!o)
		return -ENOMEM;
	(void)pthread_mutex_init(&o->mu, NULL);
	(void)pthread_cond_init(&o->work, NULL);
	(void)pthread_cond_init(&o->room, NULL);
	(void)pthread_cond_init(&o->idle, NULL);
	r->out = o;
	if ((e = pthread_create(&o->thread, NULL, out_main, r)) != 0) {
		r->out = NULL;
		out_destroy(o);
		return -e;
	}
	return 0;
}

/* The error that sticks: the first of @e and those before. */
static int set_err(struct tl_report *r, int e)
{
	struct tl_report_out *o = r->out;

	if (!o || o->stopped) {
		if (r->err == 0)
			r->err = e;
		return r->err;
	}
	(void)pthread_mutex_lock(&o->mu);
	if (o->err == 0)
		o->err = e;
	e = o->err;
	(void)pthread_mutex_unlock(&o->mu);
	return e;
}

/* @t, whose line is the @len bytes at @off of r->buf, into the job being built. */
static int add_item(struct tl_report *r, const struct tl_trigger *t, size_t off, size_t len)
{
	if (r->n_items == r->cap_items) {
		const size_t cap = r->cap_items ? 2 * r->cap_items : 16;
		struct tl_report_item *a = realloc(r->items, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		r->items = a;
		r->cap_items = cap;
	}
	r->items[r->n_items++] = (struct tl_report_item){ .t = *t, .off = off, .len = len };
	r->items[r->n_items - 1].t.seed = NULL;
	return 0;
}

/* Hand r->buf's lines and r->items to the output thread, or write them now without one. */
static int flush_out(struct tl_report *r)
{
	struct tl_report_out *o = r->out;

	if (r->buf.n == 0 && r->n_items == 0)
		return tl_report_error(r);
	if (!o || o->stopped) {
		struct job j = { .p = r->buf.p, .n = r->buf.n, .it = r->items, .n_it = r->n_items };
		struct job *jp = &j;

		r->err = write_jobs(r, &jp, 1, r->err);
		r->n_items = 0;
		tl_buf_reset(&r->buf);
		return r->err;
	}
	struct job *j = take_job(r);

	if (!j) { /* not told, as nothing is in the journal; the error sticks */
		tl_buf_reset(&r->buf);
		r->n_items = 0;
		return set_err(r, -ENOMEM);
	}
	(void)pthread_mutex_lock(&o->mu);
	/* bounded: a stdout nobody reads holds the caller here, not memory without end */
	while (o->n_jobs >= QUEUE_JOBS || o->n_bytes >= QUEUE_BYTES)
		(void)pthread_cond_wait(&o->room, &o->mu);
	j->seq = ++r->jobs;
	if (o->tail)
		o->tail->next = j;
	else
		o->head = j;
	o->tail = j;
	o->n_jobs++;
	o->n_bytes += j->n;
	(void)pthread_cond_signal(&o->work);
	const int err = o->err;

	(void)pthread_mutex_unlock(&o->mu);
	return err;
}

int tl_report_wait(struct tl_report *r)
{
	struct tl_report_out *o = r->out;

	if (!o || o->stopped)
		return r->err;
	(void)pthread_mutex_lock(&o->mu);
	/* after an error the thread still takes every job (and drops it) */
	while (o->seq_written < r->jobs)
		(void)pthread_cond_wait(&o->idle, &o->mu);
	const int err = o->err;

	(void)pthread_mutex_unlock(&o->mu);
	return err;
}

uint64_t tl_report_pending(const struct tl_report *r)
{
	struct tl_report_out *o = r->out;
	uint64_t n;

	if (!o || o->stopped)
		return 0;
	(void)pthread_mutex_lock(&o->mu);
	n = r->jobs - o->seq_written;
	(void)pthread_mutex_unlock(&o->mu);
	return n;
}

int tl_report_error(const struct tl_report *r)
{
	struct tl_report_out *o = r->out;
	int err;

	if (!o || o->stopped)
		return r->err;
	(void)pthread_mutex_lock(&o->mu);
	err = o->err;
	(void)pthread_mutex_unlock(&o->mu);
	return err;
}

bool tl_report_written(struct tl_report *r, uint64_t *ret_job, int64_t *ret_ns)
{
	struct tl_report_out *o = r->out;
	struct job *j = NULL;

	if (!o)
		return false;
	(void)pthread_mutex_lock(&o->mu);
	if ((j = o->done_head)) {
		o->done_head = j->next;
		if (!o->done_head)
			o->done_tail = NULL;
		o->n_done--;
	}
	(void)pthread_mutex_unlock(&o->mu);
	if (!j)
		return false;
	*ret_job = j->seq;
	*ret_ns = j->written_ns;
	free(j);
	return true;
}

void tl_report_stop(struct tl_report *r)
{
	struct tl_report_out *o = r->out;

	if (!o || o->stopped)
		return;
	(void)pthread_mutex_lock(&o->mu);
	o->stop = true;
	(void)pthread_cond_signal(&o->work);
	(void)pthread_mutex_unlock(&o->mu);
	/* the thread ends only with the queue empty: every job written, or dropped after an
	 * error */
	(void)pthread_join(o->thread, NULL);
	if (r->err == 0)
		r->err = o->err;
	o->stopped = true;
}

static void out_free(struct tl_report *r)
{
	struct tl_report_out *o = r->out;

	if (!o)
		return;
	tl_report_stop(r);
	for (struct job *j = o->done_head, *nx; j; j = nx) {
		nx = j->next;
		job_free(j);
	}
	out_destroy(o);
	r->out = NULL;
}

void tl_report_fini(struct tl_report *r)
{
	out_free(r);
	tl_buf_fini(&r->buf);
	free(r->items);
	free(r->open);
}

static const struct tl_symtab *cmp_syms;

static int cmp_triggers(const void *a, const void *b)
{
	return tl_trigger_cmp(a, b, cmp_syms);
}

/* Incidents still firing, to account firing time of those the input ends inside. */
static void open_add(struct tl_report *r, const struct tl_trigger *t)
{
	if (r->n_open == r->cap_open) {
		size_t cap = r->cap_open ? r->cap_open * 2 : 16;
		struct tl_open_incident *o = realloc(r->open, cap * sizeof(*o));

		if (!o)
			return;
		r->open = o;
		r->cap_open = cap;
	}
	r->open[r->n_open++] = (struct tl_open_incident){ t->incident, t->fired_at, t->rule };
}

static void open_remove(struct tl_report *r, uint64_t incident)
{
	for (size_t i = 0; i < r->n_open; i++)
		if (r->open[i].incident == incident) {
			r->open[i] = r->open[--r->n_open];
			return;
		}
}

int tl_report_triggers(struct tl_report *r, struct tl_trigger *t, size_t n)
{
	int err = 0;
	size_t i;

	cmp_syms = r->syms;
	qsort(t, n, sizeof(*t), cmp_triggers);
	for (i = 0; i < n && err == 0; i++) {
		struct tl_rule_summary *s = &r->rules[t[i].rule];

		if (t[i].type == TL_TRIGGER_FIRE) {
			s->incidents++;
			if (t[i].fired_at < s->first)
				s->first = t[i].fired_at;
			if (t[i].fired_at > s->last)
				s->last = t[i].fired_at;
			open_add(r, &t[i]);
		} else if (t[i].type == TL_TRIGGER_RESOLVED) {
			s->firing_ns += t[i].resolved_at - t[i].fired_at;
			open_remove(r, t[i].incident);
		} else {
			s->updates++;
		}
		r->events++;
		struct tl_trigger_extra x = { 0 };
		const size_t start = r->buf.n;

		if (r->ops.annotate)
			r->ops.annotate(r->ops.ud, &t[i], &x);
		if (r->ops.seen && r->ops.seen(r->ops.seen_ud, &t[i])) {
			r->suppressed++;
			tl_series_seed_free(t[i].seed);
			t[i].seed = NULL;
			continue;
		}
		tl_trigger_json_ex(&t[i], r->syms, &x, &r->buf);
		tl_series_seed_free(t[i].seed);
		t[i].seed = NULL;
		if (!tl_buf_ok(&r->buf) || add_item(r, &t[i], start, r->buf.n - start) < 0)
			err = -ENOMEM;
		else if (r->buf.n > 64 * 1024)
			err = flush_out(r);
	}
	for (; i < n; i++) { /* the events after an error: not told */
		tl_series_seed_free(t[i].seed);
		t[i].seed = NULL;
	}
	if (err < 0) {
		/* not told, as nothing is in the journal; the error sticks */
		tl_buf_reset(&r->buf);
		r->n_items = 0;
		return set_err(r, err);
	}
	return flush_out(r);
}

void tl_report_end(struct tl_report *r, int64_t end)
{
	/* incidents the input ends inside count their firing time up to the end */
	for (size_t i = 0; i < r->n_open; i++) {
		r->rules[r->open[i].rule].firing_ns += end - r->open[i].fired_at;
		r->rules[r->open[i].rule].still_firing++;
	}
	r->end = end;
}

void tl_report_summary_text(const struct tl_report *r, FILE *f)
{
	char a[TL_TIME_TEXT_LEN + 1], b[TL_TIME_TEXT_LEN + 1];

	fprintf(f, "tripline: %-10s %9s %11s %9s  %-24s  %-24s\n", "rule", "incidents",
		"firing (s)", "at end", "first fired", "last fired");
	for (int i = 0; i < TL_RULE_COUNT; i++) {
		const struct tl_rule_summary *s = &r->rules[i];

		fprintf(f, "tripline: %-10s %9llu %11lld %9llu  %-24s  %-24s\n",
			tl_rule_name((enum tl_rule)i), (unsigned long long)s->incidents,
			(long long)(s->firing_ns / TL_NS_PER_S),
			(unsigned long long)s->still_firing,
			s->incidents ? tl_time_format(s->first, a) : "-",
			s->incidents ? tl_time_format(s->last, b) : "-");
	}
}

void tl_report_summary_json(const struct tl_report *r, struct tl_buf *b)
{
	char t[TL_TIME_TEXT_LEN + 1];

	tl_buf_puts(b, "{\"rules\":{");
	for (int i = 0; i < TL_RULE_COUNT; i++) {
		const struct tl_rule_summary *s = &r->rules[i];

		tl_buf_printf(
		    b,
		    "%s\"%s\":{\"incidents\":%llu,\"firing_s\":%lld,\"still_firing\":%llu,"
		    "\"updates\":%llu",
		    i ? "," : "", tl_rule_name((enum tl_rule)i), (unsigned long long)s->incidents,
		    (long long)(s->firing_ns / TL_NS_PER_S), (unsigned long long)s->still_firing,
		    (unsigned long long)s->updates);
		if (s->incidents) {
			tl_buf_printf(b, ",\"first_fired\":\"%s\"", tl_time_format(s->first, t));
			tl_buf_printf(b, ",\"last_fired\":\"%s\"", tl_time_format(s->last, t));
		}
		tl_buf_puts(b, "}");
	}
	tl_buf_printf(b, "},\"events\":%llu", (unsigned long long)r->events);
	if (r->end != INT64_MIN && r->end != 0)
		tl_buf_printf(b, ",\"end\":\"%s\"", tl_time_format(r->end, t));
	tl_buf_puts(b, "}\n");
}
