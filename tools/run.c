/*
 * tools/run.c - `tripline run`: stream Azure diagnostic logs from Kafka, Event Hubs' Kafka
 * endpoint or the embedded hub, detect, and survive restarts without losing or repeating.
 *
 * Threads: the consumer thread polls librdkafka and hands each message through a bounded
 * SPSC ring to a decode worker (--decode-threads; a partition's messages always go to the
 * same one), which copies and decodes it and hands the events, malformed records and counts
 * through another to the main thread. The main thread takes them back in the consumer's
 * order (sequence numbers; control messages come through a ring of their own), keeps a
 * watermark per partition, merges and feeds the detector shards (tools/shards.c), whose
 * triggers it annotates and formats; the report's output thread (tools/report.c) writes them:
 * journal first, then the sinks, then stdout. Decoding, most of the work per record,
 * thus runs beside the merge and the output, and the main thread sees the same messages in
 * the same order at any number of decode threads. When the ring stays full the
 * consumer pauses its partitions; nothing buffers without bound (librdkafka's own prefetch is
 * capped too).
 *
 * Event time: the watermark is the minimum, over owned partitions that are not idle, of the
 * latest event time each has delivered, minus the lateness; a partition idle for --idle (at
 * its end, nothing new) stops holding it back. Decoded messages wait in a queue per partition
 * and are merged by event time, as replay merges its inputs: the oldest next event goes first,
 * once every partition that is not idle has one. A partition whose queue holds more than
 * QUEUE_BYTES is paused, so a backlog read unevenly gives the same buckets as a replay and
 * memory stays bounded.
 *
 * Restart safety: every --checkpoint-every the main thread waits for the shards to take all
 * they were given and the output thread to write their triggers (journaled and fsync'd),
 * writes the detector state, the change tracker and each partition's next offset and latest
 * event time to DIR/checkpoint/state.tlc (zstd, temp file, fsync, rename; the previous one
 * kept as state.prev), and only then commits those offsets. A restart loads the checkpoint,
 * starts each partition at its offset, and drops trigger events the journal already has, so
 * nobody is paged twice. While a trigger's snapshot waits for its post window, the timer
 * commits without writing a checkpoint: a restart goes back to before the trigger, whose
 * snapshot would otherwise never be written.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <zlib.h>
#include <zstd.h>

#include <tripline/buf.h>
#include <tripline/changes.h>
#include <tripline/deadletter.h>
#include <tripline/decode.h>
#include <tripline/engine.h>
#include <tripline/fs.h>
#include <tripline/hash.h>
#include <tripline/hist.h>
#include <tripline/journal.h>
#include <tripline/ring.h>
#include <tripline/source.h>
#include <tripline/time.h>

#include "alerts.h"
#include "cli.h"
#include "evidence.h"
#include "http.h"
#include "hub.h"
#include "report.h"
#include "shards.h"
#include "stats.h"

#define RING_MSGS      1024 /* messages between the consumer and the main thread */
#define WORKER_MSGS    256  /* messages into and out of each decode worker */
#define MAX_DECODERS   16
#define MAX_SLOTS      1024       /* partitions one instance can own at once */
#define QUEUE_BYTES    (8u << 20) /* decoded messages held per partition before it pauses */
#define CKPT_MAGIC     "\x89TLCKPT1"
#define CKPT_MAX       (4ull << 30)         /* bound on a checkpoint, decompressed */
#define CKPT_HOLD_MAX  (15 * TL_NS_PER_MIN) /* longest pending snapshots hold checkpoints */
#define STATUS_EVERY   (10 * TL_NS_PER_S)
#define DEFAULT_TOPIC  "insights-logs-requestresponse"
#define EMBEDDED_GROUP "tripline"

static const char run_usage[] =
    "usage: tripline run [options]\n"
    "\n"
    "Streams Azure OpenAI diagnostic logs from Kafka or Event Hubs' Kafka endpoint and\n"
    "detects incidents as they happen. Trigger events (trigger, update, resolved) go to\n"
    "stdout as NDJSON, the same events a replay of the same logs gives, written on a thread\n"
    "of their own (a reader of stdout that falls behind holds the stream up only once 256\n"
    "steps of events wait for it); a status line goes to stderr every 10 s.\n"
    "\n"
    "Where the logs come from (config 'source: kafka:', or the options below):\n"
    "  - Event Hubs: set connection_string_env (or connection_string_file) in the config;\n"
    "    the connection string is read from there, never from the command line, and never\n"
    "    printed. It gives the namespace's Kafka endpoint (port 9093, SASL_SSL, PLAIN) and,\n"
    "    with EntityPath, the topic. Microsoft's recommended client settings are applied.\n"
    "  - any Kafka: brokers, topics and group; kafka.* keys pass through to librdkafka.\n"
    "  - neither: the embedded hub. A Kafka-protocol hub starts on loopback, is fed the\n"
    "    built-in generated day (incidents included) at an accelerated clock, and tripline\n"
    "    reads it like any Kafka; it stops when the day has been read.\n"
    "\n"
    "Restarts: detector state is checkpointed to DIR/checkpoint every --checkpoint-every and\n"
    "on shutdown, and offsets are committed once the journal that covers them is on disk.\n"
    "A restart (even after kill -9) resumes from the checkpoint, at its offsets, with its\n"
    "baselines, and repeats no trigger event the journal already has. While a trigger's\n"
    "snapshot waits for its post window no checkpoint is written: a restart then starts\n"
    "before the trigger, fires it again and writes the snapshot. Retained records are not\n"
    "checkpointed: a snapshot whose window reaches back before the restart says so.\n"
    "\n"
    "options:\n"
    "  --config F             rules, prices and source (YAML, see tripline.example.yaml)\n"
    "  --out DIR              journal, snapshots, checkpoint, dead letters (default\n"
    "                         ./tripline-out)\n"
    "  --threads N            detector threads (default 1); a checkpoint restores only into\n"
    "                         the same number\n"
    "  --decode-threads N     threads decoding messages (default 1, at most 16); each\n"
    "                         partition's messages go to one of them, in order\n"
    "  --brokers LIST         Kafka bootstrap servers (over the config's)\n"
    "  --topic T              a topic to read (over the config's; repeatable as T1,T2)\n"
    "  --group G              consumer group (default tripline)\n"
    "  --checkpoint-every D   checkpoint and commit interval (default 30s)\n"
    "  --idle D               a partition with nothing new this long stops holding the\n"
    "                         watermark back (default 15s)\n"
    "  --exit-when-idle D     stop once every partition has been at its end for D (a catch-up\n"
    "                         job; embedded hub: 3s after the day is read; 0: never)\n"
    "  --metrics ADDR         serve /metrics and /healthz on ADDR (default 127.0.0.1:9464;\n"
    "                         'off' for none; loopback addresses only)\n"
    "  --speed X              embedded hub: event-time seconds per second (default 1200,\n"
    "                         a day in 72 s)\n"
    "  --partitions N         embedded hub: partitions (default 4)\n"
    "  --feed FILE            embedded hub: feed FILE (gen --format records) instead of the\n"
    "                         built-in day\n"
    "  --stats F|-            when it stops, write the record, partition, latency and series\n"
    "                         counts as JSON to F (- for stdout)\n"
    "  --no-evidence          no journal and no snapshots (restarts may then repeat events)\n"
    "  --quiet                no status lines\n"
    "  --help                 this text\n"
    "\n"
    "Signals: SIGTERM and SIGINT drain, checkpoint, commit and exit 0. SIGHUP reads --config\n"
    "again and applies its rules, thresholds, prices and deployments, keeping baselines and\n"
    "open incidents; a config that does not load, or that changes bucket, lateness or\n"
    "horizon, is refused and the rules in force stay.\n"
    "Exit status: 0 after a clean stop, 1 for I/O or broker failures, 2 for usage or\n"
    "configuration errors.\n";

/* ---- what the consumer thread sends ------------------------------------------------------ */

enum cmsg_kind { C_MSG = 1, C_EOF, C_ASSIGN, C_REVOKE, C_END };

/* A record the decoder refused, kept for the main thread's dead-letter file. */
struct dead {
	char *reason;
	char *raw; /* a copy: at most TL_MAX_RECORD bytes */
	size_t raw_len;
	bool truncated;
};

/* A message as the consumer thread decoded it. */
struct dmsg {
	struct tl_batch *batch; /* the payload (at most TL_MAX_RECORD bytes of it) */
	struct tl_evbuf ev;
	size_t len, keep; /* payload bytes, and those kept */
	int64_t offset;
	int32_t partition;
	struct dead *dead;
	size_t n_dead;
	struct tl_decode_stats delta; /* the decoder's counts for this message */
	bool oom;
};

struct cmsg {
	uint64_t seq; /* the consumer's order: the main thread takes them in it */
	uint8_t kind;
	uint16_t slot;
	struct dmsg *d;                      /* C_MSG */
	int64_t polled_ns;                   /* C_MSG: when the consumer polled it */
	int64_t offset;                      /* C_EOF */
	rd_kafka_topic_partition_list_t *tp; /* C_ASSIGN, C_REVOKE: a copy, the receiver's */
	_Atomic int *ack;                    /* C_REVOKE: set to 1 once done */
	bool lost;                           /* C_REVOKE: the partitions were lost, not revoked */
};

/* A message on its way from the consumer thread to a decode worker. */
struct wmsg {
	rd_kafka_message_t *m;
	uint64_t seq;
	int64_t polled_ns;
	uint16_t slot;
};

struct run;

/*
 * A decode worker: the messages of the partitions whose slot falls to it (so each
 * partition's stay in order) come in from the consumer; decoded, they go out to the main
 * thread, which takes them back in the consumer's order by their sequence numbers.
 */
struct worker {
	struct run *rn;
	pthread_t th;
	bool started;
	struct tl_ring in;  /* struct wmsg */
	struct tl_ring out; /* struct cmsg, C_MSG */
	struct tl_decoder *dec;
	struct dmsg *dcur;            /* the message being decoded */
	struct tl_decode_stats dprev; /* the decoder's counts after the previous message */
	_Atomic bool stop;
};

/* A partition slot: the consumer thread fills it before telling the main thread. */
struct pslot {
	char *topic;
	int32_t partition;
	bool used;
	_Atomic bool want_pause; /* the main thread asks for it (alignment) */
	bool paused;             /* the consumer thread's: paused as asked */
	_Atomic int64_t polled;  /* next offset after the last message polled (feeder gate) */
};

/* A decoded message waiting in its partition's queue for the merge. */
struct queued {
	struct tl_batch *batch;
	struct tl_evbuf ev;
	size_t head; /* next event to deliver */
	int64_t offset;
	size_t bytes;
};

/* The main thread's view of an owned partition. */
struct part {
	bool active;
	uint16_t slot;
	int64_t next_offset; /* after the last message whose events went to the shards; -1 none */
	int64_t latest;      /* latest event time delivered, INT64_MIN before any */
	int64_t last_wall;   /* monotonic time of the last message or assignment */
	bool eof;            /* at its end as of the last EOF, nothing since */
	struct queued *q;    /* FIFO of decoded messages not yet merged */
	size_t q_head, q_n, q_cap, q_bytes;
	uint64_t messages, records, bytes;
};

/*
 * Latency from a record's arrival (the consumer polled its message) to the watermark step
 * it completes being written, triggers included (journaled and fsync'd, then on stdout).
 * The step is the one the message's events let the watermark pass; steps a partition going
 * idle or the input's end let pass are counted apart (their wait is --idle, not ours).
 */
#define LAT_STEPS 4096 /* steps sent and not yet written that are remembered */
static const double lat_le_ms[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 };
#define LAT_LE (sizeof(lat_le_ms) / sizeof(lat_le_ms[0]))

struct lat {
	struct tl_hist h;        /* in units of 0.1 ms: 0.1 ms to 52 s */
	uint64_t le[LAT_LE + 1]; /* Prometheus buckets, not cumulative; the last is +Inf */
	double sum_s, max_ms;
};

struct ckpt_part {
	char *topic;
	int32_t partition;
	int64_t offset, latest;
	bool used; /* given to librdkafka at an assignment already */
};

struct run {
	/* options */
	const char *out_dir;
	int64_t ckpt_every, idle_ns, exit_idle_ns, lateness;
	bool evidence_on;
	struct tl_config cfg;
	unsigned threads;

	/* kafka */
	rd_kafka_t *rk;
	char **topics;
	size_t n_topics;
	char *secret, *secret_key; /* the connection string and its key: redacted from logs */
	struct tl_ring ring;
	pthread_t consumer;
	bool consumer_running, consumer_ran;
	_Atomic bool stop_consumer;
	_Atomic int64_t consumer_beat; /* monotonic time of the consumer's last poll */
	struct pslot slots[MAX_SLOTS];
	_Atomic unsigned pause_gen; /* bumped when a want_pause changes */

	uint64_t seq_out; /* the consumer's: the next message's sequence number */

	/* the decode workers */
	struct worker workers[MAX_DECODERS];
	unsigned n_workers;

	/* the main thread */
	struct tl_symtab *syms;
	struct tl_decode_stats dstats; /* of the messages taken (the decoder's counts, summed) */
	uint64_t seq_in;               /* the next message to take */
	struct cmsg look[MAX_DECODERS + 1]; /* the head of the ring, then of each worker's */
	bool have[MAX_DECODERS + 1];
	struct tl_shards *shards;
	struct tl_evidence *evidence;
	struct tl_report report;
	struct tl_deadletter *dl;
	char dl_path[4096];
	struct part parts[MAX_SLOTS];
	uint16_t active[MAX_SLOTS]; /* slots of the owned partitions, in assignment order */
	size_t n_active;
	int64_t frontier;
	int64_t wm_sent;     /* the last watermark handed to the shards */
	int wm_hold;         /* the slot holding the watermark back, -1: none known */
	int64_t wm_hold_key; /* its wm_key() then */
	bool wm_dirty;       /* the partitions changed since the last advance() */
	uint64_t delivered, messages, bytes, queue_pauses;
	int64_t started_ns, last_status, last_ckpt, all_eof_since;
	int64_t last_ckpt_written; /* wall time of the last checkpoint written (or the start) */
	uint64_t ckpts, commits, ckpt_failures, last_records;
	uint64_t ckpts_held; /* timer checkpoints not written: a snapshot was pending */
	int fatal;
	bool out_failed_told; /* the trigger events' writing failed, and stderr was told */

