/*
 * tools/evidence.c - retention, change correlation, snapshots and the journal for the reader
 * thread (see evidence.h).
 *
 * A snapshot re-runs from a minute boundary C: the series' seed (taken by the engine when the
 * rule fired) restores its baselines as they stood at C, and the retained records from C on
 * are given again. C is the first minute boundary after every record the retention dropped
 * (so none from C on is missing) and at most an hour before the seed's last minute. Records
 * the engine did not count (late, or too far ahead of the watermark) are listed by index in
 * the header ("not_counted") so the re-run skips them too; the reader knows which they are
 * because the engine judges them against the watermark the reader sent.
 *
 * Retention runs on a keeper thread of its own: the reader hands it each record as a pointer
 * into its input batch (holding a reference to the batch until the keeper has copied it), so
 * copying and compressing stay off the reader's path. Every retention call goes to the
 * keeper through one queue, in the reader's order, and a pin or a pin's closing waits for its
 * answer: the keeper does what a single thread would have done, in the same order, so the
 * snapshots do not depend on how fast it runs.
 */
#include "evidence.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tripline/fs.h>
#include <tripline/ring.h>
#include <tripline/source.h>
#include <tripline/state.h>
#include <tripline/time.h>

#include "cli.h"

#define F_NOT_COUNTED   1
#define NOT_COUNTED_MAX 100000 /* indices a header lists */
#define HEADER_MINUTES  60
#define KEEPER_RING     8192 /* records in flight to the keeper (their batches stay held) */

enum kmsg_kind { K_ADD = 1, K_ADD_OWNED, K_EXPIRE, K_MISSING, K_PIN, K_CLOSE, K_UNPIN, K_STOP };

/* One retention call, as the reader hands it to the keeper. */
struct kmsg {
	uint8_t kind;
	uint8_t flags;
	uint32_t len;
	uint64_t series;
	int64_t time; /* K_ADD: the record's; K_EXPIRE: the watermark; K_MISSING: up to when */
	const void *ptr;
	struct tl_batch *batch; /* K_ADD: holds ptr's bytes (a reference the keeper drops) */
	struct tl_retain_pin *pin;
};

struct pending {
	struct tl_trigger t;
	struct tl_series_seed *seed;
	struct tl_retain_pin *pin;
	char *trigger_json; /* the event as written, without its newline */
	char *decided;      /* `,"recent_changes":[...],"action":{...}` */
	char name[48];
};

struct tl_evidence {
	struct tl_evidence_opts o;
	struct tl_symtab *syms;
	struct tl_shards *shards;
	struct tl_retain *retain;
	struct tl_ring kq; /* to the keeper */
	pthread_t keeper;
	bool keeper_running;
	struct tl_batch *sent_batch; /* the batch of the last record sent, referenced for it */
	_Atomic int k_done;          /* the keeper answered the last K_PIN or K_CLOSE */
	int k_r;
	struct tl_retain_pin *k_pin;
	struct tl_batch *k_batch; /* the keeper's: the batch of the record it took last */
	uint64_t k_errors;        /* the keeper's: retention calls that failed */
	struct tl_changes *changes;
	struct tl_journal *journal;
	char snap_dir[PATH_MAX];
	int64_t bucket_ns, ahead_ns, keep_ns;
	int64_t closed;        /* the shards' closed time: the last watermark, bucket-floored */
	int64_t last_expire;   /* the minute retention was last expired at */
	int64_t missing_until; /* a restart's: records up to it were read before (INT64_MIN) */
	const unsigned char *last_raw; /* the record retained last */
	uint32_t last_len;
	uint64_t last_series;
	int64_t last_time;
	struct pending *pend;
	size_t n_pend, cap_pend;
	struct tl_annotation ann;
	struct tl_buf decided, tail, line;
	struct tl_evidence_counts counts;
	_Atomic uint64_t journaled; /* by the report's output thread, in run */
	pthread_mutex_t err_mu;     /* fail() is called on the output thread too */
	int err;
	char errmsg[512];
};

static void fail(struct tl_evidence *ev, int r, const char *fmt, ...) TL_PRINTF(3, 4);

static void fail(struct tl_evidence *ev, int r, const char *fmt, ...)
{
	va_list ap;

	(void)pthread_mutex_lock(&ev->err_mu);
	if (ev->err == 0) {
		ev->err = r;
		va_start(ap, fmt);
		(void)vsnprintf(ev->errmsg, sizeof(ev->errmsg), fmt, ap);
		va_end(ap);
	}
	(void)pthread_mutex_unlock(&ev->err_mu);
}

/* ---- the keeper ----------------------------------------------------------------------------- */

