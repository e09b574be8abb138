/*
 * tools/deliver.c - the sink filter and the delivery thread (see sinks.h): the outbox is
 * drained to webhook sinks over libcurl's multi interface and to Kafka sinks through one
 * librdkafka producer each.
 *
 * Per sink, the oldest pending entry is peeked, rendered (tools/alert_format.h) and sent;
 * one request is in flight per sink, every sink at once. An entry leaves the outbox
 * (tl_outbox_done()) only when the receiver took it or it was dead-lettered; the dead-letter
 * line is written and fdatasync'd first. A failure retries the same entry after a backoff:
 * retry_initial_ns doubling up to retry_max_ns, ±20 % jitter, at least what Retry-After
 * asks, and never past the entry's max_age, when it is dead-lettered instead. So order per
 * sink holds under retries, and a slow or dead receiver holds back only its own sink.
 *
 * Waiting: curl_multi_poll() sleeps on the sockets of the requests in flight, on one pipe
 * per Kafka producer (librdkafka writes to it when a delivery report is queued) and on the
 * multi handle's wakeup pipe, which tl_deliver_kick() and tl_deliver_stop() write to. Its
 * timeout is the nearest backoff deadline; with nothing pending it sleeps until kicked.
 *
 * Secrets: a sink's URL and routing key go to libcurl and the body only. Every message
 * (log lines, last_error, @err, dead-letter reasons) names the sink, and takes its text
 * from curl_easy_strerror(), an HTTP status or librdkafka's error names, none of which
 * hold the URL. libcurl's own error buffer (which may quote the host) is not used.
 *
 * Threads: the delivery thread owns the sink states, the CURL handles, the producers and
 * the tl_alert_format. d->mu guards the counts only; d->cv signals progress to drain().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include <tripline/buf.h>
#include <tripline/time.h>

#include "cli.h"
#include "sinks.h"

#define DEF_TIMEOUT_NS    (10 * TL_NS_PER_S)
#define DEF_MAX_AGE_NS    (TL_NS_PER_MIN * 60 * 24)
#define DEF_RETRY_INIT_NS TL_NS_PER_S
#define DEF_RETRY_MAX_NS  (5 * TL_NS_PER_MIN)
#define IDLE_WAIT_MS      60000 /* nothing pending: sleep until kicked (or this) */
#define KAFKA_POLL_MS     1000  /* a produce in flight: poll its reports at least this often */
#define RESP_MAX          ((size_t)64 * 1024)
#define STEPS_PER_ROUND   256 /* entries one sink may finish without a request, per round */
#define JITTER_PERCENT    20

struct sink_st {
	const struct tl_sink *s;
	size_t i;
	int64_t timeout_ns, max_age_ns, retry_init_ns, retry_max_ns;
	int64_t req_timeout_ns; /* the request in flight's: timeout_ns, or less near max_age */

	/* the entry being delivered (has_entry), and its progress */
	bool has_entry;
	struct tl_outbox_entry ent;
	bool in_flight;
	int64_t not_before_ns; /* monotonic: no attempt before this */
	unsigned n_fail;       /* consecutive failed attempts (the backoff's exponent) */
	int last_status;       /* the entry's newest HTTP status, 0 when none */
	uint64_t undone;       /* seq taken or dead-lettered whose tl_outbox_done() failed */
	bool failing;          /* "failing" was logged, "delivering again" not yet */
	bool dead_logged;      /* a dead letter was logged since the last delivery */

	/* webhook */
	CURL *easy;
	struct curl_slist *hdrs;
	char *url; /* the sink's URL with the format's path, for libcurl only */
	const char *url_path;
	struct tl_alert_request req;
	size_t resp_n;
	bool resp_capped;

	/* kafka */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *rkq;
	int wake[2]; /* librdkafka writes to [1] when a delivery report is queued */
	bool dr_done;
	rd_kafka_resp_err_t dr_err;

	struct tl_deliver_counts c; /* under d->mu */
};

struct tl_deliver {
	struct sink_st *st;
	size_t n;
	struct tl_outbox *ob;
	const char *dl_path;
	int dl_fd; /* -1: no dead-letter file */
	CURLM *multi;
	struct tl_alert_format *af;
	struct tl_buf line; /* a dead-letter line */
	uint64_t rng;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool kicked;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* an entry finished (done or dead), or the thread ended */
};

/* memset that the compiler may not drop, for a secret about to be freed */
static void wipe(char *p)
{
	if (!p)
		return;
	for (volatile char *v = p; *v; v++)
		*v = '\0';
}

/* ---- small helpers ------------------------------------------------------------------------ */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * TL_NS_PER_S + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