	/* latency (the main thread's) */
	int64_t arrival;             /* of the message being delivered; 0 outside one */
	int64_t lat_q[LAT_STEPS][2]; /* steps sent: watermark, arrival (0: by time) */
	size_t lat_head, lat_n;
	uint64_t lat_events, steps_by_time;
	struct lat step_lat, trig_lat;
	struct lat_wait { /* handed to the output thread in job @job, not yet written */
		uint64_t job;
		int64_t arrival;
		uint64_t events; /* 0: a step's figure; else that many trigger events' */
	} lat_w[LAT_STEPS];
	size_t lat_w_head, lat_w_n;

	/* restart */
	struct ckpt_part *cp;
	size_t n_cp;
	int64_t restored_wm;
	uint64_t *seen; /* open addressing of journal keys, 0 = empty */
	size_t seen_mask, n_seen;

	/* operations */
	struct tl_http *http;
	pthread_mutex_t mx;
	struct tl_buf metrics_text;
	const char *sick; /* why /healthz says 503, NULL when healthy (under mx) */
	struct tl_hub *hub;
	struct tl_feed *feed;
	struct tl_alerts *alerts; /* the config's sinks, NULL when only stdout */

	/* SIGHUP */
	const char *config_path;
	struct tl_config *old_cfgs; /* replaced configs: engines and evidence may point into them */
	size_t n_old_cfgs;
	uint64_t reloads, reload_failures;
};

static volatile sig_atomic_t got_stop, got_signal, got_hup;

static void on_hup_signal(int sig)
{
	(void)sig;
	got_hup = 1;
}

static void on_stop_signal(int sig)
{
	got_signal = sig;
	got_stop = 1;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- secrets ----------------------------------------------------------------------------- */

/* Copy @in to @out with the connection string and its key replaced by [redacted]. */
static void redact(const struct run *rn, const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (const char *p = in; *p && o + 1 < n;) {
		const char *s[2] = { rn->secret, rn->secret_key };
		bool hit = false;

		for (int k = 0; k < 2; k++) {
			size_t l = s[k] ? strlen(s[k]) : 0;

			if (l >= 8 && strncmp(p, s[k], l) == 0) {
				o += (size_t)snprintf(out + o, n - o, "[redacted]");
				if (o >= n)
					o = n - 1;
				p += l;
				hit = true;
				break;
			}
		}
		if (!hit)
			out[o++] = *p++;
	}
	out[o] = 0;
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	const struct run *rn = rd_kafka_opaque(rk);
	char red[1024];

	if (level > 4) /* notices and debug stay quiet */
		return;
	redact(rn, buf, red, sizeof(red));
	tl_err("kafka %s: %s", fac, red);
}

static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct run *rn = opaque;
	char red[1024];
	static int64_t last;
	const int64_t now = tl_now_ns();

	(void)rk;
	redact(rn, reason, red, sizeof(red));
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		tl_err("kafka: fatal: %s", red);
		rn->fatal = TL_EXIT_IO;
		got_stop = 1;
		return;
	}
	/* brokers going down and up are reported, at most every 5 s */
	if (now - last > 5 * TL_NS_PER_S) {
		last = now;
		tl_err("kafka: %s (retrying)", red);
	}
}

/*
 * Event Hubs: "Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=R;
 * SharedAccessKey=K[;EntityPath=HUB]". Return: 0, or a message in @err (without the secret).
 */
static int eventhubs_conf(struct run *rn, rd_kafka_conf_t *conf, char *err, size_t n)
{
	const struct tl_config_kafka *k = &rn->cfg.kafka;
	char *cs = NULL, host[256] = "";

	if (k->connection_string_env) {
		const char *v = getenv(k->connection_string_env);

		if (!v || !*v) {
			snprintf(err, n, "the connection string variable '%s' is not set",
				 k->connection_string_env);
			return -1;
		}
		cs = strdup(v);
	} else {
		FILE *f = fopen(k->connection_string_file, "r");
		char buf[4096];
		size_t len;

		if (!f) {
			snprintf(err, n, "'%s': cannot read the connection string: %s",
				 k->connection_string_file, strerror(errno));
			return -1;
		}
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = 0;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			buf[--len] = 0;
		cs = strdup(buf);
	}
	if (!cs)
		return snprintf(err, n, "out of memory"), -1;
	rn->secret = cs;
	const char *ep = strstr(cs, "Endpoint=sb://"), *key = strstr(cs, "SharedAccessKey=");

	if (!ep || !key) {
		snprintf(err, n,
			 "the connection string (from %s) is not an Event Hubs connection "
			 "string: expected Endpoint=sb://...;SharedAccessKeyName=...;"
			 "SharedAccessKey=...",
			 k->connection_string_env ? k->connection_string_env
						  : k->connection_string_file);
		return -1;
	}
	ep += strlen("Endpoint=sb://");
	size_t hl = strcspn(ep, "/;:");

	if (hl == 0 || hl >= sizeof(host) - 8) {
		snprintf(err, n, "the connection string's Endpoint has no host name");
		return -1;
	}
	memcpy(host, ep, hl);
	snprintf(host + hl, sizeof(host) - hl, ":9093");
	key += strlen("SharedAccessKey=");
	rn->secret_key = strndup(key, strcspn(key, ";"));
	if (!k->brokers && rd_kafka_conf_set(conf, "bootstrap.servers", host, NULL, 0) != 0)
		return snprintf(err, n, "bad Event Hubs host"), -1;
	const char *const set[][2] = {
		{ "security.protocol", "SASL_SSL" },      { "sasl.mechanism", "PLAIN" },
		{ "sasl.username", "$ConnectionString" }, { "socket.keepalive.enable", "true" },
		{ "metadata.max.age.ms", "180000" },      { "session.timeout.ms", "30000" },
	};
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		if (rd_kafka_conf_set(conf, set[i][0], set[i][1], NULL, 0) != RD_KAFKA_CONF_OK) {
			snprintf(err, n, "librdkafka refuses %s (built without SSL/SASL?)",
				 set[i][0]);
			return -1;
		}
	if (rd_kafka_conf_set(conf, "sasl.password", cs, NULL, 0) != RD_KAFKA_CONF_OK)
		return snprintf(err, n, "librdkafka refuses sasl.password"), -1;
	/* the hub named in a hub-scoped policy is the topic, unless topics are configured */
	const char *entity = strstr(cs, "EntityPath=");

	if (entity && rn->n_topics == 0) {
		entity += strlen("EntityPath=");
		rn->topics = calloc(1, sizeof(char *));
		if (!rn->topics || !(rn->topics[0] = strndup(entity, strcspn(entity, ";"))))
			return snprintf(err, n, "out of memory"), -1;
		rn->n_topics = 1;
	}
	return 0;
}

/* ---- the consumer thread ------------------------------------------------------------------ */

static int slot_find(struct run *rn, const char *topic, int32_t partition, bool create)
{
	int free_slot = -1;

	for (int i = 0; i < MAX_SLOTS; i++) {
		struct pslot *s = &rn->slots[i];

		if (s->used && s->partition == partition && strcmp(s->topic, topic) == 0)
			return i;
		if (!s->used && free_slot < 0 && (!s->topic || strcmp(s->topic, topic) == 0))
			free_slot = i;
	}
	if (!create || free_slot < 0)
		return -1;
	struct pslot *s = &rn->slots[free_slot];

	if (!s->topic && !(s->topic = strdup(topic)))
		return -1;
	s->partition = partition;
	s->used = true;
	s->paused = false;
	atomic_store(&s->want_pause, false);
	atomic_store(&s->polled, 0);
	return free_slot;
}

/* Send a control message (consumer thread, rebalance callback included). */
static void ring_send(struct run *rn, const struct cmsg *c)
{
	struct cmsg x = *c;

	x.seq = rn->seq_out++;
	while (!tl_ring_push_spsc(&rn->ring, &x))
		sleep_us(200);
}

static void pause_one(struct run *rn, struct pslot *s, bool pause)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, s->topic, s->partition);
	if (pause)
		rd_kafka_pause_partitions(rn->rk, l);
	else
		rd_kafka_resume_partitions(rn->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	s->paused = pause;
}

/* Pause or resume the partitions whose wish changed (or all, while the ring is full). */
static void reconcile_pauses(struct run *rn, bool all_paused)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct pslot *s = &rn->slots[i];
		bool want = all_paused || atomic_load(&s->want_pause);

		if (s->used && want != s->paused)
			pause_one(rn, s, want);
	}
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct run *rn = opaque;
	const bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++) {
			rd_kafka_topic_partition_t *p = &parts->elems[i];

			if (slot_find(rn, p->topic, p->partition, true) < 0) {
				tl_err("run: more than %d partitions at once", MAX_SLOTS);
				continue;
			}
			/* the checkpoint's offset matches the restored state; else the
			 * group's committed offset */
			for (size_t k = 0; k < rn->n_cp; k++)
				if (!rn->cp[k].used && rn->cp[k].partition == p->partition &&
				    strcmp(rn->cp[k].topic, p->topic) == 0) {
					p->offset = rn->cp[k].offset;
					rn->cp[k].used = true;
				}
		}
		struct cmsg c = { .kind = C_ASSIGN,
				  .tp = rd_kafka_topic_partition_list_copy(parts) };

		ring_send(rn, &c);
		rd_kafka_error_t *e = NULL;

		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		if (e) {
			tl_err("kafka: assign: %s", rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
		return;
	}
	/* revoked or lost: the main thread checkpoints and commits what it has of them first */
	_Atomic int ack = 0;
	struct cmsg c = { .kind = C_REVOKE,
			  .tp = rd_kafka_topic_partition_list_copy(parts),
			  .ack = &ack,
			  .lost = rd_kafka_assignment_lost(rk) != 0 };

	ring_send(rn, &c);
	while (!atomic_load(&ack))
		sleep_us(500);
	for (int i = 0; i < parts->cnt; i++) {
		int s = slot_find(rn, parts->elems[i].topic, parts->elems[i].partition, false);

		if (s >= 0)
			rn->slots[s].used = false;
	}
	if (coop) {
		rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);

		if (e)
			rd_kafka_error_destroy(e);
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

/* ---- decoding, in the consumer thread ---------------------------------------------------- */

static void dmsg_free(struct dmsg *d)
{
	if (!d)
		return;
	tl_batch_unref(d->batch);
	tl_evbuf_fini(&d->ev);
	for (size_t i = 0; i < d->n_dead; i++) {
		free(d->dead[i].reason);
		free(d->dead[i].raw);
	}
	free(d->dead);
	free(d);
}

/* The decoder's callback: the record goes with its message to the main thread. */
static void on_malformed(void *ud, const struct tl_malformed *m)
{
	struct worker *w = ud;
	struct dmsg *d = w->dcur;
	struct dead *nd = realloc(d->dead, (d->n_dead + 1) * sizeof(*nd));
	char *reason = strdup(m->reason ? m->reason : "");
	char *raw = malloc(m->raw_len ? m->raw_len : 1);

	if (nd)
		d->dead = nd;
	if (!nd || !reason || !raw) {
		free(reason);
		free(raw);
		d->oom = true;
		return;
	}
	if (m->raw_len)
		memcpy(raw, m->raw, m->raw_len);
	d->dead[d->n_dead++] = (struct dead){
		.reason = reason, .raw = raw, .raw_len = m->raw_len, .truncated = m->raw_truncated
	};
}

/* stats_delta() and stats_add() name every field: one added to the struct must join them */
_Static_assert(sizeof(struct tl_decode_stats) == (5 + TL_ORIGIN_COUNT_) * sizeof(uint64_t),
	       "tl_decode_stats changed: update stats_delta() and stats_add()");

static void stats_delta(struct tl_decode_stats *delta, const struct tl_decode_stats *now,
			const struct tl_decode_stats *prev)
{
	delta->records = now->records - prev->records;
	delta->events = now->events - prev->events;
	delta->malformed = now->malformed - prev->malformed;
	delta->skipped = now->skipped - prev->skipped;
	delta->bodies_unreadable = now->bodies_unreadable - prev->bodies_unreadable;
	for (int i = 0; i < TL_ORIGIN_COUNT_; i++)
		delta->by_origin[i] = now->by_origin[i] - prev->by_origin[i];
}

static void stats_add(struct tl_decode_stats *sum, const struct tl_decode_stats *d)
{
	sum->records += d->records;
	sum->events += d->events;
	sum->malformed += d->malformed;
	sum->skipped += d->skipped;
	sum->bodies_unreadable += d->bodies_unreadable;
	for (int i = 0; i < TL_ORIGIN_COUNT_; i++)
		sum->by_origin[i] += d->by_origin[i];
}

/* Copy and decode message @m of slot @slot (destroyed here); NULL only when stopping. */
static struct dmsg *decode_msg(struct worker *w, uint16_t slot, rd_kafka_message_t *m)
{
	struct dmsg *d;

	/* out of memory for a few bytes: wait, rather than lose the message */
	while (!(d = calloc(1, sizeof(*d)))) {
		if (atomic_load(&w->stop)) {
			rd_kafka_message_destroy(m);
			return NULL;
		}
		sleep_us(10000);
	}
	d->len = m->len;
	d->keep = m->len > TL_MAX_RECORD ? TL_MAX_RECORD : m->len;
	d->offset = m->offset;
	d->partition = m->partition;
	d->batch = tl_batch_new(d->keep);
	if (!d->batch) {
		d->oom = true;
		rd_kafka_message_destroy(m);
		return d;
	}
	memcpy(d->batch->data, m->payload ? m->payload : "", d->keep);
	memset(d->batch->data + d->keep, 0, TL_UNIT_PADDING);
	d->batch->len = d->keep;
	d->batch->input = slot;
	rd_kafka_message_destroy(m);

	const struct tl_unit u = { .data = (const char *)d->batch->data,
				   .len = d->keep,
				   .batch = d->batch,
				   .input = slot };

	w->dcur = d;
	if (d->len > TL_MAX_RECORD)
		tl_decoder_report(w->dec, &u, "message over 1 MiB (Event Hubs' limit)", true);
	else if (tl_decoder_unit(w->dec, &u, &d->ev) < 0)
		d->oom = true;
	w->dcur = NULL;

	const struct tl_decode_stats *now = tl_decoder_stats(w->dec);

	stats_delta(&d->delta, now, &w->dprev);
	w->dprev = *now;
	return d;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		struct wmsg x;

		if (!tl_ring_pop_spsc(&w->in, &x)) {
			if (atomic_load(&w->stop))
				break;
			sleep_us(100);
			continue;
		}
		struct cmsg c = { .seq = x.seq,
				  .kind = C_MSG,
				  .slot = x.slot,
				  .d = decode_msg(w, x.slot, x.m),
				  .polled_ns = x.polled_ns };

		while (c.d && !tl_ring_push_spsc(&w->out, &c)) {
			if (atomic_load(&w->stop)) {
				dmsg_free(c.d);
				break;
			}
			sleep_us(100);
		}
	}
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct run *rn = arg;
	rd_kafka_message_t *held = NULL;
	int64_t full_since = 0, held_ns = 0;
	uint16_t held_slot = 0;
	bool all_paused = false;
	unsigned gen = 0;

	while (!atomic_load(&rn->stop_consumer)) {
		atomic_store(&rn->consumer_beat, tl_now_ns());
		if (atomic_load(&rn->pause_gen) != gen || all_paused) {
			gen = atomic_load(&rn->pause_gen);
			reconcile_pauses(rn, all_paused);
		}
		if (held) {
			/* no poll since it was taken: no rebalance took its partition */
			struct worker *w = &rn->workers[held_slot % rn->n_workers];
			const struct wmsg x = { held, rn->seq_out, held_ns, held_slot };
			const int64_t next = held->offset + 1;

			if (tl_ring_push_spsc(&w->in, &x)) {
				rn->seq_out++;
				atomic_store(&rn->slots[held_slot].polled, next);
				held = NULL;
				if (all_paused) {
					all_paused = false;
					reconcile_pauses(rn, false);
				}
			} else {
				const int64_t now = tl_now_ns();

				if (!full_since)
					full_since = now;
				/* full for a while: stop fetching rather than buffer */
				if (!all_paused && now - full_since > 50 * 1000000) {
					all_paused = true;
					reconcile_pauses(rn, true);
				}
				sleep_us(500);
				continue;
			}
		}
		full_since = 0;
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rn->rk, 100);

		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			int s = slot_find(rn, rd_kafka_topic_name(m->rkt), m->partition, false);

			if (s >= 0) {
				struct cmsg c = { .kind = C_EOF,
						  .slot = (uint16_t)s,
						  .offset = m->offset };

				ring_send(rn, &c);
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err) {
			char red[1024];

			redact(rn, rd_kafka_message_errstr(m), red, sizeof(red));
			tl_err("kafka: %s", red);
			rd_kafka_message_destroy(m);
			continue;
		}
		const int s = slot_find(rn, rd_kafka_topic_name(m->rkt), m->partition, false);

		if (s < 0) { /* not ours (any more) */
			rd_kafka_message_destroy(m);
			continue;
		}
		held_ns = tl_now_ns();
		held_slot = (uint16_t)s;
		held = m;
	}
	if (held)
		rd_kafka_message_destroy(held);
	/* leaving the group revokes our partitions: the main thread checkpoints and commits */
	rd_kafka_consumer_close(rn->rk);
	struct cmsg c = { .kind = C_END };

	ring_send(rn, &c);
	return NULL;
}