static void pause_briefly(unsigned *spins)
{
	if (++*spins < 64) {
		sched_yield();
		return;
	}
	struct timespec ts = { 0, 50 * 1000 };

	nanosleep(&ts, NULL);
}

static void *keeper_main(void *arg)
{
	struct tl_evidence *ev = arg;
	struct kmsg m;

	for (unsigned spins = 0;;) {
		if (!tl_ring_pop_spsc(&ev->kq, &m)) {
			pause_briefly(&spins);
			continue;
		}
		spins = 0;
		switch (m.kind) {
		case K_ADD:
		case K_ADD_OWNED:
			if (m.kind == K_ADD && m.batch != ev->k_batch) {
				tl_batch_unref(ev->k_batch); /* the reader took one per change */
				ev->k_batch = m.batch;
			}
			if (tl_retain_add(ev->retain, m.series, m.time, m.ptr, m.len, m.flags) < 0)
				ev->k_errors++;
			if (m.kind == K_ADD_OWNED)
				free((void *)(uintptr_t)m.ptr);
			break;
		case K_EXPIRE:
			if (tl_retain_expire(ev->retain, m.time) < 0)
				ev->k_errors++;
			break;
		case K_MISSING:
			tl_retain_missing_until(ev->retain, m.time);
			break;
		case K_PIN:
			ev->k_r = tl_retain_pin(ev->retain, m.series, &ev->k_pin);
			atomic_store_explicit(&ev->k_done, 1, memory_order_release);
			break;
		case K_CLOSE:
			ev->k_r = tl_retain_pin_close(m.pin);
			atomic_store_explicit(&ev->k_done, 1, memory_order_release);
			break;
		case K_UNPIN:
			tl_retain_unpin(m.pin);
			break;
		case K_STOP:
		default:
			tl_batch_unref(ev->k_batch);
			ev->k_batch = NULL;
			return NULL;
		}
	}
}

static void keeper_send(struct tl_evidence *ev, const struct kmsg *m)
{
	for (unsigned spins = 0; !tl_ring_push_spsc(&ev->kq, m);)
		pause_briefly(&spins);
}

/*
 * Send @m and wait for the keeper's answer (K_PIN, K_CLOSE). The keeper runs whenever there
 * is retention, from tl_evidence_new() to tl_evidence_finish(): every call below is made
 * in between.
 */
static int keeper_call(struct tl_evidence *ev, const struct kmsg *m)
{
	atomic_store_explicit(&ev->k_done, 0, memory_order_relaxed);
	keeper_send(ev, m);
	for (unsigned spins = 0; !atomic_load_explicit(&ev->k_done, memory_order_acquire);)
		pause_briefly(&spins);
	return ev->k_r;
}

static void keeper_unpin(struct tl_evidence *ev, struct tl_retain_pin *pin)
{
	if (!pin)
		return;
	const struct kmsg m = { .kind = K_UNPIN, .pin = pin };

	keeper_send(ev, &m);
}

/* Stop the keeper once it has done everything sent; retention is the caller's again. */
static void keeper_stop(struct tl_evidence *ev)
{
	if (!ev->keeper_running)
		return;
	const struct kmsg m = { .kind = K_STOP };

	keeper_send(ev, &m);
	pthread_join(ev->keeper, NULL);
	ev->keeper_running = false;
	ev->sent_batch = NULL;
	ev->counts.retain_errors += ev->k_errors;
	ev->k_errors = 0;
}

/* ---- the report's ops --------------------------------------------------------------------- */

static void add_pending(struct tl_evidence *ev, struct tl_trigger *t)
{
	struct pending p = { .t = *t, .seed = t->seed };
	int r;

	p.t.seed = NULL;
	if (ev->n_pend == ev->cap_pend) {
		size_t cap = ev->cap_pend ? ev->cap_pend * 2 : 8;
		struct pending *a = realloc(ev->pend, cap * sizeof(*a));

		if (!a)
			goto oom;
		ev->pend = a;
		ev->cap_pend = cap;
	}
	const struct kmsg pin = { .kind = K_PIN, .series = t->series };

	if ((r = keeper_call(ev, &pin)) < 0) {
		tl_err("snapshot of %s: cannot keep its records: %s",
		       tl_trigger_id(t->incident, p.name), tl_strerror(r));
		ev->counts.snapshot_failures++;
		return;
	}
	p.pin = ev->k_pin;
	p.trigger_json = strndup(ev->line.p, ev->line.n ? ev->line.n - 1 : 0);
	p.decided = strndup(ev->decided.p ? ev->decided.p : "", ev->decided.n);
	if (!p.trigger_json || !p.decided)
		goto oom;
	char id[20];

	(void)snprintf(p.name, sizeof(p.name), "%s.ndjson.zst", tl_trigger_id(t->incident, id));
	t->seed = NULL; /* ours now */
	ev->pend[ev->n_pend++] = p;
	return;
oom:
	keeper_unpin(ev, p.pin);
	free(p.trigger_json);
	free(p.decided);
	ev->counts.snapshot_failures++;
	tl_err("snapshot: out of memory");
}