TL_PRINTF(4, 5)
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* "10 s", "250 ms" */
static void fmt_duration(char *buf, size_t len, int64_t ns)
{
	if (ns % TL_NS_PER_S == 0)
		(void)snprintf(buf, len, "%lld s", (long long)(ns / TL_NS_PER_S));
	else
		(void)snprintf(buf, len, "%lld ms", (long long)(ns / TL_NS_PER_MS));
}

static uint64_t next_rand(struct tl_deliver *d)
{
	/* xorshift64*: jitter only, no need for more */
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * UINT64_C(2685821657736338717);
}

static void progress(struct tl_deliver *d)
{
	pthread_mutex_lock(&d->mu);
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void set_error(struct tl_deliver *d, struct sink_st *st, const char *msg)
{
	pthread_mutex_lock(&d->mu);
	(void)snprintf(st->c.last_error, sizeof(st->c.last_error), "%s", msg);
	pthread_mutex_unlock(&d->mu);
}

/* ---- finishing an entry ------------------------------------------------------------------- */

/* The entry is taken or dead-lettered: out of the outbox, and on to the next. */
static void finish_entry(struct tl_deliver *d, struct sink_st *st)
{
	int r = tl_outbox_done(d->ob, st->i, st->ent.seq);

	if (r == -EINVAL) {
		/* not pending: nothing to keep trying; a bug if it ever happens */
		tl_err("sink '%s': outbox entry %llu was not pending when done (bug)", st->s->name,
		       (unsigned long long)st->ent.seq);
	} else if (r) {
		/* sent again after a restart; here we retry the ack before the next peek */
		tl_err("sink '%s': outbox: marking entry %llu done failed: %s", st->s->name,
		       (unsigned long long)st->ent.seq, tl_strerror(r));
		st->undone = st->ent.seq;
	}
	st->has_entry = false;
	st->n_fail = 0;
	st->last_status = 0;
	st->not_before_ns = 0;
	pthread_mutex_lock(&d->mu);
	st->c.oldest_ns = 0;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void delivered(struct tl_deliver *d, struct sink_st *st)
{
	pthread_mutex_lock(&d->mu);
	st->c.delivered++;
	pthread_mutex_unlock(&d->mu);
	if (st->failing)
		tl_info("sink '%s': delivering again", st->s->name);
	st->failing = false;
	st->dead_logged = false;
	finish_entry(d, st);
}

/* A failure that does not count as an attempt's outcome (the outbox, the dead-letter file,
 * memory): try again after the backoff, without touching the entry. */
static void backoff(struct tl_deliver *d, struct sink_st *st, int64_t at_least_ns);

static void local_failure(struct tl_deliver *d, struct sink_st *st, const char *msg)
{
	set_error(d, st, msg);
	if (!st->failing)
		tl_err("sink '%s': %s; retrying", st->s->name, msg);
	st->failing = true;
	st->n_fail++;
	backoff(d, st, 0);
}

/* Write the dead-letter line of the current entry (fdatasync'd), then take the entry out of
 * the outbox. An entry that no longer reads back from the outbox goes with an empty event.
 * When the line cannot be written the entry stays, and is tried again after a backoff. */
static void dead_letter(struct tl_deliver *d, struct sink_st *st, const char *reason, int status)
{
	struct tl_buf *b = &d->line;
	char when[TL_TIME_TEXT_LEN + 1];
	size_t n = st->ent.data.n;
	int r = 0;

	while (n && (st->ent.data.p[n - 1] == '\n' || st->ent.data.p[n - 1] == '\r'))
		n--;
	tl_buf_reset(b);
	tl_buf_puts(b, "{\"sink\":");
	tl_buf_json_str(b, st->s->name, strlen(st->s->name));
	tl_buf_printf(b, ",\"seq\":%llu,\"enqueued_at\":", (unsigned long long)st->ent.seq);
	if (st->ent.enqueued_ns > 0) {
		tl_time_format(st->ent.enqueued_ns, when);
		tl_buf_json_str(b, when, strlen(when));
	} else {
		tl_buf_puts(b, "null");
	}
	tl_buf_puts(b, ",\"reason\":");
	tl_buf_json_str(b, reason, strlen(reason));
	if (status)
		tl_buf_printf(b, ",\"status\":%d", status);
	else
		tl_buf_puts(b, ",\"status\":null");
	tl_buf_puts(b, ",\"event\":");
	tl_buf_json_str(b, n ? st->ent.data.p : "", n);
	tl_buf_puts(b, "}\n");
	if (!tl_buf_ok(b)) {
		tl_buf_fini(b);
		local_failure(d, st, "dead-letter file: out of memory");
		return;
	}
	if (d->dl_fd >= 0) {
		for (size_t off = 0; off < b->n && !r;) {
			ssize_t w = write(d->dl_fd, b->p + off, b->n - off);

			if (w < 0 && errno != EINTR)
				r = -errno;
			else if (w > 0)
				off += (size_t)w;
		}
		if (!r && fdatasync(d->dl_fd) != 0)
			r = -errno;
	}
	if (r) {
		char msg[160];

		(void)snprintf(msg, sizeof(msg), "writing the dead-letter file failed: %s",
			       tl_strerror(r));
		local_failure(d, st, msg);
		return;
	}
	pthread_mutex_lock(&d->mu);
	st->c.dead++;
	pthread_mutex_unlock(&d->mu);
	if (!st->dead_logged)
		tl_err("sink '%s': gave up on event %llu (%s)%s%s", st->s->name,
		       (unsigned long long)st->ent.seq, reason, d->dl_path ? ": in " : "",
		       d->dl_path ? d->dl_path : "");
	st->dead_logged = true;
	finish_entry(d, st);
}

static void backoff(struct tl_deliver *d, struct sink_st *st, int64_t at_least_ns)
{
	int64_t delay = st->retry_init_ns, left;
	const unsigned shift = st->n_fail ? st->n_fail - 1 : 0;

	for (unsigned k = 0; k < shift && delay < st->retry_max_ns; k++)
		delay = delay > INT64_MAX / 2 ? INT64_MAX : delay * 2;
	if (delay > st->retry_max_ns)
		delay = st->retry_max_ns;
	/* ±JITTER_PERCENT: retries of many sinks (and processes) do not line up */
	const int64_t span = delay / 100 * JITTER_PERCENT;
	if (span > 0)
		delay += (int64_t)(next_rand(d) % (uint64_t)(2 * span + 1)) - span;
	if (delay < at_least_ns)
		delay = at_least_ns;
	if (st->has_entry) {
		/* never past max_age: then the entry is dead-lettered, not retried */
		left = st->ent.enqueued_ns + st->max_age_ns - clock_ns(CLOCK_REALTIME);
		if (delay > left)
			delay = left > 0 ? left : 0;
	}
	st->not_before_ns = mono_ns() + delay;
}

/* The attempt failed in a way worth retrying. */
static void retry(struct tl_deliver *d, struct sink_st *st, const char *msg, int status,
		  int64_t retry_after_ns)
{
	set_error(d, st, msg);
	if (!st->failing)
		tl_err("sink '%s': delivery failing: %s; retrying with backoff", st->s->name, msg);
	st->failing = true;
	if (status)
		st->last_status = status;
	st->n_fail++;
	backoff(d, st, retry_after_ns);
}

/* ---- webhook ------------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct sink_st *st = ud;
	const size_t len = size * n;

	(void)p;
	/* the body is not needed: only counted, and a receiver that sends more than
	 * RESP_MAX has the transfer cut (its status line has been read by then) */
	if (len > RESP_MAX - st->resp_n) {
		st->resp_capped = true;
		return 0;
	}
	st->resp_n += len;
	return len;
}

/* The wait Retry-After asks for (delta-seconds or an HTTP date), 0 when none. */
static int64_t retry_after(struct sink_st *st)
{
	struct curl_header *h;
	const char *v;
	int64_t s = 0;

	if (curl_easy_header(st->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return 0;
	v = h->value;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		for (; *v >= '0' && *v <= '9'; v++)
			s = s > INT64_MAX / TL_NS_PER_S / 10 ? s : s * 10 + (*v - '0');
	} else {
		const time_t at = curl_getdate(v, NULL);

		if (at == (time_t)-1)
			return 0;
		s = (int64_t)at - (int64_t)time(NULL);
	}
	return s > 0 ? s * TL_NS_PER_S : 0;
}

static void finish_http(struct tl_deliver *d, struct sink_st *st, CURLcode res)
{
	long code = 0;
	char msg[160];

	(void)curl_multi_remove_handle(d->multi, st->easy);
	st->in_flight = false;
	(void)curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300) {
		/* the status line says the receiver took it, whatever followed */
		delivered(d, st);
		return;
	}
	if (code == 0 || (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && st->resp_capped))) {
		if (res == CURLE_OPERATION_TIMEDOUT) {
			char t[32];

			fmt_duration(t, sizeof(t), st->req_timeout_ns);
			(void)snprintf(msg, sizeof(msg), "timed out after %s", t);
		} else {
			(void)snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(res));
		}
		retry(d, st, msg, (int)code, 0);
		return;
	}
	(void)snprintf(msg, sizeof(msg), "HTTP %ld%s", code,
		       code >= 300 && code < 400 ? " (redirects are not followed)" : "");
	if (code >= 400 && code < 500 && code != 408 && code != 429) {
		set_error(d, st, msg);
		dead_letter(d, st, msg, (int)code);
		return;
	}
	retry(d, st, msg, (int)code, retry_after(st));
}

