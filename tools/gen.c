/*
 * tools/gen.c - `tripline gen`: a deterministic (seeded) generator of realistic Azure OpenAI
 * telemetry with labelled incidents, in the shapes tripline reads.
 *
 * The scenario comes from a YAML file (--scenario, tools/scenario.h) or is the built-in day
 * (bench/scenarios/builtin.yaml as a file): an AOAI account (RequestResponse logs of three
 * deployments) and an APIM gateway in front of a fourth deployment (GatewayLogs with response
 * bodies and GatewayLlmLogs with tokens), with a diurnal load, log-normal latencies by stream
 * type, a status mix, and these events (times from the start of the day):
 *   13:52  support-gpt4o moves to model version 2024-11-20 (Activity Log Start/Success),
 *   14:00-14:45  support-gpt4o p95 latency x3                       -> latency fires
 *   09:10-09:30  embed-3-large 25 % 5xx                             -> errors fires
 *   16:00-16:20  support-gpt4o-mini 20 % 429                        -> throttling fires
 *   18:00-18:25  chat-gpt4o (APIM) 4 % content-filter results       -> guardrail fires
 *   21:00-21:20  chat-gpt4o 6 % refusals                            -> refusal fires
 *   22:00-22:40  chat-gpt4o completions 150 x longer (token runaway) -> cost fires
 *   11:00-11:03  support-gpt4o-mini latency x3 (3 minutes)          -> must not fire
 *   20:00-22:00  support-gpt4o-mini latency drifts up 50 %, slowly  -> must not fire
 * The labels file lists a scenario's incidents (expect "fire" or "none"), day by day.
 *
 * Records are written in arrival order: shuffled within each second, a few delivered up to a
 * minute late; optional duplicates (at-least-once delivery) and cut lines (malformed).
 * Everything follows from --seed: the same options give the same bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <zstd.h>

#include <tripline/time.h>

#include "cli.h"
#include "scenario.h"

/* ---- randomness (xoshiro256**, seeded by splitmix64) -------------------------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_normal(struct rng *r)
{
	double u = rng_unit(r), v = rng_unit(r);

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double rng_lognormal(struct rng *r, double median, double sigma)
{
	return median * exp(sigma * rng_normal(r));
}

/* Poisson count with mean @m (inversion for small means, normal beyond). */
static unsigned rng_poisson(struct rng *r, double m)
{
	if (m > 50) {
		double x = m + sqrt(m) * rng_normal(r);

		return x < 0 ? 0 : (unsigned)(x + 0.5);
	}
	double l = exp(-m), p = 1.0;
	unsigned k = 0;

	do {
		k++;
		p *= rng_unit(r);
	} while (p > l);
	return k - 1;
}

/* ---- the scenario ----------------------------------------------------------------------- */

#define SUB     "1F2E3D4C-5B6A-4978-8A9B-0C1D2E3F4A5B"
#define RG      "RG-GENAI-PROD"
#define ACCOUNT "AOAI-CONTOSO-EUS2"
#define APIM    "APIM-CONTOSO-AIGW"
#define ACCOUNT_ID                                  \
	"/SUBSCRIPTIONS/" SUB "/RESOURCEGROUPS/" RG \
	"/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/" ACCOUNT
#define APIM_ID                                     \
	"/SUBSCRIPTIONS/" SUB "/RESOURCEGROUPS/" RG \
	"/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/" APIM

/*
 * The built-in scenario (bench/scenarios/builtin.yaml is the same day as a file: both must
 * give the same bytes).
 */
static struct tl_scn_deployment builtin_deps[] = {
	{ .name = "support-gpt4o",
	  .model = "gpt-4o",
	  .version = "2024-08-06",
	  .peak_rate = 1.0,
	  .stream_share = 0.35,
	  .latency_ms = 1800,
	  .latency_sigma = 0.45,
	  .ttfb_ms = 420,
	  .prompt_tokens = 1200,
	  .completion_tokens = 300,
	  .replicas = 1 },
	{ .name = "support-gpt4o-mini",
	  .model = "gpt-4o-mini",
	  .version = "2024-07-18",
	  .peak_rate = 0.8,
	  .stream_share = 0.5,
	  .latency_ms = 900,
	  .latency_sigma = 0.40,
	  .ttfb_ms = 250,
	  .prompt_tokens = 900,
	  .completion_tokens = 250,
	  .replicas = 1 },
	{ .name = "embed-3-large",
	  .model = "text-embedding-3-large",
	  .version = "1",
	  .embedding = true,
	  .peak_rate = 1.0,
	  .stream_share = 0.0,
	  .latency_ms = 110,
	  .latency_sigma = 0.35,
	  .ttfb_ms = 0,
	  .prompt_tokens = 500,
	  .completion_tokens = 0,
	  .replicas = 1 },
	{ .name = "chat-gpt4o",
	  .model = "gpt-4o",
	  .version = "2024-11-20",
	  .via = TL_SCN_APIM,
	  .peak_rate = 1.2,
	  .stream_share = 0.3,
	  .latency_ms = 1600,
	  .latency_sigma = 0.45,
	  .ttfb_ms = 380,
	  .prompt_tokens = 500,
	  .completion_tokens = 120,
	  .replicas = 1 },
};

#define HM(h, m) (((h)*60 + (m)) * 60)

static struct tl_scn_incident builtin_incidents[] = {
	{ "errors", 2, -1, HM(9, 10), HM(9, 30), TL_SCN_5XX, 0.25, true },
	{ "latency", 1, -1, HM(11, 0), HM(11, 3), TL_SCN_LATENCY, 3.0, false },
	{ "latency", 0, -1, HM(14, 0), HM(14, 45), TL_SCN_LATENCY, 3.0, true },
	{ "throttling", 1, -1, HM(16, 0), HM(16, 20), TL_SCN_429, 0.20, true },
	{ "guardrail", 3, -1, HM(18, 0), HM(18, 25), TL_SCN_GUARDRAIL, 0.04, true },
	{ "latency", 1, -1, HM(20, 0), HM(22, 0), TL_SCN_DRIFT, 0.5, false },
	{ "refusal", 3, -1, HM(21, 0), HM(21, 20), TL_SCN_REFUSAL, 0.06, true },
	{ "cost", 3, -1, HM(22, 0), HM(22, 40), TL_SCN_TOKENS, 150.0, true },
};