static void op_annotate(void *ud, struct tl_trigger *t, struct tl_trigger_extra *x)
{
	struct tl_evidence *ev = ud;

	tl_changes_trigger(ev->changes, t);
	tl_changes_annotate(ev->changes, t, &ev->ann);
	tl_buf_reset(&ev->decided);
	tl_annotation_json(&ev->ann, ev->syms, &ev->decided);
	if (tl_buf_ok(&ev->decided)) {
		x->decided = ev->decided.p;
		x->decided_len = ev->decided.n;
	}
	tl_buf_reset(&ev->tail);
	if (!ev->o.snapshots || t->type != TL_TRIGGER_FIRE || !t->seed)
		return;
	char id[20];

	tl_buf_printf(&ev->tail, ",\"snapshot\":\"snapshots/%s.ndjson.zst\"",
		      tl_trigger_id(t->incident, id));
	x->tail = ev->tail.p;
	x->tail_len = ev->tail.n;
	tl_buf_reset(&ev->line);
	tl_trigger_json_ex(t, ev->syms, x, &ev->line);
	if (tl_buf_ok(&ev->line) && tl_buf_ok(&ev->tail))
		add_pending(ev, t);
}

static int op_journal(void *ud, const struct tl_trigger *t, const char *line, size_t len)
{
	struct tl_evidence *ev = ud;
	const int64_t at = t->type == TL_TRIGGER_FIRE ? t->fired_at : t->at;
	int r;

	if (!ev->journal)
		return 0;
	if ((r = tl_journal_append(ev->journal, at, line, len)) < 0) {
		fail(ev, r, "the incident journal: %s", tl_journal_errmsg(ev->journal));
		return r;
	}
	atomic_fetch_add_explicit(&ev->journaled, 1, memory_order_relaxed);
	return 0;
}

static int op_sync(void *ud)
{
	struct tl_evidence *ev = ud;
	int r;

	if (!ev->journal)
		return 0;
	if ((r = tl_journal_sync(ev->journal)) < 0)
		fail(ev, r, "the incident journal: %s", tl_journal_errmsg(ev->journal));
	return r;
}

void tl_evidence_report_ops(struct tl_evidence *ev, struct tl_report_ops *ops)
{
	*ops = (struct tl_report_ops){
		.ud = ev, .annotate = op_annotate, .journal = op_journal, .sync = op_sync
	};
}

/* ---- snapshots ----------------------------------------------------------------------------- */

static const struct tl_rules *rules_of(const struct tl_config *c, const char *deployment)
{
	for (size_t i = 0; i < c->n_deployments; i++)
		if (strcasecmp(c->deployments[i].name, deployment) == 0)
			return &c->deployments[i].rules;
	return &c->rules;
}

static void put_dur(struct tl_buf *b, const char *key, int64_t ns)
{
	tl_buf_printf(b, ",\"%s\":\"%llds\"", key, (long long)(ns / TL_NS_PER_S));
}

static void put_num(struct tl_buf *b, const char *key, double v)
{
	tl_buf_printf(b, ",\"%s\":", key);
	if (isfinite(v))
		tl_buf_json_num(b, v);
	else
		tl_buf_puts(b, "null");
}

/* The fired rule and its settings, as the config names them. */
static void rule_json(struct tl_buf *b, enum tl_rule rule, const struct tl_rules *r)
{
	const struct tl_rule_rate *rate = rule == TL_RULE_GUARDRAIL ? &r->guardrail
					  : rule == TL_RULE_ERRORS  ? &r->errors
								    : &r->throttling;

	tl_buf_printf(b, "{\"name\":\"%s\"", tl_rule_name(rule));
	switch (rule) {
	case TL_RULE_LATENCY:
		tl_buf_printf(b, ",\"statistic\":\"p%.0f\"", r->latency.statistic * 100);
		put_num(b, "factor", r->latency.factor);
		put_dur(b, "for", r->latency.for_ns);
		tl_buf_printf(b, ",\"min_requests\":%u", r->latency.min_requests);
		put_num(b, "severe_factor", r->latency.severe_factor);
		break;
	case TL_RULE_REFUSAL:
		put_num(b, "rate", r->refusal.rate);
		put_num(b, "factor", r->refusal.factor);
		put_dur(b, "window", r->refusal.window_ns);
		tl_buf_printf(b, ",\"min_requests\":%u", r->refusal.min_requests);
		put_num(b, "severe_rate", r->refusal.severe_rate);
		break;
	case TL_RULE_COST:
		put_num(b, "daily_budget_usd", r->cost.daily_budget_usd);
		tl_buf_puts(b, ",\"warn_at\":[");
		for (uint32_t i = 0; i < r->cost.n_warn; i++) {
			if (i)
				tl_buf_puts(b, ",");
			tl_buf_json_num(b, r->cost.warn_at[i]);
		}
		tl_buf_puts(b, "]");
		put_num(b, "hourly_factor", r->cost.hourly_factor);
		break;
	default:
		put_num(b, "rate", rate->rate);
		put_dur(b, "window", rate->window_ns);
		tl_buf_printf(b, ",\"min_requests\":%u", rate->min_requests);
		put_num(b, "severe_rate", rate->severe_rate);
		break;
	}
	tl_buf_puts(b, "}");
}