/* The sink's URL with @path appended to its path (alertmanager's /api/v2/alerts). */
static int join_url(const char *base, const char *path, char **ret)
{
	CURLU *u;
	char *old = NULL, *joined = NULL, *url = NULL;
	int r = -ENOMEM;

	if (!path[0]) {
		url = strdup(base);
		if (!url)
			return -ENOMEM;
		*ret = url;
		return 0;
	}
	u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &old, 0) != CURLUE_OK) {
		r = TL_EVALUE;
		goto out_free_url;
	}
	size_t n = strlen(old);
	while (n && old[n - 1] == '/')
		n--;
	joined = malloc(n + strlen(path) + 1);
	if (!joined)
		goto out_free_url;
	memcpy(joined, old, n);
	memcpy(joined + n, path, strlen(path) + 1);
	if (curl_url_set(u, CURLUPART_PATH, joined, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
		r = TL_EVALUE;
		goto out_free_url;
	}
	*ret = strdup(url);
	r = *ret ? 0 : -ENOMEM;
out_free_url:
	if (url) {
		wipe(url);
		curl_free(url);
	}
	free(joined);
	curl_free(old);
	curl_url_cleanup(u);
	return r;
}

static void send_http(struct tl_deliver *d, struct sink_st *st)
{
	const struct tl_alert_sink as = { st->s->format, st->s->routing_key };
	const struct tl_alert_event *ev;
	char msg[200], why[160];
	int r;

	r = tl_alert_format_read(d->af, st->ent.data.p, st->ent.data.n, &ev, why, sizeof(why));
	if (!r)
		r = tl_alert_format_render(d->af, ev, &as, &st->req, why, sizeof(why));
	if (r == -ENOMEM) {
		local_failure(d, st, "out of memory rendering the request");
		return;
	}
	if (r) {
		(void)snprintf(msg, sizeof(msg), "cannot render: %s", why);
		dead_letter(d, st, msg, 0);
		return;
	}
	if (!st->url || strcmp(st->url_path, st->req.path) != 0) {
		char *url;

		r = join_url(st->s->url, st->req.path, &url);
		if (r) {
			local_failure(d, st, "cannot add the format's path to the URL");
			return;
		}
		wipe(st->url);
		free(st->url);
		st->url = url;
		st->url_path = st->req.path;
		if (curl_easy_setopt(st->easy, CURLOPT_URL, st->url) != CURLE_OK) {
			local_failure(d, st, "libcurl refused the URL");
			return;
		}
	}
	if (curl_easy_setopt(st->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st->req.body.n) !=
		CURLE_OK ||
	    curl_easy_setopt(st->easy, CURLOPT_POSTFIELDS, st->req.body.p) != CURLE_OK) {
		local_failure(d, st, "libcurl refused the request body");
		return;
	}
	/* no request outlives the event's max_age: a receiver that never answers costs the
	 * event its max_age, not max_age plus a whole timeout */
	const int64_t left = st->ent.enqueued_ns + st->max_age_ns - clock_ns(CLOCK_REALTIME);

	st->req_timeout_ns = left < st->timeout_ns ? left : st->timeout_ns;
	if (st->req_timeout_ns < TL_NS_PER_MS)
		st->req_timeout_ns = TL_NS_PER_MS;
	if (curl_easy_setopt(st->easy, CURLOPT_TIMEOUT_MS,
			     (long)(st->req_timeout_ns / TL_NS_PER_MS)) != CURLE_OK) {
		local_failure(d, st, "libcurl refused the timeout");
		return;
	}
	st->resp_n = 0;
	st->resp_capped = false;
	if (curl_multi_add_handle(d->multi, st->easy) != CURLM_OK) {
		local_failure(d, st, "libcurl could not start the request");
		return;
	}
	st->in_flight = true;
	pthread_mutex_lock(&d->mu);
	st->c.attempts++;
	if (st->n_fail)
		st->c.retries++;
	pthread_mutex_unlock(&d->mu);
}

