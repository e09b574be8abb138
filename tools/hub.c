/*
 * tools/hub.c - the embedded hub (librdkafka's mock cluster with one topic) and the feeder
 * that produces a file of Event Hubs batches to it.
 *
 * Feeder. One thread owns the producer, the input and the gate state; delivery reports run
 * in it too (they are served only by its own rd_kafka_poll()/rd_kafka_flush() calls). Other
 * threads see only the counts, under f->lock, and the stop/done flags.
 *
 * The gate. For each partition the feeder keeps, in produce order, every message it has
 * produced that is still in flight or lies at or after the consumer's position: its offset
 * (from the delivery report) and size. Their total is what the feeder is ahead by. Before
 * producing to partition p it compares that total plus the new message's size with
 * max_ahead_bytes; when over, it refreshes the consumer's position (the callback, or the
 * group's committed offsets at most every GATE_POLL_NS), drops the entries below it, and
 * waits. The mock cluster drops a partition's oldest messages past ~5 MB, so a gate under
 * that keeps every message a consumer has yet to read.
 */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <tripline/decode.h>
#include <tripline/jsonbits.h>
#include <tripline/source.h>
#include <tripline/time.h>

#define GATE_POLL_NS      (100 * TL_NS_PER_MS)
#define GATE_WAIT_MS      1 /* the consumer's progress wakes nothing: look again this soon */
#define COMMITTED_WAIT_MS 1000
#define METADATA_WAIT_MS  10000
#define STOP_FLUSH_MS     5000

/* ---- the hub ----------------------------------------------------------------------------- */

struct tl_hub {
	rd_kafka_t *rk; /* the handle the cluster is created on; never produces */
	rd_kafka_mock_cluster_t *mc;
	char *topic;
	unsigned partitions;
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

int tl_hub_start(const struct tl_hub_opts *o, struct tl_hub **ret_hub, char *err, size_t errlen)
{
	unsigned partitions = o->partitions ? o->partitions : TL_HUB_PARTITIONS;
	unsigned brokers = o->brokers ? o->brokers : 1;
	const char *topic = o->topic ? o->topic : TL_HUB_TOPIC;
	struct tl_hub *h;
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t ke;
	char kerr[256];

	if (partitions > TL_HUB_MAX_PARTITIONS || brokers > TL_HUB_MAX_BROKERS || !*topic) {
		(void)snprintf(err, errlen,
			       "hub: partitions 1-%u, brokers 1-%u and a topic name, please",
			       TL_HUB_MAX_PARTITIONS, TL_HUB_MAX_BROKERS);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->topic = strdup(topic)))
		goto out_nomem;
	h->partitions = partitions;
	conf = rd_kafka_conf_new();
	/* the handle only anchors the cluster: it has no bootstrap.servers to complain about */
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	if (rd_kafka_conf_set(conf, "client.id", "tripline-hub", kerr, sizeof(kerr)) !=
	    RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		goto out_config;
	}
	h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
	if (!h->rk) {
		rd_kafka_conf_destroy(conf);
		goto out_config;
	}
	h->mc = rd_kafka_mock_cluster_new(h->rk, (int)brokers);
	if (!h->mc) {
		(void)snprintf(kerr, sizeof(kerr), "cannot start a mock cluster of %u brokers",
			       brokers);
		goto out_config;
	}
	ke = rd_kafka_mock_topic_create(h->mc, h->topic, (int)partitions, 1);
	if (ke) {
		(void)snprintf(kerr, sizeof(kerr), "topic '%s': %s", h->topic,
			       rd_kafka_err2str(ke));
		goto out_config;
	}
	*ret_hub = h;
	return 0;

out_config:
	(void)snprintf(err, errlen, "hub: %s", kerr);
	tl_hub_stop(h);
	return TL_ECONFIG;
out_nomem:
	free(h);
	(void)snprintf(err, errlen, "hub: out of memory");
	return -ENOMEM;
}

const char *tl_hub_bootstrap(const struct tl_hub *h)
{
	return rd_kafka_mock_cluster_bootstraps(h->mc);
}

const char *tl_hub_topic(const struct tl_hub *h)
{
	return h->topic;
}

unsigned tl_hub_partitions(const struct tl_hub *h)
{
	return h->partitions;
}

