/*
 * tests/test_deliver.c - the delivery thread (tools/deliver.c) against real receivers on
 * loopback: a libmicrohttpd server started by each test records every request (method,
 * path, headers, body, arrival time) and answers from a script (status, Retry-After,
 * delay); a listening socket that never accepts stands for a receiver that never answers.
 * Events go through the real outbox (store/outbox.c) in a fresh directory. Bodies and
 * dead-letter lines are read back with the tree's JSON parser (ingest/json.h).
 *
 * The library logs through tl_err()/tl_info(), which the tripline executable defines; here
 * they are defined to keep every line, so a test can look for secrets in them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <tripline/outbox.h>
#include <tripline/time.h>

#include "cli.h"
#include "json.h"
#include "json_get.h"
#include "sinks.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S  INT64_C(1000000000)

/* ---- the log, as the library writes it ---------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];
static size_t log_n;

TL_PRINTF(1, 0) static void log_line(const char *fmt, va_list ap)
{
	char line[1024];

	(void)vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "tripline: %s\n", line);
	pthread_mutex_lock(&log_mu);
	log_n += (size_t)snprintf(log_text + log_n, sizeof(log_text) - log_n, "%s\n", line);
	if (log_n >= sizeof(log_text))
		log_n = sizeof(log_text) - 1;
	pthread_mutex_unlock(&log_mu);
}

void tl_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void tl_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

static bool log_has(const char *s)
{
	bool has;

	pthread_mutex_lock(&log_mu);
	has = strstr(log_text, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return has;
}

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- the receiver ------------------------------------------------------------------------- */

struct step {
	unsigned status;
	const char *retry_after; /* a Retry-After header, or NULL */
	int delay_ms;            /* before answering */
	bool big;                /* a body of 1 MiB rather than "ok" */
};

struct rec {
	char method[8];
	char path[256];
	char headers[2048]; /* "name: value\n" each */
	char *body;
	size_t n;
	int64_t at_ns; /* when the whole request had arrived */
};

#define REC_MAX  64
#define BIG_BODY ((size_t)1 << 20)

struct rcv {
	struct MHD_Daemon *mhd;
	uint16_t port;
	pthread_mutex_t mu;
	struct step script[16];
	size_t n_script, next;
	struct step dflt; /* once the script is used up */
	struct rec reqs[REC_MAX];
	size_t n_reqs;
	size_t n_arrived; /* requests whose headers arrived (answered or not) */
};

struct conn {
	char *body;
	size_t n, cap;
	bool counted;
};

static mhd_result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *v)
{
	struct rec *r = cls;
	size_t n = strlen(r->headers);

	(void)kind;
	(void)snprintf(r->headers + n, sizeof(r->headers) - n, "%s: %s\n", key, v ? v : "");
	return MHD_YES;
}