/* ---- kafka -------------------------------------------------------------------------------- */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sink_st *st = opaque;

	(void)rk;
	st->dr_done = true;
	st->dr_err = m->err;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* state changes are reported from delivery reports, per sink; librdkafka's own
	 * lines (every reconnect) would be the retry spam the log must not carry */
	(void)rk, (void)level, (void)fac, (void)buf;
}

static void kafka_close(struct sink_st *st)
{
	if (st->rkq) {
		rd_kafka_queue_io_event_enable(st->rkq, -1, NULL, 0);
		rd_kafka_queue_destroy(st->rkq);
		st->rkq = NULL;
	}
	if (st->rkt) {
		rd_kafka_topic_destroy(st->rkt);
		st->rkt = NULL;
	}
	if (st->rk) {
		/* what is in flight stays pending in the outbox: drop it here */
		(void)rd_kafka_purge(st->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		(void)rd_kafka_flush(st->rk, 1000);
		rd_kafka_destroy(st->rk);
		st->rk = NULL;
	}
	st->in_flight = false;
}

static int kafka_open(struct sink_st *st, char *err, size_t errlen)
{
	const struct tl_sink *s = st->s;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char es[256], ms[32];

	if (!conf)
		return -ENOMEM;
	(void)snprintf(ms, sizeof(ms), "%lld", (long long)(st->timeout_ns / TL_NS_PER_MS));
	const char *const ours[] = { "bootstrap.servers", s->brokers, "message.timeout.ms", ms };
	const char *const forced[] = { "acks", "all", "enable.idempotence", "true" };

	for (size_t k = 0; k < 4; k += 2)
		if (rd_kafka_conf_set(conf, ours[k], ours[k + 1], es, sizeof(es)) !=
		    RD_KAFKA_CONF_OK)
			goto out_refused;
	for (size_t k = 0; k + 1 < s->n_props; k += 2)
		if (rd_kafka_conf_set(conf, s->props[k], s->props[k + 1], es, sizeof(es)) !=
		    RD_KAFKA_CONF_OK) {
			/* es may quote the value, which may be a credential */
			rd_kafka_conf_destroy(conf);
			return fail(err, errlen, TL_ECONFIG,
				    "sink '%s': librdkafka refused property '%s'", s->name,
				    s->props[k]);
		}
	for (size_t k = 0; k < 4; k += 2)
		if (rd_kafka_conf_set(conf, forced[k], forced[k + 1], es, sizeof(es)) !=
		    RD_KAFKA_CONF_OK)
			goto out_refused;
	rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_opaque(conf, st);
	st->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof(es));
	if (!st->rk) {
		rd_kafka_conf_destroy(conf);
		return fail(err, errlen, TL_ECONFIG, "sink '%s': librdkafka: %s", s->name, es);
	}
	st->rkt = rd_kafka_topic_new(st->rk, s->topic, NULL);
	st->rkq = rd_kafka_queue_get_main(st->rk);
	if (!st->rkt || !st->rkq) {
		kafka_close(st);
		return fail(err, errlen, TL_ECONFIG, "sink '%s': librdkafka refused topic '%s'",
			    s->name, s->topic);
	}
	rd_kafka_queue_io_event_enable(st->rkq, st->wake[1], "1", 1);
	return 0;

out_refused:
	rd_kafka_conf_destroy(conf);
	return fail(err, errlen, TL_ECONFIG, "sink '%s': librdkafka: %s", s->name, es);
}