/* The series' minutes before the trigger, as the seed has them. */
static void minutes_json(struct tl_buf *b, const struct tl_series_seed *sd)
{
	char t[TL_TIME_TEXT_LEN + 1];
	const uint32_t n = sd->last_minute == INT64_MIN   ? 0
			   : sd->horizon < HEADER_MINUTES ? sd->horizon
							  : HEADER_MINUTES;

	tl_buf_puts(b, "[");
	for (uint32_t k = n; k-- > 0;) {
		const uint32_t i = sd->horizon - 1 - k;
		const int64_t m = sd->last_minute - (int64_t)k * TL_NS_PER_MIN;

		tl_buf_printf(b, "%s{\"minute\":\"%s\"", k + 1 == n ? "" : ",",
			      tl_time_format(m, t));
		put_num(b, "latency_ms", tl_seed_latency_ms(sd->lat[i]));
		put_num(b, "refusal_rate", tl_seed_refusal_rate(sd->ref[i]));
		if (k < TL_SEED_MINUTES)
			put_num(b, "spend_usd", sd->min_spend[k]);
		tl_buf_printf(b, ",\"in_baseline\":%s}",
			      sd->lat[i] && !(sd->mflag[i] & TL_SEED_LAT_EXCL) ? "true" : "false");
	}
	tl_buf_puts(b, "]");
}

/* What a snapshot holds of a pin: the records from `cut` on, in the order received. */
struct scan {
	int64_t cut;
	uint64_t index; /* of the record among those held */
	int64_t first, last;
	struct nc {
		uint64_t index;
		int64_t time;
	} * not_counted; /* the records held the engine did not count */
	size_t n_not_counted, cap;
	bool truncated;
	struct tl_snapshot *w;
	int werr;
};

static int scan_record(void *ud, int64_t time_ns, uint8_t flags, const void *raw, uint32_t len)
{
	struct scan *s = ud;

	(void)raw;
	(void)len;
	if (time_ns < s->cut)
		return 0;
	if (time_ns < s->first)
		s->first = time_ns;
	if (time_ns > s->last)
		s->last = time_ns;
	if (flags & F_NOT_COUNTED) {
		if (s->n_not_counted == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;

			if (cap > NOT_COUNTED_MAX)
				cap = NOT_COUNTED_MAX;
			struct nc *a =
			    cap > s->cap ? realloc(s->not_counted, cap * sizeof(*a)) : NULL;

			if (!a) {
				s->truncated = true;
				s->index++;
				return 0;
			}
			s->not_counted = a;
			s->cap = cap;
		}
		s->not_counted[s->n_not_counted++] = (struct nc){ s->index, time_ns };
	}
	s->index++;
	return 0;
}

static int write_record(void *ud, int64_t time_ns, uint8_t flags, const void *raw, uint32_t len)
{
	struct scan *s = ud;
	int r;

	(void)flags;
	if (time_ns < s->cut)
		return 0;
	if ((r = tl_snapshot_add_record(s->w, raw, len)) < 0) {
		s->werr = r;
		return r;
	}
	return 0;
}

static int64_t floor_minute(int64_t t)
{
	return tl_floor_div(t, TL_NS_PER_MIN) * TL_NS_PER_MIN;
}