rd_kafka_mock_cluster_t *tl_hub_mock(struct tl_hub *h)
{
	return h->mc;
}

void tl_hub_stop(struct tl_hub *h)
{
	if (!h)
		return;
	if (h->mc)
		rd_kafka_mock_cluster_destroy(h->mc);
	if (h->rk)
		rd_kafka_destroy(h->rk);
	free(h->topic);
	free(h);
}

/* ---- the feeder -------------------------------------------------------------------------- */

#define OFF_PENDING (-1) /* produced, no delivery report yet */
#define OFF_FAILED  (-2) /* delivery failed: not ahead of anything */

/* One message produced to a partition, while it may still count as ahead. */
struct sent {
	int64_t offset; /* OFF_PENDING, OFF_FAILED or the offset the cluster gave it */
	uint32_t size;
	uint32_t records;
	int64_t event_ns;
};

/* A partition's messages in produce order: q[(head + i) & (cap - 1)] is number base + i. */
struct part {
	struct sent *q;
	size_t cap, head, n;
	uint64_t base, next; /* produce numbers of q[head] and of the next message */
	uint64_t bytes;      /* sizes of the entries in q (failed ones count 0) */
	int64_t position;    /* the consumer's next offset, 0 before it has one */
};

struct tl_feed {
	/* set by tl_feed_start(), read-only after */
	char *path, *topic, *group;
	double speed;
	uint64_t max_ahead;
	int64_t (*position)(void *ud, int32_t partition);
	void *ud;
	bool loop;
	unsigned n_parts;
	pthread_t thread;

	/* the feeder thread's own */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *gate_rk; /* a consumer in the gate group that only reads its commits */
	rd_kafka_topic_partition_list_t *gate_list;
	int64_t gate_polled_ns;
	struct tl_input *in;
	struct tl_frames frames;
	struct part *parts;
	uint64_t line;      /* index of the next line (non-empty lines of the file, from 0) */
	uint64_t in_flight; /* messages produced without a delivery report yet */
	int64_t pace_wall0_ns, pace_ev0_ns, pace_ev_ns; /* pacing anchor, newest event time */

	atomic_bool stop; /* set by tl_feed_stop() */
	atomic_bool done; /* set by the feeder as it finishes */
	pthread_mutex_t lock;
	struct tl_feed_counts counts; /* under lock; written by the feeder */
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * TL_NS_PER_S + ts.tv_nsec;
}

static bool stopping(const struct tl_feed *f)
{
	return atomic_load_explicit(&f->stop, memory_order_relaxed);
}

static void count_error(struct tl_feed *f, const char *fmt, ...) TL_PRINTF(2, 3);

static void count_error(struct tl_feed *f, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&f->lock);
	f->counts.n_errors++;
	va_start(ap, fmt);
	(void)vsnprintf(f->counts.last_error, sizeof(f->counts.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&f->lock);
}

static void set_gated(struct tl_feed *f, bool gated)
{
	pthread_mutex_lock(&f->lock);
	f->counts.gated = gated;
	pthread_mutex_unlock(&f->lock);
}

/*
 * The event time of a line: its first "time" member that holds a valid timestamp (the first
 * record's), found by scanning for the key rather than parsing the line. A key inside an
 * escaped JSON string (\"time\") is skipped. INT64_MIN if none.
 */
static int64_t line_time(const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	while (end - p > 8 && (p = memchr(p, '"', (size_t)(end - p))) != NULL) {
		const char *v = p + 6, *q;
		int64_t ns;

		if (end - p < 8 || memcmp(p, "\"time\"", 6) != 0 || (p > s && p[-1] == '\\')) {
			p++;
			continue;
		}
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v < end && *v == ':')
			v++;
		else {
			p += 6;
			continue;
		}
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= end || *v != '"' || !(q = memchr(v + 1, '"', (size_t)(end - v - 1)))) {
			p += 6;
			continue;
		}
		if (tl_time_parse(v + 1, (size_t)(q - v - 1), &ns) == 0)
			return ns;
		p = q;
	}
	return INT64_MIN;
}