/* ---- the journal's events, so a restart tells nobody twice ------------------------------- */

static uint64_t seen_key(uint64_t incident, unsigned type, int64_t time_ns)
{
	uint64_t h =
	    tl_hash_mix(incident ^ ((uint64_t)type << 56) ^ tl_hash_mix((uint64_t)time_ns));

	return h ? h : 1;
}

static int seen_add(struct run *rn, uint64_t k)
{
	if (2 * (rn->n_seen + 1) > rn->seen_mask + 1) {
		size_t cap = rn->seen_mask ? 2 * (rn->seen_mask + 1) : 1024;
		uint64_t *t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t i = 0; rn->seen && i <= rn->seen_mask; i++)
			if (rn->seen[i]) {
				size_t j = tl_hash_mix(rn->seen[i]) & (cap - 1);

				while (t[j])
					j = (j + 1) & (cap - 1);
				t[j] = rn->seen[i];
			}
		free(rn->seen);
		rn->seen = t;
		rn->seen_mask = cap - 1;
	}
	size_t j = tl_hash_mix(k) & rn->seen_mask;

	while (rn->seen[j]) {
		if (rn->seen[j] == k)
			return 0;
		j = (j + 1) & rn->seen_mask;
	}
	rn->seen[j] = k;
	rn->n_seen++;
	return 0;
}

static bool seen_has(const struct run *rn, uint64_t k)
{
	if (!rn->seen)
		return false;
	for (size_t j = tl_hash_mix(k) & rn->seen_mask; rn->seen[j]; j = (j + 1) & rn->seen_mask)
		if (rn->seen[j] == k)
			return true;
	return false;
}

static bool op_seen(void *ud, const struct tl_trigger *t)
{
	const struct run *rn = ud;
	const int64_t at = t->type == TL_TRIGGER_FIRE ? t->fired_at : t->at;

	return seen_has(rn, seen_key(t->incident, t->type, at));
}

struct seen_ctx {
	struct run *rn;
	int64_t from;
};

static int seen_record(void *ud, const struct tl_journal_record *rec)
{
	struct seen_ctx *c = ud;
	static const char *const types[] = { [TL_TRIGGER_FIRE] = "trigger",
					     [TL_TRIGGER_UPDATE] = "update",
					     [TL_TRIGGER_RESOLVED] = "resolved" };
	const char *p = rec->data, *end = rec->data + rec->len;

	if (rec->time_ns < c->from || rec->len < 60 || strncmp(p, "{\"type\":\"", 9) != 0)
		return 0;
	p += 9;
	for (unsigned t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t l;

		if (!types[t] || (size_t)(end - p) < (l = strlen(types[t])) + 22 ||
		    strncmp(p, types[t], l) != 0 || strncmp(p + l, "\",\"incident_id\":\"tl-", 20))
			continue;
		const char *h = p + l + 20;
		uint64_t id = 0;
		int k = 0;

		for (; k < 16 && h + k < end; k++) {
			char ch = h[k];
			unsigned v = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
				     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
							      : 16;

			if (v == 16)
				break;
			id = id << 4 | v;
		}
		if (k == 16)
			return seen_add(c->rn, seen_key(id, t, rec->time_ns)) < 0 ? -ENOMEM : 0;
	}
	return 0;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static void put_u32(struct tl_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };

	tl_buf_put(b, x, 4);
}

static void put_u64(struct tl_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
	return get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* A section: its tag, and room for its length, which section_close() fills in. */
static size_t section_open(struct tl_buf *b, uint32_t tag)
{
	put_u32(b, tag);
	put_u64(b, 0);
	return b->n;
}

static void section_close(struct tl_buf *b, size_t at)
{
	if (!tl_buf_ok(b))
		return;
	const uint64_t len = b->n - at;

	for (int i = 0; i < 8; i++)
		b->p[at - 8 + (size_t)i] = (char)(unsigned char)(len >> (8 * i));
}

/* One partition of the 'P' section: topic (u16 length), partition, next offset, latest. */
static void put_part(struct tl_buf *b, const char *topic, int32_t partition, int64_t offset,
		     int64_t latest)
{
	const size_t tl = strlen(topic);
	const unsigned char l2[2] = { (unsigned char)tl, (unsigned char)(tl >> 8) };

	tl_buf_put(b, l2, 2);
	tl_buf_put(b, topic, tl);
	put_u32(b, (uint32_t)partition);
	put_u64(b, (uint64_t)offset);
	put_u64(b, (uint64_t)latest);
}

static void ckpt_path(const struct run *rn, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/checkpoint/%s", rn->out_dir, name);
}

static int write_file_durably(const char *dir, const char *tmp, const char *path, const char *prev,
			      const void *p, size_t n)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640), r = 0;

	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < n && r == 0;) {
		ssize_t w = write(fd, (const char *)p + off, n - off);

		if (w < 0 && errno != EINTR)
			r = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && prev && rename(path, prev) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Trigger events cannot be journaled or written (@r): say so once, and stop. */
static void out_failed(struct run *rn, int r)
{
	if (!rn->out_failed_told)
		tl_err("run: writing trigger events failed: %s; stopping", tl_strerror(r));
	rn->out_failed_told = true;
	rn->fatal = TL_EXIT_IO;
}

/*
 * The checkpoint, decompressed: magic (8), then sections, each a u32 tag and a u64 length:
 * 'E' an engine blob (one per shard, in shard order), 'C' the change tracker, 'P' the
 * partitions (u32 count; each: u16 topic length, topic, i32 partition, i64 next offset,
 * i64 latest event time), 'W' (i64 the last watermark step), and last 'Z' holding the crc32
 * of everything before it.
 */
static int checkpoint(struct run *rn, const char *why)
{
	struct tl_buf b = { 0 };
	char dir[4096], path[4200], tmp[4200], prev[4200];
	int r = 0;
	const int64_t t0 = tl_now_ns();

	tl_shards_barrier(rn->shards);
	/* every trigger event of the records before these offsets: journaled, synced, written */
	if ((r = tl_report_wait(&rn->report)) < 0) {
		out_failed(rn, r);
		goto out;
	}
	/*
	 * A trigger whose snapshot still waits for its post window: a checkpoint from after it
	 * would make a restart start past it, and nothing would write the snapshot. The last
	 * checkpoint stays (a restart from it fires the trigger again, the journal keeps it from
	 * being told twice, and the snapshot gets written); offsets are still committed, the
	 * events before them being journaled, so a feed waiting for commits goes on. Snapshots
	 * pending one after another hold it back CKPT_HOLD_MAX at most (restarts would read
	 * ever more again).
	 */
	if (strcmp(why, "timer") == 0 && rn->evidence &&
	    tl_evidence_snapshots_pending(rn->evidence) &&
	    t0 - rn->last_ckpt_written < CKPT_HOLD_MAX) {
		if (rn->dl && (r = tl_deadletter_sync(rn->dl)) < 0)
			goto out;
		rn->ckpts_held++;
		return 0;
	}
	tl_buf_put(&b, CKPT_MAGIC, 8);
	for (unsigned k = 0; k < tl_shards_n(rn->shards); k++) {
		const size_t at = section_open(&b, 'E');

		if ((r = tl_engine_save(tl_shards_engine(rn->shards, k), &b)) < 0)
			goto out;
		section_close(&b, at);
	}
	struct tl_changes *ch = tl_evidence_changes(rn->evidence);

	if (ch) {
		const size_t at = section_open(&b, 'C');

		if ((r = tl_changes_save(ch, &b)) < 0)
			goto out;
		section_close(&b, at);
	}
	const size_t at = section_open(&b, 'P');
	uint32_t np = 0;

	for (size_t k = 0; k < rn->n_active; k++)
		np += rn->parts[rn->active[k]].next_offset >= 0;
	/* partitions of the last checkpoint we do not own now keep their entry until assigned */
	for (size_t k = 0; k < rn->n_cp; k++)
		np += !rn->cp[k].used;
	put_u32(&b, np);
	for (size_t k = 0; k < rn->n_active; k++) {
		const struct part *pt = &rn->parts[rn->active[k]];

		if (pt->next_offset >= 0)
			put_part(&b, rn->slots[pt->slot].topic, rn->slots[pt->slot].partition,
				 pt->next_offset, pt->latest);
	}
	for (size_t k = 0; k < rn->n_cp; k++)
		if (!rn->cp[k].used)
			put_part(&b, rn->cp[k].topic, rn->cp[k].partition, rn->cp[k].offset,
				 rn->cp[k].latest);
	section_close(&b, at);
	put_u32(&b, 'W');
	put_u64(&b, 8);
	put_u64(&b, (uint64_t)tl_shards_last_wm(rn->shards));
	if (!tl_buf_ok(&b)) {
		r = -ENOMEM;
		goto out;
	}
	const uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)b.p, (uInt)b.n);

	put_u32(&b, 'Z');
	put_u64(&b, 4);
	put_u32(&b, crc);
	if (!tl_buf_ok(&b)) {
		r = -ENOMEM;
		goto out;
	}
	size_t zcap = ZSTD_compressBound(b.n);
	void *z = malloc(zcap);

	if (!z) {
		r = -ENOMEM;
		goto out;
	}
	size_t zn = ZSTD_compress(z, zcap, b.p, b.n, 1);

	if (ZSTD_isError(zn)) {
		free(z);
		r = TL_ECOMPRESS;
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/checkpoint", rn->out_dir);
	ckpt_path(rn, "state.tlc", path, sizeof(path));
	ckpt_path(rn, "state.tlc.tmp", tmp, sizeof(tmp));
	ckpt_path(rn, "state.prev", prev, sizeof(prev));
	if ((r = tl_mkdir_p(dir)) == 0)
		r = write_file_durably(dir, tmp, path, prev, z, zn);
	free(z);
	if (r == 0 && rn->dl)
		r = tl_deadletter_sync(rn->dl);
out:
	tl_buf_fini(&b);
	if (r < 0) {
		rn->ckpt_failures++;
		tl_err("run: checkpoint (%s) failed: %s; offsets not committed", why,
		       tl_strerror(r));
		return r;
	}
	rn->ckpts++;
	rn->last_ckpt_written = t0;
	if (!tl_quiet && strcmp(why, "timer") != 0)
		tl_info("tripline run: checkpoint (%s) in %.1f ms", why,
			(double)(tl_now_ns() - t0) / 1e6);
	return 0;
}