/* The model version change of support-gpt4o before its latency incident. */
static struct tl_scn_change builtin_changes[] = {
	{ 0, -1, HM(13, 52) + 10, "2024-11-20" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* --topic's default: Azure's export name of the category tripline reads most (as the hub's) */
#define DEFAULT_TOPIC "insights-logs-requestresponse"

static const struct tl_scenario builtin = {
	builtin_deps,    N_OF(builtin_deps),    builtin_incidents,  N_OF(builtin_incidents),
	builtin_changes, N_OF(builtin_changes), N_OF(builtin_deps),
};

/* ---- output ----------------------------------------------------------------------------- */

enum stream { ST_RR, ST_GW, ST_LLM, ST_ACT, ST_COUNT };

static const char *const containers[ST_COUNT] = {
	("insights-logs-requestresponse/resourceId=" ACCOUNT_ID),
	("insights-logs-gatewaylogs/resourceId=" APIM_ID),
	("insights-logs-gatewayllmlogs/resourceId=" APIM_ID),
	("insights-activity-logs/resourceId=/SUBSCRIPTIONS/" SUB),
};

struct sink {
	FILE *f;
	char *iobuf;  /* f's buffer: larger than stdio's own, for fewer write() calls */
	ZSTD_CCtx *z; /* when writing .zst */
	char *zbuf;
	size_t zcap;
	int64_t hour; /* tree mode: the hour the open file holds */
};

/*
 * --brokers: each envelope is one message, as diagnostic settings deliver to Event Hubs: no
 * key, each to a random partition of the topic.
 */
struct kafka_out {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	const char *topic;
	char *env; /* the envelope being built */
	size_t n, cap;
	uint64_t produced, delivered; /* messages */
	uint64_t refused, failed;     /* not produced; produced but not delivered */
	char cause[256];              /* why the first of them failed */
	double rate;                  /* --rate: records/s, 0 for no pacing */
	int64_t t0_ns;                /* when the first message went */
};

/* The incidents and changes of one deployment: their places in gen's index arrays. */
struct dep_index {
	uint32_t incidents, n_incidents, changes, n_changes;
};

struct gen {
	struct rng rng;
	const char *out;
	enum { FMT_TREE, FMT_NDJSON, FMT_RECORDS } fmt;
	unsigned batch;                /* records in the open envelope when full (FMT_RECORDS) */
	unsigned batch_min, batch_max; /* --batch: each envelope's size, uniform in them */
	struct rng batch_rng;          /* apart, so the records are the same at any --batch */
	bool want[ST_COUNT];
	const struct tl_scenario *sc;
	/* the scenario by deployment (each in the file's order), for one_call() */
	struct dep_index *by_dep;
	uint32_t *incident_idx, *change_idx;
	double (*incident_min)[2]; /* start and end, minutes from the start of the day */
	double scale;
	double dup_p, bad_p, late_p;
	int64_t day0; /* start, ns */
	int64_t end;  /* end, ns */
	uint64_t max_records;
	uint64_t written;
	struct sink sinks[ST_COUNT]; /* tree: one per stream; otherwise sinks[0] only */
	unsigned in_batch;           /* records in the open envelope */
	struct kafka_out *kafka;     /* --brokers: envelopes go there, not to sinks[0] */
	/* records held back to arrive late */
	struct held {
		int64_t at;
		enum stream st;
		char *text;
	} * held;
	size_t n_held, cap_held;
	int err;
	/* the line being built */
	char *buf;
	size_t n, cap;
	int64_t time_sec;   /* put_time7(): the second time_text holds */
	char time_text[19]; /* YYYY-MM-DDTHH:MM:SS */
};

/* Make room for @n more bytes of the line being built. */
static void reserve(struct gen *g, size_t n)
{
	size_t cap = g->cap ? g->cap * 2 : 4096;
	char *b;

	while (cap < g->n + n + 1)
		cap *= 2;
	if (!(b = realloc(g->buf, cap))) {
		tl_err("gen: out of memory");
		exit(TL_EXIT_IO);
	}
	g->buf = b;
	g->cap = cap;
}

static inline void put(struct gen *g, const char *s, size_t n)
{
	if (g->n + n + 1 > g->cap)
		reserve(g, n);
	memcpy(g->buf + g->n, s, n);
	g->n += n;
}

#define PUTS(g, lit) put((g), (lit), sizeof(lit) - 1)

static void puts_(struct gen *g, const char *s)
{
	put(g, s, strlen(s));
}

/* "00" .. "99" */
static const char digits2[201] = "0001020304050607080910111213141516171819"
				 "2021222324252627282930313233343536373839"
				 "4041424344454647484950515253545556575859"
				 "6061626364656667686970717273747576777879"
				 "8081828384858687888990919293949596979899";

/* The digits of @v < 10^8 ending at @end, exactly @n of them (leading zeros). */
static inline void digits_u32(char *end, uint32_t v, int n)
{
	for (; n >= 2; n -= 2) {
		const uint32_t d = v % 100 * 2;

		v /= 100;
		*--end = digits2[d + 1];
		*--end = digits2[d];
	}
	if (n)
		*--end = (char)('0' + v);
}

static void put_u64(struct gen *g, uint64_t v)
{
	static const uint64_t pow10[20] = { 1u,
					    10u,
					    100u,
					    1000u,
					    10000u,
					    100000u,
					    1000000u,
					    10000000u,
					    100000000u,
					    1000000000u,
					    10000000000u,
					    100000000000u,
					    1000000000000u,
					    10000000000000u,
					    100000000000000u,
					    1000000000000000u,
					    10000000000000000u,
					    100000000000000000u,
					    1000000000000000000u,
					    10000000000000000000u };
	int n = 1;

	while (n < 20 && v >= pow10[n])
		n++;
	if (g->n + (size_t)n + 1 > g->cap)
		reserve(g, (size_t)n);
	/* straight into the line, from the last digit; 8 at a time in 32-bit arithmetic */
	char *end = g->buf + g->n + n;
	int left = n;

	g->n += (size_t)n;
	while (left > 8) {
		digits_u32(end, (uint32_t)(v % 100000000), 8);
		v /= 100000000;
		end -= 8;
		left -= 8;
	}
	digits_u32(end, (uint32_t)v, left);
}

static void put_i64(struct gen *g, int64_t v)
{
	if (v < 0) {
		PUTS(g, "-");
		put_u64(g, (uint64_t)(-v));
	} else {
		put_u64(g, (uint64_t)v);
	}
}

/* 2025-11-04T14:00:04.3600000Z, with 7 fractional digits as Azure writes them; no Z if !z. */
static void put_time7(struct gen *g, int64_t ns, bool z)
{
	const int64_t sec = tl_floor_div(ns, TL_NS_PER_S);
	unsigned ticks = (unsigned)(tl_floor_div(ns, 100) - sec * 10000000);
	char t[28];

	/* the records of one second share its text: format it once */
	if (sec != g->time_sec) {
		char full[TL_TIME_TEXT_LEN + 1];

		tl_time_format(sec * TL_NS_PER_S, full);
		memcpy(g->time_text, full, 19);
		g->time_sec = sec;
	}
	memcpy(t, g->time_text, 19);
	t[19] = '.';
	t[26] = (char)('0' + ticks % 10);
	ticks /= 10;
	for (int i = 24; i >= 20; i -= 2) {
		const unsigned d = ticks % 100 * 2;

		ticks /= 100;
		t[i] = digits2[d];
		t[i + 1] = digits2[d + 1];
	}
	t[27] = 'Z';
	put(g, t, z ? 28 : 27);
}

/* hex_lo_hi[b]: the two hex digits of byte b, low nibble first (the order put_uuid writes) */
static char hex_lo_hi[256][2];

static void hex_init(void)
{
	static const char hex[] = "0123456789abcdef";

	for (int b = 0; b < 256; b++) {
		hex_lo_hi[b][0] = hex[b & 15];
		hex_lo_hi[b][1] = hex[b >> 4];
	}
}

/* 32 hex digits of two random words, nibble by nibble from the low end, as 8-4-4-4-12. */
static void put_uuid(struct gen *g)
{
	uint64_t w[2];
	char x[32], u[36];

	/* two statements: the draws of one initializer list are in no fixed order */
	w[0] = rng_next(&g->rng);
	w[1] = rng_next(&g->rng);

	for (int i = 0; i < 16; i++)
		memcpy(x + 2 * i, hex_lo_hi[(w[i / 8] >> ((i % 8) * 8)) & 255], 2);
	memcpy(u, x, 8);
	u[8] = '-';
	memcpy(u + 9, x + 8, 4);
	u[13] = '-';
	memcpy(u + 14, x + 12, 4);
	u[18] = '-';
	memcpy(u + 19, x + 16, 4);
	u[23] = '-';
	memcpy(u + 24, x + 20, 12);
	u[14] = '4';
	put(g, u, 36);
}

#define IOBUF_SIZE ((size_t)256 << 10)

/* Give s->f, just opened, a buffer of IOBUF_SIZE (stdio's own if there is no memory). */
static void sink_buffer(struct sink *s)
{
	if ((s->iobuf = malloc(IOBUF_SIZE)) && setvbuf(s->f, s->iobuf, _IOFBF, IOBUF_SIZE) != 0) {
		free(s->iobuf);
		s->iobuf = NULL;
	}
}

static int sink_open(struct sink *s, const char *path)
{
	size_t n = strlen(path);

	s->f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
	if (!s->f)
		return -errno;
	if (s->f != stdout) /* stdout's buffer would have to outlive gen */
		sink_buffer(s);
	if (n > 4 && strcmp(path + n - 4, ".zst") == 0) {
		s->z = ZSTD_createCCtx();
		s->zcap = ZSTD_CStreamOutSize();
		s->zbuf = malloc(s->zcap);
		if (!s->z || !s->zbuf)
			return -ENOMEM;
		(void)ZSTD_CCtx_setParameter(s->z, ZSTD_c_compressionLevel, 3);
	}
	return 0;
}

static int sink_write(struct sink *s, const char *p, size_t n, bool end)
{
	if (!s->z)
		return fwrite(p, 1, n, s->f) == n ? 0 : -EIO;
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { s->zbuf, s->zcap, 0 };

		left = ZSTD_compressStream2(s->z, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return TL_ECOMPRESS;
		if (fwrite(s->zbuf, 1, out.pos, s->f) != out.pos)
			return -EIO;
	} while (end ? left != 0 : in.pos < in.size);
	return 0;
}

static int sink_close(struct sink *s)
{
	int r = 0;

	if (!s->f)
		return 0;
	if (s->z && s->zbuf)
		r = sink_write(s, "", 0, true);
	if (s->f != stdout) {
		if (fclose(s->f) != 0 && r == 0)
			r = -errno;
	} else if (fflush(s->f) != 0 && r == 0) {
		r = -errno;
	}
	ZSTD_freeCCtx(s->z);
	free(s->zbuf);
	free(s->iobuf); /* after fclose(), which flushed it */
	*s = (struct sink){ 0 };
	return r;
}

static int mkdirs(const char *path)
{
	char p[4096];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (size_t i = 1; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		p[i] = '/';
	}
	return 0;
}

/* ---- Kafka ------------------------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_out *k = opaque;

	(void)rk;
	if (!m->err) {
		k->delivered++;
		return;
	}
	if (k->failed++ == 0 && k->refused == 0)
		(void)snprintf(k->cause, sizeof(k->cause), "%s", rd_kafka_err2str(m->err));
}

static int kafka_open(struct kafka_out *k, const char *brokers, const char *topic, char *err,
		      size_t errlen)
{
	static const char *const settings[][2] = {
		{ "client.id", "tripline-gen" },
		{ "linger.ms", "5" },
		/* no key: each message to a random partition (Event Hubs spreads them too), not
		 * all of the last 10 ms to one partition, as librdkafka's default would */
		{ "sticky.partitioning.linger.ms", "0" },
		{ "acks", "all" },
		/* one partition's messages arrive in the order they were produced */
		{ "enable.idempotence", "true" },
		{ "message.max.bytes", "2097152" },
		/* a broker that is not there fails the run in 30 s rather than the default 5 min */
		{ "message.timeout.ms", "30000" },
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char kerr[256];

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, kerr, sizeof(kerr)) !=
	    RD_KAFKA_CONF_OK)
		goto out_conf;
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], kerr, sizeof(kerr)) !=
		    RD_KAFKA_CONF_OK)
			goto out_conf;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if (!(k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr))))
		goto out_conf;
	k->topic = topic;
	if (!(k->rkt = rd_kafka_topic_new(k->rk, topic, NULL))) {
		(void)snprintf(err, errlen, "topic '%s': %s", topic,
			       rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(k->rk);
		k->rk = NULL;
		return TL_ECONFIG;
	}
	return 0;
out_conf:
	rd_kafka_conf_destroy(conf);
	(void)snprintf(err, errlen, "%s", kerr);
	return TL_ECONFIG;
}

