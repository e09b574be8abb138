/*
 * tests/test_http.c - the operations endpoints (tools/http.c): a server on 127.0.0.1 port 0
 * is asked over plain sockets for /metrics, /healthz, unknown paths, other methods and
 * oversized requests; bad and taken addresses are refused with a message that says why;
 * and the Prometheus helpers escape label values and print numbers as the format wants.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/buf.h>
#include <tripline/error.h>

#include "http.h"

struct state {
	atomic_bool healthy;
	atomic_int scrapes;
};

static void metrics_cb(void *ud, struct tl_buf *b)
{
	struct state *st = ud;
	int n = atomic_fetch_add_explicit(&st->scrapes, 1, memory_order_relaxed) + 1;

	tl_prom_family(b, "tripline_scrapes_total", "counter", "Scrapes of /metrics.");
	tl_prom_sample(b, "tripline_scrapes_total", NULL, n);
}

static bool health_cb(void *ud, char *why, size_t n)
{
	struct state *st = ud;

	if (atomic_load_explicit(&st->healthy, memory_order_relaxed))
		return true;
	(void)snprintf(why, n, "source stalled for 30 s");
	return false;
}

static struct state st;
static struct tl_http *srv;

static void setup(void)
{
	struct tl_http_opts o = {
		.listen = "127.0.0.1:0", .metrics = metrics_cb, .health = health_cb, .ud = &st
	};
	char err[256] = "";

	atomic_store(&st.healthy, true);
	atomic_store(&st.scrapes, 0);
	cr_assert(eq(int, tl_http_start(&o, &srv, err, sizeof(err)), 0), "%s", err);
	cr_assert(ge(u16, tl_http_port(srv), 1));
}

static void teardown(void)
{
	tl_http_stop(srv);
	srv = NULL;
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 30);

static int dial(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(ge(int, fd, 0));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0));
	cr_assert(eq(int, setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0));
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0), "%s", strerror(errno));
	return fd;
}

/* Everything the server sends until it closes (or 5 s pass); the write may fail once the
 * server has given up on the request, which is what the oversized tests want. */
static char *exchange(const char *req, size_t len)
{
	int fd = dial(tl_http_port(srv));
	struct tl_buf b = { 0 };
	char chunk[4096];
	ssize_t n;

	for (size_t off = 0; off < len; off += (size_t)n) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
	}
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		tl_buf_put(&b, chunk, (size_t)n);
	(void)close(fd);
	tl_buf_puts(&b, "");
	cr_assert(tl_buf_ok(&b));
	return b.p;
}

static char *get(const char *method, const char *path)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method,
			 path);

	return exchange(req, (size_t)n);
}

static int status_of(const char *resp)
{
	int code = 0;

	if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1)
		return 0;
	return code;
}

/* The value of header @name (case-insensitive), up to the CR, in @out. */
static bool header(const char *resp, const char *name, char *out, size_t n)
{
	const char *end = strstr(resp, "\r\n\r\n"), *p = strstr(resp, "\r\n");
	size_t nl = strlen(name);

	for (; p && p < end; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 2 + nl + 1 + strspn(p + 2 + nl + 1, " ");
			size_t vl = strcspn(v, "\r");

			(void)snprintf(out, n, "%.*s", (int)vl, v);
			return true;
		}
	}
	return false;
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p ? p + 4 : "";
}

Test(http, metrics_returns_the_callbacks_text_as_prometheus_text)
{
	char *r = get("GET", "/metrics"), ct[128];

	cr_assert(eq(int, status_of(r), 200), "%s", r);
	cr_assert(header(r, "Content-Type", ct, sizeof(ct)));
	cr_assert(eq(str, ct, "text/plain; version=0.0.4; charset=utf-8"));
	cr_assert(eq(str, (char *)body_of(r),
		     "# HELP tripline_scrapes_total Scrapes of /metrics.\n"
		     "# TYPE tripline_scrapes_total counter\n"
		     "tripline_scrapes_total 1\n"));
	free(r);
	r = get("GET", "/metrics?ignored=1");
	cr_assert(eq(int, status_of(r), 200));
	cr_assert(ne(ptr, strstr(body_of(r), "tripline_scrapes_total 2\n"), NULL), "%s", r);
	free(r);
}