/* Commit the next offsets of @only (NULL: every owned partition). */
static void commit(struct run *rn, const rd_kafka_topic_partition_list_t *only, bool sync)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);

	for (size_t k = 0; k < rn->n_active; k++) {
		const struct part *pt = &rn->parts[rn->active[k]];

		if (pt->next_offset < 0)
			continue;
		const struct pslot *s = &rn->slots[pt->slot];
		bool want = !only;

		for (int i = 0; only && i < only->cnt; i++)
			if (only->elems[i].partition == s->partition &&
			    strcmp(only->elems[i].topic, s->topic) == 0)
				want = true;
		if (want)
			rd_kafka_topic_partition_list_add(l, s->topic, s->partition)->offset =
			    pt->next_offset;
	}
	if (l->cnt > 0) {
		rd_kafka_resp_err_t e = rd_kafka_commit(rn->rk, l, sync ? 0 : 1);

		if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
			tl_err("kafka: commit: %s", rd_kafka_err2str(e));
		else
			rn->commits++;
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * Load DIR/checkpoint/state.tlc, or state.prev when the newest cannot be read (or a crash
 * came between the two renames). Return: TL_EXIT_OK (restored, or there is no checkpoint),
 * or the exit status, the message written.
 */
static int restore(struct run *rn)
{
	char path[4200], err[512] = "";
	const char *names[2] = { "state.tlc", "state.prev" };
	int r = TL_EXIT_OK;

	for (int which = 0; which < 2; which++) {
		ckpt_path(rn, names[which], path, sizeof(path));
		FILE *f = fopen(path, "rb");

		if (!f) {
			if (errno == ENOENT)
				continue;
			tl_err("'%s': cannot read the checkpoint: %s", path, strerror(errno));
			return TL_EXIT_IO;
		}
		struct tl_buf z = { 0 };
		char chunk[65536];
		size_t got;

		while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
			tl_buf_put(&z, chunk, got);
		fclose(f);
		unsigned long long dn = tl_buf_ok(&z) ? ZSTD_getFrameContentSize(z.p, z.n) : 0;
		unsigned char *d = NULL;

		if (dn == ZSTD_CONTENTSIZE_UNKNOWN || dn == ZSTD_CONTENTSIZE_ERROR ||
		    dn > CKPT_MAX || dn < 8 + 12 + 4 || !(d = malloc(dn)) ||
		    ZSTD_isError(ZSTD_decompress(d, dn, z.p, z.n))) {
			tl_buf_fini(&z);
			free(d);
			tl_err("'%s': not a readable checkpoint (bad or cut zstd data)%s", path,
			       which == 0 ? "; trying the previous one" : "");
			r = TL_EXIT_IO;
			continue;
		}
		tl_buf_fini(&z);
		/* the crc section is the last 16 bytes */
		if (memcmp(d, CKPT_MAGIC, 8) != 0 || get_u32(d + dn - 16) != 'Z' ||
		    get_u32(d + dn - 4) != (uint32_t)crc32(0L, d, (uInt)(dn - 16))) {
			free(d);
			tl_err("'%s': checkpoint damaged (bad magic or checksum)%s", path,
			       which == 0 ? "; trying the previous one" : "");
			r = TL_EXIT_IO;
			continue;
		}
		unsigned shard = 0;
		size_t off = 8;
		bool bad = false;

		while (off + 12 <= dn - 16 && !bad) {
			uint32_t tag = get_u32(d + off);
			uint64_t len = get_u64(d + off + 4);
			const unsigned char *p = d + off + 12;

			off += 12;
			if (len > dn - 16 - off) {
				bad = true;
				snprintf(err, sizeof(err), "section at byte %zu runs past the end",
					 off - 12);
				break;
			}
			if (tag == 'E') {
				if (shard >= tl_shards_n(rn->shards)) {
					free(d);
					tl_err("'%s': the checkpoint was taken with more detector "
					       "threads than --threads %u; run with the same "
					       "number, or move %s/checkpoint away to start "
					       "without the state",
					       path, tl_shards_n(rn->shards), rn->out_dir);
					return TL_EXIT_USAGE;
				}
				if (tl_engine_load(tl_shards_engine(rn->shards, shard), p, len, err,
						   sizeof(err)) < 0) {
					free(d);
					tl_err(
					    "'%s': shard %u: %s; move %s/checkpoint away to start "
					    "without the state",
					    path, shard, err, rn->out_dir);
					return TL_EXIT_USAGE;
				}
				shard++;
			} else if (tag == 'C') {
				struct tl_changes *ch = tl_evidence_changes(rn->evidence);

				if (ch &&
				    tl_changes_load(ch, rn->syms, p, len, err, sizeof(err)) < 0) {
					bad = true;
					break;
				}
			} else if (tag == 'P' && len >= 4) {
				uint32_t n = get_u32(p);
				size_t q = 4;

				rn->cp = calloc(n ? n : 1, sizeof(*rn->cp));
				for (uint32_t i = 0; rn->cp && i < n && !bad; i++) {
					if (q + 2 > len) {
						bad = true;
						break;
					}
					size_t tl = (size_t)p[q] | (size_t)p[q + 1] << 8;

					if (q + 2 + tl + 20 > len) {
						bad = true;
						break;
					}
					struct ckpt_part *c = &rn->cp[rn->n_cp++];

					c->topic = strndup((const char *)p + q + 2, tl);
					q += 2 + tl;
					c->partition = (int32_t)get_u32(p + q);
					c->offset = (int64_t)get_u64(p + q + 4);
					c->latest = (int64_t)get_u64(p + q + 12);
					q += 20;
				}
			} else if (tag == 'W' && len == 8) {
				rn->restored_wm = (int64_t)get_u64(p);
			}
			off += len;
		}
		free(d);
		if (bad || shard != tl_shards_n(rn->shards)) {
			tl_err("'%s': checkpoint unreadable: %s", path,
			       shard != tl_shards_n(rn->shards) && !bad
				   ? "taken with fewer detector threads than --threads"
				   : err);
			return TL_EXIT_USAGE;
		}
		tl_shards_set_last_wm(rn->shards, rn->restored_wm);
		rn->wm_sent = rn->restored_wm;
		if (which == 1)
			tl_err("run: restored from the previous checkpoint '%s'", path);
		tl_info("tripline run: restored detector state from '%s' (%zu partitions, "
			"watermark %s)",
			path, rn->n_cp,
			rn->restored_wm == INT64_MIN ? "-" : tl_time_format(rn->restored_wm, err));
		return TL_EXIT_OK;
	}
	return r;
}

/* ---- the main thread --------------------------------------------------------------------- */

static bool part_idle(const struct run *rn, const struct part *pt, int64_t now)
{
	return pt->eof && pt->q_n == 0 && now - pt->last_wall >= rn->idle_ns;
}

/* The next event a partition's queue holds, NULL when empty. */
static const struct tl_event *q_next(const struct part *pt)
{
	for (size_t i = 0; i < pt->q_n; i++) {
		const struct queued *m = &pt->q[(pt->q_head + i) % pt->q_cap];

		if (m->head < m->ev.n)
			return &m->ev.ev[m->head];
	}
	return NULL;
}

/*
 * What a partition holds the watermark at: the latest event time it has delivered, or its
 * next event's if that is later (as replay keys an input), so a partition whose next
 * message jumps ahead does not hold back the others.
 */
static int64_t wm_key(const struct part *pt)
{
	const struct tl_event *e = q_next(pt);

	return e && e->time_ns > pt->latest ? e->time_ns : pt->latest;
}

/*
 * The watermark partitions give now (before the lateness), INT64_MIN when none does or when
 * a partition that is not idle has nothing queued: its key is not known until its next
 * message comes (replay always knows each input's next event), and moving on without it
 * would make the steps depend on when messages arrive. The partition holding the watermark
 * back is remembered: only a change of its key can move it.
 */
static int64_t watermark(struct run *rn, int64_t now)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	int hold = -1;

	for (size_t k = 0; k < rn->n_active; k++) {
		const struct part *pt = &rn->parts[rn->active[k]];

		if (pt->latest > hi)
			hi = pt->latest;
		if (part_idle(rn, pt, now))
			continue;
		if (!q_next(pt)) {
			rn->wm_hold = -1;
			return INT64_MIN;
		}
		if (hold < 0 || wm_key(pt) < lo) {
			lo = wm_key(pt);
			hold = rn->active[k];
		}
	}
	rn->wm_hold = hold;
	rn->wm_hold_key = lo;
	if (hold < 0) /* every partition is idle: what they have is all there is for now */
		return hi;
	return lo;
}

static void lat_add(struct lat *l, int64_t ns)
{
	const double ms = (double)ns / 1e6;
	size_t i = 0;

	tl_hist_add(&l->h, (float)(ms * 10));
	while (i < LAT_LE && ms > lat_le_ms[i])
		i++;
	l->le[i]++;
	l->sum_s += ms / 1e3;
	if (ms > l->max_ms)
		l->max_ms = ms;
}

/* The watermark goes to @wm: remember the step it sends, if any (before it is written). */
static void lat_sent(struct run *rn, int64_t wm)
{
	const int64_t b = rn->cfg.bucket_ns, q = tl_floor_div(wm, b) * b;

	if (q <= tl_shards_last_wm(rn->shards))
		return;
	if (rn->lat_n == LAT_STEPS) { /* unwritten for long: forget the oldest */
		rn->lat_head = (rn->lat_head + 1) % LAT_STEPS;
		rn->lat_n--;
	}
	int64_t *e = rn->lat_q[(rn->lat_head + rn->lat_n++) % LAT_STEPS];

	e[0] = q;
	e[1] = rn->arrival;
}

/* A figure of the job the output thread has just been handed: taken once it is written. */
static void lat_defer(struct run *rn, int64_t arrival, uint64_t events)
{
	if (rn->lat_w_n == LAT_STEPS) { /* unwritten for long: forget the oldest */
		rn->lat_w_head = (rn->lat_w_head + 1) % LAT_STEPS;
		rn->lat_w_n--;
	}
	rn->lat_w[(rn->lat_w_head + rn->lat_w_n++) % LAT_STEPS] =
	    (struct lat_wait){ .job = rn->report.jobs, .arrival = arrival, .events = events };
}

/*
 * tl_shards_on_step(): the steps up to @wm are done, and the trigger events since handed to
 * the output thread. A step without events is written now; one with events once the output
 * thread has written them (lat_collect()).
 */
static void lat_written(void *ud, int64_t wm)
{
	struct run *rn = ud;
	const int64_t now = tl_now_ns();
	const uint64_t told = rn->report.events - rn->report.suppressed,
		       events = told - rn->lat_events;
	int64_t arrival = -1;

	rn->lat_events = told;
	while (rn->lat_n > 0 && rn->lat_q[rn->lat_head][0] <= wm) {
		arrival = rn->lat_q[rn->lat_head][1];
		rn->lat_head = (rn->lat_head + 1) % LAT_STEPS;
		rn->lat_n--;
		if (arrival <= 0)
			rn->steps_by_time++;
		else if (events > 0)
			lat_defer(rn, arrival, 0);
		else
			lat_add(&rn->step_lat, now - arrival);
	}
	if (arrival > 0 && events > 0)
		lat_defer(rn, arrival, events);
}

/* The figures of the jobs the output thread has written since the last call. */
static void lat_collect(struct run *rn)
{
	uint64_t job;
	int64_t at;

	while (tl_report_written(&rn->report, &job, &at))
		while (rn->lat_w_n > 0 && rn->lat_w[rn->lat_w_head].job <= job) {
			const struct lat_wait *w = &rn->lat_w[rn->lat_w_head];

			if (w->events == 0)
				lat_add(&rn->step_lat, at - w->arrival);
			for (uint64_t i = 0; i < w->events; i++)
				lat_add(&rn->trig_lat, at - w->arrival);
			rn->lat_w_head = (rn->lat_w_head + 1) % LAT_STEPS;
			rn->lat_w_n--;
		}
}

static void advance(struct run *rn, int64_t now)
{
	rn->wm_dirty = false;
	const int64_t w = watermark(rn, now);

	if (w == INT64_MIN || w == INT64_MAX)
		return;
	const int64_t wm = w - rn->lateness;

	if (wm <= rn->wm_sent)
		return;
	rn->wm_sent = wm;
	lat_sent(rn, wm);
	tl_shards_advance(rn->shards, wm);
	if (rn->evidence)
		tl_evidence_watermark(rn->evidence, wm);
}

static void set_pause(struct run *rn, struct part *pt, bool pause)
{
	struct pslot *s = &rn->slots[pt->slot];

	if (atomic_load(&s->want_pause) != pause) {
		atomic_store(&s->want_pause, pause);
		atomic_fetch_add(&rn->pause_gen, 1);
	}
}

