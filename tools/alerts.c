/*
 * tools/alerts.c - trigger events to file sinks and, through the durable outbox, to the
 * delivery thread (see alerts.h).
 */
#include "alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tripline/error.h>
#include <tripline/fs.h>
#include <tripline/outbox.h>
#include <tripline/time.h>

#include "cli.h"
#include "http.h"
#include "sinks.h"

struct file_sink {
	const struct tl_sink *s;
	int fd;
	bool dirty;
};

struct tl_alerts {
	const struct tl_sink *sinks; /* the config's */
	size_t n_sinks;
	struct file_sink *files;
	size_t n_files;
	const struct tl_sink **queued; /* outbox index -> sink */
	size_t n_queued;
	struct tl_outbox *outbox;
	struct tl_deliver *deliver;
	bool outbox_dirty;
	char errmsg[300];
};

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * TL_NS_PER_S + ts.tv_nsec;
}

int tl_alerts_open(const struct tl_config *cfg, const char *out_dir, struct tl_alerts **ret,
		   char *err, size_t errlen)
{
	struct tl_alerts *a;
	const char *names[TL_OUTBOX_MAX_SINKS];
	char path[4200], note[600] = "";
	int r = 0;

	*ret = NULL;
	size_t n_files = 0, n_queued = 0;

	for (size_t i = 0; i < cfg->n_sinks; i++) {
		n_files += cfg->sinks[i].kind == TL_SINK_FILE;
		n_queued += tl_sink_queued(&cfg->sinks[i]);
	}
	if (n_files + n_queued == 0)
		return 0;
	if (!(a = calloc(1, sizeof(*a))) || !(a->files = calloc(n_files + 1, sizeof(*a->files))) ||
	    !(a->queued = calloc(n_queued + 1, sizeof(*a->queued)))) {
		if (a)
			free(a->files);
		free(a);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->sinks = cfg->sinks;
	a->n_sinks = cfg->n_sinks;
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const struct tl_sink *s = &cfg->sinks[i];

		if (s->kind == TL_SINK_FILE) {
			int fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

			if (fd < 0) {
				r = -errno;
				snprintf(err, errlen, "sink '%s': '%s': %s", s->name, s->path,
					 tl_strerror(r));
				goto fail;
			}
			a->files[a->n_files++] = (struct file_sink){ .s = s, .fd = fd };
		} else if (tl_sink_queued(s)) {
			names[a->n_queued] = s->name;
			a->queued[a->n_queued++] = s;
		}
	}
	if (a->n_queued) {
		if ((r = tl_outbox_open(out_dir, names, a->n_queued, &a->outbox, note, sizeof(note),
					err, errlen)) < 0)
			goto fail;
		if (note[0])
			tl_info("%s", note);
		snprintf(path, sizeof(path), "%s/alerts-dead-letter.ndjson", out_dir);
		const struct tl_deliver_opts o = { .sinks = a->queued,
						   .n_sinks = a->n_queued,
						   .outbox = a->outbox,
						   .dead_letter_path = path };

		if ((r = tl_deliver_start(&o, &a->deliver, err, errlen)) < 0)
			goto fail;
		for (size_t i = 0; i < a->n_queued; i++) {
			size_t n = tl_outbox_pending(a->outbox, i);

			if (n)
				tl_info("tripline: sink '%s': %zu events pending from before; "
					"delivering them first",
					a->queued[i]->name, n);
		}
	}
	*ret = a;
	return 0;
fail:
	(void)tl_alerts_close(a);
	return r;
}

int tl_alerts_event(struct tl_alerts *a, const struct tl_trigger *t, const struct tl_symtab *syms,
		    const char *line, size_t len)
{
	const struct tl_sink_event ev = { .rule = t->rule,
					  .severity = t->severity,
					  .deployment = tl_symtab_str(syms, t->deployment, NULL),
					  .owner = t->owner ? t->owner : "",
					  .incident_commander = t->incident_commander,
					  .comms_owner = t->comms_owner };
	const int64_t now = wall_ns();
	int r;

	for (size_t i = 0; i < a->n_files; i++) {
		struct file_sink *f = &a->files[i];

		if (!tl_sink_wants(f->s, &ev))
			continue;
		if ((r = tl_write_all(f->fd, line, len)) < 0) {
			snprintf(a->errmsg, sizeof(a->errmsg), "sink '%s': '%s': %s", f->s->name,
				 f->s->path, tl_strerror(r));
			return r;
		}
		f->dirty = true;
	}
	/* the outbox keeps the line without its newline */
	const size_t n = len && line[len - 1] == '\n' ? len - 1 : len;

	for (size_t i = 0; i < a->n_queued; i++) {
		if (!tl_sink_wants(a->queued[i], &ev))
			continue;
		if ((r = tl_outbox_append(a->outbox, i, line, n, now)) < 0) {
			snprintf(a->errmsg, sizeof(a->errmsg), "sink '%s': the outbox: %s",
				 a->queued[i]->name, tl_strerror(r));
			return r;
		}
		a->outbox_dirty = true;
	}
	return 0;
}