Test(http, head_of_metrics_has_the_headers_and_no_body)
{
	char *r = get("HEAD", "/metrics"), ct[128];

	cr_assert(eq(int, status_of(r), 200), "%s", r);
	cr_assert(header(r, "Content-Type", ct, sizeof(ct)));
	cr_assert(eq(str, ct, "text/plain; version=0.0.4; charset=utf-8"));
	cr_assert(eq(str, (char *)body_of(r), ""));
	free(r);
}

Test(http, healthz_is_ok_then_503_with_the_reason)
{
	char *r = get("GET", "/healthz");

	cr_assert(eq(int, status_of(r), 200), "%s", r);
	cr_assert(eq(str, (char *)body_of(r), "ok\n"));
	free(r);
	atomic_store(&st.healthy, false);
	r = get("GET", "/healthz");
	cr_assert(eq(int, status_of(r), 503), "%s", r);
	cr_assert(eq(str, (char *)body_of(r), "source stalled for 30 s\n"));
	free(r);
}

Test(http, unknown_path_is_404_without_echoing_it)
{
	char *r = get("GET", "/nope-secret-token");

	cr_assert(eq(int, status_of(r), 404), "%s", r);
	cr_assert(eq(ptr, strstr(r, "secret-token"), NULL), "%s", r);
	free(r);
	r = get("GET", "/metrics/");
	cr_assert(eq(int, status_of(r), 404), "%s", r);
	free(r);
}

Test(http, other_methods_are_405_with_allow)
{
	static const char post[] =
	    "POST /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	    "Content-Length: 11\r\n\r\nsecret=body";
	char *r = exchange(post, sizeof(post) - 1), allow[64];

	cr_assert(eq(int, status_of(r), 405), "%s", r);
	cr_assert(header(r, "Allow", allow, sizeof(allow)));
	cr_assert(eq(str, allow, "GET, HEAD"));
	cr_assert(eq(ptr, strstr(r, "secret"), NULL), "%s", r);
	free(r);
	r = get("DELETE", "/healthz");
	cr_assert(eq(int, status_of(r), 405), "%s", r);
	free(r);
	cr_assert(eq(int, atomic_load(&st.scrapes), 0));
}