/* Messages fully delivered leave the front of the queue; their offsets are done. */
static void q_pop_done(struct run *rn, struct part *pt)
{
	while (pt->q_n > 0) {
		struct queued *m = &pt->q[pt->q_head];

		if (m->head < m->ev.n)
			break;
		pt->next_offset = m->offset + 1;
		pt->q_bytes -= m->bytes;
		tl_evbuf_fini(&m->ev);
		tl_batch_unref(m->batch);
		pt->q_head = (pt->q_head + 1) % pt->q_cap;
		pt->q_n--;
	}
	if (pt->q_bytes < QUEUE_BYTES / 2)
		set_pause(rn, pt, false);
}

/*
 * One event of @pt's to the evidence and the shards, then the watermark, as replay moves it
 * after every event: the same events give the same steps between the same events, however
 * the messages arrived. Only the partition holding the watermark back can move it.
 */
static void deliver(struct run *rn, struct part *pt, const struct tl_event *e, int64_t now)
{
	if (rn->evidence)
		tl_evidence_event(rn->evidence, e);
	tl_shards_push(rn->shards, e);
	if (e->time_ns > pt->latest)
		pt->latest = e->time_ns;
	if (e->time_ns > rn->frontier)
		rn->frontier = e->time_ns;
	pt->records++;
	if (rn->wm_dirty || rn->wm_hold < 0 || pt->slot == rn->wm_hold ||
	    wm_key(&rn->parts[rn->wm_hold]) != rn->wm_hold_key ||
	    part_idle(rn, &rn->parts[rn->wm_hold], now))
		advance(rn, now);
}

/*
 * The merge: hand the shards the oldest next event of all partitions, as replay merges its
 * inputs, while every partition that is not idle has one (a partition with nothing queued
 * may yet deliver older events: wait for it, or for it to go idle).
 */
static void pump(struct run *rn, int64_t now)
{
	uint64_t n = 0;

	for (;;) {
		struct part *pick = NULL;
		int64_t best = INT64_MAX,
			limit = INT64_MAX; /* the oldest next event, the next one's */

		for (size_t k = 0; k < rn->n_active; k++) {
			struct part *pt = &rn->parts[rn->active[k]];

			q_pop_done(rn, pt);
			const struct tl_event *e = q_next(pt);

			if (!e) {
				if (!part_idle(rn, pt, now))
					goto out;
				continue;
			}
			if (!pick || e->time_ns < best) {
				limit = pick ? best : limit;
				best = e->time_ns;
				pick = pt;
			} else if (e->time_ns < limit) {
				limit = e->time_ns;
			}
		}
		if (!pick)
			break;
		/* a message came since: the step the last event made, now that every key is
		 * known (replay's order: an event, then the watermark it lets pass) */
		if (rn->wm_dirty)
			advance(rn, now);
		struct queued *m = &pick->q[pick->q_head];

		/* the picked message's events while they stay the oldest of all */
		do {
			deliver(rn, pick, &m->ev.ev[m->head++], now);
			n++;
		} while (m->head < m->ev.n && m->ev.ev[m->head].time_ns <= limit);
		q_pop_done(rn, pick);
	}
out:
	rn->delivered += n;
	if (n)
		advance(rn, now);
}

static int enqueue(struct run *rn, struct part *pt, struct tl_batch *b, struct tl_evbuf *ev,
		   int64_t offset, size_t bytes)
{
	if (pt->q_n == pt->q_cap) {
		size_t cap = pt->q_cap ? 2 * pt->q_cap : 16;
		struct queued *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < pt->q_n; i++)
			q[i] = pt->q[(pt->q_head + i) % pt->q_cap];
		free(pt->q);
		pt->q = q;
		pt->q_head = 0;
		pt->q_cap = cap;
	}
	struct queued *m = &pt->q[(pt->q_head + pt->q_n++) % pt->q_cap];

	*m = (struct queued){ .batch = b, .ev = *ev, .offset = offset, .bytes = bytes };
	*ev = (struct tl_evbuf){ 0 };
	pt->q_bytes += bytes;
	rn->wm_dirty = true;
	if (pt->q_bytes >= QUEUE_BYTES) {
		rn->queue_pauses++;
		set_pause(rn, pt, true);
	}
	return 0;
}

static void drop_queue(struct part *pt)
{
	for (size_t i = 0; i < pt->q_n; i++) {
		struct queued *m = &pt->q[(pt->q_head + i) % pt->q_cap];

		tl_evbuf_fini(&m->ev);
		tl_batch_unref(m->batch);
	}
	free(pt->q);
	pt->q = NULL;
	pt->q_n = pt->q_cap = pt->q_head = pt->q_bytes = 0;
}

static void on_message(struct run *rn, uint16_t slot, struct dmsg *d, int64_t polled, int64_t now)
{
	struct part *pt = &rn->parts[slot];

	if (!pt->active) { /* not ours any more */
		dmsg_free(d);
		return;
	}
	if (d->oom) {
		tl_err("out of memory decoding a message");
		rn->fatal = TL_EXIT_IO;
		dmsg_free(d);
		return;
	}
	for (size_t i = 0; i < d->n_dead; i++) {
		const struct tl_dead_record r = {
			.input = rn->slots[slot].topic,
			.partition = d->partition,
			.offset = (uint64_t)d->offset,
			.line = 0,
			.reason = d->dead[i].reason,
			.raw = d->dead[i].raw,
			.raw_len = d->dead[i].raw_len,
			.truncated = d->dead[i].truncated,
		};

		if (rn->dl && tl_deadletter_write(rn->dl, &r) < 0 && !rn->fatal) {
			tl_err("'%s': writing the dead-letter file failed", rn->dl_path);
			rn->fatal = TL_EXIT_IO;
		}
	}
	stats_add(&rn->dstats, &d->delta);
	rn->messages++;
	rn->bytes += d->len;
	pt->messages++;
	pt->bytes += d->len;
	pt->eof = false;
	pt->last_wall = now;
	if (enqueue(rn, pt, d->batch, &d->ev, d->offset,
		    d->keep + d->ev.n * sizeof(struct tl_event)) < 0) {
		tl_err("out of memory");
		rn->fatal = TL_EXIT_IO;
		dmsg_free(d);
		return;
	}
	d->batch = NULL; /* the queue's now */
	dmsg_free(d);
	rn->arrival = polled;
	pump(rn, now);
	rn->arrival = 0;
}

/*
 * The next message in the consumer's order, from the ring (control messages) or a decode
 * worker: each ring is in that order, so the next one is at the head of one of them once
 * it has come out. False when it has not yet.
 */
static bool next_msg(struct run *rn, struct cmsg *ret)
{
	for (unsigned i = 0; i <= rn->n_workers; i++) {
		if (!rn->have[i])
			rn->have[i] =
			    tl_ring_pop_spsc(i ? &rn->workers[i - 1].out : &rn->ring, &rn->look[i]);
		if (rn->have[i] && rn->look[i].seq == rn->seq_in) {
			*ret = rn->look[i];
			rn->have[i] = false;
			rn->seq_in++;
			return true;
		}
	}
	return false;
}

/* Any message out of the rings, in no order (the drain at a stop); false when all are empty. */
static bool any_msg(struct run *rn, struct cmsg *ret)
{
	for (unsigned i = 0; i <= rn->n_workers; i++) {
		if (rn->have[i] ||
		    tl_ring_pop_spsc(i ? &rn->workers[i - 1].out : &rn->ring, &rn->look[i])) {
			*ret = rn->look[i];
			rn->have[i] = false;
			return true;
		}
	}
	return false;
}

static void on_assign(struct run *rn, rd_kafka_topic_partition_list_t *tp, int64_t now)
{
	for (int i = 0; i < tp->cnt; i++) {
		int s = slot_find(rn, tp->elems[i].topic, tp->elems[i].partition, false);

		if (s < 0)
			continue;
		struct part *pt = &rn->parts[s];

		if (!pt->active)
			rn->active[rn->n_active++] = (uint16_t)s;
		rn->wm_dirty = true;
		drop_queue(pt);
		*pt = (struct part){ .active = true,
				     .slot = (uint16_t)s,
				     .next_offset = -1,
				     .latest = INT64_MIN,
				     .last_wall = now,
				     /* the counts are since the start, over assignments */
				     .messages = pt->messages,
				     .records = pt->records,
				     .bytes = pt->bytes };
		for (size_t k = 0; k < rn->n_cp; k++)
			if (rn->cp[k].partition == tp->elems[i].partition &&
			    strcmp(rn->cp[k].topic, tp->elems[i].topic) == 0 &&
			    tp->elems[i].offset == rn->cp[k].offset) {
				pt->latest = rn->cp[k].latest;
				pt->next_offset = rn->cp[k].offset;
			}
		if (!tl_quiet)
			tl_info("tripline run: assigned %s [%d]%s", tp->elems[i].topic,
				(int)tp->elems[i].partition,
				pt->next_offset >= 0 ? " (from the checkpoint)" : "");
	}
	rd_kafka_topic_partition_list_destroy(tp);
}

static void on_revoke(struct run *rn, struct cmsg *c)
{
	/*
	 * A message the merge took part of is finished, so its offset is done: the next owner
	 * starts after it, and no event goes into detection twice. (Its other events waited
	 * only for older ones of other partitions: they are above the watermark, not late.)
	 * Messages not begun were never counted: whoever owns the partition next reads them.
	 */
	for (int i = 0; i < c->tp->cnt; i++) {
		int s = slot_find(rn, c->tp->elems[i].topic, c->tp->elems[i].partition, false);

		if (s < 0)
			continue;
		struct part *pt = &rn->parts[s];
		struct queued *m = pt->q_n ? &pt->q[pt->q_head] : NULL;

		if (m && m->head > 0) {
			while (m->head < m->ev.n) {
				deliver(rn, pt, &m->ev.ev[m->head++], tl_now_ns());
				rn->delivered++;
			}
			q_pop_done(rn, pt);
		}
		drop_queue(pt);
	}
	if (!c->lost && checkpoint(rn, "partitions revoked") == 0)
		commit(rn, c->tp, true);
	for (int i = 0; i < c->tp->cnt; i++) {
		int s = slot_find(rn, c->tp->elems[i].topic, c->tp->elems[i].partition, false);

		if (s >= 0 && rn->parts[s].active) {
			rn->parts[s].active = false;
			for (size_t k = 0; k < rn->n_active; k++)
				if (rn->active[k] == s) {
					memmove(&rn->active[k], &rn->active[k + 1],
						(rn->n_active - k - 1) * sizeof(rn->active[0]));
					rn->n_active--;
					rn->wm_dirty = true;
					break;
				}
			if (!tl_quiet)
				tl_info("tripline run: %s %s [%d]", c->lost ? "lost" : "revoked",
					c->tp->elems[i].topic, (int)c->tp->elems[i].partition);
		}
	}
	rd_kafka_topic_partition_list_destroy(c->tp);
	atomic_store(c->ack, 1);
}

/* ---- SIGHUP: the rules again ------------------------------------------------------------- */

/*
 * Load the config again and give the detector its rules, thresholds, prices and deployments;
 * the state (baselines, open incidents, duplicate windows) carries over. A config that does
 * not load, or that changes what the state is shaped by (bucket, lateness, horizon), leaves
 * the rules in force. The source and evidence settings are read at start only.
 */
static void reload(struct run *rn)
{
	struct tl_config nc;
	struct tl_engine_opts eo;
	char err[600];
	int r;

	if (!rn->config_path) {
		tl_info("tripline run: SIGHUP: no --config to reload; the built-in rules stay");
		return;
	}
	if ((r = tl_config_load(rn->config_path, &nc, err, sizeof(err))) < 0) {
		tl_err("run: SIGHUP: %s; the rules in force stay", err);
		tl_config_free(&nc); /* what the load got to */
		rn->reload_failures++;
		return;
	}
	struct tl_config *old = realloc(rn->old_cfgs, (rn->n_old_cfgs + 1) * sizeof(*old));

	if (!old) {
		tl_err("run: SIGHUP: out of memory; the rules in force stay");
		tl_config_free(&nc);
		rn->reload_failures++;
		return;
	}
	rn->old_cfgs = old;
	tl_config_engine_opts(&nc, &eo);
	eo.export_seeds = rn->evidence_on && rn->cfg.evidence.snapshots;
	const int64_t t0 = tl_now_ns();

	if ((r = tl_shards_reload(rn->shards, &eo, rn->syms, err, sizeof(err))) < 0) {
		tl_err("run: SIGHUP: '%s': %s%s; the rules in force stay", rn->config_path, err,
		       r == TL_EMISMATCH ? " (this change needs a restart)" : "");
		tl_config_free(&nc);
		rn->reload_failures++;
		return;
	}
	rn->old_cfgs[rn->n_old_cfgs++] = rn->cfg;
	rn->cfg = nc;
	rn->reloads++;
	tl_info("tripline run: SIGHUP: rules reloaded from '%s' in %.1f ms (source, evidence "
		"and sinks settings take effect at the next start)",
		rn->config_path, (double)(tl_now_ns() - t0) / 1e6);
}

/* ---- status and metrics ----------------------------------------------------------------- */

static int64_t part_lag(const struct run *rn, const struct part *pt)
{
	int64_t lo = -1, hi = -1;
	const struct pslot *s = &rn->slots[pt->slot];

	if (rd_kafka_get_watermark_offsets(rn->rk, s->topic, s->partition, &lo, &hi) || hi < 0)
		return -1;
	const int64_t at = pt->next_offset >= 0 ? pt->next_offset : lo;

	return hi > at ? hi - at : 0;
}