static mhd_result on_request(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	struct rcv *rv = cls;
	struct conn *k = *con_cls;
	struct step st;
	struct MHD_Response *resp;
	static char ok[] = "ok\n";
	mhd_result res;

	(void)version;
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return MHD_NO;
		*con_cls = k;
		pthread_mutex_lock(&rv->mu);
		rv->n_arrived++;
		pthread_mutex_unlock(&rv->mu);
		return MHD_YES;
	}
	if (*upload_size) {
		if (k->n + *upload_size + 1 > k->cap) {
			k->cap = (k->n + *upload_size + 1) * 2;
			k->body = realloc(k->body, k->cap);
			if (!k->body)
				return MHD_NO;
		}
		memcpy(k->body + k->n, upload, *upload_size);
		k->n += *upload_size;
		k->body[k->n] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&rv->mu);
	st = rv->next < rv->n_script ? rv->script[rv->next++] : rv->dflt;
	if (rv->n_reqs < REC_MAX) {
		struct rec *r = &rv->reqs[rv->n_reqs];

		(void)snprintf(r->method, sizeof(r->method), "%s", method);
		(void)snprintf(r->path, sizeof(r->path), "%s", url);
		(void)MHD_get_connection_values(c, MHD_HEADER_KIND, on_header, r);
		r->body = k->body ? k->body : strdup("");
		r->n = k->n;
		k->body = NULL;
		r->at_ns = mono();
		rv->n_reqs++;
	}
	pthread_mutex_unlock(&rv->mu);
	if (st.delay_ms)
		sleep_ms(st.delay_ms);
	if (st.big) {
		char *body = malloc(BIG_BODY);

		if (!body)
			return MHD_NO;
		memset(body, 'x', BIG_BODY);
		resp = MHD_create_response_from_buffer(BIG_BODY, body, MHD_RESPMEM_MUST_FREE);
	} else {
		resp = MHD_create_response_from_buffer(strlen(ok), ok, MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	if (st.retry_after)
		(void)MHD_add_response_header(resp, "Retry-After", st.retry_after);
	res = MHD_queue_response(c, st.status, resp);
	MHD_destroy_response(resp);
	return res;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct conn *k = *con_cls;

	(void)cls, (void)c, (void)why;
	if (k) {
		free(k->body);
		free(k);
	}
	*con_cls = NULL;
}

static void rcv_start(struct rcv *rv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	const union MHD_DaemonInfo *info;

	memset(rv, 0, sizeof(*rv));
	pthread_mutex_init(&rv->mu, NULL);
	rv->dflt.status = 200;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rv->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				   0, NULL, NULL, on_request, rv, MHD_OPTION_SOCK_ADDR, &a,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, rv, MHD_OPTION_END);
	cr_assert(rv->mhd != NULL);
	info = MHD_get_daemon_info(rv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	cr_assert(info && info->port);
	rv->port = info->port;
}

static void rcv_stop(struct rcv *rv)
{
	if (rv->mhd)
		MHD_stop_daemon(rv->mhd);
	rv->mhd = NULL;
	for (size_t i = 0; i < rv->n_reqs; i++)
		free(rv->reqs[i].body);
	rv->n_reqs = 0;
}

static void rcv_script(struct rcv *rv, const struct step *steps, size_t n)
{
	pthread_mutex_lock(&rv->mu);
	memcpy(rv->script, steps, n * sizeof(*steps));
	rv->n_script = n;
	rv->next = 0;
	pthread_mutex_unlock(&rv->mu);
}

static size_t rcv_count(struct rcv *rv)
{
	size_t n;

	pthread_mutex_lock(&rv->mu);
	n = rv->n_reqs;
	pthread_mutex_unlock(&rv->mu);
	return n;
}

/* A loopback port that listens and never accepts: requests to it are never answered. */
static int silent_listener(uint16_t *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(listen(fd, 16) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* A loopback port nothing listens on: connections are refused. */
static uint16_t closed_port(void)
{
	uint16_t port;
	int fd = silent_listener(&port);

	close(fd);
	return port;
}

/* ---- events, the outbox, the sinks -------------------------------------------------------- */

static const char LAT_TRIGGER[] =
    "{\"type\":\"trigger\",\"incident_id\":\"tl-7ddc56d885b80a96\",\"rule\":\"latency\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"fired_at\":\"2025-11-04T14:05:00.000Z\","
    "\"window_start\":\"2025-11-04T14:00:00.000Z\","
    "\"window_end\":\"2025-11-04T14:05:00.000Z\",\"observed\":11808.273129,"
    "\"baseline\":3313.584611,\"threshold\":8283.961527,\"unit\":\"ms\","
    "\"recent_changes\":[],\"action\":{\"kind\":\"rollback\","
    "\"target\":{\"model_version\":\"2024-08-06\"},\"reason\":\"latency "
    "regression began 6 min after model_version 2024-08-06 -> 2024-11-20\"},"
    "\"owner\":\"assist-oncall\"}";

static const char LAT_RESOLVED[] =
    "{\"type\":\"resolved\",\"incident_id\":\"tl-7ddc56d885b80a96\",\"rule\":\"latency\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"fired_at\":\"2025-11-04T14:05:00.000Z\","
    "\"window_start\":\"2025-11-04T14:46:00.000Z\","
    "\"window_end\":\"2025-11-04T14:51:00.000Z\",\"observed\":3313.584611,"
    "\"baseline\":3313.584611,\"threshold\":8283.961527,\"unit\":\"ms\","
    "\"resolved_at\":\"2025-11-04T14:46:00.000Z\",\"duration_s\":2460,"
    "\"recent_changes\":[],\"action\":{\"kind\":\"rollback\","
    "\"target\":{\"model_version\":\"2024-08-06\"},\"reason\":\"latency regression\"},"
    "\"owner\":\"assist-oncall\"}";

#define LAT_ID "tl-7ddc56d885b80a96"

/* A small trigger event whose incident_id ends in @n. */
static const char *event_n(unsigned n)
{
	static char lines[16][320];
	char *l = lines[n % 16];

	(void)snprintf(l, sizeof(lines[0]),
		       "{\"type\":\"trigger\",\"incident_id\":\"tl-%016x\",\"rule\":\"errors\","
		       "\"severity\":\"Sev2\",\"resource\":\"AOAI-X\",\"deployment\":\"d1\","
		       "\"fired_at\":\"2025-11-04T09:11:00.000Z\",\"observed\":0.5,"
		       "\"threshold\":0.05,\"unit\":\"ratio\"}",
		       n);
	return l;
}

static char dir[64];
static char dead_path[128];
static struct tl_outbox *ob;
static struct tl_deliver *dv;
static struct rcv rv;
static struct tl_json *js;

static void open_outbox(const char *const *names, size_t n)
{
	char note[256] = "", err[256] = "";

	cr_assert(tl_outbox_open(dir, names, n, &ob, note, sizeof(note), err, sizeof(err)) == 0,
		  "%s", err);
}

static void append_at(size_t sink, const char *line, int64_t at_ns)
{
	cr_assert(tl_outbox_append(ob, sink, line, strlen(line), at_ns) == 0);
	cr_assert(tl_outbox_sync(ob) == 0);
	if (dv)
		tl_deliver_kick(dv);
}

static void append(size_t sink, const char *line)
{
	append_at(sink, line, wall());
}

/* A webhook sink to the receiver at @path, with small timeouts and backoffs. */
static struct tl_sink webhook(const char *name, enum tl_alert_fmt fmt, uint16_t port,
			      const char *path)
{
	struct tl_sink s = { 0 };
	char url[256];

	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
	s.name = strdup(name);
	s.kind = TL_SINK_WEBHOOK;
	s.filter.min_severity = 4;
	s.format = fmt;
	s.url = strdup(url);
	s.routing_key = fmt == TL_ALERT_FMT_PAGERDUTY ? strdup("R0UTING-KEY-secret") : NULL;
	s.tls_verify = true;
	s.timeout_ns = 5 * NS_PER_S;
	s.max_age_ns = 60 * NS_PER_S;
	s.retry_initial_ns = 50 * NS_PER_MS;
	s.retry_max_ns = 400 * NS_PER_MS;
	return s;
}

static int start(const struct tl_sink *const *sinks, size_t n, char *err, size_t errlen)
{
	const struct tl_deliver_opts o = { sinks, n, ob, dead_path };

	return tl_deliver_start(&o, &dv, err, errlen);
}

static void start_ok(const struct tl_sink *const *sinks, size_t n)
{
	char err[256] = "";

	cr_assert(start(sinks, n, err, sizeof(err)) == 0, "%s", err);
}

static void setup(void)
{
	bool cpu_ok;

	(void)snprintf(dir, sizeof(dir), "/tmp/tl-deliver-XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	(void)snprintf(dead_path, sizeof(dead_path), "%s/dead.ndjson", dir);
	js = tl_json_new(1 << 20, &cpu_ok);
	cr_assert(js != NULL);
	rcv_start(&rv);
}

static void teardown(void)
{
	char cmd[128];

	tl_deliver_stop(dv);
	dv = NULL;
	tl_outbox_close(ob);
	ob = NULL;
	rcv_stop(&rv);
	tl_json_free(js);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
}

TestSuite(deliver, .init = setup, .fini = teardown, .timeout = 40);

static struct tl_deliver_counts counts(size_t i)
{
	struct tl_deliver_counts c;

	tl_deliver_counts(dv, i, &c);
	return c;
}

/* Wait up to @ms for sink @i to have delivered @n events. */
static bool wait_delivered(size_t i, uint64_t n, int ms)
{
	const int64_t end = mono() + ms * NS_PER_MS;

	while (counts(i).delivered < n && mono() < end)
		sleep_ms(5);
	return counts(i).delivered >= n;
}

/* ---- reading JSON back -------------------------------------------------------------------- */

static char *jget(const char *json, const char *path)
{
	return th_jget(js, json, path);
}

static void expect(const char *body, const char *path, const char *want)
{
	th_expect(js, body, path, want);
}

static void expect_absent(const char *body, const char *path)
{
	th_expect_absent(js, body, path);
}

/* The dead-letter file's lines, NUL-separated in one buffer; their count in *@ret_n. */
static char *dead_lines(size_t *ret_n)
{
	FILE *f = fopen(dead_path, "r");
	char *text = calloc(1, 1 << 20);
	size_t n = 0, len;

	cr_assert(text != NULL);
	*ret_n = 0;
	if (!f)
		return text;
	len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n') {
			text[i] = '\0';
			n++;
		}
	*ret_n = n;
	return text;
}

static const char *nth_line(const char *text, size_t k)
{
	while (k--)
		text += strlen(text) + 1;
	return text;
}

/* ---- the filter, and freeing sinks -------------------------------------------------------- */

Test(deliver, filter_takes_what_every_condition_allows)
{
	char *deps[] = { "d1", "d2" }, *owners[] = { "team-a" };
	struct tl_sink s = { .name = "f", .kind = TL_SINK_WEBHOOK };
	const struct {
		uint8_t min_sev;
		uint32_t rules;
		bool with_deps, with_owners;
		struct tl_sink_event ev;
		bool want;
	} t[] = {
		{ 4, 0, false, false, { 1, 4, "x", "" }, true },
		{ 2, 0, false, false, { 1, 2, "x", "" }, true },
		{ 2, 0, false, false, { 1, 3, "x", "" }, false },
		{ 0, 0, false, false, { 1, 0, "x", "" }, true },
		{ 4, 1u << 3, false, false, { 3, 2, "x", "" }, true },
		{ 4, 1u << 3, false, false, { 2, 2, "x", "" }, false },
		{ 4, 0, true, false, { 1, 2, "d2", "" }, true },
		{ 4, 0, true, false, { 1, 2, "d3", "" }, false },
		{ 4, 0, true, false, { 1, 2, "D2", "" }, true }, /* as the config's names */
		{ 4, 0, false, true, { 1, 2, "x", "team-a" }, true },
		{ 4, 0, false, true, { 1, 2, "x", "" }, false },
		{ 3, 1u << 1, true, true, { 1, 3, "d1", "team-a" }, true },
		{ 3, 1u << 1, true, true, { 1, 4, "d1", "team-a" }, false },
		/* owners: the incident commander or the comms owner matches too */
		{ 4, 0, false, true, { 1, 2, "x", "", "team-a", NULL }, true },
		{ 4, 0, false, true, { 1, 2, "x", "team-b", NULL, "team-a" }, true },
		{ 4, 0, false, true, { 1, 2, "x", "team-b", "team-c", "team-d" }, false },
		{ 4, 0, false, false, { 1, 2, "x", "team-b", "team-c", "team-d" }, true },
		{ 4, 0, true, true, { 1, 2, "d3", "", "team-a", "team-a" }, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		s.filter.min_severity = t[i].min_sev;
		s.filter.rules = t[i].rules;
		s.filter.deployments = t[i].with_deps ? deps : NULL;
		s.filter.n_deployments = t[i].with_deps ? 2 : 0;
		s.filter.owners = t[i].with_owners ? owners : NULL;
		s.filter.n_owners = t[i].with_owners ? 1 : 0;
		cr_assert(tl_sink_wants(&s, &t[i].ev) == t[i].want, "case %zu", i);
	}
}

Test(deliver, sink_fini_frees_everything_and_zeroes)
{
	struct tl_sink s = webhook("w", TL_ALERT_FMT_PAGERDUTY, 1, "/x");
	const struct tl_sink zero = { 0 };

	s.filter.deployments = calloc(2, sizeof(char *));
	s.filter.deployments[0] = strdup("d1");
	s.filter.deployments[1] = strdup("d2");
	s.filter.n_deployments = 2;
	s.props = calloc(2, sizeof(char *));
	s.props[0] = strdup("sasl.password");
	s.props[1] = strdup("hunter2");
	s.n_props = 2;
	s.brokers = strdup("b:9092");
	tl_sink_fini(&s);
	cr_assert(memcmp(&s, &zero, sizeof(s)) == 0);
	tl_sink_fini(&s); /* a zeroed sink is fine */
}

/* ---- formats ------------------------------------------------------------------------------ */

static const struct rec *find_req(const char *prefix, size_t k)
{
	for (size_t i = 0; i < rv.n_reqs; i++)
		if (strncmp(rv.reqs[i].path, prefix, strlen(prefix)) == 0 && k-- == 0)
			return &rv.reqs[i];
	cr_fail("no request to %s", prefix);
	return NULL;
}

Test(deliver, each_format_sends_the_fields_its_receiver_reads)
{
	const char *names[] = { "pd", "az", "am", "js" };
	struct tl_sink s[] = {
		webhook("pd", TL_ALERT_FMT_PAGERDUTY, rv.port, "/pd"),
		webhook("az", TL_ALERT_FMT_AZURE, rv.port, "/az"),
		webhook("am", TL_ALERT_FMT_ALERTMANAGER, rv.port, "/am/"),
		webhook("js", TL_ALERT_FMT_JSON, rv.port, "/js?sig=abc"),
	};
	const struct tl_sink *sp[] = { &s[0], &s[1], &s[2], &s[3] };
	const struct rec *r;

	open_outbox(names, 4);
	start_ok(sp, 4);
	for (size_t i = 0; i < 4; i++) {
		append(i, LAT_TRIGGER);
		append(i, LAT_RESOLVED);
	}
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	cr_assert(eq(sz, rcv_count(&rv), 8));
	for (size_t i = 0; i < 4; i++) {
		struct tl_deliver_counts c = counts(i);

		cr_assert(eq(u64, c.delivered, 2));
		cr_assert(eq(u64, c.attempts, 2));
		cr_assert(eq(u64, c.retries, 0));
		cr_assert(eq(u64, c.pending, 0));
		cr_assert(eq(u64, c.dead, 0));
		cr_assert(eq(str, c.last_error, ""));
	}
	for (size_t i = 0; i < rv.n_reqs; i++) {
		cr_assert(eq(str, rv.reqs[i].method, "POST"));
		cr_assert(strstr(rv.reqs[i].headers, "Content-Type: application/json\n") != NULL,
			  "%s", rv.reqs[i].headers);
		cr_assert(strstr(rv.reqs[i].headers, "User-Agent: tripline/") != NULL, "%s",
			  rv.reqs[i].headers);
	}

	/* PagerDuty Events API v2: trigger, then resolve, one dedup key */
	r = find_req("/pd", 0);
	cr_assert(eq(str, r->path, "/pd"));
	expect(r->body, "routing_key", "R0UTING-KEY-secret");
	expect(r->body, "event_action", "trigger");
	expect(r->body, "dedup_key", LAT_ID);
	expect(r->body, "payload.source", "AOAI-CONTOSO-EUS2/support-gpt4o");
	r = find_req("/pd", 1);
	expect(r->body, "routing_key", "R0UTING-KEY-secret");
	expect(r->body, "event_action", "resolve");
	expect(r->body, "dedup_key", LAT_ID);

	/* Azure Monitor's common alert schema */
	r = find_req("/az", 0);
	expect(r->body, "schemaId", "azureMonitorCommonAlertSchema");
	expect(r->body, "data.essentials.alertId", LAT_ID);
	expect(r->body, "data.essentials.monitorCondition", "Fired");
	r = find_req("/az", 1);
	expect(r->body, "data.essentials.alertId", LAT_ID);
	expect(r->body, "data.essentials.monitorCondition", "Resolved");

	/* Alertmanager: POST /api/v2/alerts under the sink's path */
	r = find_req("/am", 0);
	cr_assert(eq(str, r->path, "/am/api/v2/alerts"));
	expect_absent(r->body, "0.endsAt");
	expect(r->body, "0.startsAt", "2025-11-04T14:05:00.000Z");
	r = find_req("/am", 1);
	cr_assert(eq(str, r->path, "/am/api/v2/alerts"));
	expect(r->body, "0.endsAt", "2025-11-04T14:46:00.000Z");

	/* json: the event line itself, in order (the query string stays on the URL) */
	r = find_req("/js", 0);
	cr_assert(eq(str, r->path, "/js"));
	cr_assert(eq(str, r->body, (char *)LAT_TRIGGER));
	cr_assert(eq(str, find_req("/js", 1)->body, (char *)LAT_RESOLVED));
	for (size_t i = 0; i < 4; i++)
		tl_sink_fini(&s[i]);
}

/* ---- retries ------------------------------------------------------------------------------ */

Test(deliver, a_503_is_retried_and_the_event_delivered_once)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	const struct step script[] = { { 503, NULL, 0 }, { 200, NULL, 0 } };
	struct tl_deliver_counts c;

	rcv_script(&rv, script, 2);
	open_outbox(names, 1);
	start_ok(sp, 1);
	append(0, event_n(1));
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	sleep_ms(200); /* nothing more comes */
	cr_assert(eq(sz, rcv_count(&rv), 2));
	cr_assert(eq(str, rv.reqs[0].body, rv.reqs[1].body));
	cr_assert(eq(str, rv.reqs[1].body, (char *)event_n(1)));
	c = counts(0);
	cr_assert(eq(u64, c.attempts, 2));
	cr_assert(eq(u64, c.retries, 1));
	cr_assert(eq(u64, c.delivered, 1));
	cr_assert(eq(u64, c.dead, 0));
	cr_assert(eq(u64, c.pending, 0));
	cr_assert(eq(i64, c.oldest_ns, 0));
	cr_assert(eq(str, c.last_error, "HTTP 503"));
	cr_assert(log_has("sink 'w': delivery failing: HTTP 503"));
	cr_assert(log_has("sink 'w': delivering again"));
	tl_sink_fini(&s);
}

static void retry_after_case(const char *header)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	const struct step script[] = { { 429, header, 0 }, { 200, NULL, 0 } };
	int64_t gap;

	s.retry_initial_ns = 10 * NS_PER_MS;
	rcv_script(&rv, script, 2);
	open_outbox(names, 1);
	start_ok(sp, 1);
	append(0, event_n(1));
	cr_assert(tl_deliver_drain(dv, 15 * NS_PER_S));
	cr_assert(eq(sz, rcv_count(&rv), 2));
	gap = rv.reqs[1].at_ns - rv.reqs[0].at_ns;
	cr_assert(gap >= 2 * NS_PER_S, "the retry came %lld ms later",
		  (long long)(gap / NS_PER_MS));
	cr_assert(gap < 6 * NS_PER_S, "the retry came %lld ms later", (long long)(gap / NS_PER_MS));
	cr_assert(eq(str, counts(0).last_error, "HTTP 429"));
	tl_sink_fini(&s);
}

Test(deliver, retry_after_in_seconds_is_waited_for)
{
	retry_after_case("2");
}

Test(deliver, retry_after_as_an_http_date_is_waited_for)
{
	char date[64];
	time_t at = time(NULL) + 3; /* whole seconds: at least 2 s from now */
	struct tm tm;

	gmtime_r(&at, &tm);
	cr_assert(strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
	retry_after_case(date);
}

Test(deliver, order_per_sink_is_kept_under_retries)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	const struct step script[] = {
		{ 200, NULL, 0 }, { 503, NULL, 0 }, { 500, NULL, 0 }, { 200, NULL, 0 },
		{ 429, NULL, 0 }, { 408, NULL, 0 }, { 200, NULL, 0 },
	};
	size_t next = 1;
	struct tl_deliver_counts c;

	rcv_script(&rv, script, 7);
	open_outbox(names, 1);
	start_ok(sp, 1);
	for (unsigned i = 1; i <= 5; i++)
		append(0, event_n(i));
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	cr_assert(eq(sz, rcv_count(&rv), 9));
	/* each request is the oldest event not yet taken: the same one again, or the next */
	for (size_t i = 0; i < rv.n_reqs; i++) {
		const unsigned st = i < 7 ? script[i].status : 200;

		cr_assert(eq(str, rv.reqs[i].body, (char *)event_n((unsigned)next)), "request %zu",
			  i);
		if (st == 200)
			next++;
	}
	cr_assert(eq(sz, next, 6));
	c = counts(0);
	cr_assert(eq(u64, c.delivered, 5));
	cr_assert(eq(u64, c.retries, 4));
	cr_assert(eq(u64, c.attempts, 9));
	tl_sink_fini(&s);
}

Test(deliver, a_response_over_64_kib_is_cut_and_its_status_still_counts)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	const struct step script[] = { { 503, NULL, 0, true }, { 200, NULL, 0, true } };
	struct tl_deliver_counts c;

	rcv_script(&rv, script, 2);
	open_outbox(names, 1);
	start_ok(sp, 1);
	append(0, event_n(1));
	append(0, event_n(2));
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	cr_assert(eq(sz, rcv_count(&rv), 3));
	c = counts(0);
	cr_assert(eq(u64, c.delivered, 2));
	cr_assert(eq(u64, c.retries, 1));
	cr_assert(eq(str, c.last_error, "HTTP 503"));
	tl_sink_fini(&s);
}

/* ---- giving up ---------------------------------------------------------------------------- */

Test(deliver, a_400_is_dead_lettered_with_its_status_without_retry)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	const struct step script[] = { { 400, NULL, 0 }, { 200, NULL, 0 } };
	struct tl_deliver_counts c;
	char *text, *v;
	size_t n;
	int64_t at;

	rcv_script(&rv, script, 2);
	open_outbox(names, 1);
	start_ok(sp, 1);
	append(0, event_n(1));
	append(0, event_n(2));
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	sleep_ms(200);
	cr_assert(eq(sz, rcv_count(&rv), 2));
	cr_assert(eq(str, rv.reqs[0].body, (char *)event_n(1)));
	cr_assert(eq(str, rv.reqs[1].body, (char *)event_n(2)));
	c = counts(0);
	cr_assert(eq(u64, c.dead, 1));
	cr_assert(eq(u64, c.delivered, 1));
	cr_assert(eq(u64, c.retries, 0));
	cr_assert(eq(u64, c.attempts, 2));
	cr_assert(eq(str, c.last_error, "HTTP 400"));

	text = dead_lines(&n);
	cr_assert(eq(sz, n, 1));
	expect(text, "sink", "w");
	expect(text, "seq", "1");
	expect(text, "reason", "HTTP 400");
	expect(text, "status", "400");
	expect(text, "event", event_n(1));
	v = jget(text, "enqueued_at");
	cr_assert(v != NULL && strlen(v) == 24 && v[23] == 'Z', "%s", v ? v : "(none)");
	cr_assert(tl_time_parse(v, strlen(v), &at) == 0);
	cr_assert(at > wall() - 60 * NS_PER_S && at <= wall());
	free(v);
	free(text);
	tl_sink_fini(&s);
}

