/*
 * tests/receiver.h - an HTTP receiver on loopback for the alert-delivery tests: a thread
 * per connection, every request recorded (method, path with query, body), each answered
 * from a script: the first `refuse` requests get 503 (the first of them with Retry-After
 * when `retry_after` is set), then 2xx; `hang` holds every request unanswered until stop.
 * Enough HTTP/1.1 for libcurl: one request per connection (Connection: close).
 */
#ifndef TL_TESTS_RECEIVER_H
#define TL_TESTS_RECEIVER_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RCV_MAX 4096

struct rcv_req {
	char method[8];
	char path[512];
	char *body;
	int status; /* what it was answered */
	double at;  /* seconds since the receiver started */
};

struct receiver {
	int fd;
	unsigned port;
	pthread_t thread;
	pthread_mutex_t mx;
	_Atomic bool stop;
	/* the script */
	_Atomic int refuse;
	_Atomic int retry_after; /* seconds, on the first refusal; 0: none */
	_Atomic bool hang;
	/* what came */
	struct rcv_req req[RCV_MAX];
	size_t n;
	int answered; /* requests answered so far */
	struct timespec t0;
};

static double rcv_now(const struct receiver *r)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - r->t0.tv_sec) + (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

static void rcv_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) != 0)
		;
}

/* The Content-Length of the header block [p, end), 0 when it has none. */
static long rcv_content_length(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0)
			return strtol(p + 16, NULL, 10);
	return 0;
}

struct rcv_conn {
	struct receiver *r;
	int fd;
};

static void *rcv_conn_main(void *arg)
{
	struct rcv_conn *c = arg;
	struct receiver *r = c->r;
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap + 1), *end = NULL;
	long clen = -1;

	while (buf && n < cap) {
		ssize_t k = read(c->fd, buf + n, cap - n);

		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n")))
			clen = rcv_content_length(buf, end);
		if (end && (long)(n - (size_t)(end + 4 - buf)) >= clen)
			break;
	}
	if (buf && end) {
		struct rcv_req q = { 0 };
		int status;

		(void)sscanf(buf, "%7s %511s", q.method, q.path);
		q.body = strndup(end + 4, (size_t)clen);
		pthread_mutex_lock(&r->mx);
		q.at = rcv_now(r);
		if (atomic_load(&r->hang)) {
			status = 0;
		} else if (r->answered < atomic_load(&r->refuse)) {
			status = 503;
		} else {
			status = strstr(q.path, "/api/v2/alerts") ? 200 : 202;
		}
		const bool first = r->answered == 0;

		if (status)
			r->answered++;
		q.status = status;
		if (r->n < RCV_MAX)
			r->req[r->n++] = q;
		else
			free(q.body);
		pthread_mutex_unlock(&r->mx);
		if (!status) { /* hang: hold the connection until the test stops */
			while (!atomic_load(&r->stop))
				rcv_sleep_ms(20);
		} else {
			char resp[256], ra[40] = "";
			int len;

			if (status == 503 && first && atomic_load(&r->retry_after))
				(void)snprintf(ra, sizeof(ra), "Retry-After: %d\r\n",
					       atomic_load(&r->retry_after));
			len = snprintf(resp, sizeof(resp),
				       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
				       "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
				       status, status == 503 ? "Service Unavailable" : "OK", ra);
			(void)!write(c->fd, resp, (size_t)len);
		}
	}
	free(buf);
	close(c->fd);
	free(c);
	return NULL;
}

static void *rcv_main(void *arg)
{
	struct receiver *r = arg;

	while (!atomic_load(&r->stop)) {
		int fd = accept(r->fd, NULL, NULL);

		if (fd < 0)
			continue;
		struct rcv_conn *c = malloc(sizeof(*c));
		pthread_t t;

		c->r = r;
		c->fd = fd;
		if (pthread_create(&t, NULL, rcv_conn_main, c) == 0)
			pthread_detach(t);
		else
			close(fd), free(c);
	}
	return NULL;
}

/* Start listening on 127.0.0.1 (a free port, in r->port). Return: 0 or -1. */
static int rcv_start(struct receiver *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	pthread_mutex_init(&r->mx, NULL);
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(r->fd, 64) < 0 || getsockname(r->fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	/* accept() wakes every 100 ms to see the stop flag */
	(void)setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	r->port = ntohs(a.sin_port);
	return pthread_create(&r->thread, NULL, rcv_main, r) == 0 ? 0 : -1;
}

static void rcv_stop(struct receiver *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	close(r->fd);
	rcv_sleep_ms(100); /* hanging connections see the flag */
	for (size_t i = 0; i < r->n; i++)
		free(r->req[i].body);
	r->n = 0;
}

/* Requests to paths starting with @prefix that were answered 2xx. */
static size_t rcv_count(struct receiver *r, const char *prefix, int status_class)
{
	size_t n = 0;

	pthread_mutex_lock(&r->mx);
	for (size_t i = 0; i < r->n; i++)
		n += strncmp(r->req[i].path, prefix, strlen(prefix)) == 0 &&
		     r->req[i].status / 100 == status_class;
	pthread_mutex_unlock(&r->mx);
	return n;
}

#endif /* TL_TESTS_RECEIVER_H */