/* Write the snapshot of @p and free what it holds. */
static void finalize(struct tl_evidence *ev, struct pending *p)
{
	struct tl_retain_pin_stats ps;
	struct scan sc = { 0 };
	struct tl_buf h = { 0 };
	char t1[TL_TIME_TEXT_LEN + 1], t2[TL_TIME_TEXT_LEN + 1];
	const char *why = NULL;
	size_t n;
	int r;

	const struct kmsg close = { .kind = K_CLOSE, .pin = p->pin };

	if ((r = keeper_call(ev, &close)) < 0)
		tl_err("snapshot %s: some records after the trigger are missing: %s", p->name,
		       tl_strerror(r));
	tl_retain_pin_stats(p->pin, &ps);

	/*
	 * What it holds: the records from `keep` before the trigger on. Retention drops a block
	 * only once the reported watermark is `keep` past its newest record, and the trigger was
	 * reported before the watermark passed it, so every record from there on is still held,
	 * however far the shards lagged: the same input gives the same snapshot. (A series past
	 * series_max_mib drops by bytes too; then dropped_until says from where it is whole.)
	 */
	const struct tl_series_seed *sd = p->seed;
	const bool seeded = sd->last_minute != INT64_MIN;
	const int64_t earliest = seeded ? sd->last_minute + TL_NS_PER_MIN - 60 * TL_NS_PER_MIN : 0;

	sc.cut = floor_minute(p->t.at - ev->keep_ns) + TL_NS_PER_MIN;
	sc.first = INT64_MAX;
	sc.last = INT64_MIN;
	if ((r = tl_retain_pin_each(p->pin, scan_record, &sc)) < 0)
		why = "the retained records could not be read";

	/* where the re-run starts */
	int64_t from = sc.cut;

	if (ps.dropped_until != INT64_MIN && ps.dropped_until >= from)
		from = floor_minute(ps.dropped_until) + TL_NS_PER_MIN;
	if (sc.first != INT64_MAX && floor_minute(sc.first) > from)
		from = floor_minute(sc.first); /* nothing before it: start with its minute */
	if (seeded && from < earliest)
		from = earliest;
	const int64_t need =
	    p->t.rule == TL_RULE_COST ? p->t.at - ev->bucket_ns : p->t.window_start;

	if (why)
		;
	else if (!seeded)
		why = "the series had closed no minute when the rule fired";
	else if (from > need && ev->missing_until != INT64_MIN && ev->missing_until >= need)
		why =
		    "tripline restarted from a checkpoint inside the trigger's window: the records "
		    "read before the restart are not retained";
	else if (from > need)
		why = "the records retained do not reach back to the trigger's window";
	else if (ps.omitted_records)
		why = "records were omitted (the snapshot's size bound)";
	else if (sc.truncated)
		why = "too many records the engine did not count to list";

	/* the header */
	const char *res = tl_symtab_str(ev->syms, p->t.resource, &n);
	const char *dep = tl_symtab_str(ev->syms, p->t.deployment, NULL);
	const struct tl_rules *rules = rules_of(ev->o.cfg, dep);
	struct tl_replay_state st = { .lateness_ns = ev->o.cfg->lateness_ns,
				      .bucket_ns = ev->o.cfg->bucket_ns,
				      .horizon_ns = ev->o.cfg->horizon_ns,
				      .min_history_ns = ev->o.cfg->min_history_ns,
				      .hold_ns = ev->o.cfg->hold_ns,
				      .update_every_ns = ev->o.cfg->update_every_ns,
				      .rules = *rules,
				      .prices = ev->o.cfg->prices,
				      .n_prices = ev->o.cfg->n_prices,
				      .from = from,
				      .seed = p->seed };
	char id[20];

	(void)snprintf(st.resource, sizeof(st.resource), "%.*s", (int)n, res);
	(void)snprintf(st.deployment, sizeof(st.deployment), "%s", dep);
	tl_buf_printf(&h, "{\"type\":\"tripline.snapshot\",\"format\":%d,\"incident_id\":\"%s\"",
		      TL_STATE_VERSION, tl_trigger_id(p->t.incident, id));
	tl_buf_puts(&h, ",\"trigger\":");
	tl_buf_puts(&h, p->trigger_json);
	tl_buf_puts(&h, ",\"rule\":");
	rule_json(&h, (enum tl_rule)p->t.rule, rules);
	tl_buf_puts(&h, ",\"series\":{\"resource\":");
	tl_buf_json_str(&h, st.resource, strlen(st.resource));
	tl_buf_puts(&h, ",\"deployment\":");
	tl_buf_json_str(&h, st.deployment, strlen(st.deployment));
	tl_buf_puts(&h, "},\"minutes\":");
	minutes_json(&h, sd);
	tl_buf_printf(&h, ",\"retained\":{\"records\":%llu,\"omitted\":%llu",
		      (unsigned long long)sc.index, (unsigned long long)ps.omitted_records);
	tl_buf_printf(&h, ",\"since\":\"%s\"", tl_time_format(sc.cut, t1));
	if (sc.index)
		tl_buf_printf(&h, ",\"first\":\"%s\",\"last\":\"%s\"", tl_time_format(sc.first, t1),
			      tl_time_format(sc.last, t2));
	if (ps.dropped_until != INT64_MIN && ps.dropped_until >= sc.cut)
		tl_buf_printf(&h, ",\"complete_after\":\"%s\"",
			      tl_time_format(ps.dropped_until, t1));
	tl_buf_printf(&h, "},\"replay\":{\"from\":\"%s\",\"until\":\"%s\",\"reproducible\":%s",
		      tl_time_format(from, t1), tl_time_format(ev->closed, t2),
		      why ? "false" : "true");
	if (why) {
		tl_buf_puts(&h, ",\"why_not\":");
		tl_buf_json_str(&h, why, strlen(why));
	}
	tl_buf_puts(&h, ",\"not_counted\":[");
	for (size_t i = 0, k = 0; i < sc.n_not_counted; i++)
		if (sc.not_counted[i].time >= from)
			tl_buf_printf(&h, "%s%llu", k++ ? "," : "",
				      (unsigned long long)sc.not_counted[i].index);
	tl_buf_puts(&h, "]},\"replay_state\":\"");
	tl_state_encode(&st, &h);
	tl_buf_puts(&h, "\"}");
	if (!tl_buf_ok(&h)) {
		tl_err("snapshot %s: out of memory", p->name);
		ev->counts.snapshot_failures++;
		goto out;
	}

	/* the file */
	struct tl_snapshot_stats ss;

	r = tl_snapshot_create(ev->snap_dir, p->name, &ev->o.snapshot, h.p, h.n, &sc.w);
	if (r == 0 && p->decided[0]) {
		tl_buf_reset(&h);
		tl_buf_puts(&h, "{\"type\":\"tripline.changes\"");
		tl_buf_puts(&h, p->decided);
		tl_buf_puts(&h, "}");
		r = tl_buf_ok(&h) ? tl_snapshot_add_line(sc.w, h.p, h.n) : -ENOMEM;
		r = r > 0 ? 0 : r;
	}
	if (r == 0) {
		r = tl_retain_pin_each(p->pin, write_record, &sc);
		if (sc.werr)
			r = sc.werr;
	}
	if (r == 0) {
		r = tl_snapshot_finish(sc.w, &ss);
		sc.w = NULL;
	}
	if (r < 0) {
		tl_snapshot_abort(sc.w);
		tl_err("snapshot '%s/%s': %s", ev->snap_dir, p->name, tl_strerror(r));
		ev->counts.snapshot_failures++;
		goto out;
	}
	ev->counts.snapshots++;
	ev->counts.snapshot_records += ss.records;
	ev->counts.snapshot_omitted += ss.records_omitted;
out:
	free(sc.not_counted);
	tl_buf_fini(&h);
	keeper_unpin(ev, p->pin);
	tl_series_seed_free(p->seed);
	free(p->trigger_json);
	free(p->decided);
}

