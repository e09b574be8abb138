/*
 * tools/http.c - /metrics and /healthz over libmicrohttpd (see http.h), and the Prometheus
 * text format helpers.
 *
 * The listening socket is made here, not by libmicrohttpd, so that a bad address or a port
 * in use is reported with the address and the errno, and the bound port is known. Once
 * started, libmicrohttpd owns the socket (MHD_stop_daemon() closes it). When it fails to
 * start, 0.9.75 has closed the socket on some paths (thread creation) and not on others
 * (epoll_create1): a dup held across the call tells which, see start_daemon().
 *
 * Thread: one internal polling thread of libmicrohttpd answers every connection, so the
 * callbacks and h->scratch are never used concurrently. libmicrohttpd's error log goes to
 * mhd_log(), which keeps only what the starting thread logs, for tl_http_start()'s message.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/buf.h>
#include <tripline/error.h>

/* enum MHD_Result replaced int as the callbacks' type in 0.9.71 */
#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

enum {
	HTTP_CONN_LIMIT = 16,
	HTTP_CONN_TIMEOUT_S = 10,
	HTTP_BACKLOG = 16,
	HTTP_WHY_MAX = 128,
};
/* per-connection pool: request line, headers and the response headers must fit */
#define HTTP_CONN_MEMORY ((size_t)32 * 1024)

#define CT_METRICS       "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT          "text/plain; charset=utf-8"

struct tl_http {
	struct MHD_Daemon *daemon;
	tl_http_metrics_fn metrics;
	tl_http_health_fn health;
	void *ud;
	uint16_t port;
	struct tl_buf scratch; /* the /metrics text; server thread only */
	pthread_t starter;     /* the thread in tl_http_start(), for mhd_log() */
	char mhd_err[160];     /* first message libmicrohttpd logged while starting */
};

TL_PRINTF(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct tl_http *h = cls;
	size_t n;

	if (!pthread_equal(pthread_self(), h->starter) || h->mhd_err[0])
		return;
	(void)vsnprintf(h->mhd_err, sizeof(h->mhd_err), fmt, ap);
	n = strlen(h->mhd_err);
	while (n && (h->mhd_err[n - 1] == '\n' || h->mhd_err[n - 1] == '.'))
		h->mhd_err[--n] = '\0';
}

/* Queue @r (NULL: out of memory) with @ctype and release our reference. */
static mhd_result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
			const char *ctype)
{
	mhd_result ok;

	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_NO ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

/* Fixed bodies, never anything taken from the request. Arrays rather than literals because
 * libmicrohttpd takes a void * for a buffer it only reads. */
static char body_ok[] = "ok\n";
static char body_404[] = "not found\n";
static char body_405[] = "method not allowed\n";
static char body_500[] = "metrics unavailable: out of memory\n";

static mhd_result reply_static(struct MHD_Connection *c, unsigned status, char *text)
{
	return queue(c, status,
		     MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_PERSISTENT),
		     CT_TEXT);
}

static mhd_result reply_metrics(struct tl_http *h, struct MHD_Connection *c)
{
	struct tl_buf *b = &h->scratch;

	tl_buf_reset(b);
	if (h->metrics)
		h->metrics(h->ud, b);
	if (!tl_buf_ok(b)) {
		tl_buf_fini(b);
		return reply_static(c, MHD_HTTP_INTERNAL_SERVER_ERROR, body_500);
	}
	/* copied, so the scratch buffer is reused by the next scrape */
	return queue(c, MHD_HTTP_OK,
		     MHD_create_response_from_buffer(b->n, b->p, MHD_RESPMEM_MUST_COPY),
		     CT_METRICS);
}

static mhd_result reply_health(struct tl_http *h, struct MHD_Connection *c)
{
	char why[HTTP_WHY_MAX] = "", text[HTTP_WHY_MAX + 1];
	int n;

	if (!h->health || h->health(h->ud, why, sizeof(why)))
		return reply_static(c, MHD_HTTP_OK, body_ok);
	why[sizeof(why) - 1] = '\0';
	n = snprintf(text, sizeof(text), "%s\n", why[0] ? why : "unhealthy");
	if (n < 0)
		return MHD_NO;
	return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		     MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY),
		     CT_TEXT);
}

