/*
 * tools/hub.h - the embedded hub: librdkafka's mock Kafka cluster on loopback with one topic,
 * and a feeder thread that produces a file of Event Hubs batches to it as Event Hubs would
 * deliver them (tools/hub.c).
 *
 * The mock cluster speaks the real Kafka protocol (producers, consumer groups with offset
 * commits, idempotent producers), but keeps only the newest ~5 MB or 100,000 messages of
 * each partition and drops older ones without a word. The feeder therefore never runs more
 * than max_ahead_bytes (default 3 MiB) ahead of the consumer on any partition: the gate.
 */
#ifndef TL_TOOLS_HUB_H
#define TL_TOOLS_HUB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <tripline/error.h>

/* The topic the hub creates unless told otherwise: Azure's diagnostic-settings export name
 * of the category tripline reads most (interfaces.md, source.kafka.topics). */
#define TL_HUB_TOPIC          "insights-logs-requestresponse"
#define TL_HUB_PARTITIONS     4u
#define TL_HUB_MAX_PARTITIONS 1024u
#define TL_HUB_MAX_BROKERS    16u
#define TL_FEED_MAX_AHEAD     ((size_t)3 << 20)
#define TL_FEED_GATE_GROUP    "tripline"

struct tl_hub_opts {
	unsigned partitions; /* 0: TL_HUB_PARTITIONS */
	unsigned brokers;    /* 0: 1; partition leaders are spread over brokers 1..N */
	const char *topic;   /* NULL: TL_HUB_TOPIC */
};

struct tl_hub;

/**
 * tl_hub_start() - start a mock cluster listening on loopback, with @o's topic created.
 * @err: on failure, what went wrong (@errlen bytes, NUL-terminated).
 * Return: 0, -EINVAL (bad options), -ENOMEM, or TL_ECONFIG (librdkafka refused).
 * Thread: any; the cluster runs in librdkafka's threads.
 */
TL_MUST_CHECK int tl_hub_start(const struct tl_hub_opts *o, struct tl_hub **ret_hub, char *err,
			       size_t errlen);

/** tl_hub_bootstrap() - "127.0.0.1:PORT[,...]", for bootstrap.servers. Valid until stop. */
const char *tl_hub_bootstrap(const struct tl_hub *h);

/** tl_hub_topic() / tl_hub_partitions() - the topic created and its partition count. */
const char *tl_hub_topic(const struct tl_hub *h);
unsigned tl_hub_partitions(const struct tl_hub *h);

/**
 * tl_hub_mock() - the cluster, for fault injection: rd_kafka_mock_broker_set_down(m, 1) and
 * _set_up(), rd_kafka_mock_push_request_errors(), ... (librdkafka/rdkafka_mock.h).
 * Thread: any (the mock calls post to the cluster's thread).
 */
rd_kafka_mock_cluster_t *tl_hub_mock(struct tl_hub *h);

/** tl_hub_stop() - stop the cluster (clients still connected see it go) and free @h. NULL ok. */
void tl_hub_stop(struct tl_hub *h);

/* ---- the feeder -------------------------------------------------------------------------- */

struct tl_feed_opts {
	const char *bootstrap; /* bootstrap.servers, e.g. tl_hub_bootstrap() */
	/* NULL: TL_HUB_TOPIC. The feeder does not create it, but the mock cluster creates any
	 * topic a client asks about (with 4 partitions), whatever allow.auto.create.topics says */
	const char *topic;
	const char *path; /* one {"records":[...]} envelope per line; .zst, .gz or plain */
	double speed;     /* event-time seconds per wall second; 0: as fast as the gate allows */
	size_t max_ahead_bytes; /* per partition; 0: TL_FEED_MAX_AHEAD */
	/*
	 * The consumer's position: the next offset it takes from @partition, or a negative value
	 * (taken as 0) before it has one. Called from the feeder thread. When NULL, the
	 * committed offsets of the consumer group @gate_group are read every ~100 ms instead.
	 */
	int64_t (*position)(void *ud, int32_t partition);
	void *ud;
	const char *gate_group; /* NULL: TL_FEED_GATE_GROUP; used only when position is NULL */
	bool loop;              /* start the file again at its end, until stopped (never done) */
};

struct tl_feed_counts {
	uint64_t n_lines;      /* lines read and handed to the producer */
	uint64_t n_messages;   /* of them, acknowledged by the cluster */
	uint64_t n_records;    /* records in them: elements of "records", 1 for a line that is no
				* envelope (a line cut short counts the records begun) */
	uint64_t n_bytes;      /* payload bytes of the acknowledged messages */
	uint64_t n_errors;     /* failed deliveries, unreadable lines (the newest in last_error) */
	int64_t last_event_ns; /* event time of the newest line acknowledged; INT64_MIN before */
	bool gated;            /* the feeder is waiting for the consumer now */
	int input_err; /* 0, or why the input stopped early: -errno, TL_ECOMPRESS, TL_EVALUE */
	char last_error[160]; /* the newest error's text, "" if none */
};

struct tl_feed;

/**
 * tl_feed_start() - open @o->path and start a thread that produces it to @o->topic, line i
 * as one message without a key to partition i % (the topic's partitions), paced by the event
 * time of each line (its first record's "time") and held by the gate: a message is produced
 * to partition p only while the bytes produced to p at or after the consumer's position,
 * in flight included, plus the message's own, stay within max_ahead_bytes (or nothing of p
 * is ahead, so one message larger than the limit still goes).
 * @err: on failure, what went wrong, naming the file when it cannot be read.
 * The producer is idempotent (acks=all), so a retry never doubles or reorders a message.
 * Return: 0, -errno (the file cannot be opened), -EINVAL (bad options), TL_ECONFIG
 * (librdkafka refused the settings, or the cluster does not know the topic). Blocks until
 * the cluster has answered (at most 10 s). Thread: any.
 */
TL_MUST_CHECK int tl_feed_start(const struct tl_feed_opts *o, struct tl_feed **ret_feed, char *err,
				size_t errlen);

/**
 * tl_feed_done() - the thread has finished: every line was produced and every delivery
 * reported (successful or not), or the input failed (counts' input_err). Never true with
 * loop unless the input failed. Deliveries are retried without a time limit: a broker taken
 * down holds the feed back rather than failing it. Thread: any.
 */
bool tl_feed_done(const struct tl_feed *f);

/** tl_feed_counts() - a consistent copy of the counts so far. Thread: any. */
void tl_feed_counts(struct tl_feed *f, struct tl_feed_counts *ret_counts);

/**
 * tl_feed_stop() - stop early (messages not yet delivered are purged, not counted as errors)
 * or after the end; join the thread and free @f. NULL is a no-op. Thread: any but the feeder.
 */
void tl_feed_stop(struct tl_feed *f);

#endif /* TL_TOOLS_HUB_H */
