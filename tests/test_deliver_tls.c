/*
 * tests/test_deliver_tls.c - TLS verification of webhook sinks (tools/deliver.c, issue 6):
 * an HTTPS receiver on loopback with a self-signed certificate (tests/data/tls) is refused
 * by a sink with the default tls_verify, which sends it nothing and gives the event up
 * after its max_age with a certificate error that names no URL; with tls_verify false the
 * same receiver gets the event.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/outbox.h>
#include <tripline/time.h>

#include "sinks.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

static char dir[64], dead_path[128];
static struct MHD_Daemon *mhd;
static uint16_t port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned requests;
static struct tl_outbox *ob;
static struct tl_deliver *dv;

static const char event[] =
    "{\"type\":\"trigger\",\"incident_id\":\"tl-00000000000000a1\",\"rule\":\"latency\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-ONE\",\"deployment\":\"chat\","
    "\"fired_at\":\"2025-11-04T14:05:00.000Z\"}";

static char *slurp(const char *name)
{
	char path[512];
	FILE *f;
	char *buf = calloc(1, 1 << 16);

	(void)snprintf(path, sizeof(path), "%s/tls/%s", TL_TEST_DATA, name);
	f = fopen(path, "rb");
	cr_assert(f && buf, "%s", path);
	(void)!fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	return buf;
}

static mhd_result on_request(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	static const char ok[] = "{}";
	struct MHD_Response *r;
	mhd_result res;

	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (!*con_cls) { /* the headers: wait for the body */
		*con_cls = (void *)1;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&mu);
	requests++;
	pthread_mutex_unlock(&mu);
	r = MHD_create_response_from_buffer(strlen(ok), (void *)ok, MHD_RESPMEM_PERSISTENT);
	res = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return res;
}

static void setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	char *cert = slurp("receiver-cert.pem"), *key = slurp("receiver-key.pem");
	const union MHD_DaemonInfo *info;

	(void)snprintf(dir, sizeof(dir), "/tmp/tl-tls-XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	(void)snprintf(dead_path, sizeof(dead_path), "%s/dead.ndjson", dir);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	mhd = MHD_start_daemon(
	    MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
	    NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
	cr_assert(mhd != NULL, "libmicrohttpd could not start an HTTPS receiver");
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
	cr_assert(info && info->port);
	port = info->port;
	free(cert);
	free(key);
}

static void teardown(void)
{
	char cmd[128];

	tl_deliver_stop(dv);
	dv = NULL;
	tl_outbox_close(ob);
	ob = NULL;
	if (mhd)
		MHD_stop_daemon(mhd);
	mhd = NULL;
	requests = 0;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 30);

static int64_t wall(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * TL_NS_PER_S + t.tv_nsec;
}

/* One event to an https sink with @verify; return the sink's counts once drained. */
static struct tl_deliver_counts deliver_one(bool verify)
{
	const char *names[] = { "secure" };
	char url[128], err[256] = "", note[256] = "";
	struct tl_sink s = { .name = strdup("secure"),
			     .kind = TL_SINK_WEBHOOK,
			     .filter.min_severity = 4,
			     .format = TL_ALERT_FMT_JSON,
			     .tls_verify = verify,
			     .timeout_ns = 5 * TL_NS_PER_S,
			     .max_age_ns = 3 * TL_NS_PER_S,
			     /* one attempt, then max_age: the last error stays the handshake's
			      * (a retry cut short by max_age would be a timeout) */
			     .retry_initial_ns = 60 * TL_NS_PER_S,
			     .retry_max_ns = 60 * TL_NS_PER_S };
	const struct tl_sink *sp[] = { &s };
	struct tl_deliver_counts c;

	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%u/hook?sig=T0KEN", (unsigned)port);
	s.url = strdup(url);
	cr_assert(tl_outbox_open(dir, names, 1, &ob, note, sizeof(note), err, sizeof(err)) == 0,
		  "%s", err);
	cr_assert(tl_outbox_append(ob, 0, event, strlen(event), wall()) == 0);
	cr_assert(tl_outbox_sync(ob) == 0);
	const struct tl_deliver_opts o = { sp, 1, ob, dead_path };

	cr_assert(tl_deliver_start(&o, &dv, err, sizeof(err)) == 0, "%s", err);
	cr_assert(tl_deliver_drain(dv, 10 * TL_NS_PER_S), "not drained");
	tl_deliver_counts(dv, 0, &c);
	tl_deliver_stop(dv);
	dv = NULL;
	tl_sink_fini(&s);
	return c;
}

Test(tls, a_self_signed_receiver_is_refused_by_default)
{
	const struct tl_deliver_counts c = deliver_one(true);

	cr_expect(eq(u64, c.delivered, 0));
	cr_expect(eq(u64, c.dead, 1), "given up after max_age");
	cr_expect(eq(u32, requests, 0), "no request reached the receiver");
	cr_expect(ne(ptr, strstr(c.last_error, "certificate"), NULL), "%s", c.last_error);
	cr_expect(eq(ptr, strstr(c.last_error, "T0KEN"), NULL), "%s", c.last_error);
	cr_expect(eq(ptr, strstr(c.last_error, "127.0.0.1"), NULL), "%s", c.last_error);
}

Test(tls, tls_verify_false_lets_a_test_receiver_in)
{
	const struct tl_deliver_counts c = deliver_one(false);

	cr_expect(eq(u64, c.delivered, 1), "%s", c.last_error);
	cr_expect(eq(u64, c.dead, 0));
	cr_expect(eq(u32, requests, 1));
}