static void send_kafka(struct tl_deliver *d, struct sink_st *st)
{
	const struct tl_alert_event *ev;
	char msg[200], why[160];
	int r;

	if (!st->rk && kafka_open(st, why, sizeof(why))) {
		(void)snprintf(msg, sizeof(msg), "cannot restart the producer: %s", why);
		local_failure(d, st, msg);
		return;
	}
	r = tl_alert_format_read(d->af, st->ent.data.p, st->ent.data.n, &ev, why, sizeof(why));
	if (r == -ENOMEM) {
		local_failure(d, st, "out of memory reading the event");
		return;
	}
	if (r) {
		(void)snprintf(msg, sizeof(msg), "cannot read: %s", why);
		dead_letter(d, st, msg, 0);
		return;
	}
	st->dr_done = false;
	if (rd_kafka_produce(st->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, st->ent.data.p,
			     st->ent.data.n, ev->incident_id.s, ev->incident_id.n, NULL) != 0) {
		(void)snprintf(msg, sizeof(msg), "kafka: %s",
			       rd_kafka_err2str(rd_kafka_last_error()));
		retry(d, st, msg, 0, 0);
		return;
	}
	st->in_flight = true;
	pthread_mutex_lock(&d->mu);
	st->c.attempts++;
	if (st->n_fail)
		st->c.retries++;
	pthread_mutex_unlock(&d->mu);
}

static void finish_kafka(struct tl_deliver *d, struct sink_st *st)
{
	const rd_kafka_resp_err_t e = st->dr_err;
	char msg[200];

	st->in_flight = false;
	st->dr_done = false;
	if (!e) {
		delivered(d, st);
		return;
	}
	if (e == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
		char t[32];

		fmt_duration(t, sizeof(t), st->timeout_ns);
		(void)snprintf(msg, sizeof(msg), "timed out after %s", t);
	} else {
		(void)snprintf(msg, sizeof(msg), "kafka: %s", rd_kafka_err2str(e));
	}
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		/* the broker will never take this one */
		set_error(d, st, msg);
		dead_letter(d, st, msg, 0);
		return;
	case RD_KAFKA_RESP_ERR__FATAL:
		/* the idempotent producer cannot go on: start a new one for the retry */
		kafka_close(st);
		break;
	default:
		break;
	}
	retry(d, st, msg, 0, 0);
}