/* Write the snapshots whose post window the closed time has passed (all with @all). */
static void finalize_due(struct tl_evidence *ev, bool all)
{
	size_t k = 0;

	for (size_t i = 0; i < ev->n_pend; i++) {
		struct pending *p = &ev->pend[i];

		if (all || p->t.at + ev->o.post_ns <= ev->closed)
			finalize(ev, p);
		else
			ev->pend[k++] = *p;
	}
	ev->n_pend = k;
}

/* ---- the reader's calls --------------------------------------------------------------------- */

void tl_evidence_event(struct tl_evidence *ev, const struct tl_event *e)
{
	uint8_t flags = 0;

	if ((e->kind == TL_EV_REQUEST || e->kind == TL_EV_USAGE) && ev->closed != INT64_MIN &&
	    (e->time_ns < ev->closed ||
	     (uint64_t)e->time_ns - (uint64_t)ev->closed >= (uint64_t)ev->ahead_ns))
		flags = F_NOT_COUNTED;
	if (!flags)
		tl_changes_event(ev->changes, e);
	if (!ev->o.snapshots || !e->raw.ptr)
		return;
	if (e->raw.ptr == ev->last_raw && e->raw.len == ev->last_len &&
	    e->series == ev->last_series && e->time_ns == ev->last_time)
		return; /* another event of the same record */
	ev->last_raw = e->raw.ptr;
	ev->last_len = e->raw.len;
	ev->last_series = e->series;
	ev->last_time = e->time_ns;
	struct kmsg m = { .kind = K_ADD,
			  .flags = flags,
			  .len = e->raw.len,
			  .series = e->series,
			  .time = e->time_ns,
			  .ptr = e->raw.ptr,
			  .batch = e->raw.batch };

	if (!m.batch) {
		/* bytes nobody holds for us: the keeper gets a copy */
		void *copy = malloc(m.len ? m.len : 1);

		if (!copy) {
			ev->counts.retain_errors++;
			return;
		}
		memcpy(copy, m.ptr, m.len);
		m.ptr = copy;
		m.kind = K_ADD_OWNED;
	} else if (m.batch != ev->sent_batch) {
		ev->sent_batch = tl_batch_ref(m.batch); /* the keeper drops it when it moves on */
	}
	keeper_send(ev, &m);
}