Test(deliver, events_past_max_age_are_dead_lettered)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	struct tl_deliver_counts c;
	char *text;
	size_t n;
	int64_t t0;

	rv.dflt.status = 503;
	s.max_age_ns = 700 * NS_PER_MS;
	s.retry_initial_ns = 50 * NS_PER_MS;
	s.retry_max_ns = 100 * NS_PER_MS;
	open_outbox(names, 1);
	/* one already too old when it reaches the outbox: never sent */
	append_at(0, event_n(1), wall() - 3600 * NS_PER_S);
	append(0, event_n(2));
	t0 = mono();
	start_ok(sp, 1);
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	cr_assert(mono() - t0 < 3 * NS_PER_S);
	cr_assert(ge(sz, rcv_count(&rv), 3));
	for (size_t i = 0; i < rv.n_reqs; i++)
		cr_assert(eq(str, rv.reqs[i].body, (char *)event_n(2)));
	c = counts(0);
	cr_assert(eq(u64, c.dead, 2));
	cr_assert(eq(u64, c.delivered, 0));
	cr_assert(eq(u64, c.attempts, rv.n_reqs));
	cr_assert(eq(u64, c.retries, rv.n_reqs - 1));

	text = dead_lines(&n);
	cr_assert(eq(sz, n, 2));
	expect(nth_line(text, 0), "seq", "1");
	expect(nth_line(text, 0), "reason", "max_age");
	expect(nth_line(text, 0), "status", "null");
	expect(nth_line(text, 0), "event", event_n(1));
	expect(nth_line(text, 1), "seq", "2");
	expect(nth_line(text, 1), "reason", "max_age");
	expect(nth_line(text, 1), "status", "503");
	expect(nth_line(text, 1), "event", event_n(2));
	free(text);
	/* one log line for the failing receiver, one for giving up: no line per retry */
	cr_assert(log_has("sink 'w': delivery failing: HTTP 503"));
	cr_assert(log_has("sink 'w': gave up on event 1 (max_age)"));
	tl_sink_fini(&s);
}