/*
 * Records in a line, 64 bytes at a time (simdjson's stage 1 in miniature): for each block,
 * bit masks of its quotes, backslashes and structural characters ({}[],); quotes escaped by
 * an odd run of backslashes are dropped, a prefix XOR of the rest marks the bytes inside
 * strings, and only the structural characters outside them are visited. The feeder looks at
 * every byte it produces: a byte at a time this took 2.2 s of the feeder's thread per 876 MB
 * of RequestResponse envelopes, more than the consumer's decode; this way 0.2 s.
 */
#define BLOCK 64

struct block_masks {
	uint64_t quote, bslash, structural;
};

static void block_scan(const unsigned char *p, struct block_masks *m)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
		      case20 = _mm_set1_epi8(0x20), open = _mm_set1_epi8('{'),
		      close = _mm_set1_epi8('}'), comma = _mm_set1_epi8(',');

	m->quote = m->bslash = m->structural = 0;
	for (unsigned k = 0; k < BLOCK / 16; k++) {
		const __m128i v =
		    _mm_loadu_si128((const __m128i *)(const void *)(p + (size_t)16 * k));
		/* '[' | 0x20 == '{' and ']' | 0x20 == '}', and no other byte maps to either */
		const __m128i f = _mm_or_si128(v, case20);
		const __m128i s =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(f, open), _mm_cmpeq_epi8(f, close)),
				 _mm_cmpeq_epi8(v, comma));

		m->quote |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote))
			    << (16 * k);
		m->bslash |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash))
			     << (16 * k);
		m->structural |= (uint64_t)(uint32_t)_mm_movemask_epi8(s) << (16 * k);
	}
#else
	m->quote = m->bslash = m->structural = 0;
	for (int i = 0; i < BLOCK; i++) {
		const uint64_t bit = UINT64_C(1) << i;

		switch (p[i]) {
		case '"':
			m->quote |= bit;
			break;
		case '\\':
			m->bslash |= bit;
			break;
		case '{':
		case '}':
		case '[':
		case ']':
		case ',':
			m->structural |= bit;
			break;
		default:
			break;
		}
	}
#endif
}

static bool blank_only(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
	return true;
}

/*
 * Records in a line: the elements of the array that is the value of the top-level object's
 * first member when that is "records" (an Event Hubs envelope), else 1 (one record per
 * line). A line cut short counts the elements begun before the cut.
 */
static uint32_t line_records(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *seg;
	uint64_t esc_carry = 0, in_string = 0; /* in_string: all ones while a string is open */
	uint32_t n = 0;
	unsigned depth = 0;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	if (end - p < 12 || memcmp(p, "{\"records\"", 10) != 0)
		return 1;
	p += 10;
	while (p < end && (*p == ' ' || *p == '\t' || *p == ':'))
		p++;
	if (p >= end || *p != '[')
		return 1;
	/*
	 * seg: the start of the array element not yet counted, after '[' or a ',' of the array;
	 * NULL once it is counted (at its '{' or '['). An element that is a string or a scalar
	 * is counted at the ',' or ']' after it, or at the end of the line, if anything but
	 * white space came since seg.
	 */
	seg = ++p;
	for (size_t at = (size_t)(p - s); at < len; at += BLOCK) {
		const char *b = s + at;
		unsigned char tail[BLOCK];
		const unsigned char *q = (const unsigned char *)b;
		struct block_masks m;

		if (len - at < BLOCK) {
			memcpy(tail, b, len - at);
			memset(tail + (len - at), ' ', BLOCK - (len - at));
			q = tail;
		}
		block_scan(q, &m);
		m.quote &= ~tl_json_escaped(m.bslash, &esc_carry);
		const uint64_t inside = tl_prefix_xor(m.quote) ^ in_string;

		in_string = (uint64_t)0 - (inside >> 63);
		for (uint64_t st = m.structural & ~inside; st; st &= st - 1) {
			const char *c = b + __builtin_ctzll(st);

			if (*c == '{' || *c == '[') {
				if (depth++ == 0 && seg) {
					n++;
					seg = NULL;
				}
			} else if (*c == ',') {
				if (depth == 0) {
					n += seg && !blank_only(seg, c);
					seg = c + 1;
				}
			} else if (depth-- == 0) { /* '}' or ']' closed the records array */
				return n + (seg && !blank_only(seg, c));
			}
		}
	}
	return n + (depth == 0 && seg && !blank_only(seg, end));
}