static void poll_kafka(struct tl_deliver *d, struct sink_st *st)
{
	char drop[64];

	if (!st->rk)
		return;
	while (read(st->wake[0], drop, sizeof(drop)) > 0)
		;
	(void)rd_kafka_poll(st->rk, 0);
	if (st->in_flight && st->dr_done)
		finish_kafka(d, st);
}

/* ---- the thread --------------------------------------------------------------------------- */

/* Move sink @st forward as far as it goes without waiting. */
static void step(struct tl_deliver *d, struct sink_st *st, int64_t now)
{
	for (int k = 0; k < STEPS_PER_ROUND; k++) {
		char msg[160];
		int r;

		if (st->in_flight || now < st->not_before_ns)
			return;
		if (st->undone) {
			r = tl_outbox_done(d->ob, st->i, st->undone);
			if (r && r != -EINVAL) {
				(void)snprintf(msg, sizeof(msg), "outbox: marking done failed: %s",
					       tl_strerror(r));
				local_failure(d, st, msg);
				return;
			}
			st->undone = 0;
			progress(d);
		}
		if (!st->has_entry) {
			if (!tl_outbox_pending(d->ob, st->i))
				return;
			r = tl_outbox_peek(d->ob, st->i, &st->ent);
			if (r == 0)
				return;
			if (r == TL_ECORRUPT) {
				/* its seq is known, its bytes are not: dead-letter it empty */
				st->has_entry = true;
				st->ent.data.n = 0;
				dead_letter(d, st, "corrupt in the outbox", 0);
				continue;
			}
			if (r < 0) {
				(void)snprintf(msg, sizeof(msg), "outbox: reading failed: %s",
					       tl_strerror(r));
				local_failure(d, st, msg);
				return;
			}
			st->has_entry = true;
			st->n_fail = 0;
			st->last_status = 0;
			pthread_mutex_lock(&d->mu);
			st->c.oldest_ns = st->ent.enqueued_ns;
			pthread_mutex_unlock(&d->mu);
		}
		if (clock_ns(CLOCK_REALTIME) - st->ent.enqueued_ns >= st->max_age_ns) {
			dead_letter(d, st, "max_age", st->last_status);
			continue;
		}
		if (st->s->kind == TL_SINK_KAFKA)
			send_kafka(d, st);
		else
			send_http(d, st);
		return;
	}
	/* a long run of entries finished without a request: let the others have a turn */
	atomic_store_explicit(&d->kicked, true, memory_order_relaxed);
}

static void *run(void *arg)
{
	struct tl_deliver *d = arg;
	struct curl_waitfd fds[TL_OUTBOX_MAX_SINKS];

	while (!atomic_load_explicit(&d->stop, memory_order_acquire)) {
		int64_t now = mono_ns(), wait_ns = (int64_t)IDLE_WAIT_MS * TL_NS_PER_MS;
		unsigned n_fds = 0;
		CURLMsg *m;
		int left;

		/* pairs with the exchange in tl_deliver_kick(): a kick after this is seen next
		 * round, one before it by the steps below */
		atomic_store_explicit(&d->kicked, false, memory_order_seq_cst);
		for (size_t i = 0; i < d->n; i++) {
			struct sink_st *st = &d->st[i];

			step(d, st, now);
			if (st->has_entry && !st->in_flight && st->not_before_ns - now < wait_ns)
				wait_ns = st->not_before_ns - now;
			if (st->rk) {
				fds[n_fds++] =
				    (struct curl_waitfd){ st->wake[0], CURL_WAIT_POLLIN, 0 };
				if (st->in_flight && wait_ns > KAFKA_POLL_MS * TL_NS_PER_MS)
					wait_ns = KAFKA_POLL_MS * TL_NS_PER_MS;
			}
		}
		if (atomic_load_explicit(&d->kicked, memory_order_relaxed) || wait_ns < 0)
			wait_ns = 0;
		(void)curl_multi_poll(d->multi, fds, n_fds,
				      (int)((wait_ns + TL_NS_PER_MS - 1) / TL_NS_PER_MS), NULL);
		if (atomic_load_explicit(&d->stop, memory_order_acquire))
			break;
		(void)curl_multi_perform(d->multi, &left);
		while ((m = curl_multi_info_read(d->multi, &left))) {
			char *priv = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			if (priv)
				finish_http(d, (struct sink_st *)(void *)priv, m->data.result);
		}
		for (size_t i = 0; i < d->n; i++)
			poll_kafka(d, &d->st[i]);
	}
	progress(d);
	return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int check_url(const struct tl_sink *s, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL;
	CURLUcode uc;
	int r = 0;

	if (!s->url || !s->url[0])
		return fail(err, errlen, TL_ECONFIG, "sink '%s': no url", s->name);
	u = curl_url();
	if (!u)
		return -ENOMEM;
	/* never quote the URL: it may carry a token */
	uc = curl_url_set(u, CURLUPART_URL, s->url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK)
		r = fail(err, errlen, TL_ECONFIG, "sink '%s': the url does not parse (%s)", s->name,
			 curl_url_strerror(uc));
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
		r = fail(err, errlen, TL_ECONFIG,
			 "sink '%s': only http and https URLs are accepted", s->name);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

static int webhook_open(struct sink_st *st, char *err, size_t errlen)
{
	const struct tl_sink *s = st->s;
	const long ms =
	    (long)(st->timeout_ns / TL_NS_PER_MS) > 0 ? (long)(st->timeout_ns / TL_NS_PER_MS) : 1;
	const bool verify = s->tls_verify;
	const char *what = NULL;
	int r;

	if ((r = check_url(s, err, errlen)))
		return r;
	if (s->format >= TL_ALERT_FMT_COUNT)
		return fail(err, errlen, TL_ECONFIG, "sink '%s': unknown format", s->name);
	if (s->format == TL_ALERT_FMT_PAGERDUTY && (!s->routing_key || !s->routing_key[0]))
		return fail(err, errlen, TL_ECONFIG, "sink '%s': pagerduty needs a routing_key",
			    s->name);
	st->easy = curl_easy_init();
	if (!st->easy)
		return -ENOMEM;
	st->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	/* no "Expect: 100-continue" round trip (a second per request with some servers) */
	struct curl_slist *h2 = st->hdrs ? curl_slist_append(st->hdrs, "Expect:") : NULL;
	if (!h2)
		return -ENOMEM;
	st->hdrs = h2;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (!what && curl_easy_setopt(st->easy, opt, val) != CURLE_OK) \
			what = #opt;                                           \
	} while (0)
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, ms);
	SET(CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	SET(CURLOPT_HTTPHEADER, st->hdrs);
	SET(CURLOPT_USERAGENT, "tripline/" TL_VERSION);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, st);
	SET(CURLOPT_PRIVATE, st);
	SET(CURLOPT_POST, 1L);
#undef SET
	if (what)
		return fail(err, errlen, TL_ECONFIG, "sink '%s': libcurl refused %s", s->name,
			    what);
	return 0;
}