/* Produce the envelope in k->env (the records so far: @n_records), then wait for --rate. */
static int kafka_send(struct kafka_out *k, uint64_t n_records)
{
	if (!k->produced)
		k->t0_ns = tl_now_ns();
	/* RD_KAFKA_MSG_F_COPY: the buffer is reused for the next envelope */
	while (rd_kafka_produce(k->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, k->env, k->n,
				NULL, 0, NULL) != 0) {
		rd_kafka_resp_err_t e = rd_kafka_last_error();

		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			if (k->refused++ == 0 && k->failed == 0)
				(void)snprintf(k->cause, sizeof(k->cause), "%s",
					       rd_kafka_err2str(e));
			k->n = 0;
			return 0; /* counted: gen goes on and fails at the end */
		}
		rd_kafka_poll(k->rk, 100);
	}
	k->produced++;
	k->n = 0;
	rd_kafka_poll(k->rk, 0);
	if (k->rate > 0) {
		const int64_t due = k->t0_ns + (int64_t)((double)n_records / k->rate * 1e9),
			      wait = due - tl_now_ns();

		if (wait > 0) {
			struct timespec ts = { (time_t)(wait / 1000000000),
					       (long)(wait % 1000000000) };

			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

/* Wait for every delivery report. Return: 0, or -EIO (said why) if one was not delivered. */
static int kafka_close(struct kafka_out *k)
{
	int r = 0;

	if (!k->rk)
		return 0;
	while (rd_kafka_outq_len(k->rk) > 0)
		(void)rd_kafka_flush(k->rk, 1000);
	if (k->failed || k->refused) {
		tl_err("gen: %llu of %llu messages not delivered to topic '%s': %s",
		       (unsigned long long)(k->failed + k->refused),
		       (unsigned long long)(k->produced + k->refused), k->topic, k->cause);
		r = -EIO;
	}
	rd_kafka_topic_destroy(k->rkt);
	rd_kafka_destroy(k->rk);
	free(k->env);
	k->rk = NULL;
	return r;
}

/* Part of an envelope: to the file, or to the message being built. */
static int env_write(struct gen *g, struct sink *s, const char *p, size_t n)
{
	struct kafka_out *k = g->kafka;

	if (!k)
		return sink_write(s, p, n, false);
	if (k->n + n > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 65536;
		char *b;

		while (cap < k->n + n)
			cap *= 2;
		if (!(b = realloc(k->env, cap)))
			return -ENOMEM;
		k->env = b;
		k->cap = cap;
	}
	memcpy(k->env + k->n, p, n);
	k->n += n;
	return 0;
}

/* The envelope is complete, @n_records written with it: a line of the file, or a message. */
static int env_end(struct gen *g, struct sink *s, uint64_t n_records)
{
	int r;

	if (!g->kafka)
		return sink_write(s, "]}\n", 3, false);
	if ((r = env_write(g, s, "]}", 2)) < 0)
		return r;
	return kafka_send(g->kafka, n_records);
}

/*
 * Write one finished record of stream @st at event time @t: @text of @n bytes, with room for
 * one more (text[n], which this may overwrite: the newline goes out in the same write).
 */
static void emit_text(struct gen *g, enum stream st, int64_t t, char *text, size_t n)
{
	struct sink *s = &g->sinks[g->fmt == FMT_TREE ? st : 0];
	int r = 0;

	if (g->err)
		return;
	if (g->fmt == FMT_TREE) {
		int64_t hour = tl_floor_div(t, TL_NS_PER_HOUR) * TL_NS_PER_HOUR;

		if (!s->f || hour != s->hour) {
			char tm[TL_TIME_TEXT_LEN + 1], path[4096];

			if ((r = sink_close(s)) < 0)
				goto out_err;
			tl_time_format(hour, tm);
			(void)snprintf(path, sizeof(path),
				       "%s/%s/y=%.4s/m=%.2s/d=%.2s/h=%.2s/m=00/PT1H.json", g->out,
				       containers[st], tm, tm + 5, tm + 8, tm + 11);
			if ((r = mkdirs(path)) < 0)
				goto out_err;
			/* blobs are appended as the hour goes: a late record may reopen one */
			s->f = fopen(path, "ab");
			if (!s->f) {
				r = -errno;
				goto out_err;
			}
			sink_buffer(s);
			s->hour = hour;
		}
		text[n] = '\n';
		if ((r = sink_write(s, text, n + 1, false)) < 0)
			goto out_err;
	} else if (g->fmt == FMT_RECORDS) {
		if (!g->in_batch && g->batch_max > g->batch_min)
			g->batch = g->batch_min + (unsigned)(rng_next(&g->batch_rng) %
							     (g->batch_max - g->batch_min + 1));
		if ((r = env_write(g, s, g->in_batch ? "," : "{\"records\":[",
				   g->in_batch ? 1 : 12)) < 0 ||
		    (r = env_write(g, s, text, n)) < 0)
			goto out_err;
		if (++g->in_batch == g->batch) {
			g->in_batch = 0;
			if ((r = env_end(g, s, g->written + 1)) < 0)
				goto out_err;
		}
	} else {
		text[n] = '\n';
		if ((r = sink_write(s, text, n + 1, false)) < 0)
			goto out_err;
	}
	g->written++;
	return;
out_err:
	g->err = r;
}

static void hold(struct gen *g, enum stream st, int64_t at)
{
	if (g->n_held == g->cap_held) {
		size_t cap = g->cap_held ? g->cap_held * 2 : 64;
		struct held *h = realloc(g->held, cap * sizeof(*h));

		if (!h) {
			g->err = -ENOMEM;
			return;
		}
		g->held = h;
		g->cap_held = cap;
	}
	char *text = malloc(g->n + 1);

	if (!text) {
		g->err = -ENOMEM;
		return;
	}
	memcpy(text, g->buf, g->n);
	text[g->n] = '\0';
	g->held[g->n_held++] = (struct held){ at, st, text };
}

/* The record in g->buf is done: write it now, later, twice, or cut short. */
static void finish(struct gen *g, enum stream st, int64_t t, int64_t now)
{
	if (!g->want[st]) {
		g->n = 0;
		return;
	}
	if (g->late_p > 0 && rng_unit(&g->rng) < g->late_p) {
		hold(g, st, now + (int64_t)(5 + rng_unit(&g->rng) * 55) * TL_NS_PER_S);
	} else if (g->bad_p > 0 && rng_unit(&g->rng) < g->bad_p) {
		emit_text(g, st, t, g->buf, 1 + (size_t)(rng_unit(&g->rng) * (double)(g->n - 2)));
	} else {
		emit_text(g, st, t, g->buf, g->n);
		if (g->dup_p > 0 && rng_unit(&g->rng) < g->dup_p)
			hold(g, st, now + (int64_t)(1 + rng_unit(&g->rng) * 20) * TL_NS_PER_S);
	}
	g->n = 0;
}

static void release_held(struct gen *g, int64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < g->n_held; i++) {
		struct held *h = &g->held[i];

		if (h->at <= now) {
			/* a held record keeps its own event time for the hour it lands in */
			emit_text(g, h->st, now, h->text, strlen(h->text));
			free(h->text);
		} else {
			g->held[k++] = *h;
		}
	}
	g->n_held = k;
}

/* ---- records ---------------------------------------------------------------------------- */

struct call {
	int64_t t;         /* logged time */
	double latency_ms; /* durationMs (time to first byte for streams) */
	unsigned status;
	bool stream;
	bool filtered, refused;
	unsigned prompt, completion, cached;
	uint32_t replica; /* of a deployment with replicas */
	const char *version;
};

/* The series name: the deployment's, with -00001 .. for its replicas. */
static void put_name(struct gen *g, const struct tl_scn_deployment *d, uint32_t replica)
{
	puts_(g, d->name);
	if (d->replicas > 1) {
		char k[8];
		const uint32_t v = replica + 1; /* at most TL_SCN_MAX_SERIES: 7 digits */
		const int n = v >= 1000000 ? 7 : v >= 100000 ? 6 : 5;

		k[0] = '-';
		digits_u32(k + 1 + n, v, n);
		put(g, k, (size_t)n + 1);
	}
}

static void rr_record(struct gen *g, const struct tl_scn_deployment *d, const struct call *c)
{
	const int64_t resp = c->t - 30 * TL_NS_PER_MS;
	const int64_t req = resp - (int64_t)(c->latency_ms * 1e6);
	const int64_t req_ticks = req / 100 + TL_TICKS_UNIX_EPOCH;
	const int64_t resp_ticks = resp / 100 + TL_TICKS_UNIX_EPOCH;
	const unsigned ip = (unsigned)(rng_next(&g->rng) % 2);

	PUTS(g, "{\"EnqueueTime\": \"");
	put_time7(g, c->t - 40 * TL_NS_PER_MS, false);
	PUTS(g, "\", \"callerIpAddress\": \"20.236.1");
	put_u64(g, ip);
	PUTS(g, ".***\", \"category\": \"RequestResponse\", \"correlationId\": \"");
	put_uuid(g);
	PUTS(g, "\", \"durationMs\": ");
	put_u64(g, (uint64_t)c->latency_ms);
	PUTS(
	    g,
	    ", \"event\": \"ShoeboxCallResult\", \"location\": \"eastus2\", \"operationName\": \"");
	puts_(g, d->embedding ? "Embeddings_Create" : "ChatCompletions_Create");
	PUTS(g,
	     "\", \"properties\": \"{\\\"apiName\\\":\\\"Azure OpenAI API version 2024-10-21\\\","
	     "\\\"requestTime\\\":");
	put_i64(g, req_ticks);
	PUTS(g, ",\\\"requestLength\\\":");
	put_u64(g, c->prompt * 4 + 200);
	PUTS(g, ",\\\"responseTime\\\":");
	put_i64(g, resp_ticks);
	PUTS(g, ",\\\"responseLength\\\":");
	put_u64(g, c->stream ? 0 : c->completion * 4 + 300);
	PUTS(g, ",\\\"objectId\\\":\\\"\\\",\\\"streamType\\\":\\\"");
	puts_(g, c->stream ? "Streaming" : "Non-Streaming");
	PUTS(g, "\\\",\\\"modelDeploymentName\\\":\\\"");
	put_name(g, d, c->replica);
	PUTS(g, "\\\",\\\"modelName\\\":\\\"");
	puts_(g, d->model);
	PUTS(g, "\\\",\\\"modelVersion\\\":\\\"");
	puts_(g, c->version);
	PUTS(g, "\\\"}\", \"resourceId\": \"" ACCOUNT_ID "\", \"resultSignature\": \"");
	put_u64(g, c->status);
	PUTS(g, "\", \"time\": \"");
	put_time7(g, c->t, true);
	PUTS(g, "\", \"Tenant\": \"eastus2\"}");
}

static void gw_record(struct gen *g, const struct tl_scn_deployment *d, const struct call *c,
		      const char *corr)
{
	PUTS(g, "{\"DeploymentVersion\": \"0.54.21034.0\", \"Level\": 4, \"Sku\": \"StandardV2\", "
		"\"callerIpAddress\": \"10.42.3.17\", \"category\": \"GatewayLogs\", "
		"\"correlationId\": \"");
	put(g, corr, 36);
	PUTS(g, "\", \"durationMs\": ");
	put_u64(g, (uint64_t)c->latency_ms + 25);
	PUTS(g, ", \"isRequestSuccess\": ");
	puts_(g, c->status < 400 ? "true" : "false");
	PUTS(g, ", \"location\": \"East US 2\", \"operationName\": "
		"\"Microsoft.ApiManagement/GatewayLogs\", "
		"\"properties\": {\"apiId\": \"azure-openai\", \"backendId\": \"aoai-eus2\", "
		"\"backendMethod\": \"POST\", \"backendResponseCode\": ");
	put_u64(g, c->status);
	PUTS(g, ", \"backendTime\": ");
	put_u64(g, (uint64_t)c->latency_ms);
	PUTS(g,
	     ", \"backendUrl\": \"https://aoai-contoso-eus2.openai.azure.com/openai/deployments/");
	put_name(g, d, c->replica);
	PUTS(
	    g,
	    "/chat/completions?api-version=2024-10-21\", \"cache\": \"none\", \"clientTime\": 25, "
	    "\"method\": \"POST\", \"operationId\": \"ChatCompletions_Create\", \"requestSize\": ");
	put_u64(g, c->prompt * 4 + 200);
	PUTS(g, ", \"responseCode\": ");
	put_u64(g, c->status);
	PUTS(g, ", \"url\": \"https://apim-contoso-aigw.azure-api.net/openai/deployments/");
	put_name(g, d, c->replica);
	PUTS(g, "/chat/completions?api-version=2024-10-21\", \"backendResponseBody\": \"");
	if (c->status == 400 && c->filtered) {
		PUTS(g,
		     "{\\\"error\\\":{\\\"code\\\":\\\"content_filter\\\",\\\"status\\\":400,"
		     "\\\"message\\\":\\\"The response was filtered due to the prompt triggering "
		     "Azure OpenAI's content management "
		     "policy.\\\",\\\"innererror\\\":{\\\"code\\\":"
		     "\\\"ResponsibleAIPolicyViolation\\\"}}}");
	} else if (c->status >= 400) {
		PUTS(g, "{\\\"error\\\":{\\\"code\\\":\\\"");
		put_u64(g, c->status);
		PUTS(g, "\\\",\\\"message\\\":\\\"");
		puts_(g, c->status == 429
			     ? "Rate limit is exceeded. Try again in 1 seconds."
			     : "The server had an error while processing your request.");
		PUTS(g, "\\\"}}");
	} else {
		PUTS(g, "{\\\"id\\\":\\\"chatcmpl-");
		put_u64(g, rng_next(&g->rng) >> 16);
		PUTS(g, "\\\",\\\"object\\\":\\\"chat.completion\\\",\\\"model\\\":\\\"");
		puts_(g, d->model);
		PUTS(g, "-");
		puts_(g, c->version);
		PUTS(g, "\\\",\\\"choices\\\":[{\\\"index\\\":0,\\\"finish_reason\\\":\\\"");
		puts_(g, c->filtered ? "content_filter" : "stop");
		PUTS(g, "\\\",\\\"message\\\":{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":");
		if (c->refused)
			PUTS(g, "null,\\\"refusal\\\":\\\"I can't help with that request.\\\"}}],");
		else
			PUTS(g, "\\\"Here is what I found about your "
				"order.\\\",\\\"refusal\\\":null}}],");
		PUTS(g, "\\\"usage\\\":{\\\"prompt_tokens\\\":");
		put_u64(g, c->prompt);
		PUTS(g, ",\\\"completion_tokens\\\":");
		put_u64(g, c->completion);
		PUTS(g, ",\\\"total_tokens\\\":");
		put_u64(g, c->prompt + c->completion);
		PUTS(g, ",\\\"prompt_tokens_details\\\":{\\\"cached_tokens\\\":");
		put_u64(g, c->cached);
		PUTS(g, "}}}");
	}
	PUTS(g, "\"}, \"resourceId\": \"" APIM_ID "\", \"resultType\": \"");
	puts_(g, c->status < 400 ? "Succeeded" : "Failed");
	PUTS(g, "\", \"time\": \"");
	put_time7(g, c->t, true);
	PUTS(g, "\", \"truncated\": 0}");
}

static void llm_record(struct gen *g, const struct tl_scn_deployment *d, const struct call *c,
		       const char *corr)
{
	PUTS(g, "{\"category\": \"GatewayLlmLogs\", \"correlationId\": \"");
	put(g, corr, 36);
	PUTS(g, "\", \"location\": \"East US 2\", \"operationName\": "
		"\"Microsoft.ApiManagement/GatewayLlmLogs\", "
		"\"properties\": {\"correlationId\": \"");
	put(g, corr, 36);
	PUTS(g, "\", \"apiVersion\": \"2024-10-21\", \"deploymentName\": \"");
	put_name(g, d, c->replica);
	PUTS(g, "\", \"modelName\": \"");
	puts_(g, d->model);
	PUTS(g, "-");
	puts_(g, c->version);
	PUTS(g, "\", \"isStreamCompletion\": ");
	puts_(g, c->stream ? "true" : "false");
	PUTS(g, ", \"promptTokens\": ");
	put_u64(g, c->status == 400 ? 0 : c->prompt);
	PUTS(g, ", \"completionTokens\": ");
	put_u64(g, c->status >= 400 ? 0 : c->completion);
	PUTS(g, ", \"totalTokens\": ");
	put_u64(g, c->status >= 400 ? 0 : c->prompt + c->completion);
	PUTS(g, ", \"promptCachedTokens\": ");
	put_u64(g, c->status >= 400 ? 0 : c->cached);
	PUTS(g, ", \"sequenceNumber\": 0, \"region\": \"East US 2\"}, \"resourceId\": \"" APIM_ID
		"\", \"time\": \"");
	put_time7(g, c->t, true);
	PUTS(g, "\"}");
}

static void activity_record(struct gen *g, int64_t t, const char *corr, bool start,
			    const struct tl_scn_deployment *d, const struct tl_scn_change *x)
{
	const uint32_t replica = x->replica < 0 ? 0 : (uint32_t)x->replica;
	size_t mark;

	PUTS(g, "{\"time\": \"");
	put_time7(g, t, true);
	PUTS(g, "\", \"resourceId\": \"" ACCOUNT_ID "/DEPLOYMENTS/");
	mark = g->n;
	put_name(g, d, replica);
	for (size_t i = mark; i < g->n; i++)
		if (g->buf[i] >= 'a' && g->buf[i] <= 'z')
			g->buf[i] = (char)(g->buf[i] - 32);
	PUTS(g,
	     "\", \"operationName\": \"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DEPLOYMENTS/WRITE\", "
	     "\"category\": \"Administrative\", \"resultType\": \"");
	puts_(g, start ? "Start" : "Success");
	PUTS(g, "\", \"resultSignature\": \"");
	puts_(g, start ? "Started." : "Succeeded.OK");
	PUTS(g, "\", \"durationMs\": ");
	put_u64(g, start ? 0 : 48461);
	PUTS(g, ", \"callerIpAddress\": \"203.0.113.24\", \"correlationId\": \"");
	put(g, corr, 36);
	PUTS(g, "\", \"level\": \"Information\", \"location\": \"global\", \"properties\": "
		"{\"eventCategory\": \"Administrative\", \"entity\": \"/subscriptions/"
		"1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b/resourceGroups/rg-genai-prod/providers/"
		"Microsoft.CognitiveServices/accounts/aoai-contoso-eus2/deployments/");
	put_name(g, d, replica);
	PUTS(g, "\", \"message\": \"Microsoft.CognitiveServices/accounts/deployments/write\", \"");
	puts_(g, start ? "requestbody" : "responseBody");
	PUTS(g,
	     "\": \"{\\\"sku\\\":{\\\"name\\\":\\\"GlobalStandard\\\",\\\"capacity\\\":150},"
	     "\\\"properties\\\":{\\\"model\\\":{\\\"format\\\":\\\"OpenAI\\\",\\\"name\\\":\\\"");
	puts_(g, d->model);
	PUTS(g, "\\\",\\\"version\\\":\\\"");
	puts_(g, x->version);
	PUTS(
	    g,
	    "\\\"},\\\"raiPolicyName\\\":"
	    "\\\"Microsoft.DefaultV2\\\",\\\"versionUpgradeOption\\\":\\\"NoAutoUpgrade\\\"}}\"}}");
}

/* ---- the day ---------------------------------------------------------------------------- */

static double diurnal(int64_t t)
{
	double h = (double)(tl_floor_div(t, TL_NS_PER_S) % 86400) / 3600.0;

	return 0.55 + 0.45 * sin(6.283185307179586 * (h - 8.0) / 24.0);
}

/* A draw as a token count: bounded, so a wild draw never overflows the conversion. */
static unsigned tokens(double x)
{
	return x < 1e9 ? (unsigned)x : 1000000000u;
}

static void one_call(struct gen *g, unsigned di, uint32_t replica, int64_t t, int64_t now)
{
	const struct tl_scenario *sc = g->sc;
	const struct tl_scn_deployment *d = &sc->deployments[di];
	const int64_t day = tl_floor_div(t, TL_NS_PER_DAY) * TL_NS_PER_DAY;
	const double minute = (double)(t - day) / (double)TL_NS_PER_MIN;
	struct call c = { .t = t, .status = 200, .version = d->version, .replica = replica };
	double lat_factor = 1.0, p5xx = 0.004, p429 = 0.015, p400 = 0.006, pfilter = 0.0002,
	       prefuse = 0.0005, tok_factor = 1.0;
	int32_t since = -1;

	const struct dep_index *di_ = &g->by_dep[di];

	/* the version of the latest change of the day that has succeeded */
	for (uint32_t k = 0; k < di_->n_changes; k++) {
		const struct tl_scn_change *x = &sc->changes[g->change_idx[di_->changes + k]];
		const int32_t done = x->at_s + TL_SCN_CHANGE_TAKES_S;

		if ((x->replica < 0 || (uint32_t)x->replica == replica) &&
		    t - day >= done * TL_NS_PER_S && done > since) {
			c.version = x->version;
			since = done;
		}
	}
	for (uint32_t k = 0; k < di_->n_incidents; k++) {
		const uint32_t i = g->incident_idx[di_->incidents + k];
		const struct tl_scn_incident *x = &sc->incidents[i];
		const double start_min = g->incident_min[i][0], end_min = g->incident_min[i][1];

		if ((x->replica >= 0 && (uint32_t)x->replica != replica) || minute < start_min)
			continue;
		if (x->effect == TL_SCN_DRIFT) {
			/* rises linearly over the window, then stays */
			double f = (minute - start_min) / (end_min - start_min);

			lat_factor *= 1.0 + x->amount * (f > 1 ? 1 : f);
			continue;
		}
		if (minute >= end_min)
			continue;
		switch (x->effect) {
		case TL_SCN_LATENCY:
			lat_factor *= x->amount;
			break;
		case TL_SCN_5XX:
			p5xx = x->amount;
			break;
		case TL_SCN_429:
			p429 = x->amount;
			break;
		case TL_SCN_GUARDRAIL:
			pfilter = x->amount;
			break;
		case TL_SCN_REFUSAL:
			prefuse = x->amount;
			break;
		case TL_SCN_TOKENS:
			tok_factor = x->amount;
			break;
		default:
			break;
		}
	}
	c.stream = rng_unit(&g->rng) < d->stream_share;
	c.latency_ms = c.stream ? rng_lognormal(&g->rng, d->ttfb_ms, d->latency_sigma)
				: rng_lognormal(&g->rng, d->latency_ms, d->latency_sigma);
	c.latency_ms *= lat_factor;
	if (c.latency_ms > 3600e3) /* an hour: bounds what follows from a wild draw */
		c.latency_ms = 3600e3;
	c.prompt = tokens(rng_lognormal(&g->rng, d->prompt_tokens, 0.6)) + 1;
	c.completion =
	    d->embedding
		? 0
		: tokens(rng_lognormal(&g->rng, d->completion_tokens, 0.7) * tok_factor) + 1;
	c.cached =
	    rng_unit(&g->rng) < 0.4 ? (unsigned)(c.prompt * (0.3 + 0.5 * rng_unit(&g->rng))) : 0;

	double u = rng_unit(&g->rng);

	if (u < p5xx) {
		c.status = 500;
		c.latency_ms = c.latency_ms * 0.5 + 50;
	} else if ((u -= p5xx) < p429) {
		c.status = 429;
		c.latency_ms = 5 + 20 * rng_unit(&g->rng);
	} else if ((u -= p429) < pfilter) {
		/* the content filter blocks the prompt (400) or cuts the completion (200) */
		c.filtered = true;
		c.status = rng_unit(&g->rng) < 0.7 ? 400 : 200;
		if (c.status == 400)
			c.latency_ms = 150 + 100 * rng_unit(&g->rng);
	} else if ((u -= pfilter) < p400) {
		c.status = 400;
		c.latency_ms = 100 + 100 * rng_unit(&g->rng);
	} else if ((u -= p400) < prefuse) {
		c.refused = true;
	}
	if (d->via == TL_SCN_AOAI) {
		rr_record(g, d, &c);
		finish(g, ST_RR, t, now);
		return;
	}
	char corr[37];
	size_t mark = g->n;

	put_uuid(g);
	memcpy(corr, g->buf + mark, 36);
	corr[36] = '\0';
	g->n = mark;
	gw_record(g, d, &c, corr);
	finish(g, ST_GW, t, now);
	llm_record(g, d, &c, corr);
	finish(g, ST_LLM, t, now);
}

/* Index the scenario by deployment. Return: 0 or -ENOMEM. */
static int index_scenario(struct gen *g)
{
	const struct tl_scenario *sc = g->sc;
	uint32_t ni = 0, nc = 0;

	g->by_dep = calloc(sc->n_deployments, sizeof(*g->by_dep));
	g->incident_idx = calloc(sc->n_incidents + 1, sizeof(*g->incident_idx));
	g->change_idx = calloc(sc->n_changes + 1, sizeof(*g->change_idx));
	g->incident_min = calloc(sc->n_incidents + 1, sizeof(*g->incident_min));
	if (!g->by_dep || !g->incident_idx || !g->change_idx || !g->incident_min)
		return -ENOMEM;
	for (uint32_t di = 0; di < sc->n_deployments; di++) {
		struct dep_index *x = &g->by_dep[di];

		x->incidents = ni;
		for (uint32_t i = 0; i < sc->n_incidents; i++)
			if (sc->incidents[i].deployment == di)
				g->incident_idx[ni++] = i;
		x->n_incidents = ni - x->incidents;
		x->changes = nc;
		for (uint32_t i = 0; i < sc->n_changes; i++)
			if (sc->changes[i].deployment == di)
				g->change_idx[nc++] = i;
		x->n_changes = nc - x->changes;
	}
	for (size_t i = 0; i < sc->n_incidents; i++) {
		g->incident_min[i][0] = sc->incidents[i].start_s / 60.0;
		g->incident_min[i][1] = sc->incidents[i].end_s / 60.0;
	}
	return 0;
}

/* The calls of one second, drawn, then written in a shuffled order. */
struct second {
	int64_t *times;
	uint32_t *which, *replica;
	size_t n, cap;
};

static bool second_grow(struct second *s, size_t want)
{
	size_t c = want * 2;
	int64_t *t;
	uint32_t *w, *r;

	if (want <= s->cap)
		return true;
	if ((t = realloc(s->times, c * sizeof(*t))))
		s->times = t;
	if ((w = t ? realloc(s->which, c * sizeof(*w)) : NULL))
		s->which = w;
	if ((r = w ? realloc(s->replica, c * sizeof(*r)) : NULL))
		s->replica = r;
	if (!r)
		return false;
	s->cap = c;
	return true;
}

/* Write the traffic from g->day0 to g->end (or g->max_records). Return: where data ends. */
static int64_t generate(struct gen *g)
{
	const struct tl_scenario *sc = g->sc;
	struct second s = { 0 };
	/* one correlation id pairs the Start and Success of each change, per day */
	char(*corr)[37] = calloc(sc->n_changes + 1, sizeof(*corr));
	int64_t data_end = g->day0;

	if (!corr) {
		g->err = -ENOMEM;
		return data_end;
	}
	for (int64_t sec = g->day0; sec < g->end && !g->err; sec += TL_NS_PER_S) {
		const int64_t in_day =
		    (sec - tl_floor_div(sec, TL_NS_PER_DAY) * TL_NS_PER_DAY) / TL_NS_PER_S;

		s.n = 0;
		for (unsigned di = 0; di < sc->n_deployments; di++) {
			const struct tl_scn_deployment *d = &sc->deployments[di];

			if (!g->want[d->via == TL_SCN_AOAI ? ST_RR : ST_GW])
				continue;
			/* replicas: one Poisson stream of them all, each call to one of them */
			unsigned k = rng_poisson(&g->rng, d->peak_rate * (double)d->replicas *
							      g->scale * diurnal(sec));

			if (!second_grow(&s, s.n + k)) {
				g->err = -ENOMEM;
				break;
			}
			for (unsigned j = 0; j < k; j++, s.n++) {
				s.times[s.n] =
				    sec + (int64_t)(rng_unit(&g->rng) * (double)TL_NS_PER_S);
				s.which[s.n] = di;
				s.replica[s.n] = d->replicas > 1
						     ? (uint32_t)(rng_next(&g->rng) % d->replicas)
						     : 0;
			}
		}
		for (size_t j = s.n; j > 1; j--) {
			size_t k = (size_t)(rng_next(&g->rng) % j);
			int64_t tt = s.times[j - 1];
			uint32_t tw = s.which[j - 1], tr = s.replica[j - 1];

			s.times[j - 1] = s.times[k];
			s.which[j - 1] = s.which[k];
			s.replica[j - 1] = s.replica[k];
			s.times[k] = tt;
			s.which[k] = tw;
			s.replica[k] = tr;
		}
		const int64_t now = sec + TL_NS_PER_S;

		for (size_t i = 0; i < sc->n_changes; i++) {
			const struct tl_scn_change *x = &sc->changes[i];
			const bool begins = in_day == x->at_s;

			if (begins) {
				put_uuid(g);
				memcpy(corr[i], g->buf, 36);
				corr[i][36] = '\0';
				g->n = 0;
			}
			if (corr[i][0] && (begins || in_day == x->at_s + TL_SCN_CHANGE_TAKES_S)) {
				activity_record(g, sec + 441886200, corr[i], begins,
						&sc->deployments[x->deployment], x);
				finish(g, ST_ACT, sec, now);
			}
		}
		for (size_t j = 0; j < s.n && !g->err; j++)
			one_call(g, s.which[j], s.replica[j], s.times[j], now);
		release_held(g, now);
		data_end = now;
		if (g->max_records && g->written >= g->max_records)
			break;
	}
	free(s.times);
	free(s.which);
	free(s.replica);
	free(corr);
	return data_end;
}

static int write_labels(const struct tl_scenario *sc, const char *path, int64_t day0, int64_t end)
{
	FILE *f = fopen(path, "w");
	bool first = true;
	int r;

	if (!f)
		return -errno;
	fputs("[", f);
	for (int64_t day = day0; day < end; day += TL_NS_PER_DAY) {
		for (size_t i = 0; i < sc->n_incidents; i++) {
			const struct tl_scn_incident *x = &sc->incidents[i];
			const struct tl_scn_deployment *d = &sc->deployments[x->deployment];
			char a[TL_TIME_TEXT_LEN + 1], b[TL_TIME_TEXT_LEN + 1];
			int64_t s = day + x->start_s * TL_NS_PER_S,
				e = day + x->end_s * TL_NS_PER_S;
			/* an incident of a deployment with replicas: one label per series */
			const uint32_t from = x->replica < 0 ? 0 : (uint32_t)x->replica,
				       to = x->replica < 0 ? d->replicas : from + 1;

			if (s >= end)
				continue;
			for (uint32_t k = from; k < to; k++) {
				char name[TL_SCN_NAME_MAX + 16];

				if (d->replicas > 1)
					(void)snprintf(name, sizeof(name), "%s-%05u", d->name,
						       (unsigned)k + 1);
				else
					(void)snprintf(name, sizeof(name), "%s", d->name);
				fprintf(f,
					"%s\n {\"rule\":\"%s\",\"resource\":\"%s\",\"deployment\":"
					"\"%s\",\"start\":\"%s\",\"end\":\"%s\",\"expect\":\"%s\"}",
					first ? "" : ",", x->rule,
					d->via == TL_SCN_APIM ? APIM : ACCOUNT, name,
					tl_time_format(s, a), tl_time_format(e, b),
					x->fire ? "fire" : "none");
				first = false;
			}
		}
	}
	fputs("\n]\n", f);
	r = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static const char gen_usage[] =
    "usage: tripline gen [options]\n"
    "\n"
    "Writes synthetic Azure OpenAI telemetry with labelled incidents in the shapes tripline\n"
    "reads: the built-in day (bench/scenarios/builtin.yaml) or a --scenario. Deterministic:\n"
    "the same options give the same bytes.\n"
    "\n"
    "options:\n"
    "  --out PATH         tree: a directory (storage-account insights-logs-* layout);\n"
    "                     ndjson/records: a file, .zst to compress, - for stdout (required)\n"
    "  --brokers LIST     instead of --out: produce the {\"records\":[...]} envelopes (the\n"
    "                     --batch sizes) to Kafka or Event Hubs' Kafka endpoint, one message\n"
    "                     each, no key, each to a random partition, as diagnostic settings\n"
    "                     deliver them; waits for every delivery (a failed one: exit 1)\n"
    "  --topic T          the topic (default insights-logs-requestresponse)\n"
    "  --rate R           with --brokers: at most R records/s, by the wall clock (the\n"
    "                     embedded hub keeps only the newest 5 MB of each partition)\n"
    "  --scenario FILE    deployments, incidents and version changes (YAML; see README.md\n"
    "                     and bench/scenarios/), instead of the built-in day\n"
    "  --format F         tree (default), ndjson (one record per line) or records\n"
    "                     ({\"records\":[...]} envelopes as Event Hubs delivers them)\n"
    "  --batch N[-M]      records per envelope with --format records (default 50); N-M:\n"
    "                     each envelope's count drawn uniformly from N to M, as Event\n"
    "                     Hubs batches vary (the records are the same either way)\n"
    "  --kind K           all (default), rr (AOAI RequestResponse only), gateway (APIM only)\n"
    "  --start DATE       first day, YYYY-MM-DD (default 2025-11-04)\n"
    "  --hours H          hours of traffic (default 24; incidents repeat each day)\n"
    "  --records N        stop after N records instead (the scenario repeats day after day)\n"
    "  --scale X          multiply every request rate by X (default 1)\n"
    "  --seed N           random seed (default 1)\n"
    "  --duplicates P     share of records delivered twice (default 0.0005)\n"
    "  --malformed P      share of records cut short (default 0.00002)\n"
    "  --late P           share of records delivered 5-60 s late (default 0.002)\n"
    "  --labels F         write the incident labels (default OUT.labels.json for a tree)\n"
    "  --quiet            no summary line on stderr\n"
    "  --help             this text\n";

static bool parse_double(const char *s, double lo, double hi, double *ret)
{
	char *end;
	double v;

	if (!s)
		return true;
	v = strtod(s, &end);
	if (*end || !(v >= lo && v <= hi))
		return false;
	*ret = v;
	return true;
}

/* --batch N or N-M (1 <= N <= M <= 100000); @lo: room for N's text. *ret_max: 0 for N alone. */
static bool parse_batch(const char *s, char lo[32], double *ret_min, double *ret_max)
{
	const char *dash = s ? strchr(s, '-') : NULL;
	size_t n = dash ? (size_t)(dash - s) : 0;

	if (!dash)
		return parse_double(s, 1, 100000, ret_min);
	if (n == 0 || n >= 32)
		return false;
	memcpy(lo, s, n);
	lo[n] = '\0';
	return parse_double(lo, 1, 100000, ret_min) && parse_double(dash + 1, 1, 100000, ret_max) &&
	       *ret_max >= *ret_min && *ret_min == (unsigned)*ret_min &&
	       *ret_max == (unsigned)*ret_max;
}

int tl_cmd_gen(int argc, char **argv)
{
	const char *out = NULL, *fmt = NULL, *kind = "all", *start = "2025-11-04", *hours_s = NULL,
		   *records_s = NULL, *scale_s = NULL, *seed_s = NULL, *dup_s = NULL, *bad_s = NULL,
		   *late_s = NULL, *labels = NULL, *batch_s = NULL, *scenario = NULL,
		   *brokers = NULL, *topic = NULL, *rate_s = NULL;
	bool help = false;
	const struct tl_opt opts[] = {
		{ "out", true, &out, NULL },          { "format", true, &fmt, NULL },
		{ "kind", true, &kind, NULL },        { "start", true, &start, NULL },
		{ "hours", true, &hours_s, NULL },    { "records", true, &records_s, NULL },
		{ "scale", true, &scale_s, NULL },    { "seed", true, &seed_s, NULL },
		{ "duplicates", true, &dup_s, NULL }, { "malformed", true, &bad_s, NULL },
		{ "late", true, &late_s, NULL },      { "labels", true, &labels, NULL },
		{ "batch", true, &batch_s, NULL },    { "help", false, NULL, &help },
		{ "quiet", false, NULL, &tl_quiet },  { "scenario", true, &scenario, NULL },
		{ "brokers", true, &brokers, NULL },  { "topic", true, &topic, NULL },
		{ "rate", true, &rate_s, NULL },
	};
	struct kafka_out kafka = { 0 };
	struct tl_scenario sc = { 0 };
	struct gen g = { .scale = 1,
			 .dup_p = 0.0005,
			 .bad_p = 0.00002,
			 .late_p = 0.002,
			 .batch = 50,
			 .time_sec = INT64_MIN };
	double hours = 24, records = 0, seed = 1, batch = 50, batch_max = 0;
	char batch_lo[32];
	char day[32], labels_buf[4096];
	int64_t data_end = 0;
	int npos, r = 0;

	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "gen", &npos) < 0)
		return TL_EXIT_USAGE;
	if (help) {
		fputs(gen_usage, stdout);
		return TL_EXIT_OK;
	}
	if (npos > 0 || !out == !brokers) {
		tl_err(npos      ? "gen: unexpected argument '%s'"
		       : brokers ? "gen: --out and --brokers both say where to write: give one%s"
				 : "gen: --out (or --brokers) is required%s",
		       npos ? argv[0] : "");
		return TL_EXIT_USAGE;
	}
	if (brokers && fmt && strcmp(fmt, "records") != 0) {
		tl_err("gen: --brokers writes {\"records\":[...]} envelopes: --format %s does not "
		       "apply",
		       fmt);
		return TL_EXIT_USAGE;
	}
	if (!brokers && (topic || rate_s)) {
		tl_err("gen: --topic and --rate go with --brokers");
		return TL_EXIT_USAGE;
	}
	if (!fmt)
		fmt = brokers ? "records" : "tree";
	g.fmt = strcmp(fmt, "tree") == 0      ? FMT_TREE
		: strcmp(fmt, "ndjson") == 0  ? FMT_NDJSON
		: strcmp(fmt, "records") == 0 ? FMT_RECORDS
					      : -1;
	if ((int)g.fmt < 0) {
		tl_err("gen: --format: expected tree, ndjson or records, got '%s'", fmt);
		return TL_EXIT_USAGE;
	}
	if (strcmp(kind, "all") == 0) {
		g.want[ST_RR] = g.want[ST_GW] = g.want[ST_LLM] = g.want[ST_ACT] = true;
	} else if (strcmp(kind, "rr") == 0) {
		g.want[ST_RR] = true;
	} else if (strcmp(kind, "gateway") == 0) {
		g.want[ST_GW] = g.want[ST_LLM] = true;
	} else {
		tl_err("gen: --kind: expected all, rr or gateway, got '%s'", kind);
		return TL_EXIT_USAGE;
	}
	(void)snprintf(day, sizeof(day), "%sT00:00:00Z", start);
	if (strlen(start) != 10 || tl_time_parse(day, strlen(day), &g.day0) < 0) {
		tl_err("gen: --start: expected YYYY-MM-DD, got '%s'", start);
		return TL_EXIT_USAGE;
	}
	if (hours_s && records_s) {
		tl_err("gen: --hours and --records both say where to stop: give one");
		return TL_EXIT_USAGE;
	}
	if (!parse_double(hours_s, 1, 24 * 3660, &hours) ||
	    !parse_double(records_s, 1, 1e12, &records) ||
	    !parse_double(scale_s, 1e-3, 1e6, &g.scale) || !parse_double(seed_s, 0, 1e18, &seed) ||
	    !parse_double(dup_s, 0, 0.5, &g.dup_p) || !parse_double(bad_s, 0, 0.5, &g.bad_p) ||
	    !parse_double(late_s, 0, 0.5, &g.late_p) ||
	    !parse_double(rate_s, 1, 1e9, &kafka.rate) ||
	    !parse_batch(batch_s, batch_lo, &batch, &batch_max)) {
		tl_err("gen: a numeric option is out of range (see 'tripline gen --help')");
		return TL_EXIT_USAGE;
	}
	hex_init();
	g.sc = &builtin;
	if (scenario) {
		char err[512];

		if ((r = tl_scenario_load(scenario, &sc, err, sizeof(err))) == TL_ECONFIG) {
			tl_err("gen: %s", err);
			return TL_EXIT_USAGE;
		}
		if (r < 0) {
			tl_err("gen: '%s': %s", scenario, tl_strerror(r));
			return TL_EXIT_IO;
		}
		g.sc = &sc;
	}
	double rate = 0, rate_wanted = 0;

	for (size_t i = 0; i < g.sc->n_deployments; i++) {
		const struct tl_scn_deployment *d = &g.sc->deployments[i];

		rate += d->peak_rate * d->replicas;
		if (g.want[d->via == TL_SCN_AOAI ? ST_RR : ST_GW])
			rate_wanted += d->peak_rate * d->replicas;
	}
	if (records_s && rate_wanted == 0) {
		tl_err("gen: --records: the scenario sends no requests of --kind %s", kind);
		r = TL_EXIT_USAGE;
		goto out_free_scenario;
	}
	if (rate * g.scale > 1e7) {
		tl_err("gen: %g requests/s at the peak (the rates times --scale): at most 1e7",
		       rate * g.scale);
		r = TL_EXIT_USAGE;
		goto out_free_scenario;
	}
	g.batch = g.batch_min = (unsigned)batch;
	g.batch_max = batch_max > 0 ? (unsigned)batch_max : g.batch_min;
	g.max_records = (uint64_t)records;
	/* --records: as far as --hours may go at most, in case the rates are tiny */
	g.end = g.day0 + (int64_t)((records_s ? 24 * 3660 : hours) * 3600) * TL_NS_PER_S;
	g.out = out;
	rng_seed(&g.rng, (uint64_t)seed);
	rng_seed(&g.batch_rng, (uint64_t)seed ^ UINT64_C(0x62617463685f726e));
	if (brokers) {
		char err[512];

		if ((r = kafka_open(&kafka, brokers, topic ? topic : DEFAULT_TOPIC, err,
				    sizeof(err))) < 0) {
			tl_err("gen: --brokers: %s", err);
			r = TL_EXIT_USAGE;
			goto out_free_scenario;
		}
		g.kafka = &kafka;
	} else if (g.fmt != FMT_TREE)
		r = sink_open(&g.sinks[0], out);
	else if ((r = mkdirs(out)) == 0 && mkdir(out, 0755) < 0 && errno != EEXIST)
		r = -errno;
	if (r < 0) {
		tl_err("gen: '%s': %s", out, tl_strerror(r));
		(void)sink_close(&g.sinks[0]);
		r = TL_EXIT_IO;
		goto out_free_scenario;
	}

	if ((r = index_scenario(&g)) < 0)
		g.err = r;
	else
		data_end = generate(&g);
	release_held(&g, INT64_MAX);
	if (g.fmt == FMT_RECORDS && g.in_batch && !g.err)
		g.err = env_end(&g, &g.sinks[0], g.written);
	for (int i = 0; i < ST_COUNT; i++) {
		int cr = sink_close(&g.sinks[i]);

		if (cr < 0 && !g.err)
			g.err = cr;
	}
	if (g.kafka) {
		/* every delivery report, even after an error: nothing is left in flight */
		int kr = kafka_close(&kafka);

		if (kr < 0 && !g.err)
			g.err = kr;
		out = brokers;
	}
	if (!labels && g.fmt == FMT_TREE) {
		/* beside the tree, not in it: a replay of the tree must not read it */
		size_t n = strlen(out);

		while (n > 1 && out[n - 1] == '/')
			n--;
		(void)snprintf(labels_buf, sizeof(labels_buf), "%.*s.labels.json", (int)n, out);
		labels = labels_buf;
	}
	if (!g.err && labels && (r = write_labels(g.sc, labels, g.day0, data_end)) < 0)
		g.err = r;
	free(g.buf);
	free(g.by_dep);
	free(g.incident_idx);
	free(g.change_idx);
	free(g.incident_min);
	for (size_t i = 0; i < g.n_held; i++)
		free(g.held[i].text);
	free(g.held);
	r = TL_EXIT_OK;
	if (g.err) {
		/* a failed delivery has said what failed */
		if (!g.kafka || g.err != -EIO || !(kafka.failed || kafka.refused))
			tl_err("gen: writing '%s' failed: %s", out, tl_strerror(g.err));
		r = TL_EXIT_IO;
	} else if (g.kafka) {
		tl_info("tripline gen: %llu records in %llu messages produced to %s, topic '%s'",
			(unsigned long long)g.written, (unsigned long long)kafka.produced, brokers,
			kafka.topic);
	} else {
		tl_info("tripline gen: %llu records written to %s", (unsigned long long)g.written,
			out);
	}
out_free_scenario:
	tl_scenario_fini(&sc);
	return r;
}