/* ---- the gate ---------------------------------------------------------------------------- */

static int part_push(struct part *pt, const struct sent *e)
{
	if (pt->n == pt->cap) {
		size_t cap = pt->cap ? pt->cap * 2 : 64;
		struct sent *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < pt->n; i++)
			q[i] = pt->q[(pt->head + i) & (pt->cap - 1)];
		free(pt->q);
		pt->q = q;
		pt->cap = cap;
		pt->head = 0;
	}
	pt->q[(pt->head + pt->n) & (pt->cap - 1)] = *e;
	pt->n++;
	pt->next++;
	pt->bytes += e->size;
	return 0;
}

/* Take back the message just pushed (it was not produced). */
static void part_pop_last(struct part *pt)
{
	pt->n--;
	pt->next--;
	pt->bytes -= pt->q[(pt->head + pt->n) & (pt->cap - 1)].size;
}

static struct sent *part_at(struct part *pt, uint64_t number)
{
	if (number < pt->base || number - pt->base >= pt->n)
		return NULL;
	return &pt->q[(pt->head + (number - pt->base)) & (pt->cap - 1)];
}

/* Forget the messages at the front that the consumer has passed or that failed. */
static void part_trim(struct part *pt)
{
	while (pt->n > 0) {
		struct sent *e = &pt->q[pt->head];

		if (e->offset == OFF_PENDING || (e->offset >= 0 && e->offset >= pt->position))
			break;
		pt->bytes -= e->size;
		pt->head = (pt->head + 1) & (pt->cap - 1);
		pt->n--;
		pt->base++;
	}
}

/* Read the consumer's positions: every partition's from the group, or @p's from the callback. */
static void gate_refresh(struct tl_feed *f, unsigned p)
{
	if (f->position) {
		int64_t pos = f->position(f->ud, (int32_t)p);

		f->parts[p].position = pos > 0 ? pos : 0;
		part_trim(&f->parts[p]);
		return;
	}
	int64_t now = mono_ns();

	if (now - f->gate_polled_ns < GATE_POLL_NS)
		return;
	f->gate_polled_ns = now;
	if (rd_kafka_committed(f->gate_rk, f->gate_list, COMMITTED_WAIT_MS))
		return; /* the coordinator is away (a broker down): keep the old positions */
	for (int i = 0; i < f->gate_list->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &f->gate_list->elems[i];

		if (tp->err || tp->partition < 0 || (unsigned)tp->partition >= f->n_parts)
			continue;
		/* a group that has committed nothing gives RD_KAFKA_OFFSET_INVALID (-1001) */
		if (tp->offset > f->parts[tp->partition].position)
			f->parts[tp->partition].position = tp->offset;
		part_trim(&f->parts[tp->partition]);
	}
}

static bool gate_is_closed(const struct tl_feed *f, unsigned p, size_t len)
{
	const struct part *pt = &f->parts[p];

	return pt->bytes > 0 && pt->bytes + len > f->max_ahead;
}

/* Wait until @len bytes more may go to partition @p. Return: false if stopped. */
static bool gate_wait(struct tl_feed *f, unsigned p, size_t len)
{
	bool gated = false;

	if (!gate_is_closed(f, p, len))
		return true;
	for (;;) {
		gate_refresh(f, p);
		if (!gate_is_closed(f, p, len))
			break;
		if (stopping(f))
			return false;
		if (!gated)
			set_gated(f, gated = true);
		rd_kafka_poll(f->rk, GATE_WAIT_MS);
	}
	if (gated)
		set_gated(f, false);
	return true;
}

/* ---- producing --------------------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct tl_feed *f = opaque;
	uintptr_t v = (uintptr_t)m->_private;
	unsigned p = (unsigned)(v % f->n_parts);
	struct part *pt = &f->parts[p];
	struct sent *e = part_at(pt, v / f->n_parts);

	(void)rk;
	f->in_flight--;
	if (!e)
		return; /* cannot happen: entries stay until their report */
	if (m->err) {
		pt->bytes -= e->size;
		e->size = 0;
		e->offset = OFF_FAILED;
		if ((m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
		     m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) &&
		    stopping(f))
			return;
		count_error(f, "partition %u: delivery failed: %s", p, rd_kafka_err2str(m->err));
		return;
	}
	e->offset = m->offset;
	pthread_mutex_lock(&f->lock);
	f->counts.n_messages++;
	f->counts.n_records += e->records;
	f->counts.n_bytes += m->len;
	if (e->event_ns > f->counts.last_event_ns)
		f->counts.last_event_ns = e->event_ns;
	pthread_mutex_unlock(&f->lock);
}