/*
 * libmicrohttpd calls this when the headers are in, then for each piece of a body, then
 * once more when the request is complete. Other methods are answered on the first call, so
 * their body is never read (and the connection closes after the 405). GET and HEAD are
 * answered on the last call: a response queued earlier also closes the connection, which
 * a scraper would otherwise keep alive. A GET or HEAD that carries a body is dropped.
 */
static mhd_result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			 const char *version, const char *upload_data, size_t *upload_data_size,
			 void **req_cls)
{
	static int headers_seen;
	struct tl_http *h = cls;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, body_405);
	if (!*req_cls) {
		*req_cls = &headers_seen;
		return MHD_YES;
	}
	if (*upload_data_size)
		return MHD_NO;
	if (strcmp(url, "/metrics") == 0)
		return reply_metrics(h, c);
	if (strcmp(url, "/healthz") == 0)
		return reply_health(h, c);
	return reply_static(c, MHD_HTTP_NOT_FOUND, body_404);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (IN6_IS_ADDR_LOOPBACK(a))
		return true;
	return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

/* "host:port" or "[v6]:port" into @ss; 0 or -1 with the reason in @why. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *ret_len,
			uint16_t *ret_port, const char **why)
{
	char host[INET6_ADDRSTRLEN];
	const char *h, *he, *p;
	unsigned long port = 0;
	bool v6 = false;

	*why = "expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464";
	if (!s || !*s)
		return -1;
	if (s[0] == '[') {
		h = s + 1;
		he = strchr(h, ']');
		if (!he || he[1] != ':')
			return -1;
		p = he + 2;
		v6 = true;
	} else {
		h = s;
		he = strrchr(s, ':');
		if (!he)
			return -1;
		if (memchr(h, ':', (size_t)(he - h))) {
			*why = "an IPv6 address goes in brackets, e.g. [::1]:9464";
			return -1;
		}
		p = he + 1;
	}
	if (he == h || (size_t)(he - h) >= sizeof(host)) {
		*why = "the host is missing or too long";
		return -1;
	}
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		return -1;
	for (; *p; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (port > 65535) {
		*why = "the port is above 65535";
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (!v6 && strcmp(host, "localhost") == 0)
		(void)snprintf(host, sizeof(host), "127.0.0.1");
	if (v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto out_bad_host;
		*ret_len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto out_bad_host;
		*ret_len = sizeof(*in);
	}
	*ret_port = (uint16_t)port;
	return 0;

out_bad_host:
	*why = "the host is not a numeric IPv4 or IPv6 address (or localhost)";
	return -1;
}

static void fail(char *err, size_t errlen, const char *listen, const char *fmt, ...)
    TL_PRINTF(4, 5);
static void fail(char *err, size_t errlen, const char *listen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return;
	n = snprintf(err, errlen, "listen address '%s': ", listen ? listen : "");
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A bound, listening, non-blocking socket for @ss, or -errno. */
static int listen_on(const struct sockaddr_storage *ss, socklen_t len, uint16_t *ret_port)
{
	struct sockaddr_storage got;
	socklen_t got_len = sizeof(got);
	int fd, one = 1, r;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* a restart may rebind while old connections sit in TIME_WAIT; Linux still refuses a
	 * port another socket listens on */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, HTTP_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&got, &got_len) < 0) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	*ret_port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
						   : ((struct sockaddr_in6 *)&got)->sin6_port);
	return fd;
}

/* Whether @fd is still the socket @keep refers to: while @keep holds it open, no other
 * socket can have its inode, even if @fd's number was closed and reused meanwhile. */
static bool same_socket(int fd, int keep)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstat(keep, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Serve the listening socket @fd, which is libmicrohttpd's on success and closed on failure.
 * Return: 0, or -errno (-EIO when libmicrohttpd gives no errno). */
static int start_daemon(struct tl_http *h, int fd, bool v6)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (keep < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	/* the logger comes first so that nothing MHD says while starting reaches stderr */
	h->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, answer, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)HTTP_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY, MHD_OPTION_END);
	if (!h->daemon && same_socket(fd, keep))
		(void)close(fd);
	(void)close(keep);
	return h->daemon ? 0 : -EIO;
}