/* ---- slow and silent receivers ------------------------------------------------------------ */

Test(deliver, a_silent_receiver_times_out_and_holds_back_no_other_sink)
{
	const char *names[] = { "silent", "w" };
	uint16_t port;
	const int fd = silent_listener(&port);
	struct tl_sink s[] = {
		webhook("silent", TL_ALERT_FMT_JSON, port, "/hook"),
		webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook"),
	};
	const struct tl_sink *sp[] = { &s[0], &s[1] };
	struct tl_deliver_counts c;
	int64_t t0, end;

	s[0].timeout_ns = 1500 * NS_PER_MS;
	s[0].retry_initial_ns = 100 * NS_PER_MS;
	open_outbox(names, 2);
	start_ok(sp, 2);
	t0 = mono();
	for (unsigned i = 1; i <= 3; i++) {
		append(0, event_n(i));
		append(1, event_n(i));
	}
	/* kicks while a request hangs cost next to nothing */
	for (int i = 0; i < 1000; i++)
		tl_deliver_kick(dv);
	cr_assert(mono() - t0 < 500 * NS_PER_MS);
	cr_assert(wait_delivered(1, 3, 5000));
	cr_assert(mono() - t0 < 1200 * NS_PER_MS, "the other sink took %lld ms",
		  (long long)((mono() - t0) / NS_PER_MS));
	c = counts(0);
	cr_assert(eq(u64, c.delivered, 0));
	cr_assert(eq(u64, c.attempts, 1));
	cr_assert(eq(u64, c.pending, 3));
	cr_assert(c.oldest_ns > 0);
	/* then it times out, and is retried */
	end = mono() + 8 * NS_PER_S;
	while (counts(0).attempts < 2 && mono() < end)
		sleep_ms(10);
	c = counts(0);
	cr_assert(ge(u64, c.attempts, 2));
	cr_assert(ge(u64, c.retries, 1));
	cr_assert(eq(str, c.last_error, "timed out after 1500 ms"));
	cr_assert(eq(u64, c.pending, 3));
	cr_assert(log_has("sink 'silent': delivery failing: timed out after 1500 ms"));
	cr_assert(eq(u64, counts(1).delivered, 3));
	tl_deliver_stop(dv);
	dv = NULL;
	close(fd);
	tl_sink_fini(&s[0]);
	tl_sink_fini(&s[1]);
}

