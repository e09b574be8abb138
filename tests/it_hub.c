/*
 * tests/it_hub.c - the embedded hub and its feeder (tools/hub.h), read back by a plain
 * librdkafka consumer: every line of a `tripline gen --format records` file arrives once, on
 * partition (line index % partitions), in order; the gate holds the feeder at max_ahead_bytes
 * until the consumer's position (a callback, or a group's commits) moves; and `tripline hub`
 * prints its bootstrap address, serves it, and exits 0 on SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <librdkafka/rdkafka.h>

#include "files.h"
#include "hub.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

#define N_PARTS   4
#define MAX_LINES 4096

static char dir[] = "/tmp/tl-it-hub-XXXXXX";
static char path[1200]; /* the generated file, plain NDJSON */
static char *text;      /* its contents */
static const char *line[MAX_LINES];
static size_t line_len[MAX_LINES], n_lines;
static unsigned long long n_records; /* as gen counted them */

static void setup(void)
{
	char cmd[2048], *err;

	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	(void)snprintf(cmd, sizeof(cmd),
		       "gen --format records --hours 2 --seed 7 --out hub.ndjson 2>gen.txt");
	cr_assert(eq(int, th_run(dir, TL_TRIPLINE, cmd), 0));
	(void)snprintf(path, sizeof(path), "%s/hub.ndjson", dir);
	err = th_slurp(dir, "gen.txt", 1, NULL);
	cr_assert(ne(ptr, err, NULL));
	cr_assert(eq(int, sscanf(strstr(err, "gen: ") + 5, "%llu records", &n_records), 1));
	free(err);
	text = th_slurp(dir, "hub.ndjson", 1, NULL);
	cr_assert(ne(ptr, text, NULL));
	for (char *p = text, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		cr_assert(ne(ptr, nl, NULL));
		cr_assert(lt(sz, n_lines, (size_t)MAX_LINES));
		line[n_lines] = p;
		line_len[n_lines++] = (size_t)(nl - p);
	}
	cr_assert(ge(sz, n_lines, (size_t)40), "a 2-hour file has %zu lines", n_lines);
}

static void teardown(void)
{
	free(text);
	th_rmrf(dir);
	cr_assert(eq(int, rd_kafka_wait_destroyed(5000), 0), "an rdkafka handle was not destroyed");
}

TestSuite(hub, .init = setup, .fini = teardown, .timeout = 60);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- a plain consumer -------------------------------------------------------------------- */

struct reader {
	rd_kafka_t *rk;
	unsigned n_parts;
	size_t got[N_PARTS];      /* messages received per partition */
	size_t bytes[N_PARTS];    /* their payload bytes */
	int64_t next[N_PARTS];    /* offset after the last received */
	size_t total, duplicates; /* duplicates: offsets seen before */
};

/* A consumer assigned every partition from the beginning, in @group (only its commits count:
 * it never subscribes). librdkafka 2.0 wants a group even for rd_kafka_assign(). */