static void status_line(struct run *rn, int64_t now)
{
	const struct tl_decode_stats *ds = &rn->dstats;
	const double secs = (double)(now - rn->last_status) / 1e9;
	int64_t lag = 0;
	unsigned owned = 0, idle = 0;
	char wm[TL_TIME_TEXT_LEN + 1] = "-";

	for (size_t k = 0; k < rn->n_active; k++) {
		const struct part *pt = &rn->parts[rn->active[k]];

		owned++;
		idle += part_idle(rn, pt, now);
		int64_t l = part_lag(rn, pt);

		if (l > 0)
			lag += l;
	}
	if (rn->wm_sent != INT64_MIN)
		tl_time_format(rn->wm_sent, wm);
	/* said only when stdout's reader or the journal's disk falls behind */
	const uint64_t pending = tl_report_pending(&rn->report);
	char behind[64] = "";

	if (pending > 0)
		(void)snprintf(behind, sizeof(behind), ", output %" PRIu64 " steps behind",
			       pending);
	tl_info(
	    "tripline run: %.2f M records (%.1f k/s), %" PRIu64
	    " malformed, lag %lld messages, %u partitions (%u idle), watermark %s, %zu firing%s",
	    (double)ds->records / 1e6,
	    secs > 0 ? (double)(ds->records - rn->last_records) / secs / 1e3 : 0, ds->malformed,
	    (long long)lag, owned, idle, wm, rn->report.n_open, behind);
	rn->last_records = ds->records;
}

static void prom_lat(struct tl_buf *b, const char *name, const char *help, const struct lat *l)
{
	char sample[128], le[32];
	uint64_t cum = 0;

	tl_prom_family(b, name, "histogram", help);
	snprintf(sample, sizeof(sample), "%s_bucket", name);
	for (size_t i = 0; i <= LAT_LE; i++) {
		cum += l->le[i];
		if (i < LAT_LE)
			snprintf(le, sizeof(le), "le=\"%g\"", lat_le_ms[i] / 1e3);
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		tl_prom_sample(b, sample, le, (double)cum);
	}
	snprintf(sample, sizeof(sample), "%s_sum", name);
	tl_prom_sample(b, sample, NULL, l->sum_s);
	snprintf(sample, sizeof(sample), "%s_count", name);
	tl_prom_sample(b, sample, NULL, (double)cum);
}

/* {"n":N,"p50":ms,"p99":ms,"max":ms}: quantiles within 2 %, 0 below 0.1 ms */
static void json_lat(struct tl_buf *b, const char *name, const struct lat *l)
{
	tl_buf_printf(b, "\"%s\":{\"n\":%u", name, l->h.n);
	if (l->h.n) {
		const double p50 = tl_hist_value(tl_hist_quantile_bin(&l->h, 0.5)) / 10,
			     p99 = tl_hist_value(tl_hist_quantile_bin(&l->h, 0.99)) / 10;

		/* a bin reports its 1.93 % point, which may lie past the largest value */
		tl_buf_puts(b, ",\"p50\":");
		tl_buf_json_num(b, p50 < l->max_ms ? p50 : l->max_ms);
		tl_buf_puts(b, ",\"p99\":");
		tl_buf_json_num(b, p99 < l->max_ms ? p99 : l->max_ms);
		tl_buf_puts(b, ",\"max\":");
		tl_buf_json_num(b, l->max_ms);
	}
	tl_buf_puts(b, "}");
}

/* The --stats JSON: replay's, with "partitions" for its "inputs", and "stream". */
static void stats_json(struct run *rn, struct tl_buf *b)
{
	bool first = true;

	tl_stats_head(b, &rn->dstats, rn->shards);
	tl_buf_puts(b, "\"partitions\":[");
	for (int i = 0; i < MAX_SLOTS; i++) {
		const struct pslot *s = &rn->slots[i];
		const struct part *pt = &rn->parts[i];

		if (!s->topic || (!pt->active && !pt->messages))
			continue;
		tl_buf_puts(b, first ? "{\"topic\":" : ",{\"topic\":");
		first = false;
		tl_buf_json_str(b, s->topic, strlen(s->topic));
		tl_buf_printf(b,
			      ",\"partition\":%d,\"owned\":%s,\"messages\":%llu,\"records\":%llu,"
			      "\"bytes\":%llu,\"next_offset\":%lld}",
			      (int)s->partition, pt->active ? "true" : "false",
			      (unsigned long long)pt->messages, (unsigned long long)pt->records,
			      (unsigned long long)pt->bytes, (long long)pt->next_offset);
	}
	tl_buf_printf(b,
		      "],\"stream\":{\"seconds\":%.3f,\"messages\":%llu,\"bytes\":%llu,"
		      "\"checkpoints\":%llu,\"checkpoint_failures\":%llu,\"checkpoints_held\":%llu,"
		      "\"partition_pauses\":%llu,"
		      "\"trigger_events\":%llu,\"already_told\":%llu,\"steps_by_time\":%llu,",
		      (double)(tl_now_ns() - rn->started_ns) / 1e9,
		      (unsigned long long)rn->messages, (unsigned long long)rn->bytes,
		      (unsigned long long)rn->ckpts, (unsigned long long)rn->ckpt_failures,
		      (unsigned long long)rn->ckpts_held, (unsigned long long)rn->queue_pauses,
		      (unsigned long long)(rn->report.events - rn->report.suppressed),
		      (unsigned long long)rn->report.suppressed,
		      (unsigned long long)rn->steps_by_time);
	json_lat(b, "arrival_to_step_ms", &rn->step_lat);
	tl_buf_puts(b, ",");
	json_lat(b, "arrival_to_trigger_ms", &rn->trig_lat);
	tl_buf_puts(b, "},");
	tl_stats_series(b, rn->shards, rn->syms);
	if (rn->evidence)
		tl_evidence_stats_json(rn->evidence, b);
	tl_alerts_stats_json(rn->alerts, b);
	tl_buf_puts(b, "}\n");
}

static void render_metrics(struct run *rn, int64_t now)
{
	const struct tl_decode_stats *ds = &rn->dstats;
	struct tl_engine_counts ec;
	struct tl_buf b = { 0 };
	char lab[512];

	tl_shards_counts(rn->shards, &ec);
	tl_prom_metric(&b, "tripline_records_total", "counter", "Records read from Kafka.",
		       (double)ds->records);
	tl_prom_metric(&b, "tripline_bytes_total", "counter", "Message bytes read from Kafka.",
		       (double)rn->bytes);
	tl_prom_metric(&b, "tripline_messages_total", "counter", "Kafka messages read.",
		       (double)rn->messages);
	tl_prom_metric(&b, "tripline_malformed_total", "counter",
		       "Malformed records (in the dead-letter file).", (double)ds->malformed);
	tl_prom_metric(&b, "tripline_late_total", "counter",
		       "Records whose time bucket had closed.", (double)ec.late);
	tl_prom_metric(&b, "tripline_duplicates_total", "counter", "Repeated records dropped.",
		       (double)ec.duplicate);
	tl_prom_metric(&b, "tripline_incidents_firing", "gauge", "Incidents firing now.",
		       (double)rn->report.n_open);
	tl_prom_metric(&b, "tripline_trigger_events_total", "counter",
		       "Trigger events written (trigger, update, resolved).",
		       (double)(rn->report.events - rn->report.suppressed));
	tl_prom_metric(&b, "tripline_checkpoints_total", "counter", "Checkpoints written.",
		       (double)rn->ckpts);
	tl_prom_metric(&b, "tripline_checkpoint_failures_total", "counter",
		       "Checkpoints that failed (offsets not committed).",
		       (double)rn->ckpt_failures);
	tl_prom_metric(&b, "tripline_checkpoints_held_total", "counter",
		       "Timer checkpoints not written because a snapshot was pending.",
		       (double)rn->ckpts_held);
	tl_prom_metric(&b, "tripline_watermark_seconds", "gauge",
		       "Event time up to which buckets are closed (Unix seconds).",
		       rn->wm_sent == INT64_MIN ? 0 : (double)rn->wm_sent / 1e9);
	{
		/* the decode workers' rings, in and out, and the control ring */
		size_t waiting = tl_ring_count(&rn->ring);
		char help[160];

		for (unsigned i = 0; i < rn->n_workers; i++)
			waiting +=
			    tl_ring_count(&rn->workers[i].in) + tl_ring_count(&rn->workers[i].out);
		(void)snprintf(help, sizeof(help),
			       "Messages waiting between the consumer and the main thread, in "
			       "the decode threads' rings (of %u).",
			       RING_MSGS + 2 * WORKER_MSGS * rn->n_workers);
		tl_prom_metric(&b, "tripline_ring_occupancy", "gauge", help, (double)waiting);
	}
	tl_prom_metric(&b, "tripline_output_pending_steps", "gauge",
		       "Steps of trigger events waiting for the output thread (journal, sinks, "
		       "stdout); past 256 the main thread waits too.",
		       (double)tl_report_pending(&rn->report));
	tl_prom_metric(&b, "tripline_partition_pauses_total", "counter",
		       "Partitions paused because their queue held 8 MiB (backpressure).",
		       (double)rn->queue_pauses);
	tl_prom_family(&b, "tripline_partition_lag_messages", "gauge",
		       "Messages behind the end of each owned partition.");
	for (size_t k = 0; k < rn->n_active; k++) {
		const struct part *pt = &rn->parts[rn->active[k]];

		int64_t l = part_lag(rn, pt);

		snprintf(lab, sizeof(lab), "topic=\"%s\",partition=\"%d\"",
			 rn->slots[pt->slot].topic, (int)rn->slots[pt->slot].partition);
		tl_prom_sample(&b, "tripline_partition_lag_messages", lab, l < 0 ? 0 : (double)l);
	}
	tl_prom_family(&b, "tripline_partition_idle", "gauge",
		       "1 when the partition no longer holds the watermark back.");
	for (size_t k = 0; k < rn->n_active; k++) {
		const struct part *pt = &rn->parts[rn->active[k]];

		snprintf(lab, sizeof(lab), "topic=\"%s\",partition=\"%d\"",
			 rn->slots[pt->slot].topic, (int)rn->slots[pt->slot].partition);
		tl_prom_sample(&b, "tripline_partition_idle", lab, part_idle(rn, pt, now));
	}
	tl_prom_metric(&b, "tripline_config_reloads_total", "counter",
		       "Rule reloads on SIGHUP that took effect.", (double)rn->reloads);
	tl_prom_metric(&b, "tripline_config_reload_failures_total", "counter",
		       "Rule reloads on SIGHUP refused (the rules in force stayed).",
		       (double)rn->reload_failures);
	tl_alerts_metrics(rn->alerts, &b);
	prom_lat(&b, "tripline_step_latency_seconds",
		 "From the arrival of the message that let the watermark pass a bucket end to that "
		 "step's trigger events being written (journal, then stdout).",
		 &rn->step_lat);
	prom_lat(&b, "tripline_trigger_latency_seconds",
		 "From the arrival of the message that completed a trigger event to the event "
		 "being written (journal, then stdout).",
		 &rn->trig_lat);
	/* what /healthz reads, taken here under the same lock as the text */
	const char *sick = rn->fatal                             ? "stopping after a fatal error\n"
			   : rn->ckpt_failures && rn->ckpts == 0 ? "checkpoints fail: offsets are "
								   "not committed\n"
								 : NULL;

	pthread_mutex_lock(&rn->mx);
	tl_buf_fini(&rn->metrics_text);
	rn->metrics_text = b;
	rn->sick = sick;
	pthread_mutex_unlock(&rn->mx);
}

static void metrics_cb(void *ud, struct tl_buf *b)
{
	struct run *rn = ud;

	pthread_mutex_lock(&rn->mx);
	if (rn->metrics_text.n)
		tl_buf_put(b, rn->metrics_text.p, rn->metrics_text.n);
	pthread_mutex_unlock(&rn->mx);
}

static bool health_cb(void *ud, char *why, size_t n)
{
	struct run *rn = ud;
	const int64_t beat = atomic_load(&rn->consumer_beat);
	const char *sick;

	pthread_mutex_lock(&rn->mx);
	sick = rn->sick;
	pthread_mutex_unlock(&rn->mx);
	if (sick) {
		snprintf(why, n, "%s", sick);
		return false;
	}
	if (beat && tl_now_ns() - beat > 60 * TL_NS_PER_S) {
		snprintf(why, n, "the consumer has not polled for %lld s\n",
			 (long long)((tl_now_ns() - beat) / TL_NS_PER_S));
		return false;
	}
	return true;
}

/* ---- the command ------------------------------------------------------------------------ */

static int64_t feed_position(void *ud, int32_t partition)
{
	struct run *rn = ud;

	for (int i = 0; i < MAX_SLOTS; i++)
		if (rn->slots[i].used && rn->slots[i].partition == partition)
			return atomic_load(&rn->slots[i].polled);
	return -1;
}

static bool parse_dur(const char *opt, const char *s, bool zero_ok, int64_t *ret)
{
	if (tl_duration_parse(s, strlen(s), ret) < 0 || *ret < 0 || (!zero_ok && *ret == 0)) {
		if (strcmp(s, "0") == 0 && zero_ok) {
			*ret = 0;
			return true;
		}
		tl_err("run: --%s: expected a duration like 30s, 5m or 1h, got '%s'", opt, s);
		return false;
	}
	return true;
}

static int set_conf(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char e[256];

	if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		/* the value may be a secret: name the key only */
		tl_err("run: librdkafka setting '%s': %s", k, e);
		return -1;
	}
	return 0;
}

/* Generate the built-in day for the embedded hub, once per output directory. */
static int embedded_day(const char *out_dir, char *path, size_t n)
{
	struct stat st;

	snprintf(path, n, "%s/hub/day.ndjson.zst", out_dir);
	if (stat(path, &st) == 0 && st.st_size > 0)
		return 0;
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/hub", out_dir);
	if (tl_mkdir_p(dir) < 0)
		return -1;
	char g[] = "gen", a0[] = "--format", a1[] = "records", a2[] = "--out", a4[] = "--seed",
	     a5[] = "1", a6[] = "--quiet";
	char *argv[] = { g, a0, a1, a2, path, a4, a5, a6, NULL };
	const bool q = tl_quiet;
	int r = tl_cmd_gen(8, argv);

	tl_quiet = q;
	return r == 0 ? 0 : -1;
}