Test(deliver, stop_leaves_events_in_flight_pending_and_a_new_start_sends_them)
{
	const char *names[] = { "w" };
	struct tl_sink s = webhook("w", TL_ALERT_FMT_JSON, rv.port, "/hook");
	const struct tl_sink *sp[] = { &s };
	const struct step script[] = { { 200, NULL, 3000 } };
	int64_t end, t0;

	rcv_script(&rv, script, 1);
	open_outbox(names, 1);
	start_ok(sp, 1);
	append(0, event_n(1));
	append(0, event_n(2));
	end = mono() + 5 * NS_PER_S;
	while (rcv_count(&rv) < 1 && mono() < end)
		sleep_ms(5);
	cr_assert(eq(sz, rcv_count(&rv), 1)); /* the first is in flight, its answer 3 s off */
	t0 = mono();
	tl_deliver_stop(dv);
	dv = NULL;
	cr_assert(mono() - t0 < 1 * NS_PER_S, "stop took %lld ms",
		  (long long)((mono() - t0) / NS_PER_MS));
	cr_assert(eq(sz, tl_outbox_pending(ob, 0), 2));

	/* a restart: the outbox reopened from disk, the thread started again */
	tl_outbox_close(ob);
	ob = NULL;
	open_outbox(names, 1);
	cr_assert(eq(sz, tl_outbox_pending(ob, 0), 2));
	start_ok(sp, 1);
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	cr_assert(eq(sz, rcv_count(&rv), 3));
	cr_assert(eq(str, rv.reqs[0].body, (char *)event_n(1)));
	cr_assert(eq(str, rv.reqs[1].body, (char *)event_n(1)));
	cr_assert(eq(str, rv.reqs[2].body, (char *)event_n(2)));
	cr_assert(eq(u64, counts(0).delivered, 2));
	tl_sink_fini(&s);
}