void tl_evidence_watermark(struct tl_evidence *ev, int64_t watermark_ns)
{
	const int64_t q = tl_floor_div(watermark_ns, ev->bucket_ns) * ev->bucket_ns;

	if (ev->closed != INT64_MIN && q <= ev->closed)
		return;
	ev->closed = q;
	if (!ev->o.snapshots)
		return;
	/* every trigger a post window old has been reported, so its snapshot is pending */
	tl_shards_wait(ev->shards, q - ev->o.post_ns);
	finalize_due(ev, false);
	/* records expire by the watermark of the triggers reported, never past a trigger not
	 * yet reported: its snapshot will find what came before it */
	const int64_t w = tl_shards_written_wm(ev->shards);

	if (w == INT64_MIN)
		return;
	const int64_t e = floor_minute(w < q ? w : q);

	if (ev->last_expire == INT64_MIN || e > ev->last_expire) {
		ev->last_expire = e;
		const struct kmsg m = { .kind = K_EXPIRE, .time = e };

		keeper_send(ev, &m);
	}
}

void tl_evidence_missing_until(struct tl_evidence *ev, int64_t t)
{
	if (t == INT64_MIN || !ev->retain)
		return;
	if (t > ev->missing_until)
		ev->missing_until = t;
	const struct kmsg m = { .kind = K_MISSING, .time = t };

	keeper_send(ev, &m);
}

size_t tl_evidence_snapshots_pending(const struct tl_evidence *ev)
{
	return ev->n_pend;
}

int tl_evidence_finish(struct tl_evidence *ev)
{
	int r;

	finalize_due(ev, true);
	keeper_stop(ev);
	if (ev->journal) {
		if ((r = tl_journal_close(ev->journal)) < 0)
			fail(ev, r, "the incident journal: %s", tl_strerror(r));
		ev->journal = NULL;
	}
	return ev->err;
}

void tl_evidence_stats_json(struct tl_evidence *ev, struct tl_buf *b)
{
	const struct tl_changes_counts *c = tl_changes_get_counts(ev->changes);

	tl_buf_printf(b,
		      ",\"evidence\":{\"snapshots\":%llu,\"snapshot_failures\":%llu,"
		      "\"snapshot_records\":%llu,\"snapshot_records_omitted\":%llu,"
		      "\"journaled\":%llu,\"changes\":%llu,\"version_changes\":%llu",
		      (unsigned long long)ev->counts.snapshots,
		      (unsigned long long)ev->counts.snapshot_failures,
		      (unsigned long long)ev->counts.snapshot_records,
		      (unsigned long long)ev->counts.snapshot_omitted,
		      (unsigned long long)atomic_load(&ev->journaled),
		      (unsigned long long)c->changes, (unsigned long long)c->version_changes);
	if (ev->retain) {
		struct tl_retain_stats r;

		tl_retain_stats(ev->retain, &r);
		tl_buf_printf(
		    b,
		    ",\"retention\":{\"records\":%llu,\"bytes\":%llu,\"not_retained\":%llu,"
		    "\"blocks_compressed\":%llu,\"compression_ratio\":",
		    (unsigned long long)r.records_in, (unsigned long long)r.bytes_in,
		    (unsigned long long)(r.records_rejected + r.records_lost),
		    (unsigned long long)r.blocks_compressed);
		tl_buf_json_num(b, r.compression_ratio);
		tl_buf_printf(
		    b,
		    ",\"dropped_by_time\":%llu,\"dropped_by_bytes\":%llu,"
		    "\"held_bytes\":%llu,\"series\":%llu}",
		    (unsigned long long)r.dropped_time_records,
		    (unsigned long long)(r.dropped_series_records + r.dropped_total_records),
		    (unsigned long long)r.held_bytes, (unsigned long long)r.series);
	}
	tl_buf_puts(b, "}");
}

const char *tl_evidence_errmsg(const struct tl_evidence *ev)
{
	return ev->errmsg;
}

const struct tl_evidence_counts *tl_evidence_get_counts(const struct tl_evidence *ev)
{
	return &ev->counts;
}

void tl_evidence_opts_from_config(const struct tl_config *cfg, const char *out_dir,
				  struct tl_evidence_opts *o)
{
	const struct tl_config_evidence *c = &cfg->evidence;