int tl_http_start(const struct tl_http_opts *o, struct tl_http **ret, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	uint16_t want_port = 0, port = 0;
	const char *why;
	struct tl_http *h;
	int fd, r;

	if (parse_listen(o->listen, &ss, &len, &want_port, &why) < 0) {
		fail(err, errlen, o->listen, "%s", why);
		return TL_ECONFIG;
	}
	if (!o->allow_remote && !is_loopback(&ss)) {
		fail(err, errlen, o->listen,
		     "not a loopback address (127.0.0.0/8 or ::1): /metrics and /healthz expose "
		     "operational data, so serving them beyond this host needs allow_remote");
		return TL_ECONFIG;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fail(err, errlen, o->listen, "%s", tl_strerror(-ENOMEM));
		return -ENOMEM;
	}
	h->metrics = o->metrics;
	h->health = o->health;
	h->ud = o->ud;
	h->starter = pthread_self();
	fd = listen_on(&ss, len, &port);
	if (fd < 0) {
		fail(err, errlen, o->listen, "cannot bind port %u: %s", (unsigned)want_port,
		     tl_strerror(fd));
		free(h);
		return fd;
	}
	h->port = port;
	r = start_daemon(h, fd, ss.ss_family == AF_INET6);
	if (r < 0) {
		fail(err, errlen, o->listen, "libmicrohttpd could not start: %s",
		     h->mhd_err[0] ? h->mhd_err : tl_strerror(r));
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

uint16_t tl_http_port(const struct tl_http *h)
{
	return h->port;
}

void tl_http_stop(struct tl_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon); /* joins the server's thread and closes every socket */
	tl_buf_fini(&h->scratch);
	free(h);
}

/* Append @s escaped for the text format: \\ and \n always, \" when @quote (label values);
 * bytes that are not UTF-8 become U+FFFD. */
static void put_escaped(struct tl_buf *b, const char *s, bool quote)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const char *run = s;

	while (*s) {
		unsigned char c = (unsigned char)*s;
		const char *esc = c == '\\'           ? "\\\\"
				  : c == '\n'         ? "\\n"
				  : c == '"' && quote ? "\\\""
						      : NULL;
		/* the length a lead byte announces; 0 for bytes that cannot start a sequence */
		size_t len = c < 0x80   ? 1
			     : c < 0xc2 ? 0
			     : c < 0xe0 ? 2
			     : c < 0xf0 ? 3
			     : c < 0xf5 ? 4
					: 0;

		if (!esc && len && strnlen(s, len) == len && tl_utf8_valid(s, len)) {
			s += len;
			continue;
		}
		tl_buf_put(b, run, (size_t)(s - run));
		if (esc)
			tl_buf_puts(b, esc);
		else
			tl_buf_put(b, fffd, sizeof(fffd) - 1);
		run = ++s;
	}
	tl_buf_put(b, run, (size_t)(s - run));
}

void tl_prom_family(struct tl_buf *b, const char *name, const char *type, const char *help)
{
	if (help) {
		tl_buf_printf(b, "# HELP %s ", name);
		put_escaped(b, help, false);
		tl_buf_puts(b, "\n");
	}
	tl_buf_printf(b, "# TYPE %s %s\n", name, type);
}

void tl_prom_value(struct tl_buf *b, double v)
{
	char s[40];

	if (isnan(v)) {
		tl_buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		tl_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* an integral double below 1e17 prints exactly with %.0f, and stays short */
	if (v == trunc(v) && fabs(v) < 1e17) {
		tl_buf_printf(b, "%.0f", v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		(void)snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	tl_buf_puts(b, s);
}

void tl_prom_sample(struct tl_buf *b, const char *name, const char *labels, double v)
{
	tl_buf_puts(b, name);
	if (labels && *labels)
		tl_buf_printf(b, "{%s}", labels);
	tl_buf_puts(b, " ");
	tl_prom_value(b, v);
	tl_buf_puts(b, "\n");
}

void tl_prom_label(struct tl_buf *b, const char *key, const char *value)
{
	if (b->n && b->p[b->n - 1] != '{')
		tl_buf_puts(b, ",");
	tl_buf_printf(b, "%s=\"", key);
	put_escaped(b, value, true);
	tl_buf_puts(b, "\"");
}

void tl_prom_metric(struct tl_buf *b, const char *name, const char *type, const char *help,
		    double v)
{
	tl_prom_family(b, name, type, help);
	tl_prom_sample(b, name, NULL, v);
}