static int64_t or_default(int64_t v, int64_t def)
{
	return v > 0 ? v : def;
}

static void sink_fini(struct sink_st *st)
{
	if (st->easy)
		curl_easy_cleanup(st->easy);
	curl_slist_free_all(st->hdrs);
	wipe(st->url);
	free(st->url);
	tl_alert_request_fini(&st->req);
	kafka_close(st);
	for (int k = 0; k < 2; k++)
		if (st->wake[k] >= 0)
			close(st->wake[k]);
	tl_buf_fini(&st->ent.data);
}

static int sink_init(struct sink_st *st, const struct tl_sink *s, size_t i, char *err,
		     size_t errlen)
{
	st->s = s;
	st->i = i;
	st->wake[0] = st->wake[1] = -1;
	st->timeout_ns = or_default(s->timeout_ns, DEF_TIMEOUT_NS);
	st->max_age_ns = or_default(s->max_age_ns, DEF_MAX_AGE_NS);
	st->retry_init_ns = or_default(s->retry_initial_ns, DEF_RETRY_INIT_NS);
	st->retry_max_ns = or_default(s->retry_max_ns, DEF_RETRY_MAX_NS);
	if (st->retry_max_ns < st->retry_init_ns)
		st->retry_max_ns = st->retry_init_ns;
	if (s->kind == TL_SINK_WEBHOOK)
		return webhook_open(st, err, errlen);
	if (s->kind != TL_SINK_KAFKA)
		return fail(err, errlen, TL_ECONFIG, "sink '%s': not a webhook or kafka sink",
			    s->name);
	if (!s->brokers || !s->brokers[0] || !s->topic || !s->topic[0])
		return fail(err, errlen, TL_ECONFIG, "sink '%s': kafka needs brokers and a topic",
			    s->name);
	if (pipe(st->wake) != 0)
		return fail(err, errlen, -errno, "sink '%s': pipe: %s", s->name,
			    tl_strerror(-errno));
	for (int k = 0; k < 2; k++)
		if (fcntl(st->wake[k], F_SETFL, O_NONBLOCK) != 0 ||
		    fcntl(st->wake[k], F_SETFD, FD_CLOEXEC) != 0)
			return fail(err, errlen, -errno, "sink '%s': pipe: %s", s->name,
				    tl_strerror(-errno));
	return kafka_open(st, err, errlen);
}

