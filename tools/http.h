/*
 * tools/http.h - the operations endpoints of `tripline run`: GET /metrics (Prometheus text
 * exposition format 0.0.4) and GET /healthz, served by libmicrohttpd from one internal
 * thread on a loopback address.
 *
 * The server holds no metrics of its own: each GET of /metrics calls the caller's callback,
 * which writes the exposition text with the tl_prom_* helpers below. Only GET and HEAD are
 * answered (others get 405), unknown paths get 404, and no response ever echoes request data.
 * Requests are bounded by libmicrohttpd: 16 connections, 10 s idle timeout, 32 KiB of
 * request line and headers per connection (a larger request is refused, the server goes on).
 */
#ifndef TL_TOOLS_HTTP_H
#define TL_TOOLS_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/error.h>

struct tl_http;

/*
 * What a GET or HEAD of /metrics returns: the callback appends the exposition text to @b
 * (the server frees it). A buffer that ran out of memory is answered with 500.
 * Thread: the server's thread, one call at a time; it must only read atomics or take a lock
 * of its own.
 */
typedef void (*tl_http_metrics_fn)(void *ud, struct tl_buf *b);

/*
 * /healthz: 200 "ok\n" when the callback returns true, else 503 with the short reason the
 * callback wrote into @why (@n bytes, NUL-terminated by the server if the callback did not).
 * Thread: as tl_http_metrics_fn.
 */
typedef bool (*tl_http_health_fn)(void *ud, char *why, size_t n);

struct tl_http_opts {
	/* "host:port": 127.0.0.1:9464, [::1]:9464 or localhost:9464 (= 127.0.0.1). The host is
	 * a numeric address and must be loopback (127.0.0.0/8, ::1) unless allow_remote;
	 * port 0 binds any free port (see tl_http_port()). */
	const char *listen;
	/* the endpoints expose operational data: binding beyond this host is a decision */
	bool allow_remote;
	tl_http_metrics_fn metrics; /* NULL: /metrics answers an empty exposition */
	tl_http_health_fn health;   /* NULL: always healthy */
	void *ud;                   /* passed to both callbacks */
};

/**
 * tl_http_start() - bind @o->listen and serve it from a new thread until tl_http_stop().
 * @o: borrowed for the call; @o->ud must stay valid until tl_http_stop().
 * @err: on failure, a message naming the address and the reason (@errlen bytes).
 * Return: 0 and the server in *@ret; TL_ECONFIG for an address that does not parse or is
 * not loopback without allow_remote; -errno when the socket cannot be bound (EADDRINUSE:
 * the port is taken); -EIO when libmicrohttpd cannot start.
 * Thread: any; not concurrently with tl_http_stop() of the same server.
 */
TL_MUST_CHECK int tl_http_start(const struct tl_http_opts *o, struct tl_http **ret, char *err,
				size_t errlen);

/** tl_http_port() - the port @h is bound to (the chosen one for port 0). Thread: any. */
uint16_t tl_http_port(const struct tl_http *h);

/**
 * tl_http_stop() - close the listening socket and open connections, join the server's
 * thread and free @h. No callback runs after it returns. NULL is a no-op.
 * Thread: the one that started @h (or any, once it is done with @h).
 */
void tl_http_stop(struct tl_http *h);

/*
 * Prometheus text format helpers, for the metrics callback. A family is written as
 *
 *	tl_prom_family(b, "tripline_events_total", "counter", "Events decoded.");
 *	tl_prom_label(&lb, "source", "kafka");          (lb: a label set of its own)
 *	tl_prom_sample(b, "tripline_events_total", lb.p, 1234);
 *
 * once per family, then its samples. Names and label keys are the caller's constants and are
 * not checked; label values and help text are escaped here.
 */

/** tl_prom_family() - append "# HELP name help" (omitted if @help is NULL) and "# TYPE name
 * type" (@type: counter, gauge, histogram, summary or untyped). Thread: any. */
void tl_prom_family(struct tl_buf *b, const char *name, const char *type, const char *help);

/**
 * tl_prom_sample() - append "name{labels} value\n".
 * @labels: rendered label pairs ("a=\"x\",b=\"y\"", as tl_prom_label() builds them), or NULL
 * or "" for none. A label buffer emptied with tl_buf_reset() still holds its old text at
 * ->p: pass NULL (or lb.n ? lb.p : NULL) for a sample without labels.
 * @v: integral values print as integers, exactly up to 1e17 (so every integer up to 2^53);
 * others print with the fewest digits that read back as the same double; NaN, +Inf, -Inf
 * as Prometheus spells them.
 * Thread: any.
 */
void tl_prom_sample(struct tl_buf *b, const char *name, const char *labels, double v);

/**
 * tl_prom_label() - append key="value" to the label set @b, with a leading comma unless @b
 * is empty or ends in '{' (so it also works inline after "name{"). The value is escaped as
 * the format wants (\\, \", \n); bytes that are not UTF-8 become U+FFFD, since one invalid
 * byte makes Prometheus reject the whole scrape. Thread: any.
 */
void tl_prom_label(struct tl_buf *b, const char *key, const char *value);

/** tl_prom_metric() - a family with one sample and no labels: tl_prom_family() then
 * tl_prom_sample(). Thread: any. */
void tl_prom_metric(struct tl_buf *b, const char *name, const char *type, const char *help,
		    double v);

/** tl_prom_value() - append @v as tl_prom_sample() prints it. Thread: any. */
void tl_prom_value(struct tl_buf *b, double v);

#endif /* TL_TOOLS_HTTP_H */