/* ---- secrets and schemes ------------------------------------------------------------------ */

static bool file_has(const char *path, const char *s)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 20);
	bool has;

	cr_assert(text != NULL);
	if (!f) {
		free(text);
		return false;
	}
	(void)!fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	has = strstr(text, s) != NULL;
	free(text);
	return has;
}

Test(deliver, secrets_in_urls_and_keys_never_reach_messages)
{
	const char *names[] = { "pd", "gone" };
	struct tl_sink s[] = {
		webhook("pd", TL_ALERT_FMT_PAGERDUTY, rv.port, "/v2/SECRET-PATH?token=SECRET-Q"),
		webhook("gone", TL_ALERT_FMT_JSON, closed_port(), "/SECRET-GONE"),
	};
	const struct tl_sink *sp[] = { &s[0], &s[1] };
	const struct step script[] = { { 503, NULL, 0 }, { 404, NULL, 0 } };
	char errpath[128];
	int saved, fd;

	free(s[0].routing_key);
	s[0].routing_key = strdup("SECRET-KEY");
	s[1].max_age_ns = 1 * NS_PER_S;
	rcv_script(&rv, script, 2);
	(void)snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
	close(fd);

	open_outbox(names, 2);
	start_ok(sp, 2);
	append(0, event_n(1));
	append(1, event_n(1));
	cr_assert(tl_deliver_drain(dv, 10 * NS_PER_S));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);

	/* the receiver got the key and the path; nothing else did */
	cr_assert(eq(sz, rcv_count(&rv), 2));
	cr_assert(eq(str, rv.reqs[0].path, "/v2/SECRET-PATH"));
	expect(rv.reqs[0].body, "routing_key", "SECRET-KEY");
	cr_assert(eq(str, counts(0).last_error, "HTTP 404"));
	cr_assert(eq(u64, counts(0).dead, 1));
	cr_assert(eq(u64, counts(1).dead, 1));
	cr_assert(ne(str, counts(1).last_error, ""));
	cr_assert(strstr(counts(1).last_error, "SECRET") == NULL, "%s", counts(1).last_error);
	cr_assert(strstr(counts(1).last_error, "127.0.0.1") == NULL, "%s", counts(1).last_error);
	cr_assert(log_has("sink 'gone'"));
	cr_assert(log_has("sink 'pd'"));
	cr_assert(log_has("SECRET") == false, "%s", log_text);
	cr_assert(file_has(errpath, "SECRET") == false);
	cr_assert(file_has(errpath, "sink 'gone'"));
	cr_assert(file_has(dead_path, "SECRET") == false);
	cr_assert(file_has(dead_path, "\"sink\":\"gone\""));
	tl_sink_fini(&s[0]);
	tl_sink_fini(&s[1]);
}

