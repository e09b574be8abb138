/*
 * tools/hub_cmd.c - `tripline hub`: the embedded hub (tools/hub.h) as a process of its own,
 * for scripts and for `tripline run` instances in other processes.
 *
 * stdout carries exactly one line, the bootstrap address, flushed as soon as the cluster
 * listens. With --feed a file is produced to the topic, gated by the committed offsets of a
 * consumer group; progress goes to stderr. The hub stays up after the feed ends, so its
 * consumers can finish, until SIGINT or SIGTERM. All signals are taken by the main thread
 * with sigtimedwait(): they are blocked before librdkafka starts its threads.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tripline/time.h>

#include "cli.h"
#include "hub.h"

#define PROGRESS_NS (5 * TL_NS_PER_S)

static const char hub_usage[] =
    "usage: tripline hub [options]\n"
    "\n"
    "Starts a Kafka-protocol hub on loopback (librdkafka's mock cluster), as a stand-in\n"
    "for Event Hubs' Kafka endpoint, and prints its bootstrap address (host:port[,...])\n"
    "as the only line on stdout. The hub keeps messages in memory: only the newest ~5 MB\n"
    "of each partition, so a feed waits for its consumers (see --gate-group). It runs\n"
    "until SIGINT or SIGTERM, also after the feed has ended, and then exits 0 (1 if the\n"
    "feed's file could not be read to its end).\n"
    "\n"
    "options:\n"
    "  --partitions N     partitions of the topic (default 4, at most 1024)\n"
    "  --topic T          the topic to create (default insights-logs-requestresponse)\n"
    "  --brokers N        brokers in the cluster, 1 to 16 (default 1); partition leaders\n"
    "                     are spread over them\n"
    "  --feed FILE        produce FILE to the topic: one {\"records\":[...]} envelope per\n"
    "                     line ('tripline gen --format records'), plain, .gz or .zst;\n"
    "                     line i becomes one message, without a key, on partition\n"
    "                     i % N, as Event Hubs delivers batches\n"
    "  --speed X          event-time seconds fed per second of wall time, from each\n"
    "                     line's first \"time\" (default 0: as fast as the gate allows;\n"
    "                     1200 plays an hour in 3 s)\n"
    "  --gate-group G     the consumer group the feed waits for (default tripline): no\n"
    "                     partition gets more than --max-ahead bytes beyond the offset\n"
    "                     G has committed on it (0 before its first commit)\n"
    "  --max-ahead BYTES  the gate's limit per partition (default 3145728; keep it well\n"
    "                     under the hub's ~5 MB per partition)\n"
    "  --loop             start FILE again at its end, until stopped\n"
    "  --quiet            no progress on stderr\n"
    "  --help             this text\n"
    "\n"
    "Progress (messages, records and the event time reached) goes to stderr every 5 s\n"
    "while feeding. Testing aid: SIGUSR1 takes broker 1 down (connections are dropped and\n"
    "refused), SIGUSR2 brings it back up.\n";

static bool parse_uint(const char *name, const char *s, unsigned long lo, unsigned long hi,
		       unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		tl_err("hub: --%s: expected %lu to %lu, got '%s'", name, lo, hi, s);
		return false;
	}
	*ret = v;
	return true;
}

static void progress(struct tl_feed *feed, const char *what)
{
	struct tl_feed_counts c;
	char tm[TL_TIME_TEXT_LEN + 1] = "-";

	tl_feed_counts(feed, &c);
	if (c.last_event_ns != INT64_MIN)
		tl_time_format(c.last_event_ns, tm);
	tl_info("tripline hub: %s %llu messages, %llu records, %.1f MB, event time %s%s", what,
		(unsigned long long)c.n_messages, (unsigned long long)c.n_records,
		(double)c.n_bytes / 1e6, tm, c.gated ? " (waiting for the consumers)" : "");
	if (c.n_errors)
		tl_err("hub: %llu feed errors, the last: %s", (unsigned long long)c.n_errors,
		       c.last_error);
}

int tl_cmd_hub(int argc, char **argv)
{
	const char *partitions_s = NULL, *topic = NULL, *brokers_s = NULL, *feed_path = NULL,
		   *speed_s = NULL, *group = NULL, *ahead_s = NULL;
	bool help = false, loop = false;
	const struct tl_opt opts[] = {
		{ "partitions", true, &partitions_s, NULL }, { "topic", true, &topic, NULL },
		{ "brokers", true, &brokers_s, NULL },       { "feed", true, &feed_path, NULL },
		{ "speed", true, &speed_s, NULL },           { "gate-group", true, &group, NULL },
		{ "max-ahead", true, &ahead_s, NULL },       { "loop", false, NULL, &loop },
		{ "quiet", false, NULL, &tl_quiet },         { "help", false, NULL, &help },
	};
	struct tl_hub_opts ho = { 0 };
	struct tl_feed_opts fo = { 0 };
	struct tl_hub *hub = NULL;
	struct tl_feed *feed = NULL;
	unsigned long v;
	double speed = 0;
	char err[512];
	sigset_t sigs;
	int npos, r, status = TL_EXIT_OK;

	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "hub", &npos) < 0)
		return TL_EXIT_USAGE;
	if (help) {
		(void)fputs(hub_usage, stdout);
		return TL_EXIT_OK;
	}
	if (npos > 0) {
		tl_err("hub: unexpected argument '%s' (see 'tripline hub --help')", argv[0]);
		return TL_EXIT_USAGE;
	}
	if (partitions_s) {
		if (!parse_uint("partitions", partitions_s, 1, TL_HUB_MAX_PARTITIONS, &v))
			return TL_EXIT_USAGE;
		ho.partitions = (unsigned)v;
	}
	if (brokers_s) {
		if (!parse_uint("brokers", brokers_s, 1, TL_HUB_MAX_BROKERS, &v))
			return TL_EXIT_USAGE;
		ho.brokers = (unsigned)v;
	}
	if (topic && !*topic) {
		tl_err("hub: --topic: a name, please");
		return TL_EXIT_USAGE;
	}
	if (speed_s) {
		char *end;

		speed = strtod(speed_s, &end);
		if (end == speed_s || *end || !isfinite(speed) || speed < 0) {
			tl_err("hub: --speed: expected a number >= 0, got '%s'", speed_s);
			return TL_EXIT_USAGE;
		}
	}
	if (ahead_s) {
		if (!parse_uint("max-ahead", ahead_s, 1, (unsigned long)1 << 30, &v))
			return TL_EXIT_USAGE;
		fo.max_ahead_bytes = v;
	}
	if (!feed_path && (speed_s || group || ahead_s || loop)) {
		tl_err("hub: --speed, --gate-group, --max-ahead and --loop need --feed");
		return TL_EXIT_USAGE;
	}
	ho.topic = topic;
	if (feed_path) {
		/* before the bootstrap line: a script waiting for it learns of the failure instead
		 */
		FILE *t = fopen(feed_path, "rb");

		if (!t) {
			tl_err("hub: --feed: '%s': %s", feed_path, tl_strerror(-errno));
			return TL_EXIT_IO;
		}
		(void)fclose(t);
	}

	/* before librdkafka's threads exist, so they inherit the mask and only we see these */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	if ((r = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0) {
		tl_err("hub: cannot block signals: %s", tl_strerror(-r));
		return TL_EXIT_IO;
	}
	if (tl_hub_start(&ho, &hub, err, sizeof(err)) < 0) {
		tl_err("%s", err);
		return TL_EXIT_IO;
	}
	printf("%s\n", tl_hub_bootstrap(hub));
	if (fflush(stdout) != 0) {
		tl_err("hub: cannot write to stdout: %s", tl_strerror(-errno));
		tl_hub_stop(hub);
		return TL_EXIT_IO;
	}
	if (feed_path) {
		fo.bootstrap = tl_hub_bootstrap(hub);
		fo.topic = tl_hub_topic(hub);
		fo.path = feed_path;
		fo.speed = speed;
		fo.gate_group = group;
		fo.loop = loop;
		if ((r = tl_feed_start(&fo, &feed, err, sizeof(err))) < 0) {
			tl_err("%s", err);
			tl_hub_stop(hub);
			return r == -EINVAL ? TL_EXIT_USAGE : TL_EXIT_IO;
		}
		tl_info("tripline hub: feeding '%s' to %s (%u partitions)", feed_path,
			tl_hub_topic(hub), tl_hub_partitions(hub));
	}

	bool reported_done = false;
	int64_t next_ns = tl_now_ns() + PROGRESS_NS;

	for (;;) {
		int64_t now = tl_now_ns(), wait = next_ns > now ? next_ns - now : 0;
		struct timespec ts = { (time_t)(wait / TL_NS_PER_S), (long)(wait % TL_NS_PER_S) };
		int sig = feed && !reported_done ? sigtimedwait(&sigs, NULL, &ts)
						 : sigwaitinfo(&sigs, NULL);

		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGUSR1 || sig == SIGUSR2) {
			rd_kafka_resp_err_t ke =
			    sig == SIGUSR1 ? rd_kafka_mock_broker_set_down(tl_hub_mock(hub), 1)
					   : rd_kafka_mock_broker_set_up(tl_hub_mock(hub), 1);

			tl_info("tripline hub: broker 1 %s%s%s", sig == SIGUSR1 ? "down" : "up",
				ke ? ": " : "", ke ? rd_kafka_err2str(ke) : "");
			continue;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			tl_err("hub: waiting for signals: %s", tl_strerror(-errno));
			status = TL_EXIT_IO;
			break;
		}
		if (!feed || reported_done || tl_now_ns() < next_ns)
			continue;
		next_ns = tl_now_ns() + PROGRESS_NS;
		if (tl_feed_done(feed)) {
			progress(feed, "feed ended:");
			tl_info("tripline hub: still serving until SIGINT or SIGTERM");
			reported_done = true;
		} else {
			progress(feed, "fed");
		}
	}
	if (feed) {
		struct tl_feed_counts c;

		tl_feed_counts(feed, &c);
		if (!reported_done)
			progress(feed, tl_feed_done(feed) ? "feed ended:" : "stopped after");
		if (c.input_err)
			status = TL_EXIT_IO;
	}
	tl_feed_stop(feed);
	tl_hub_stop(hub);
	return status;
}