static void reader_init(struct reader *r, const char *bootstrap, unsigned n_parts,
			const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n_parts);
	char err[256];

	memset(r, 0, sizeof(*r));
	r->n_parts = n_parts;
	cr_assert(eq(int, rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	cr_assert(eq(int, rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	cr_assert(eq(int, rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	cr_assert(eq(int, rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	cr_assert(ne(ptr, r->rk, NULL), "%s", err);
	for (unsigned p = 0; p < n_parts; p++)
		rd_kafka_topic_partition_list_add(l, TL_HUB_TOPIC, (int32_t)p)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	cr_assert(eq(int, rd_kafka_assign(r->rk, l), 0));
	rd_kafka_topic_partition_list_destroy(l);
}

static void reader_fini(struct reader *r)
{
	(void)rd_kafka_consumer_close(r->rk);
	rd_kafka_destroy(r->rk);
}

/*
 * Poll for @ms: each message must be the next line of its partition, the one with index
 * got * n_parts + partition.
 */
static void reader_poll(struct reader *r, int64_t ms)
{
	for (int64_t end = now_ms() + ms; now_ms() < end;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 20);

		if (!m)
			continue;
		if (m->err) {
			cr_assert(eq(int, m->err, RD_KAFKA_RESP_ERR__PARTITION_EOF), "%s",
				  rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		unsigned p = (unsigned)m->partition;
		size_t k = r->got[p] * r->n_parts + p;

		cr_assert(lt(u32, p, r->n_parts));
		if (m->offset < r->next[p]) {
			r->duplicates++;
			rd_kafka_message_destroy(m);
			continue;
		}
		cr_assert(lt(sz, k, n_lines), "partition %u: a message after the last line", p);
		cr_assert(eq(sz, m->len, line_len[k]), "partition %u message %zu is not line %zu",
			  p, r->got[p], k);
		cr_assert(eq(int, memcmp(m->payload, line[k], m->len), 0),
			  "partition %u message %zu is not line %zu", p, r->got[p], k);
		cr_assert(eq(ptr, m->key, NULL));
		r->got[p]++;
		r->bytes[p] += m->len;
		r->next[p] = m->offset + 1;
		r->total++;
		rd_kafka_message_destroy(m);
	}
}

/* Poll until @n messages in all or @ms passed. */
static void reader_until(struct reader *r, size_t n, int64_t ms)
{
	for (int64_t end = now_ms() + ms; r->total < n && now_ms() < end;)
		reader_poll(r, 50);
}

/* ---- the consumer position the gate reads (callback mode) -------------------------------- */

static _Atomic int64_t positions[N_PARTS];

static int64_t position(void *ud, int32_t partition)
{
	(void)ud;
	return atomic_load_explicit(&positions[partition], memory_order_relaxed);
}

static void positions_set(const struct reader *r)
{
	for (unsigned p = 0; p < N_PARTS; p++)
		atomic_store_explicit(&positions[p], r ? r->next[p] : -1, memory_order_relaxed);
}

static struct tl_hub *hub_start(unsigned partitions)
{
	struct tl_hub_opts ho = { .partitions = partitions };
	struct tl_hub *h = NULL;
	char err[256];

	cr_assert(eq(int, tl_hub_start(&ho, &h, err, sizeof(err)), 0), "%s", err);
	cr_assert(ne(ptr, (void *)tl_hub_bootstrap(h), NULL));
	cr_assert(eq(str, (char *)tl_hub_topic(h), TL_HUB_TOPIC));
	return h;
}

static void wait_done(struct tl_feed *f, int64_t ms)
{
	for (int64_t end = now_ms() + ms; !tl_feed_done(f) && now_ms() < end;)
		sleep_ms(10);
	cr_assert(tl_feed_done(f), "the feed did not finish in %lld ms", (long long)ms);
}

/* ---- the tests --------------------------------------------------------------------------- */

Test(hub, every_line_arrives_once_in_order_on_its_round_robin_partition)
{
	struct tl_hub *h = hub_start(N_PARTS);
	struct tl_feed_opts fo = { .bootstrap = tl_hub_bootstrap(h),
				   .path = path,
				   .position = position };
	struct tl_feed *f = NULL;
	struct tl_feed_counts c;
	struct reader r;
	char err[256];

	positions_set(NULL);
	cr_assert(eq(int, tl_feed_start(&fo, &f, err, sizeof(err)), 0), "%s", err);
	reader_init(&r, tl_hub_bootstrap(h), N_PARTS, "it-hub-reader");
	for (int64_t end = now_ms() + 20000; r.total < n_lines && now_ms() < end;) {
		reader_poll(&r, 50);
		positions_set(&r);
	}
	wait_done(f, 10000);
	reader_poll(&r, 300); /* nothing more may come */
	cr_assert(eq(sz, r.total, n_lines));
	cr_assert(eq(sz, r.duplicates, (size_t)0));
	for (unsigned p = 0; p < N_PARTS; p++)
		cr_assert(eq(sz, r.got[p], (n_lines + N_PARTS - 1 - p) / N_PARTS));
	tl_feed_counts(f, &c);
	cr_assert(eq(u64, c.n_lines, (uint64_t)n_lines));
	cr_assert(eq(u64, c.n_messages, (uint64_t)n_lines));
	cr_assert(eq(u64, c.n_records, (uint64_t)n_records));
	cr_assert(eq(u64, c.n_errors, (uint64_t)0), "%s", c.last_error);
	cr_assert(eq(int, c.input_err, 0));
	cr_assert(ge(i64, c.last_event_ns, (int64_t)1700000000 * 1000000000));
	tl_feed_stop(f);
	reader_fini(&r);
	tl_hub_stop(h);
}

/* The bytes on partition @p beyond the reader's position, had the next line gone too. */
static size_t next_line_len(const struct reader *r, unsigned p)
{
	size_t k = r->got[p] * N_PARTS + p;

	return k < n_lines ? line_len[k] : 0;
}

static void assert_gate_holds(const struct reader *r, size_t limit)
{
	for (unsigned p = 0; p < N_PARTS; p++) {
		cr_assert(le(sz, r->bytes[p], limit), "partition %u: %zu bytes ahead", p,
			  r->bytes[p]);
		if (next_line_len(r, p))
			cr_assert(ge(sz, r->bytes[p] + next_line_len(r, p), limit + 1),
				  "partition %u: the gate shut early at %zu bytes", p, r->bytes[p]);
	}
}

Test(hub, the_gate_stops_the_feed_at_max_ahead_until_the_consumer_moves)
{
	const size_t limit = 200000;
	struct tl_hub *h = hub_start(N_PARTS);
	struct tl_feed_opts fo = { .bootstrap = tl_hub_bootstrap(h),
				   .path = path,
				   .max_ahead_bytes = limit,
				   .position = position };
	struct tl_feed *f = NULL;
	struct tl_feed_counts c;
	struct reader r;
	char err[256];
	uint64_t held;

	positions_set(NULL);
	cr_assert(eq(int, tl_feed_start(&fo, &f, err, sizeof(err)), 0), "%s", err);
	reader_init(&r, tl_hub_bootstrap(h), N_PARTS, "it-hub-reader");
	/* read everything there is while the position stays at 0 */
	for (int64_t end = now_ms() + 5000; now_ms() < end; reader_poll(&r, 50)) {
		tl_feed_counts(f, &c);
		/* waiting, with all it produced acknowledged and read (not merely gated before
		 * the first acknowledgement, when all three are 0) */
		if (c.gated && c.n_messages == c.n_lines && c.n_messages == r.total && r.total > 0)
			break;
	}
	reader_poll(&r, 500);
	tl_feed_counts(f, &c);
	cr_assert(c.gated, "the feeder is not waiting");
	cr_assert(eq(u64, c.n_lines, (uint64_t)r.total));
	cr_assert(lt(u64, c.n_lines, (uint64_t)n_lines));
	/* four ~49 KB lines fit in 200 KB on each partition: a fifth does not */
	cr_assert(ge(sz, r.total, (size_t)N_PARTS * 3));
	assert_gate_holds(&r, limit);
	held = c.n_lines;
	sleep_ms(300);
	tl_feed_counts(f, &c);
	cr_assert(eq(u64, c.n_lines, held), "the feeder went on while the consumer stood still");

	/* the consumer takes what it has: the feeder goes on, and holds again */
	positions_set(&r);
	reader_until(&r, held + 1, 5000);
	cr_assert(ge(sz, r.total, (size_t)held + 1), "the feeder did not resume");
	size_t base[N_PARTS];

	for (unsigned p = 0; p < N_PARTS; p++)
		base[p] = r.bytes[p];
	reader_poll(&r, 500);
	for (unsigned p = 0; p < N_PARTS; p++)
		cr_assert(le(sz, r.bytes[p] - base[p], limit), "partition %u: over the limit", p);

	/* and with the consumer keeping up, all of it arrives */
	for (int64_t end = now_ms() + 20000; r.total < n_lines && now_ms() < end;) {
		reader_poll(&r, 50);
		positions_set(&r);
	}
	cr_assert(eq(sz, r.total, n_lines));
	wait_done(f, 5000);
	tl_feed_counts(f, &c);
	cr_assert(eq(u64, c.n_messages, (uint64_t)n_lines));
	cr_assert(eq(u64, c.n_errors, (uint64_t)0), "%s", c.last_error);
	tl_feed_stop(f);
	reader_fini(&r);
	tl_hub_stop(h);
}

/* Commit the reader's positions for its group, synchronously. */
static void reader_commit(const struct reader *r)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(N_PARTS);
	int n = 0;

	for (unsigned p = 0; p < N_PARTS; p++)
		if (r->next[p] > 0) {
			rd_kafka_topic_partition_list_add(l, TL_HUB_TOPIC, (int32_t)p)->offset =
			    r->next[p];
			n++;
		}
	if (n)
		cr_assert(eq(int, rd_kafka_commit(r->rk, l, 0), 0));
	rd_kafka_topic_partition_list_destroy(l);
}

Test(hub, without_a_callback_the_gate_follows_the_groups_commits)
{
	const size_t limit = 200000;
	struct tl_hub *h = hub_start(N_PARTS);
	struct tl_feed_opts fo = { .bootstrap = tl_hub_bootstrap(h),
				   .path = path,
				   .max_ahead_bytes = limit,
				   .gate_group = "it-hub" };
	struct tl_feed *f = NULL;
	struct tl_feed_counts c;
	struct reader r;
	char err[256];

	cr_assert(eq(int, tl_feed_start(&fo, &f, err, sizeof(err)), 0), "%s", err);
	reader_init(&r, tl_hub_bootstrap(h), N_PARTS, "it-hub");
	for (int64_t end = now_ms() + 5000; now_ms() < end; reader_poll(&r, 50)) {
		tl_feed_counts(f, &c);
		if (c.gated && c.n_messages == r.total)
			break;
	}
	reader_poll(&r, 300);
	tl_feed_counts(f, &c);
	cr_assert(c.gated, "the feeder is not waiting for the group");
	cr_assert(eq(u64, c.n_lines, (uint64_t)r.total));
	assert_gate_holds(&r, limit);
	/* reading is not enough: the gate moves when the group commits */
	for (int64_t end = now_ms() + 20000; r.total < n_lines && now_ms() < end;) {
		reader_poll(&r, 50);
		reader_commit(&r);
	}
	cr_assert(eq(sz, r.total, n_lines));
	wait_done(f, 5000);
	tl_feed_counts(f, &c);
	cr_assert(eq(u64, c.n_messages, (uint64_t)n_lines));
	cr_assert(eq(u64, c.n_errors, (uint64_t)0), "%s", c.last_error);
	tl_feed_stop(f);
	reader_fini(&r);
	tl_hub_stop(h);
}

Test(hub, speed_paces_the_feed_by_event_time)
{
	struct tl_hub *h = hub_start(N_PARTS);
	/* two hours of event time at 3600 s per second: about 2 s */
	struct tl_feed_opts fo = { .bootstrap = tl_hub_bootstrap(h),
				   .path = path,
				   .speed = 3600,
				   .max_ahead_bytes = (size_t)64 << 20,
				   .position = position };
	struct tl_feed *f = NULL;
	struct tl_feed_counts c;
	char err[256];
	int64_t t0 = now_ms(), half_ms;

	positions_set(NULL);
	cr_assert(eq(int, tl_feed_start(&fo, &f, err, sizeof(err)), 0), "%s", err);
	sleep_ms(1000);
	tl_feed_counts(f, &c);
	half_ms = now_ms() - t0;
	cr_assert(lt(u64, c.n_lines, (uint64_t)n_lines), "all of it in %lld ms",
		  (long long)half_ms);
	cr_assert(ge(u64, c.n_lines, (uint64_t)1));
	wait_done(f, 10000);
	cr_assert(ge(i64, now_ms() - t0, (int64_t)1500));
	tl_feed_counts(f, &c);
	cr_assert(eq(u64, c.n_messages, (uint64_t)n_lines));
	tl_feed_stop(f);
	tl_hub_stop(h);
}

Test(hub, a_looping_feed_starts_over_until_stopped)
{
	struct tl_hub *h = hub_start(N_PARTS);
	struct tl_feed_opts fo = {
		.bootstrap = tl_hub_bootstrap(h), .path = path, .position = position, .loop = true
	};
	struct tl_feed *f = NULL;
	struct tl_feed_counts c = { 0 };
	char err[256];

	/* a consumer far ahead: nothing is gated */
	for (unsigned p = 0; p < N_PARTS; p++)
		atomic_store_explicit(&positions[p], INT64_MAX, memory_order_relaxed);
	cr_assert(eq(int, tl_feed_start(&fo, &f, err, sizeof(err)), 0), "%s", err);
	for (int64_t end = now_ms() + 10000; now_ms() < end; sleep_ms(20)) {
		tl_feed_counts(f, &c);
		if (c.n_messages > 2 * n_lines)
			break;
	}
	cr_assert(ge(u64, c.n_messages, (uint64_t)(2 * n_lines + 1)));
	cr_assert(not(tl_feed_done(f)));
	tl_feed_counts(f, &c);
	cr_assert(eq(u64, c.n_errors, (uint64_t)0), "%s", c.last_error);
	tl_feed_stop(f);
	tl_hub_stop(h);
}

Test(hub, a_feed_of_a_missing_file_names_it)
{
	struct tl_hub *h = hub_start(N_PARTS);
	struct tl_feed_opts fo = { .bootstrap = tl_hub_bootstrap(h), .path = "/nonexistent/x.zst" };
	struct tl_feed *f = NULL;
	char err[256] = "";

	cr_assert(eq(int, tl_feed_start(&fo, &f, err, sizeof(err)), -ENOENT));
	cr_assert(eq(ptr, f, NULL));
	cr_assert(ne(ptr, strstr(err, "/nonexistent/x.zst"), NULL), "%s", err);
	tl_hub_stop(h);
}

/* ---- the command ------------------------------------------------------------------------- */

/* Start `tripline hub @args...` with stdout on a pipe (@ret_out) and stderr in hub.err. */
static pid_t spawn_hub(char *const args[], FILE **ret_out)
{
	int fds[2];
	pid_t pid;
	char errpath[1300];

	cr_assert(eq(int, pipe(fds), 0));
	(void)snprintf(errpath, sizeof(errpath), "%s/hub.err", dir);
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (e < 0 || dup2(fds[1], 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		close(fds[0]);
		close(fds[1]);
		close(e);
		execv(TL_TRIPLINE, args);
		_exit(127);
	}
	close(fds[1]);
	*ret_out = fdopen(fds[0], "r");
	cr_assert(ne(ptr, *ret_out, NULL));
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	cr_assert(eq(int, waitpid(pid, &st, 0), pid));
	bool exited = WIFEXITED(st);

	cr_assert(exited, "the hub did not exit by itself (status %d)", st);
	return WEXITSTATUS(st);
}

Test(hub, the_command_prints_its_bootstrap_serves_the_feed_and_exits_0_on_sigterm)
{
	char *args[] = { TL_TRIPLINE, "hub",     "--partitions", "4", "--feed",
			 path,        "--speed", "3600",         NULL };
	char bootstrap[256], rest[16], *errtext;
	struct reader r;
	FILE *out;
	pid_t pid = spawn_hub(args, &out);

	cr_assert(ne(ptr, fgets(bootstrap, sizeof(bootstrap), out), NULL), "no bootstrap line");
	cr_assert(ne(ptr, strchr(bootstrap, '\n'), NULL));
	*strchr(bootstrap, '\n') = '\0';
	cr_assert(eq(int, strncmp(bootstrap, "127.0.0.1:", 10), 0), "'%s'", bootstrap);

	/* the testing aid: broker 1 goes down and comes back; the feed just waits */
	cr_assert(eq(int, kill(pid, SIGUSR1), 0));
	sleep_ms(300);
	cr_assert(eq(int, kill(pid, SIGUSR2), 0));
	reader_init(&r, bootstrap, N_PARTS, "it-hub-reader");
	reader_until(&r, n_lines, 20000);
	cr_assert(eq(sz, r.total, n_lines));
	cr_assert(eq(sz, r.duplicates, (size_t)0)); /* the idempotent producer retried */
	reader_fini(&r);

	cr_assert(eq(int, kill(pid, SIGTERM), 0));
	cr_assert(eq(int, wait_exit(pid), 0));
	cr_assert(eq(ptr, fgets(rest, sizeof(rest), out), NULL), "more than one line on stdout");
	fclose(out);
	errtext = th_slurp(dir, "hub.err", 1, NULL);
	cr_assert(ne(ptr, strstr(errtext, "broker 1 down"), NULL), "%s", errtext);
	cr_assert(ne(ptr, strstr(errtext, "broker 1 up"), NULL), "%s", errtext);
	free(errtext);
}

Test(hub, the_command_with_a_missing_feed_exits_1_naming_it)
{
	char *args[] = { TL_TRIPLINE, "hub", "--feed", "no-such-batches.ndjson.zst", NULL };
	char buf[64], *errtext;
	FILE *out;
	pid_t pid = spawn_hub(args, &out);

	cr_assert(eq(ptr, fgets(buf, sizeof(buf), out), NULL), "a bootstrap line all the same");
	fclose(out);
	cr_assert(eq(int, wait_exit(pid), 1));
	errtext = th_slurp(dir, "hub.err", 1, NULL);
	cr_assert(ne(ptr, strstr(errtext, "no-such-batches.ndjson.zst"), NULL), "%s", errtext);
	free(errtext);
}

Test(hub, the_command_rejects_bad_usage_with_2)
{
	char *args[] = { TL_TRIPLINE, "hub", "--partitions", "0", NULL };
	char *args2[] = { TL_TRIPLINE, "hub", "--speed", "3", NULL };
	FILE *out;

	cr_assert(eq(int, wait_exit(spawn_hub(args, &out)), 2));
	fclose(out);
	cr_assert(eq(int, wait_exit(spawn_hub(args2, &out)), 2));
	fclose(out);
}