Test(deliver, only_http_and_https_urls_are_accepted)
{
	const char *names[] = { "bad" };
	const char *const urls[] = {
		"file:///etc/SECRET",        "ftp://127.0.0.1/SECRET", "gopher://h/SECRET",
		"dict://127.0.0.1:1/SECRET", "SECRET-not-a-url",       "",
	};
	struct tl_sink s = webhook("bad", TL_ALERT_FMT_JSON, 1, "/");
	const struct tl_sink *sp[] = { &s };
	char err[256];

	open_outbox(names, 1);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		free(s.url);
		s.url = strdup(urls[i]);
		err[0] = '\0';
		cr_assert(eq(int, start(sp, 1, err, sizeof(err)), TL_ECONFIG), "%s", urls[i]);
		cr_assert(dv == NULL);
		cr_assert(strstr(err, "sink 'bad'") != NULL, "%s", err);
		cr_assert(strstr(err, "SECRET") == NULL, "%s", err);
	}
	/* HTTPS in any case is fine; nothing is sent until an event comes */
	free(s.url);
	s.url = strdup("HTTPS://127.0.0.1:1/x");
	start_ok(sp, 1);
	tl_sink_fini(&s);
}

/* ---- kafka -------------------------------------------------------------------------------- */

Test(deliver, a_kafka_sink_produces_each_event_keyed_by_incident)
{
	const char *names[] = { "k" };
	char es[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *mrk, *cons;
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_topic_partition_list_t *parts;
	struct tl_sink s = { 0 };
	const struct tl_sink *sp[] = { &s };
	const char *lines[] = { LAT_TRIGGER, LAT_RESOLVED, event_n(3) };
	const char *keys[] = { LAT_ID, LAT_ID, "tl-0000000000000003" };
	size_t got = 0;
	int64_t end;

	cr_assert(rd_kafka_conf_set(conf, "log_level", "0", es, sizeof(es)) == RD_KAFKA_CONF_OK);
	mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof(es));
	cr_assert(mrk != NULL, "%s", es);
	mc = rd_kafka_mock_cluster_new(mrk, 1);
	cr_assert(mc != NULL);
	cr_assert(rd_kafka_mock_topic_create(mc, "alerts", 1, 1) == 0);

	s.name = strdup("k");
	s.kind = TL_SINK_KAFKA;
	s.brokers = strdup(rd_kafka_mock_cluster_bootstraps(mc));
	s.topic = strdup("alerts");
	s.props = calloc(2, sizeof(char *));
	s.props[0] = strdup("linger.ms");
	s.props[1] = strdup("0");
	s.n_props = 2;
	s.timeout_ns = 5 * NS_PER_S;
	s.max_age_ns = 60 * NS_PER_S;
	s.retry_initial_ns = 100 * NS_PER_MS;
	open_outbox(names, 1);
	start_ok(sp, 1);
	for (size_t i = 0; i < 3; i++)
		append(0, lines[i]);
	cr_assert(tl_deliver_drain(dv, 15 * NS_PER_S));
	cr_assert(eq(u64, counts(0).delivered, 3));
	cr_assert(eq(u64, counts(0).attempts, 3));

	conf = rd_kafka_conf_new();
	cr_assert(rd_kafka_conf_set(conf, "bootstrap.servers", s.brokers, es, sizeof(es)) ==
		  RD_KAFKA_CONF_OK);
	cr_assert(rd_kafka_conf_set(conf, "group.id", "t", es, sizeof(es)) == RD_KAFKA_CONF_OK);
	cr_assert(rd_kafka_conf_set(conf, "log_level", "0", es, sizeof(es)) == RD_KAFKA_CONF_OK);
	cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof(es));
	cr_assert(cons != NULL, "%s", es);
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, "alerts", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	cr_assert(rd_kafka_assign(cons, parts) == 0);
	rd_kafka_topic_partition_list_destroy(parts);
	end = mono() + 15 * NS_PER_S;
	while (got < 3 && mono() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 200);

		if (!m)
			continue;
		if (!m->err) {
			cr_assert(eq(sz, m->len, strlen(lines[got])));
			cr_assert(memcmp(m->payload, lines[got], m->len) == 0, "message %zu", got);
			cr_assert(eq(sz, m->key_len, strlen(keys[got])));
			cr_assert(memcmp(m->key, keys[got], m->key_len) == 0, "key %zu", got);
			got++;
		}
		rd_kafka_message_destroy(m);
	}
	cr_assert(eq(sz, got, 3));
	rd_kafka_consumer_close(cons);
	rd_kafka_destroy(cons);
	tl_deliver_stop(dv);
	dv = NULL;
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(mrk);
	tl_sink_fini(&s);
}