/* 100 KB of headers, as many lines or as one */
static void oversized(bool one_line)
{
	struct tl_buf req = { 0 };
	char *r;

	tl_buf_puts(&req, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n");
	if (one_line) {
		tl_buf_puts(&req, "X-Pad: ");
		for (int i = 0; i < 100 * 1024 / 64; i++)
			tl_buf_puts(
			    &req,
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
		tl_buf_puts(&req, "\r\n");
	} else {
		for (int i = 0; req.n < 100 * 1024; i++)
			tl_buf_printf(&req, "X-Pad-%d: 0123456789abcdef0123456789abcdef\r\n", i);
	}
	tl_buf_puts(&req, "\r\n");
	cr_assert(tl_buf_ok(&req));
	r = exchange(req.p, req.n);
	/* refused: an error status, or the connection closed before any answer */
	cr_assert(r[0] == '\0' || status_of(r) >= 400, "%s", r);
	cr_assert(eq(int, atomic_load(&st.scrapes), 0));
	free(r);
	tl_buf_fini(&req);

	r = get("GET", "/healthz");
	cr_assert(eq(int, status_of(r), 200), "%s", r);
	free(r);
}

Test(http, many_header_lines_are_refused_and_the_server_goes_on)
{
	oversized(false);
}

Test(http, one_huge_header_is_refused_and_the_server_goes_on)
{
	oversized(true);
}

Test(http, a_kept_alive_connection_answers_request_after_request)
{
	static const char first[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char second[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
				     "Connection: close\r\n\r\n";
	int fd = dial(tl_http_port(srv));
	struct tl_buf b = { 0 };
	char chunk[4096];
	ssize_t n;

	cr_assert(
	    eq(sz, (size_t)send(fd, first, sizeof(first) - 1, MSG_NOSIGNAL), sizeof(first) - 1));
	/* the first answer is complete when its 3-byte body is in */
	while (!(b.n && strstr(b.p, "\r\n\r\nok\n")) && (n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		tl_buf_put(&b, chunk, (size_t)n);
	cr_assert(ne(ptr, b.p, NULL));
	cr_assert(eq(int, status_of(b.p), 200), "%s", b.p);
	cr_assert(eq(ptr, strstr(b.p, "Connection: close"), NULL), "%s", b.p);
	tl_buf_reset(&b);
	cr_assert(
	    eq(sz, (size_t)send(fd, second, sizeof(second) - 1, MSG_NOSIGNAL), sizeof(second) - 1));
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		tl_buf_put(&b, chunk, (size_t)n);
	tl_buf_puts(&b, "");
	cr_assert(eq(int, status_of(b.p), 200), "%s", b.p);
	cr_assert(ne(ptr, strstr(b.p, "tripline_scrapes_total 1\n"), NULL), "%s", b.p);
	(void)close(fd);
	tl_buf_fini(&b);
}

Test(http, the_port_in_use_is_refused_naming_it)
{
	char listen[64], err[256] = "", port[16];
	struct tl_http_opts o = { .listen = listen };
	struct tl_http *h = NULL;

	(void)snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)tl_http_port(srv));
	(void)snprintf(port, sizeof(port), "%u", (unsigned)tl_http_port(srv));
	cr_assert(eq(int, tl_http_start(&o, &h, err, sizeof(err)), -EADDRINUSE));
	cr_assert(eq(ptr, h, NULL));
	cr_assert(ne(ptr, strstr(err, port), NULL), "%s", err);
	cr_assert(ne(ptr, strstr(err, strerror(EADDRINUSE)), NULL), "%s", err);
}

Test(http, a_get_with_a_body_is_dropped_and_the_server_goes_on)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
				  "Content-Length: 5\r\nConnection: close\r\n\r\nhello";
	char *r = exchange(req, sizeof(req) - 1);

	cr_assert(r[0] == '\0' || status_of(r) >= 400, "%s", r);
	free(r);
	r = get("GET", "/metrics");
	cr_assert(eq(int, status_of(r), 200), "%s", r);
	free(r);
}

/* The address checks need no running server. */
TestSuite(http_addr, .timeout = 30);

Test(http_addr, non_loopback_needs_allow_remote_and_says_why)
{
	struct tl_http_opts o = { .listen = "0.0.0.0:0" };
	struct tl_http *h = NULL;
	char err[256] = "";

	cr_assert(eq(int, tl_http_start(&o, &h, err, sizeof(err)), TL_ECONFIG));
	cr_assert(eq(ptr, h, NULL));
	cr_assert(ne(ptr, strstr(err, "0.0.0.0:0"), NULL), "%s", err);
	cr_assert(ne(ptr, strstr(err, "loopback"), NULL), "%s", err);
	cr_assert(ne(ptr, strstr(err, "allow_remote"), NULL), "%s", err);
	o.listen = "[::]:0";
	cr_assert(eq(int, tl_http_start(&o, &h, err, sizeof(err)), TL_ECONFIG));
	o.listen = "[::ffff:10.0.0.1]:0";
	cr_assert(eq(int, tl_http_start(&o, &h, err, sizeof(err)), TL_ECONFIG));

	o.listen = "0.0.0.0:0";
	o.allow_remote = true;
	cr_assert(eq(int, tl_http_start(&o, &h, err, sizeof(err)), 0), "%s", err);
	cr_assert(ge(u16, tl_http_port(h), 1));
	tl_http_stop(h);
}

Test(http_addr, loopback_spellings_are_accepted)
{
	static const char *const ok[] = { "127.0.0.1:0", "127.1.2.3:0", "localhost:0", "[::1]:0",
					  "[::ffff:127.0.0.1]:0" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct tl_http_opts o = { .listen = ok[i] };
		struct tl_http *h = NULL;
		char err[256] = "";
		int r = tl_http_start(&o, &h, err, sizeof(err));

		/* a host without IPv6 cannot bind ::1; anything else is a failure */
		if (r == -EADDRNOTAVAIL && strchr(ok[i], '['))
			continue;
		cr_assert(eq(int, r, 0), "%s: %s", ok[i], err);
		tl_http_stop(h);
	}
	tl_http_stop(NULL);
}

Test(http_addr, a_server_that_cannot_start_leaks_no_descriptor)
{
	struct tl_http_opts o = { .listen = "127.0.0.1:0" };
	struct rlimit old, tight;
	struct tl_http *h = NULL;
	char err[256] = "";
	int next = open("/dev/null", O_RDONLY | O_CLOEXEC), r;

	cr_assert(ge(int, next, 0));
	(void)close(next);
	/* room for the listening socket and its dup only: libmicrohttpd's epoll (or eventfd)
	 * cannot be made */
	cr_assert(eq(int, getrlimit(RLIMIT_NOFILE, &old), 0));
	tight = old;
	tight.rlim_cur = (rlim_t)next + 2;
	cr_assert(eq(int, setrlimit(RLIMIT_NOFILE, &tight), 0));
	r = tl_http_start(&o, &h, err, sizeof(err));
	cr_assert(eq(int, setrlimit(RLIMIT_NOFILE, &old), 0));
	cr_assert(eq(int, r, -EIO), "%s", err);
	cr_assert(eq(ptr, h, NULL));
	cr_assert(ne(ptr, strstr(err, "libmicrohttpd could not start"), NULL), "%s", err);
	r = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert(eq(int, r, next), "descriptor %d was left open", next);
	(void)close(r);
}

Test(http_addr, malformed_addresses_are_config_errors)
{
	static const char *const bad[] = { "",
					   "127.0.0.1",
					   "127.0.0.1:",
					   ":9464",
					   "::1:9464",
					   "[::1]9464",
					   "[::1",
					   "127.0.0.1:x",
					   "1.2.3:80",
					   "127.0.0.1:65536",
					   "host.example:80",
					   "127.0.0.1:-1" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tl_http_opts o = { .listen = bad[i] };
		struct tl_http *h = NULL;
		char err[256] = "";

		cr_assert(eq(int, tl_http_start(&o, &h, err, sizeof(err)), TL_ECONFIG), "%s",
			  bad[i]);
		cr_assert(eq(int, strncmp(err, "listen address '", 16), 0), "%s", err);
	}
	struct tl_http_opts none = { .listen = NULL };
	struct tl_http *h = NULL;

	cr_assert(eq(int, tl_http_start(&none, &h, NULL, 0), TL_ECONFIG));
}

static char *render(void (*fn)(struct tl_buf *))
{
	struct tl_buf b = { 0 };

	fn(&b);
	tl_buf_puts(&b, "");
	cr_assert(tl_buf_ok(&b));
	return b.p;
}

static void family_then_samples(struct tl_buf *b)
{
	struct tl_buf lb = { 0 };

	tl_prom_family(b, "tl_x_total", "counter", "Line one\nback\\slash \"quoted\".");
	tl_prom_label(&lb, "rule", "latency");
	tl_prom_label(&lb, "deployment", "a\"b\\c\nd");
	tl_prom_sample(b, "tl_x_total", lb.p, 3);
	tl_buf_reset(&lb);
	tl_prom_label(&lb, "rule", "errors");
	tl_prom_sample(b, "tl_x_total", lb.p, 4);
	tl_prom_sample(b, "tl_x_total", "", 5);
	tl_buf_fini(&lb);
}

Test(prom, family_lines_once_then_samples_with_escaped_labels)
{
	char *s = render(family_then_samples);

	cr_assert(eq(str, s,
		     "# HELP tl_x_total Line one\\nback\\\\slash \"quoted\".\n"
		     "# TYPE tl_x_total counter\n"
		     "tl_x_total{rule=\"latency\",deployment=\"a\\\"b\\\\c\\nd\"} 3\n"
		     "tl_x_total{rule=\"errors\"} 4\n"
		     "tl_x_total 5\n"));
	free(s);
}

static void inline_labels(struct tl_buf *b)
{
	tl_prom_family(b, "tl_up", "gauge", NULL);
	tl_buf_puts(b, "tl_up{");
	tl_prom_label(b, "a", "x");
	tl_prom_label(b, "b", "");
	tl_buf_puts(b, "} ");
	tl_prom_value(b, 1);
	tl_buf_puts(b, "\n");
}

Test(prom, labels_inline_after_a_brace_and_help_omitted)
{
	char *s = render(inline_labels);

	cr_assert(eq(str, s, "# TYPE tl_up gauge\ntl_up{a=\"x\",b=\"\"} 1\n"));
	free(s);
}

static void not_utf8(struct tl_buf *b)
{
	tl_prom_label(
	    b, "v",
	    "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad \xff \xc3 \xe2\x82 \xc0\xaf end");
}

Test(prom, label_values_that_are_not_utf8_get_replacement_characters)
{
	char *s = render(not_utf8);

	cr_assert(eq(str, s,
		     "v=\"ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad \xef\xbf\xbd \xef\xbf\xbd "
		     "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd end\""));
	cr_assert(tl_utf8_valid(s, strlen(s)));
	free(s);
}

static const struct {
	double v;
	const char *text;
} numbers[] = {
	{ 0, "0" },
	{ 1, "1" },
	{ -42, "-42" },
	{ 9007199254740992.0, "9007199254740992" }, /* 2^53 */
	{ 9007199254740993.0, "9007199254740992" }, /* not a double: rounds to 2^53 */
	{ 9007199254740994.0, "9007199254740994" },
	{ 18446744073709551616.0, "1.8446744073709552e+19" }, /* 2^64 */
	{ 1e15, "1000000000000000" },
	{ 0.1, "0.1" },
	{ 0.5, "0.5" },
	{ 1.0 / 3, "0.3333333333333333" },
	{ 2.5e-9, "2.5e-09" },
	{ 1e300, "1e+300" },
	{ (double)NAN, "NaN" },
	{ (double)INFINITY, "+Inf" },
	{ -(double)INFINITY, "-Inf" },
};

Test(prom, numbers_print_exactly_and_as_prometheus_spells_them)
{
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		struct tl_buf b = { 0 };

		tl_prom_value(&b, numbers[i].v);
		cr_assert(eq(str, b.p, (char *)numbers[i].text), "case %zu", i);
		if (numbers[i].v == numbers[i].v)
			cr_assert(eq(dbl, strtod(b.p, NULL), numbers[i].v), "case %zu", i);
		tl_buf_fini(&b);
	}
}

Test(prom, sample_prints_the_value_after_the_labels)
{
	struct tl_buf b = { 0 };

	tl_prom_sample(&b, "tl_big", "k=\"v\"", 9007199254740992.0);
	tl_prom_sample(&b, "tl_nan", NULL, (double)NAN);
	tl_prom_sample(&b, "tl_inf", NULL, (double)INFINITY);
	cr_assert(eq(str, b.p, "tl_big{k=\"v\"} 9007199254740992\ntl_nan NaN\ntl_inf +Inf\n"));
	tl_buf_fini(&b);
}