/* Sleep until the wall clock reaches the line's event time at the feed's speed. */
static bool pace(struct tl_feed *f, int64_t event_ns)
{
	if (f->speed <= 0 || event_ns == INT64_MIN)
		return true;
	if (f->pace_ev0_ns == INT64_MIN) {
		f->pace_ev0_ns = f->pace_ev_ns = event_ns;
		f->pace_wall0_ns = mono_ns();
		return true;
	}
	if (event_ns > f->pace_ev_ns)
		f->pace_ev_ns = event_ns; /* a late record does not move time back */
	int64_t due =
	    f->pace_wall0_ns + (int64_t)((double)(f->pace_ev_ns - f->pace_ev0_ns) / f->speed);

	for (int64_t now = mono_ns(); now < due; now = mono_ns()) {
		int64_t ms = (due - now + TL_NS_PER_MS - 1) / TL_NS_PER_MS;

		if (stopping(f))
			return false;
		rd_kafka_poll(f->rk, ms > 100 ? 100 : (int)ms);
	}
	return true;
}

/* Produce one line. Return: false if stopped. */
static bool feed_line(struct tl_feed *f, const struct tl_unit *u)
{
	uint64_t index = f->line++;
	unsigned p = (unsigned)(index % f->n_parts);
	struct part *pt = &f->parts[p];
	struct sent e = {
		.offset = OFF_PENDING,
		.size = (uint32_t)u->len,
		.records = line_records(u->data, u->len),
		.event_ns = line_time(u->data, u->len),
	};

	if (!pace(f, e.event_ns) || !gate_wait(f, p, u->len))
		return false;
	/* the report finds the entry by this number, not a pointer: the queue may move */
	void *opaque =
	    (void *)(uintptr_t)(pt->next * f->n_parts + p); /* NOLINT(performance-no-int-to-ptr) */

	if (part_push(pt, &e) < 0) {
		count_error(f, "'%s' line %" PRIu64 ": out of memory", f->path, u->line);
		return true;
	}
	/* RD_KAFKA_MSG_F_COPY: the payload is only read */
	void *payload = (void *)(uintptr_t)u->data; /* NOLINT(performance-no-int-to-ptr) */

	while (rd_kafka_produce(f->rkt, (int32_t)p, RD_KAFKA_MSG_F_COPY, payload, u->len, NULL, 0,
				opaque) != 0) {
		rd_kafka_resp_err_t ke = rd_kafka_last_error();

		if (ke != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			part_pop_last(pt);
			count_error(f, "'%s' line %" PRIu64 ": cannot produce: %s", f->path,
				    u->line, rd_kafka_err2str(ke));
			return true;
		}
		if (stopping(f)) {
			part_pop_last(pt);
			return false;
		}
		rd_kafka_poll(f->rk, 100);
	}
	f->in_flight++;
	pthread_mutex_lock(&f->lock);
	f->counts.n_lines++;
	pthread_mutex_unlock(&f->lock);
	rd_kafka_poll(f->rk, 0);
	return true;
}

static void input_failed(struct tl_feed *f, int r, const char *what)
{
	count_error(f, "'%s': %s", f->path, what ? what : tl_strerror(r));
	pthread_mutex_lock(&f->lock);
	f->counts.input_err = r;
	pthread_mutex_unlock(&f->lock);
}

