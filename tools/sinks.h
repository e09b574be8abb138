/*
 * tools/sinks.h - where alerts go (config `sinks:`, issue 6): the sink settings the config
 * loader fills (tools/config.c), the filter every sink applies, and the delivery thread
 * that drains the outbox to webhook and Kafka sinks (tools/deliver.c).
 *
 * stdout (the default) and file sinks are written synchronously with the journal; webhook
 * and kafka sinks go through the durable outbox (include/tripline/outbox.h) and the
 * delivery thread, so a receiver that is down or slow never holds detection back.
 */
#ifndef TL_TOOLS_SINKS_H
#define TL_TOOLS_SINKS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>
#include <tripline/outbox.h>

#include "alert_format.h"

enum tl_sink_kind { TL_SINK_STDOUT, TL_SINK_FILE, TL_SINK_KAFKA, TL_SINK_WEBHOOK };

/* Which events a sink takes: all of its conditions hold (an empty list: any). */
struct tl_sink_filter {
	uint8_t min_severity; /* 0..4: events of this severity or more severe (Sev0 is the
			       * most severe); 4 (the default) takes all */
	uint32_t rules;       /* bit per enum tl_rule; 0: every rule */
	char **deployments;
	size_t n_deployments;
	char **owners; /* the event's owner, incident_commander or comms_owner (the
			* deployment's, from the config) is one of these */
	size_t n_owners;
};

struct tl_sink {
	char *name; /* [A-Za-z0-9_.-]{1,64}, unique; default "<kind>-<index>" */
	enum tl_sink_kind kind;
	struct tl_sink_filter filter;

	/* file: NDJSON appended, fsync'd with the journal */
	char *path;

	/* kafka: one message per event, key incident_id, value the event line */
	char *brokers;
	char *topic;
	char **props; /* librdkafka properties: name, value, ... */
	size_t n_props;

	/* webhook */
	enum tl_alert_fmt format;
	char *url;                /* a secret (tokens in paths and queries): never logged */
	char *routing_key;        /* pagerduty; a secret */
	bool tls_verify;          /* default true; false only for test receivers */
	int64_t timeout_ns;       /* one request: default 10 s */
	int64_t max_age_ns;       /* an event still undelivered after this is dead-lettered:
				   * default 24 h */
	int64_t retry_initial_ns; /* first backoff: default 1 s; doubles, with jitter */
	int64_t retry_max_ns;     /* backoff cap: default 5 min; Retry-After is honoured up to
				   * max_age */
};

/* An event as the filter sees it. */
struct tl_sink_event {
	uint8_t rule;     /* enum tl_rule */
	uint8_t severity; /* 0..4 */
	const char *deployment;
	const char *owner;              /* "" when none is configured */
	const char *incident_commander; /* "" or NULL when none is configured */
	const char *comms_owner;
};

/** tl_sink_wants() - does @s take @ev? Thread: any. */
bool tl_sink_wants(const struct tl_sink *s, const struct tl_sink_event *ev);

/** tl_sink_queued() - does @s go through the outbox (webhook, kafka)? */
static inline bool tl_sink_queued(const struct tl_sink *s)
{
	return s->kind == TL_SINK_WEBHOOK || s->kind == TL_SINK_KAFKA;
}

/** tl_sink_fini() - free what @s holds (secrets are zeroed first). */
void tl_sink_fini(struct tl_sink *s);

/* ---- the delivery thread ------------------------------------------------------------------ */

struct tl_deliver_opts {
	/* the queued sinks, in the order of the outbox's sink indexes */
	const struct tl_sink *const *sinks;
	size_t n_sinks;
	struct tl_outbox *outbox;
	/* events given up on (max_age passed, or a receiver refused them for good: a 4xx other
	 * than 408 and 429): one NDJSON line each, {"sink","seq","enqueued_at","reason",
	 * "status","event"} with the event line as a JSON string. Opened for append. */
	const char *dead_letter_path;
};

struct tl_deliver_counts {
	uint64_t attempts;    /* requests (or produce calls) made */
	uint64_t delivered;   /* events the receiver took (2xx; Kafka: acknowledged) */
	uint64_t retries;     /* attempts after a failure */
	uint64_t dead;        /* events dead-lettered */
	uint64_t pending;     /* in the outbox now */
	int64_t oldest_ns;    /* enqueue time of the oldest pending event, 0 when none */
	char last_error[200]; /* the newest failure, e.g. "HTTP 503" or "timed out after
			       * 10 s"; never a URL or a secret; "" when none */
};

struct tl_deliver;

/**
 * tl_deliver_start() - start the delivery thread: for each sink, in order, the oldest
 * pending event is rendered in the sink's format (tools/alert_format.h) and sent; a 2xx
 * marks it done; 408, 429, 5xx, a timeout or a connection failure retry it after a backoff
 * (exponential, jittered, at least Retry-After when the receiver gives one); other 4xx and
 * events older than max_age go to the dead-letter file. One request in flight per sink, all
 * sinks at once (libcurl multi). Only http and https, TLS verified unless the sink says not,
 * no redirects followed, at most 64 KiB of a response read.
 * Return: 0, -ENOMEM, -errno (the dead-letter file), TL_ECONFIG (libcurl or librdkafka
 * refused a setting; @err says which sink, never its URL). Thread: any.
 */
TL_MUST_CHECK int tl_deliver_start(const struct tl_deliver_opts *o, struct tl_deliver **ret,
				   char *err, size_t errlen);

/** tl_deliver_kick() - new events were appended and synced: look now. Thread: any. */
void tl_deliver_kick(struct tl_deliver *d);

/**
 * tl_deliver_drain() - wait until no sink has a pending event, or @timeout_ns passed.
 * Return: true when drained. Thread: any but the delivery thread.
 */
bool tl_deliver_drain(struct tl_deliver *d, int64_t timeout_ns);

/** tl_deliver_counts() - sink @i's counts so far (a consistent copy). Thread: any. */
void tl_deliver_counts(struct tl_deliver *d, size_t i, struct tl_deliver_counts *ret);

/**
 * tl_deliver_stop() - stop the thread: requests in flight are abandoned (their events stay
 * pending, to be sent again by the next start); free @d. NULL is a no-op.
 */
void tl_deliver_stop(struct tl_deliver *d);

#endif /* TL_TOOLS_SINKS_H */