int tl_cmd_run(int argc, char **argv)
{
	const char *out_dir = "tripline-out", *config_path = NULL, *threads_s = NULL,
		   *brokers = NULL, *topic_s = NULL, *group = NULL, *ckpt_s = "30s",
		   *idle_s = "15s", *exit_idle_s = NULL, *metrics_s = NULL, *speed_s = "1200",
		   *parts_s = "4", *feed_path = NULL, *stats_path = NULL, *decoders_s = NULL;
	bool help = false, no_evidence = false;
	const struct tl_opt opts[] = {
		{ "config", true, &config_path, NULL },
		{ "out", true, &out_dir, NULL },
		{ "threads", true, &threads_s, NULL },
		{ "decode-threads", true, &decoders_s, NULL },
		{ "brokers", true, &brokers, NULL },
		{ "topic", true, &topic_s, NULL },
		{ "group", true, &group, NULL },
		{ "checkpoint-every", true, &ckpt_s, NULL },
		{ "idle", true, &idle_s, NULL },
		{ "exit-when-idle", true, &exit_idle_s, NULL },
		{ "metrics", true, &metrics_s, NULL },
		{ "speed", true, &speed_s, NULL },
		{ "partitions", true, &parts_s, NULL },
		{ "feed", true, &feed_path, NULL },
		{ "stats", true, &stats_path, NULL },
		{ "no-evidence", false, NULL, &no_evidence },
		{ "quiet", false, NULL, &tl_quiet },
		{ "help", false, NULL, &help },
	};
	struct run *rn = calloc(1, sizeof(*rn));
	char err[600];
	int npos, r, status = TL_EXIT_OK;

	if (!rn) {
		tl_err("out of memory");
		return TL_EXIT_IO;
	}
	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "run", &npos) < 0) {
		free(rn);
		return TL_EXIT_USAGE;
	}
	if (help) {
		fputs(run_usage, stdout);
		free(rn);
		return TL_EXIT_OK;
	}
	if (npos > 0) {
		tl_err("run: takes no paths (did you mean 'tripline replay %s'?)", argv[0]);
		free(rn);
		return TL_EXIT_USAGE;
	}
	pthread_mutex_init(&rn->mx, NULL);
	rn->out_dir = out_dir;
	rn->config_path = config_path;
	rn->wm_sent = INT64_MIN;
	rn->wm_hold = -1;
	rn->restored_wm = INT64_MIN;
	rn->frontier = INT64_MIN;
	if (config_path) {
		r = tl_config_load(config_path, &rn->cfg, err, sizeof(err));
		if (r < 0) {
			tl_err("%s", err);
			status = r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
			goto out_cfg;
		}
	} else {
		tl_config_defaults(&rn->cfg);
	}
	rn->threads = 1;
	if (threads_s) {
		char *end;
		unsigned long v = strtoul(threads_s, &end, 10);

		if (*end || v < 1 || v > 256) {
			tl_err("run: --threads: expected 1 to 256, got '%s'", threads_s);
			status = TL_EXIT_USAGE;
			goto out_cfg;
		}
		rn->threads = (unsigned)v;
	}
	rn->n_workers = 1;
	if (decoders_s) {
		char *end;
		unsigned long v = strtoul(decoders_s, &end, 10);

		if (*end || v < 1 || v > MAX_DECODERS) {
			tl_err("run: --decode-threads: expected 1 to %d, got '%s'", MAX_DECODERS,
			       decoders_s);
			status = TL_EXIT_USAGE;
			goto out_cfg;
		}
		rn->n_workers = (unsigned)v;
	}
	if (!parse_dur("checkpoint-every", ckpt_s, false, &rn->ckpt_every) ||
	    !parse_dur("idle", idle_s, false, &rn->idle_ns) ||
	    (exit_idle_s && !parse_dur("exit-when-idle", exit_idle_s, true, &rn->exit_idle_ns))) {
		status = TL_EXIT_USAGE;
		goto out_cfg;
	}
	char *end;
	const double speed = strtod(speed_s, &end);
	const unsigned long n_parts = strtoul(parts_s, &end, 10);

	if (!(speed >= 0) || speed > 1e9) {
		tl_err("run: --speed: expected a number of event-time seconds per second, got '%s'",
		       speed_s);
		status = TL_EXIT_USAGE;
		goto out_cfg;
	}
	if (*end || n_parts < 1 || n_parts > 1024) {
		tl_err("run: --partitions: expected 1 to 1024, got '%s'", parts_s);
		status = TL_EXIT_USAGE;
		goto out_cfg;
	}
	rn->evidence_on = !no_evidence;
	rn->lateness = rn->cfg.lateness_ns;

	/* where from: the command line over the config; nothing at all: the embedded hub */
	const struct tl_config_kafka *kc = &rn->cfg.kafka;
	const bool eventhubs = kc->connection_string_env || kc->connection_string_file;
	const bool embedded = !brokers && !kc->brokers && !eventhubs;

	if (topic_s) {
		char *t = strdup(topic_s), *save = NULL;

		for (char *p = strtok_r(t, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			char **nt = realloc(rn->topics, (rn->n_topics + 1) * sizeof(*nt));

			if (!nt)
				break;
			rn->topics = nt;
			rn->topics[rn->n_topics++] = strdup(p);
		}
		free(t);
	} else {
		for (size_t i = 0; i < kc->n_topics; i++) {
			char **nt = realloc(rn->topics, (rn->n_topics + 1) * sizeof(*nt));

			if (!nt)
				break;
			rn->topics = nt;
			rn->topics[rn->n_topics++] = strdup(kc->topics[i]);
		}
	}
	if (feed_path && !embedded) {
		tl_err("run: --feed applies to the embedded hub only (brokers are configured)");
		status = TL_EXIT_USAGE;
		goto out_cfg;
	}
	if ((r = tl_mkdir_p(out_dir)) < 0) {
		tl_err("'%s': cannot create the output directory: %s", out_dir, tl_strerror(r));
		status = TL_EXIT_IO;
		goto out_cfg;
	}

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char day[4200];

	rd_kafka_conf_set_opaque(conf, rn);
	rd_kafka_conf_set_log_cb(conf, kafka_log);
	rd_kafka_conf_set_error_cb(conf, kafka_error);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	if (embedded) {
		const struct tl_hub_opts ho = { .partitions = (unsigned)n_parts };

		if (!feed_path) {
			if (embedded_day(out_dir, day, sizeof(day)) < 0) {
				tl_err("run: cannot generate the embedded day in '%s/hub'",
				       out_dir);
				status = TL_EXIT_IO;
				rd_kafka_conf_destroy(conf);
				goto out_cfg;
			}
			feed_path = day;
		} else if (access(feed_path, R_OK) != 0) {
			tl_err("'%s': cannot read: %s", feed_path, strerror(errno));
			status = TL_EXIT_IO;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
		if (tl_hub_start(&ho, &rn->hub, err, sizeof(err)) < 0) {
			tl_err("run: cannot start the embedded hub: %s", err);
			status = TL_EXIT_IO;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
		if (set_conf(conf, "bootstrap.servers", tl_hub_bootstrap(rn->hub)) < 0) {
			status = TL_EXIT_IO;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
		if (rn->n_topics == 0) {
			rn->topics = calloc(1, sizeof(char *));
			rn->topics[rn->n_topics++] = strdup(tl_hub_topic(rn->hub));
		}
		if (!exit_idle_s)
			rn->exit_idle_ns = 3 * TL_NS_PER_S;
		tl_info(
		    "tripline run: embedded hub on %s, topic %s (%lu partitions), feeding %s at "
		    "%gx",
		    tl_hub_bootstrap(rn->hub), tl_hub_topic(rn->hub), n_parts, feed_path, speed);
	} else {
		if (eventhubs && eventhubs_conf(rn, conf, err, sizeof(err)) < 0) {
			tl_err("run: Event Hubs: %s", err);
			status = TL_EXIT_USAGE;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
		const char *b = brokers ? brokers : kc->brokers;

		if (b && set_conf(conf, "bootstrap.servers", b) < 0) {
			status = TL_EXIT_USAGE;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
		if (rn->n_topics == 0) {
			rn->topics = calloc(1, sizeof(char *));
			rn->topics[rn->n_topics++] = strdup(DEFAULT_TOPIC);
		}
	}
	const char *const base[][2] = {
		{ "group.id", group       ? group
			      : kc->group ? kc->group
					  : EMBEDDED_GROUP },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "auto.offset.reset", "earliest" },
		{ "enable.partition.eof", "true" },
		{ "partition.assignment.strategy", "cooperative-sticky" },
		{ "queued.max.messages.kbytes", "32768" }, /* the prefetch bound */
		{ "fetch.max.bytes", "16777216" },
		{ "client.id", "tripline" },
		/* answer fetches within 50 ms when little is new: latency, not throughput, then.
		 * The embedded hub holds a fetch that finds nothing new that long even while a
		 * producer is adding (Kafka and Event Hubs answer as data comes): 5 ms there */
		{ "fetch.wait.max.ms", embedded ? "5" : "50" },
	};
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		if (set_conf(conf, base[i][0], base[i][1]) < 0) {
			status = TL_EXIT_USAGE;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
	for (size_t i = 0; i + 1 < kc->n_props; i += 2)
		if (set_conf(conf, kc->props[i], kc->props[i + 1]) < 0) {
			status = TL_EXIT_USAGE;
			rd_kafka_conf_destroy(conf);
			goto out_cfg;
		}
	rn->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rn->rk) {
		tl_err("run: cannot create the Kafka consumer: %s", err);
		rd_kafka_conf_destroy(conf);
		status = TL_EXIT_USAGE;
		goto out_cfg;
	}
	rd_kafka_poll_set_consumer(rn->rk);

	/* the pipeline, as replay builds it */
	struct tl_engine_opts eo;

	tl_config_engine_opts(&rn->cfg, &eo);
	eo.export_seeds = rn->evidence_on && rn->cfg.evidence.snapshots;
	rn->syms = tl_symtab_new(1u << 22);
	tl_report_init(&rn->report, rn->syms, STDOUT_FILENO);
	if (!rn->syms || tl_shards_new(rn->threads, &eo, rn->syms, &rn->report, &rn->shards) < 0 ||
	    tl_ring_init(&rn->ring, RING_MSGS, sizeof(struct cmsg)) < 0) {
		tl_err("out of memory");
		status = TL_EXIT_IO;
		goto out;
	}
	if (rn->evidence_on) {
		struct tl_evidence_opts evo;

		tl_evidence_opts_from_config(&rn->cfg, out_dir, &evo);

		if ((r = tl_evidence_new(&evo, rn->syms, rn->shards, err, sizeof(err),
					 &rn->evidence)) < 0) {
			tl_err("%s", err);
			status = r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
			goto out;
		}
		tl_evidence_report_ops(rn->evidence, &rn->report.ops);
	}
	if (rn->cfg.n_sinks) {
		if ((r = tl_alerts_open(&rn->cfg, out_dir, &rn->alerts, err, sizeof(err))) < 0) {
			tl_err("%s", err);
			status = r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
			goto out;
		}
		rn->report.alerts = rn->alerts;
	}
	tl_shards_on_step(rn->shards, lat_written, rn);
	rn->report.ops.seen = op_seen;
	rn->report.ops.seen_ud = rn;
	for (unsigned i = 0; i < rn->n_workers; i++) {
		struct worker *w = &rn->workers[i];

		w->rn = rn;
		w->dec = tl_decoder_new(rn->syms, on_malformed, w, &r);
		if (!w->dec || tl_ring_init(&w->in, WORKER_MSGS, sizeof(struct wmsg)) < 0 ||
		    tl_ring_init(&w->out, WORKER_MSGS, sizeof(struct cmsg)) < 0) {
			tl_err("%s", !w->dec && r == TL_ECPU
					 ? "this CPU lacks AVX2; rebuild with -Dsimd=generic"
					 : "out of memory");
			status = TL_EXIT_IO;
			goto out;
		}
	}
	snprintf(rn->dl_path, sizeof(rn->dl_path), "%s/dead-letter.ndjson", out_dir);
	if ((r = tl_deadletter_open_append(rn->dl_path, &rn->dl)) < 0) {
		tl_err("'%s': cannot open the dead-letter file: %s", rn->dl_path, tl_strerror(r));
		status = TL_EXIT_IO;
		goto out;
	}

	/* restart: the checkpoint's state, and what the journal has told already */
	if ((status = restore(rn)) != TL_EXIT_OK)
		goto out;
	if (rn->evidence) {
		/* the records up to the newest event time read before the restart are not
		 * retained: snapshots whose window reaches back to them say so */
		int64_t read_until = INT64_MIN;

		for (size_t k = 0; k < rn->n_cp; k++)
			if (rn->cp[k].latest > read_until)
				read_until = rn->cp[k].latest;
		tl_evidence_missing_until(rn->evidence, read_until);
	}
	if (rn->evidence_on) {
		char jdir[4200];
		struct seen_ctx sc = { rn, rn->restored_wm == INT64_MIN
					       ? INT64_MIN
					       : rn->restored_wm - rn->cfg.horizon_ns -
						     TL_NS_PER_HOUR };

		snprintf(jdir, sizeof(jdir), "%s/%s", out_dir, TL_JOURNAL_SUBDIR);
		r = tl_journal_read(jdir, seen_record, NULL, &sc, err, sizeof(err));
		if (r < 0 && r != -ENOENT) {
			tl_err("%s: cannot read the journal: %s", jdir, err);
			status = TL_EXIT_IO;
			goto out;
		}
		if (rn->n_seen && !tl_quiet)
			tl_info("tripline run: the journal has %zu events since the checkpoint; "
				"they are not told again",
				rn->n_seen);
	}

	/* operations */
	const char *listen = metrics_s ? metrics_s : "127.0.0.1:9464";

	if (strcmp(listen, "off") != 0) {
		const struct tl_http_opts ho = {
			.listen = listen, .metrics = metrics_cb, .health = health_cb, .ud = rn
		};

		if (tl_http_start(&ho, &rn->http, err, sizeof(err)) < 0) {
			if (metrics_s) {
				tl_err("run: --metrics: %s", err);
				status = TL_EXIT_USAGE;
				goto out;
			}
			tl_err("run: no /metrics: %s (use --metrics ADDR)", err);
		} else if (!tl_quiet) {
			tl_info("tripline run: /metrics and /healthz on http://%s:%u/",
				strncmp(listen, "[::1]", 5) == 0 ? "[::1]" : "127.0.0.1",
				(unsigned)tl_http_port(rn->http));
		}
	}
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct sigaction sh = { .sa_handler = on_hup_signal };

	sigemptyset(&sh.sa_mask);
	sigaction(SIGHUP, &sh, NULL);

	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)rn->n_topics);

	for (size_t i = 0; i < rn->n_topics; i++)
		rd_kafka_topic_partition_list_add(sub, rn->topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t se = rd_kafka_subscribe(rn->rk, sub);

	rd_kafka_topic_partition_list_destroy(sub);
	if (se) {
		tl_err("run: cannot subscribe: %s", rd_kafka_err2str(se));
		status = TL_EXIT_USAGE;
		goto out;
	}
	if (embedded) {
		const struct tl_feed_opts fo = { .bootstrap = tl_hub_bootstrap(rn->hub),
						 .topic = tl_hub_topic(rn->hub),
						 .path = feed_path,
						 .speed = speed,
						 .position = feed_position,
						 .ud = rn };

		if (tl_feed_start(&fo, &rn->feed, err, sizeof(err)) < 0) {
			tl_err("run: cannot feed the embedded hub: %s", err);
			status = TL_EXIT_IO;
			goto out;
		}
	}
	/* the journal's fsync and a slow reader of stdout wait on a thread of their own */
	if ((r = tl_report_start(&rn->report)) < 0) {
		tl_err("run: cannot start the output thread: %s", tl_strerror(r));
		status = TL_EXIT_IO;
		goto out;
	}
	for (unsigned i = 0; i < rn->n_workers; i++) {
		if (pthread_create(&rn->workers[i].th, NULL, worker_main, &rn->workers[i]) != 0) {
			tl_err("run: cannot start a decode thread");
			status = TL_EXIT_IO;
			goto out;
		}
		rn->workers[i].started = true;
	}
	if (pthread_create(&rn->consumer, NULL, consumer_main, rn) != 0) {
		tl_err("run: cannot start the consumer thread");
		status = TL_EXIT_IO;
		goto out;
	}
	rn->consumer_running = rn->consumer_ran = true;
	rn->started_ns = rn->last_status = rn->last_ckpt = rn->last_ckpt_written = tl_now_ns();
	atomic_store(&rn->consumer_beat, rn->started_ns);

	bool ended = false, stop_sent = false, feed_done = !rn->feed;
	int64_t last_metrics = 0;

	while (!ended) {
		struct cmsg c;
		int64_t now;

		if (got_hup && !stop_sent) {
			got_hup = 0;
			reload(rn);
		}
		if (got_stop && !stop_sent) {
			stop_sent = true;
			if (!tl_quiet)
				tl_info("tripline run: %s: draining, checkpointing and committing",
					got_signal == SIGINT ? "SIGINT"
					: got_signal         ? "SIGTERM"
							     : "stop");
			atomic_store(&rn->stop_consumer, true);
		}
		if (next_msg(rn, &c)) {
			now = tl_now_ns();
			switch (c.kind) {
			case C_MSG:
				on_message(rn, c.slot, c.d, c.polled_ns, now);
				break;
			case C_EOF:
				if (rn->parts[c.slot].active) {
					rn->parts[c.slot].eof = true;
					if (rn->parts[c.slot].next_offset < 0)
						rn->parts[c.slot].next_offset = c.offset;
				}
				break;
			case C_ASSIGN:
				on_assign(rn, c.tp, now);
				break;
			case C_REVOKE:
				on_revoke(rn, &c);
				break;
			case C_END:
				ended = true;
				break;
			}
			if (rn->fatal && !stop_sent)
				got_stop = 1;
			if ((rn->messages & 63) != 0)
				continue;
		} else {
			sleep_us(rn->messages ? 200 : 2000);
		}
		now = tl_now_ns();
		/* partitions going idle let the merge and the watermark go on without a message */
		pump(rn, now);
		advance(rn, now);
		if (!stop_sent && now - rn->last_ckpt >= rn->ckpt_every) {
			rn->last_ckpt = now;
			if (checkpoint(rn, "timer") == 0)
				commit(rn, NULL, false);
		}
		lat_collect(rn);
		if (now - last_metrics >= TL_NS_PER_S) {
			last_metrics = now;
			/* events that cannot be journaled or written: stop before committing */
			if (!rn->fatal && (r = tl_report_error(&rn->report)) < 0)
				out_failed(rn, r);
			render_metrics(rn, now);
		}
		if (rn->fatal && !stop_sent)
			got_stop = 1;
		if (!tl_quiet && now - rn->last_status >= STATUS_EVERY) {
			status_line(rn, now);
			rn->last_status = now;
		}
		if (rn->feed && !feed_done && tl_feed_done(rn->feed)) {
			struct tl_feed_counts fc;

			feed_done = true;
			tl_feed_counts(rn->feed, &fc);
			if (fc.n_errors || fc.input_err)
				tl_err("run: the embedded hub's feed: %llu errors%s%s",
				       (unsigned long long)fc.n_errors,
				       fc.last_error[0] ? ": " : "", fc.last_error);
			else if (!tl_quiet)
				tl_info("tripline run: the day has been fed (%llu messages, %llu "
					"records); reading to its end",
					(unsigned long long)fc.n_messages,
					(unsigned long long)fc.n_records);
		}
		/* a catch-up job: stop when every partition has been at its end for a while */
		if (rn->exit_idle_ns > 0 && !stop_sent && feed_done) {
			bool all = false;

			for (size_t k = 0; k < rn->n_active; k++) {
				const struct part *pt = &rn->parts[rn->active[k]];

				all = true;
				if (!pt->eof || pt->q_n > 0 ||
				    now - pt->last_wall < rn->exit_idle_ns) {
					all = false;
					break;
				}
			}
			if (all) {
				if (!tl_quiet)
					tl_info(
					    "tripline run: every partition at its end for %.0f s: "
					    "stopping",
					    (double)rn->exit_idle_ns / 1e9);
				got_stop = 1;
				got_signal = 0;
				rn->all_eof_since = now;
			}
		}
	}
	pthread_join(rn->consumer, NULL);
	rn->consumer_running = false;
	/* the input ended (not a signal): close the last buckets as a replay does; incidents
	 * still firing stay open. The checkpoint taken at the revoke is from before this. */
	if (rn->all_eof_since && rn->delivered) {
		const int64_t b = rn->cfg.bucket_ns, e = (tl_floor_div(rn->frontier, b) + 1) * b;

		tl_shards_advance(rn->shards, e);
		if (rn->evidence)
			tl_evidence_watermark(rn->evidence, e);
		tl_report_end(&rn->report, e);
	}
	tl_shards_finish(rn->shards);
	tl_report_stop(&rn->report);
	lat_collect(rn);
	if (rn->evidence && tl_evidence_finish(rn->evidence) < 0) {
		tl_err("%s", tl_evidence_errmsg(rn->evidence));
		status = TL_EXIT_IO;
	}
	if (rn->report.err < 0 && !rn->out_failed_told) {
		tl_err("writing trigger events failed: %s", tl_strerror(rn->report.err));
		status = TL_EXIT_IO;
	}
	if (rn->fatal && status == TL_EXIT_OK)
		status = rn->fatal;
	{
		const struct tl_decode_stats *ds = &rn->dstats;
		struct tl_engine_counts ec;
		const double secs = (double)(tl_now_ns() - rn->started_ns) / 1e9;

		tl_shards_counts(rn->shards, &ec);
		tl_info(
		    "tripline run: %llu records from %llu messages in %.1f s: %llu decoded, %llu "
		    "duplicate, %llu malformed%s%s, %llu skipped, %llu late, %llu ahead, %llu not "
		    "checked "
		    "for duplicates; %llu trigger events "
		    "(%llu already told before a restart), %llu checkpoints",
		    (unsigned long long)ds->records, (unsigned long long)rn->messages, secs,
		    (unsigned long long)ec.decoded, (unsigned long long)ec.duplicate,
		    (unsigned long long)ds->malformed, ds->malformed ? " in " : "",
		    ds->malformed ? rn->dl_path : "", (unsigned long long)ds->skipped,
		    (unsigned long long)ec.late, (unsigned long long)ec.ahead,
		    (unsigned long long)ec.dedup_unchecked,
		    (unsigned long long)(rn->report.events - rn->report.suppressed),
		    (unsigned long long)rn->report.suppressed, (unsigned long long)rn->ckpts);
		if (!tl_quiet)
			tl_report_summary_text(&rn->report, stderr);
	}
	if (rn->alerts && !tl_alerts_drain(rn->alerts, 5 * TL_NS_PER_S) && !tl_quiet)
		/* deliveries in flight got a moment; what is left goes first at the next start */
		tl_info("tripline run: undelivered alerts stay in '%s/outbox' for the next start",
			out_dir);
	if (stats_path) {
		struct tl_buf b = { 0 };

		stats_json(rn, &b);
		if (!tl_buf_ok(&b) || (r = tl_stats_write(stats_path, &b)) < 0) {
			tl_err("'%s': cannot write the stats: %s", stats_path,
			       tl_strerror(tl_buf_ok(&b) ? r : -ENOMEM));
			status = TL_EXIT_IO;
		}
		tl_buf_fini(&b);
	}
out:
	if (rn->consumer_running) {
		atomic_store(&rn->stop_consumer, true);
		/* serve the consumer's last messages (its close revokes) */
		for (struct cmsg c;;) {
			if (!any_msg(rn, &c)) {
				sleep_us(500);
				continue;
			}
			if (c.kind == C_MSG)
				dmsg_free(c.d);
			else if (c.kind == C_ASSIGN)
				rd_kafka_topic_partition_list_destroy(c.tp);
			else if (c.kind == C_REVOKE) {
				rd_kafka_topic_partition_list_destroy(c.tp);
				atomic_store(c.ack, 1);
			} else if (c.kind == C_END)
				break;
		}
		pthread_join(rn->consumer, NULL);
	}
	for (unsigned i = 0; i < rn->n_workers; i++) {
		struct worker *w = &rn->workers[i];

		atomic_store(&w->stop, true);
		if (w->started)
			pthread_join(w->th, NULL);
		w->started = false;
		if (w->in.slots)
			for (struct wmsg x; tl_ring_pop_spsc(&w->in, &x);)
				rd_kafka_message_destroy(x.m);
	}
	tl_report_stop(&rn->report); /* before the journal and the sinks close */
	tl_feed_stop(rn->feed);
	tl_http_stop(rn->http);
	for (struct cmsg c; any_msg(rn, &c);)
		if (c.kind == C_MSG)
			dmsg_free(c.d);
		else if (c.tp)
			rd_kafka_topic_partition_list_destroy(c.tp);
	for (int i = 0; i < MAX_SLOTS; i++)
		drop_queue(&rn->parts[i]);
	if (rn->rk) {
		/* the consumer thread closed it; if it never ran, closing would wait for it */
		if (rn->consumer_ran)
			rd_kafka_destroy(rn->rk);
		else
			rd_kafka_destroy_flags(rn->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		rn->rk = NULL;
	}
	if (rn->alerts) {
		if (tl_alerts_close(rn->alerts) < 0 && status == TL_EXIT_OK)
			status = TL_EXIT_IO;
		rn->alerts = NULL;
	}
	tl_hub_stop(rn->hub);
	if (rn->dl && tl_deadletter_close(rn->dl) < 0 && status == TL_EXIT_OK) {
		tl_err("'%s': writing the dead-letter file failed", rn->dl_path);
		status = TL_EXIT_IO;
	}
	tl_evidence_free(rn->evidence);
	tl_shards_free(rn->shards);
	tl_report_fini(&rn->report);
	for (unsigned i = 0; i < rn->n_workers; i++) {
		tl_decoder_free(rn->workers[i].dec);
		tl_ring_fini(&rn->workers[i].in);
		tl_ring_fini(&rn->workers[i].out);
	}
	tl_symtab_free(rn->syms);
	tl_ring_fini(&rn->ring);
	tl_buf_fini(&rn->metrics_text);
out_cfg:
	for (int i = 0; i < MAX_SLOTS; i++)
		free(rn->slots[i].topic);
	for (size_t i = 0; i < rn->n_cp; i++)
		free(rn->cp[i].topic);
	free(rn->cp);
	for (size_t i = 0; i < rn->n_topics; i++)
		free(rn->topics[i]);
	free(rn->topics);
	free(rn->seen);
	if (rn->secret) {
		for (volatile char *p = rn->secret; *p; p++)
			*p = 0;
		free(rn->secret);
	}
	free(rn->secret_key);
	tl_config_free(&rn->cfg);
	for (size_t i = 0; i < rn->n_old_cfgs; i++)
		tl_config_free(&rn->old_cfgs[i]);
	free(rn->old_cfgs);
	pthread_mutex_destroy(&rn->mx);
	free(rn);
	return status;
}
