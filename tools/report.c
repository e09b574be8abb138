/*
 * tools/report.c - where trigger events go in replay and run: stdout as NDJSON, in a
 * deterministic order, and the backtest summary (per rule: incidents, firing time, first and
 * last) for stderr and --summary.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tripline/engine.h>
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

void tl_report_fini(struct tl_report *r)
{
	tl_buf_fini(&r->buf);
	free(r->open);
}

static int flush_out(struct tl_report *r)
{
	size_t off = 0;

	/* the sinks' copies are durable before the journal's, and nothing is sent before
	 * both are: a crash in between makes a restart queue the event again (a duplicate
	 * delivery, which every format's dedup key makes harmless), never lose it */
	if (r->buf.n && r->alerts && r->err == 0) {
		int e = tl_alerts_sync(r->alerts);

		if (e < 0) {
			tl_err("%s", tl_alerts_errmsg(r->alerts));
			r->err = e;
			tl_buf_reset(&r->buf);
			return e;
		}
	}
	if (r->buf.n && r->ops.sync && r->err == 0) {
		int e = r->ops.sync(r->ops.ud);

		if (e < 0) {
			r->err = e;
			tl_buf_reset(&r->buf); /* not told: it is not in the journal */
			return e;
		}
	}
	if (r->buf.n && r->alerts)
		tl_alerts_kick(r->alerts);

	while (off < r->buf.n && r->err == 0) {
		ssize_t n = write(r->fd, r->buf.p + off, r->buf.n - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r->err = -errno;
		else
			off += (size_t)n;
	}
	tl_buf_reset(&r->buf);
	return r->err;
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
	cmp_syms = r->syms;
	qsort(t, n, sizeof(*t), cmp_triggers);
	for (size_t i = 0; i < n; i++) {
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
		if (r->ops.journal && tl_buf_ok(&r->buf) && r->err == 0) {
			int e =
			    r->ops.journal(r->ops.ud, &t[i], r->buf.p + start, r->buf.n - start);

			if (e < 0)
				r->err = e;
		}
		if (r->alerts && tl_buf_ok(&r->buf) && r->err == 0) {
			int e = tl_alerts_event(r->alerts, &t[i], r->syms, r->buf.p + start,
						r->buf.n - start);

			if (e < 0) {
				tl_err("%s", tl_alerts_errmsg(r->alerts));
				r->err = e;
			}
		}
		if (r->buf.n > 64 * 1024 && flush_out(r) < 0) {
			for (size_t k = i + 1; k < n; k++)
				tl_series_seed_free(t[k].seed);
			return r->err;
		}
	}
	if (!tl_buf_ok(&r->buf))
		return -ENOMEM;
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