static void *feed_main(void *arg)
{
	struct tl_feed *f = arg;
	uint64_t pass_start = 0;
	bool more = true;

	while (more && !stopping(f)) {
		int r = tl_input_next(f->in, &f->frames);

		if (tl_input_framing(f->in) == TL_FRAMING_DOCUMENT) {
			input_failed(f, TL_EVALUE, "not one JSON value per line");
			break;
		}
		for (size_t i = 0; i < f->frames.n && more; i++) {
			const struct tl_frame *fr = &f->frames.f[i];

			if (fr->error) {
				f->line++;
				count_error(f, "'%s' line %" PRIu64 ": %s", f->path, fr->u.line,
					    fr->error);
				continue;
			}
			more = feed_line(f, &fr->u);
		}
		if (!more)
			break;
		if (r < 0) {
			input_failed(f, r, NULL);
			break;
		}
		if (r == 1) {
			if (!f->loop)
				break;
			if (f->line == pass_start) {
				input_failed(f, TL_EVALUE, "no lines to feed over and over");
				break;
			}
			pass_start = f->line;
			tl_input_close(f->in);
			f->in = NULL;
			if ((r = tl_input_open(f->path, 0, 0, &f->in)) < 0) {
				input_failed(f, r, NULL);
				break;
			}
			f->pace_ev0_ns = INT64_MIN; /* the file's time starts over */
		}
	}
	while (f->in_flight > 0 && !stopping(f))
		(void)rd_kafka_flush(f->rk, 100);
	atomic_store_explicit(&f->done, true, memory_order_release); /* pairs with tl_feed_done() */
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
		    size_t errlen)
{
	char kerr[256];

	if (rd_kafka_conf_set(conf, name, value, kerr, sizeof(kerr)) == RD_KAFKA_CONF_OK)
		return 0;
	(void)snprintf(err, errlen, "feed: %s", kerr);
	return TL_ECONFIG;
}

/* The topic's partition count, from the cluster. */
static int topic_partitions(struct tl_feed *f, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t ke = rd_kafka_metadata(f->rk, 0, f->rkt, &md, METADATA_WAIT_MS);

	if (!ke && (md->topic_cnt != 1 || md->topics[0].err))
		ke = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (!ke && md->topics[0].partition_cnt <= 0)
		ke = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
	if (ke) {
		(void)snprintf(err, errlen, "feed: topic '%s': %s", f->topic, rd_kafka_err2str(ke));
		if (md)
			rd_kafka_metadata_destroy(md);
		return TL_ECONFIG;
	}
	f->n_parts = (unsigned)md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	return 0;
}

static int make_producer(struct tl_feed *f, const char *bootstrap, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char kerr[256];
	int r;

	if ((r = conf_set(conf, "bootstrap.servers", bootstrap, err, errlen)) < 0 ||
	    (r = conf_set(conf, "client.id", "tripline-feed", err, errlen)) < 0 ||
	    (r = conf_set(conf, "linger.ms", "5", err, errlen)) < 0 ||
	    (r = conf_set(conf, "acks", "all", err, errlen)) < 0 ||
	    (r = conf_set(conf, "enable.idempotence", "true", err, errlen)) < 0 ||
	    (r = conf_set(conf, "message.max.bytes", "2097152", err, errlen)) < 0 ||
	    /* never give up on a message: a broker taken down comes back */
	    (r = conf_set(conf, "message.timeout.ms", "0", err, errlen)) < 0 ||
	    (r = conf_set(conf, "allow.auto.create.topics", "false", err, errlen)) < 0) {
		rd_kafka_conf_destroy(conf);
		return r;
	}
	rd_kafka_conf_set_opaque(conf, f);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
	if (!f->rk) {
		rd_kafka_conf_destroy(conf);
		(void)snprintf(err, errlen, "feed: %s", kerr);
		return TL_ECONFIG;
	}
	f->rkt = rd_kafka_topic_new(f->rk, f->topic, NULL);
	if (!f->rkt) {
		(void)snprintf(err, errlen, "feed: topic '%s': %s", f->topic,
			       rd_kafka_err2str(rd_kafka_last_error()));
		return TL_ECONFIG;
	}
	return 0;
}

static int make_gate_reader(struct tl_feed *f, const char *bootstrap, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char kerr[256];
	int r;

	if ((r = conf_set(conf, "bootstrap.servers", bootstrap, err, errlen)) < 0 ||
	    (r = conf_set(conf, "client.id", "tripline-feed-gate", err, errlen)) < 0 ||
	    (r = conf_set(conf, "group.id", f->group, err, errlen)) < 0 ||
	    (r = conf_set(conf, "enable.auto.commit", "false", err, errlen)) < 0) {
		rd_kafka_conf_destroy(conf);
		return r;
	}
	f->gate_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
	if (!f->gate_rk) {
		rd_kafka_conf_destroy(conf);
		(void)snprintf(err, errlen, "feed: %s", kerr);
		return TL_ECONFIG;
	}
	f->gate_list = rd_kafka_topic_partition_list_new((int)f->n_parts);
	for (unsigned p = 0; p < f->n_parts; p++)
		rd_kafka_topic_partition_list_add(f->gate_list, f->topic, (int32_t)p);
	return 0;
}