static void deliver_free(struct tl_deliver *d)
{
	for (size_t i = 0; i < d->n; i++)
		sink_fini(&d->st[i]);
	free(d->st);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	tl_alert_format_free(d->af);
	tl_buf_fini(&d->line);
	if (d->dl_fd >= 0)
		close(d->dl_fd);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int tl_deliver_start(const struct tl_deliver_opts *o, struct tl_deliver **ret, char *err,
		     size_t errlen)
{
	struct tl_deliver *d;
	pthread_condattr_t ca;
	sigset_t all, old;
	bool cpu_ok = true;
	int r;

	if (!o->outbox)
		return fail(err, errlen, -EINVAL, "delivery: no outbox");
	if (o->n_sinks > TL_OUTBOX_MAX_SINKS)
		return fail(err, errlen, TL_ECONFIG, "delivery: %zu sinks, over the %d limit",
			    o->n_sinks, TL_OUTBOX_MAX_SINKS);
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return fail(err, errlen, TL_ECONFIG, "libcurl: %s",
			    curl_easy_strerror(curl_init_result));
	d = calloc(1, sizeof(*d));
	if (!d)
		return fail(err, errlen, -ENOMEM, "out of memory");
	d->dl_fd = -1;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->ob = o->outbox;
	d->dl_path = o->dead_letter_path;
	d->rng = (uint64_t)mono_ns() ^ (uint64_t)(uintptr_t)d ^ UINT64_C(0x9e3779b97f4a7c15);
	if (!d->rng)
		d->rng = 1;
	d->st = calloc(o->n_sinks ? o->n_sinks : 1, sizeof(*d->st));
	d->multi = curl_multi_init();
	d->af = tl_alert_format_new(&cpu_ok);
	if (!d->st || !d->multi || !d->af) {
		r = fail(err, errlen, cpu_ok ? -ENOMEM : TL_ECPU, "%s",
			 cpu_ok ? "out of memory" : tl_strerror(TL_ECPU));
		goto out_free;
	}
	for (size_t i = 0; i < o->n_sinks; i++) {
		d->n = i + 1;
		if ((r = sink_init(&d->st[i], o->sinks[i], i, err, errlen))) {
			if (r == -ENOMEM)
				(void)fail(err, errlen, r, "sink '%s': out of memory",
					   o->sinks[i]->name);
			goto out_free;
		}
	}
	if (d->dl_path) {
		d->dl_fd = open(d->dl_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (d->dl_fd < 0) {
			r = -errno;
			(void)fail(err, errlen, r, "%s: %s", d->dl_path, tl_strerror(r));
			goto out_free;
		}
	}
	/* signals go to the threads that wait for them, never here */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&d->thread, NULL, run, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		(void)fail(err, errlen, r, "delivery thread: %s", tl_strerror(r));
		goto out_free;
	}
	d->started = true;
	*ret = d;
	return 0;

out_free:
	deliver_free(d);
	return r;
}

void tl_deliver_kick(struct tl_deliver *d)
{
	/* one wakeup per round is enough: the thread clears the flag before it looks */
	if (!atomic_exchange_explicit(&d->kicked, true, memory_order_seq_cst))
		(void)curl_multi_wakeup(d->multi);
}

static size_t total_pending(struct tl_deliver *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += tl_outbox_pending(d->ob, i);
	return n;
}

bool tl_deliver_drain(struct tl_deliver *d, int64_t timeout_ns)
{
	const int64_t end = mono_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	bool drained;

	tl_deliver_kick(d);
	pthread_mutex_lock(&d->mu);
	while (!(drained = total_pending(d) == 0)) {
		/* progress is signalled; the slice covers appends made without a kick */
		int64_t now = mono_ns(), until = now + 50 * TL_NS_PER_MS;
		struct timespec ts;

		if (now >= end)
			break;
		if (until > end)
			until = end;
		ts.tv_sec = (time_t)(until / TL_NS_PER_S);
		ts.tv_nsec = (long)(until % TL_NS_PER_S);
		(void)pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	}
	pthread_mutex_unlock(&d->mu);
	return drained;
}

void tl_deliver_counts(struct tl_deliver *d, size_t i, struct tl_deliver_counts *ret)
{
	if (i >= d->n) {
		memset(ret, 0, sizeof(*ret));
		return;
	}
	pthread_mutex_lock(&d->mu);
	*ret = d->st[i].c;
	pthread_mutex_unlock(&d->mu);
	ret->pending = tl_outbox_pending(d->ob, i);
	if (!ret->pending)
		ret->oldest_ns = 0;
}

void tl_deliver_stop(struct tl_deliver *d)
{
	if (!d)
		return;
	if (d->started) {
		atomic_store_explicit(&d->stop, true, memory_order_release);
		(void)curl_multi_wakeup(d->multi);
		pthread_join(d->thread, NULL);
	}
	/* requests in flight are abandoned: their entries were never marked done */
	for (size_t i = 0; i < d->n; i++)
		if (d->st[i].easy && d->st[i].in_flight)
			(void)curl_multi_remove_handle(d->multi, d->st[i].easy);
	deliver_free(d);
}