	*o = (struct tl_evidence_opts){
		.out_dir = out_dir,
		.snapshots = c->snapshots,
		.journal = true,
		.post_ns = c->post_ns,
		.retain = { .keep_ns = c->keep_ns,
			    .max_series_bytes = (size_t)c->series_max_mib << 20,
			    .max_pin_bytes = (size_t)c->snapshot_max_mib << 20,
			    .level = (int)c->level,
			    .window_log = (int)c->window_log,
			    .threads = -1 },
		.snapshot = { .level = (int)c->level,
			      .max_bytes = (size_t)c->snapshot_max_mib << 20 },
		.changes = { .horizon_ns = cfg->horizon_ns,
			     .recent_ns = c->recent_ns,
			     .stable_after_ns = c->stable_after_ns,
			     .change_window_ns = c->change_window_ns,
			     .lateness_ns = cfg->lateness_ns },
		.journal_opts = { .segment_bytes = 64u << 20,
				  .max_age_ns = c->journal_max_age_ns,
				  .max_bytes = (uint64_t)c->journal_max_mib << 20 },
		.cfg = cfg
	};
}

int tl_evidence_new(const struct tl_evidence_opts *o, struct tl_symtab *syms, struct tl_shards *p,
		    char *err, size_t errlen, struct tl_evidence **ret)
{
	struct tl_evidence *ev = calloc(1, sizeof(*ev));
	int r;

	if (!ev)
		return -ENOMEM;
	(void)pthread_mutex_init(&ev->err_mu, NULL);
	ev->o = *o;
	if (ev->o.post_ns < 0)
		ev->o.post_ns = 5 * TL_NS_PER_MIN;
	ev->syms = syms;
	ev->shards = p;
	ev->bucket_ns = o->cfg->bucket_ns;
	ev->ahead_ns = tl_shards_ahead_ns(p);
	ev->keep_ns = o->retain.keep_ns > 0 ? o->retain.keep_ns : TL_RETAIN_KEEP_NS;
	ev->closed = INT64_MIN;
	ev->last_expire = INT64_MIN;
	ev->missing_until = INT64_MIN;
	if (ev->o.changes.lateness_ns <= 0)
		ev->o.changes.lateness_ns = o->cfg->lateness_ns;
	if (!(ev->changes = tl_changes_new(&ev->o.changes, syms))) {
		(void)snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	if (ev->o.snapshots) {
		if ((r = tl_retain_new(&ev->o.retain, &ev->retain)) < 0) {
			(void)snprintf(err, errlen, "record retention: %s", tl_strerror(r));
			goto fail;
		}
		if ((r = tl_ring_init(&ev->kq, KEEPER_RING, sizeof(struct kmsg))) < 0 ||
		    (r = -pthread_create(&ev->keeper, NULL, keeper_main, ev)) < 0) {
			(void)snprintf(err, errlen, "record retention: %s", tl_strerror(r));
			goto fail;
		}
		ev->keeper_running = true;
		(void)snprintf(ev->snap_dir, sizeof(ev->snap_dir), "%s/snapshots", o->out_dir);
		if ((r = tl_mkdir_p(ev->snap_dir)) < 0) {
			(void)snprintf(err, errlen,
				       "'%s': cannot create the snapshot directory: %s",
				       ev->snap_dir, tl_strerror(r));
			goto fail;
		}
	}
	if (ev->o.journal) {
		char dir[PATH_MAX], jerr[400];

		(void)snprintf(dir, sizeof(dir), "%s/%s", o->out_dir, TL_JOURNAL_SUBDIR);
		if ((r = tl_journal_open(dir, &ev->o.journal_opts, jerr, sizeof(jerr),
					 &ev->journal)) < 0) {
			(void)snprintf(err, errlen, "the incident journal: %s", jerr);
			goto fail;
		}
	}
	*ret = ev;
	return 0;
fail:
	tl_evidence_free(ev);
	return r;
}

struct tl_changes *tl_evidence_changes(struct tl_evidence *ev)
{
	return ev ? ev->changes : NULL;
}

void tl_evidence_free(struct tl_evidence *ev)
{
	if (!ev)
		return;
	keeper_stop(ev);
	for (size_t i = 0; i < ev->n_pend; i++) {
		tl_retain_unpin(ev->pend[i].pin);
		tl_series_seed_free(ev->pend[i].seed);
		free(ev->pend[i].trigger_json);
		free(ev->pend[i].decided);
	}
	free(ev->pend);
	(void)tl_journal_close(ev->journal);
	tl_retain_free(ev->retain);
	tl_ring_fini(&ev->kq);
	tl_changes_free(ev->changes);
	tl_buf_fini(&ev->decided);
	tl_buf_fini(&ev->tail);
	tl_buf_fini(&ev->line);
	(void)pthread_mutex_destroy(&ev->err_mu);
	free(ev);
}