static void feed_free(struct tl_feed *f)
{
	if (f->gate_list)
		rd_kafka_topic_partition_list_destroy(f->gate_list);
	if (f->gate_rk) {
		(void)rd_kafka_consumer_close(f->gate_rk);
		rd_kafka_destroy(f->gate_rk);
	}
	if (f->rkt)
		rd_kafka_topic_destroy(f->rkt);
	if (f->rk)
		rd_kafka_destroy(f->rk);
	tl_input_close(f->in);
	tl_frames_fini(&f->frames);
	if (f->parts)
		for (unsigned p = 0; p < f->n_parts; p++)
			free(f->parts[p].q);
	free(f->parts);
	pthread_mutex_destroy(&f->lock);
	free(f->path);
	free(f->topic);
	free(f->group);
	free(f);
}

int tl_feed_start(const struct tl_feed_opts *o, struct tl_feed **ret_feed, char *err, size_t errlen)
{
	struct tl_feed *f;
	int r;

	if (!o->bootstrap || !o->path || !(o->speed >= 0)) {
		(void)snprintf(err, errlen, "feed: a bootstrap, a file and a speed >= 0, please");
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		(void)snprintf(err, errlen, "feed: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->path = strdup(o->path);
	f->topic = strdup(o->topic ? o->topic : TL_HUB_TOPIC);
	f->group = strdup(o->gate_group ? o->gate_group : TL_FEED_GATE_GROUP);
	f->speed = o->speed;
	f->max_ahead = o->max_ahead_bytes ? o->max_ahead_bytes : TL_FEED_MAX_AHEAD;
	f->position = o->position;
	f->ud = o->ud;
	f->loop = o->loop;
	f->pace_ev0_ns = INT64_MIN;
	f->counts.last_event_ns = INT64_MIN;
	if (!f->path || !f->topic || !f->group) {
		(void)snprintf(err, errlen, "feed: out of memory");
		r = -ENOMEM;
		goto out_free;
	}
	if ((r = tl_input_open(f->path, 0, 0, &f->in)) < 0) {
		(void)snprintf(err, errlen, "feed: '%s': %s", f->path, tl_strerror(r));
		goto out_free;
	}
	if ((r = make_producer(f, o->bootstrap, err, errlen)) < 0 ||
	    (r = topic_partitions(f, err, errlen)) < 0)
		goto out_free;
	if (!f->position && (r = make_gate_reader(f, o->bootstrap, err, errlen)) < 0)
		goto out_free;
	f->parts = calloc(f->n_parts, sizeof(*f->parts));
	if (!f->parts) {
		(void)snprintf(err, errlen, "feed: out of memory");
		r = -ENOMEM;
		goto out_free;
	}
	if ((r = -pthread_create(&f->thread, NULL, feed_main, f)) < 0) {
		(void)snprintf(err, errlen, "feed: cannot start a thread: %s", tl_strerror(r));
		goto out_free;
	}
	*ret_feed = f;
	return 0;

out_free:
	feed_free(f);
	return r;
}

bool tl_feed_done(const struct tl_feed *f)
{
	return atomic_load_explicit(&f->done, memory_order_acquire); /* pairs with feed_main() */
}

void tl_feed_counts(struct tl_feed *f, struct tl_feed_counts *ret_counts)
{
	pthread_mutex_lock(&f->lock);
	*ret_counts = f->counts;
	pthread_mutex_unlock(&f->lock);
}

void tl_feed_stop(struct tl_feed *f)
{
	if (!f)
		return;
	atomic_store_explicit(&f->stop, true, memory_order_relaxed);
	pthread_join(f->thread, NULL);
	/* what is still queued will not be delivered now: purge it, and serve the reports */
	rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	(void)rd_kafka_flush(f->rk, STOP_FLUSH_MS);
	feed_free(f);
}