int tl_alerts_sync(struct tl_alerts *a)
{
	int r;

	for (size_t i = 0; i < a->n_files; i++) {
		struct file_sink *f = &a->files[i];

		if (f->dirty && fdatasync(f->fd) < 0) {
			r = -errno;
			snprintf(a->errmsg, sizeof(a->errmsg), "sink '%s': '%s': %s", f->s->name,
				 f->s->path, tl_strerror(r));
			return r;
		}
		f->dirty = false;
	}
	if (a->outbox_dirty) {
		if ((r = tl_outbox_sync(a->outbox)) < 0) {
			snprintf(a->errmsg, sizeof(a->errmsg), "the outbox: %s", tl_strerror(r));
			return r;
		}
		a->outbox_dirty = false;
	}
	return 0;
}

void tl_alerts_kick(struct tl_alerts *a)
{
	if (a->deliver)
		tl_deliver_kick(a->deliver);
}

const char *tl_alerts_errmsg(const struct tl_alerts *a)
{
	return a->errmsg;
}

bool tl_alerts_drain(struct tl_alerts *a, int64_t timeout_ns)
{
	const int64_t start = tl_now_ns();

	if (!a || !a->deliver)
		return true;
	for (;;) {
		int64_t wait = 10 * TL_NS_PER_S;

		if (timeout_ns > 0) {
			const int64_t left = timeout_ns - (tl_now_ns() - start);

			if (left <= 0)
				return false;
			if (left < wait)
				wait = left;
		}
		if (tl_deliver_drain(a->deliver, wait))
			return true;
		for (size_t i = 0; !tl_quiet && i < a->n_queued; i++) {
			struct tl_deliver_counts c;

			tl_deliver_counts(a->deliver, i, &c);
			if (c.pending)
				tl_info("tripline: sink '%s': %llu events not delivered yet%s%s",
					a->queued[i]->name, (unsigned long long)c.pending,
					c.last_error[0] ? "; last error: " : "", c.last_error);
		}
	}
}

void tl_alerts_metrics(struct tl_alerts *a, struct tl_buf *b)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "tripline_alerts_delivered_total", "counter",
		  "Events a sink's receiver took (2xx, or acknowledged by Kafka)." },
		{ "tripline_alerts_attempts_total", "counter", "Requests made to a sink." },
		{ "tripline_alerts_retries_total", "counter", "Requests that were retries." },
		{ "tripline_alerts_dead_total", "counter",
		  "Events given up on (too old, or refused for good): in the dead-letter file." },
		{ "tripline_alerts_pending", "gauge", "Events in a sink's outbox now." },
		{ "tripline_alerts_oldest_pending_seconds", "gauge",
		  "Age of a sink's oldest pending event (0 when none)." },
	};
	struct tl_buf lb = { 0 };

	if (!a || !a->deliver)
		return;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		tl_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (size_t i = 0; i < a->n_queued; i++) {
			struct tl_deliver_counts c;
			double v;

			tl_deliver_counts(a->deliver, i, &c);
			switch (f) {
			case 0:
				v = (double)c.delivered;
				break;
			case 1:
				v = (double)c.attempts;
				break;
			case 2:
				v = (double)c.retries;
				break;
			case 3:
				v = (double)c.dead;
				break;
			case 4:
				v = (double)c.pending;
				break;
			default:
				v = c.oldest_ns ? (double)(wall_ns() - c.oldest_ns) / 1e9 : 0;
				break;
			}
			tl_buf_reset(&lb);
			tl_prom_label(&lb, "sink", a->queued[i]->name);
			tl_prom_sample(b, fam[f].name, lb.p, v);
		}
	}
	tl_buf_fini(&lb);
}

void tl_alerts_stats_json(struct tl_alerts *a, struct tl_buf *b)
{
	if (!a || !a->deliver)
		return;
	tl_buf_puts(b, ",\"alerts\":[");
	for (size_t i = 0; i < a->n_queued; i++) {
		struct tl_deliver_counts c;

		tl_deliver_counts(a->deliver, i, &c);
		tl_buf_puts(b, i ? ",{\"sink\":" : "{\"sink\":");
		tl_buf_json_str(b, a->queued[i]->name, strlen(a->queued[i]->name));
		tl_buf_printf(
		    b,
		    ",\"delivered\":%llu,\"attempts\":%llu,\"retries\":%llu,\"dead\":%llu,"
		    "\"pending\":%llu}",
		    (unsigned long long)c.delivered, (unsigned long long)c.attempts,
		    (unsigned long long)c.retries, (unsigned long long)c.dead,
		    (unsigned long long)c.pending);
	}
	tl_buf_puts(b, "]");
}

int tl_alerts_close(struct tl_alerts *a)
{
	int r = 0;

	if (!a)
		return 0;
	tl_deliver_stop(a->deliver);
	if (a->outbox) {
		if (tl_outbox_sync(a->outbox) < 0 && r == 0)
			r = -EIO;
		tl_outbox_close(a->outbox);
	}
	for (size_t i = 0; i < a->n_files; i++)
		if (close(a->files[i].fd) < 0 && r == 0)
			r = -errno;
	free(a->files);
	free(a->queued);
	free(a);
	return r;
}
