/*
 * tests/it_run.c - `tripline run` end to end over the real Kafka protocol (the embedded hub,
 * librdkafka's mock cluster on loopback), as an operator would check it: a day streamed
 * through 4 partitions gives byte for byte the trigger events a replay of the same logs
 * gives, at 1 and 2 detector threads; a broker going down and coming back loses nothing;
 * malformed and oversize messages land in the dead-letter file with their partition and
 * offset; a reader of stdout that falls behind does not hold the stream up, and a stdout that
 * cannot be written stops the run with the cause named. Restarts: it_run_restart.c.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "it_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <librdkafka/rdkafka.h>

TestSuite(run, .init = setup, .fini = teardown, .timeout = 300);

/* The text of the first member @key ("records", "series") of a --stats object whose value
 * is an object or an array: its {...} or [...]. */
static char *member(const char *json, const char *key)
{
	char k[64];
	const char *p = json;

	(void)snprintf(k, sizeof(k), "\"%s\":", key);
	while ((p = strstr(p, k)) && p[strlen(k)] != '{' && p[strlen(k)] != '[')
		p++;
	cr_assert(ne(ptr, (void *)p, NULL), "no %s{ or %s[ in %s", k, k, json);
	p += strlen(k);
	const char close = *p == '[' ? ']' : '}';
	int depth = 0;
	const char *e = p;

	do {
		depth += *e == '[' || *e == '{';
		depth -= *e == ']' || *e == '}';
		e++;
	} while (*e && depth > 0);
	cr_assert(eq(chr, e[-1], close), "%s is cut short", k);
	return strndup(p, (size_t)(e - p));
}

static unsigned long number_after(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	cr_assert(ne(ptr, (void *)p, NULL), "no %s in %s", key, json);
	return strtoul(p + strlen(key), NULL, 10);
}

Test(run, streamed_day_gives_the_replay_triggers_at_any_thread_count)
{
	char *want = slurp("replay.out");

	cr_assert(ge(sz, th_count_lines(want), 3), "the day has incidents: %s", want);
	cr_assert(eq(int,
		     tl("run --feed day.ndjson.zst --speed 0 --partitions 4 --metrics off --quiet "
			"--out o1 --stats run1.json >run1.out"),
		     0));
	cr_assert(eq(int,
		     tl("run --feed day.ndjson.zst --speed 0 --partitions 3 --threads 2 "
			"--decode-threads 3 --metrics off --quiet --out o2 --stats run2.json "
			">run2.out"),
		     0));
	char *got1 = slurp("run1.out"), *got2 = slurp("run2.out");

	cr_expect(eq(str, got1, want));
	cr_expect(eq(str, got2, want));

	/* --stats: the records and series counts of the replay; every partition read; how
	 * long the steps took from the arrival of the message that completed them */
	char *rs = slurp("replay.json"), *ss = slurp("run1.json"), *s2 = slurp("run2.json");
	char *a[] = { member(rs, "records"), member(rs, "series"),     member(ss, "records"),
		      member(ss, "series"),  member(ss, "partitions"), member(ss, "stream"),
		      member(rs, "notes"),   member(ss, "notes"),      member(s2, "records"),
		      member(s2, "notes") };

	cr_expect(eq(str, a[2], a[0]));
	cr_expect(eq(str, a[3], a[1]));
	/* the watermark moves between the same events however messages arrive: no record
	 * is left unchecked for duplicates or dropped as ahead that the replay took */
	cr_expect(eq(str, a[7], a[6]));
	cr_expect(eq(str, a[8], a[0]));
	cr_expect(eq(str, a[9], a[6]));
	size_t parts = 0;

	for (const char *p = a[4]; (p = strstr(p, "\"partition\":")); p++)
		parts++;
	cr_expect(eq(sz, parts, 4), "%s", a[4]);
	cr_expect(ge(ulong, number_after(a[5], "\"arrival_to_step_ms\":{\"n\":"), 500),
		  "a 15-hour day has 900 minute steps: %s", a[5]);
	cr_expect(ne(ptr, strstr(a[5], "\"p99\":"), NULL), "%s", a[5]);
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		free(a[i]);
	free(rs);
	free(ss);
	free(s2);
	free(got1);
	free(got2);
	free(want);
}

/* SIGHUP mid-stream: a config that does not load and one that changes the lateness are
 * refused and the run goes on; one that loads takes effect with the baselines kept. */
Test(run, sighup_reloads_the_rules_and_keeps_the_state)
{
	char *want = slurp("replay.out");

	/* the day's latency incident needs factor 2; with 100 it never fires */
	cr_assert(
	    eq(int,
	       sh("printf 'rules:\\n  latency: {factor: 100}\\n' >slow.yaml; "
		  "printf 'rules:\\n  latency: {factor: 2.0\\n' >bad.yaml; "
		  "printf 'lateness: 5m\\n' >late.yaml; : >default.yaml; cp slow.yaml cur.yaml"),
	       0));
	cr_assert(
	    eq(int, tl("replay --config slow.yaml --out rs --quiet day.ndjson.zst >slow.out"), 0));
	char *slow = slurp("slow.out");

	cr_assert(lt(sz, th_count_lines(slow), th_count_lines(want)),
		  "factor 100 must hide an incident:\n%s", slow);
	/* the day takes ~40 s at 1200x; the latency incident is 14 h into it (~40 s) and the
	 * reloads come within seconds of the first assignment */
	cr_assert(
	    eq(int,
	       sh(TL_TRIPLINE " run --config cur.yaml --feed day.ndjson.zst --speed 1200 "
			      "--metrics off --out o >hup.out 2>hup.err & echo $! >run.pid; "
			      "w() { for i in $(seq 300); do [ $(grep -c \"$1\" hup.err) -ge $2 ] "
			      "&& return 0; sleep 0.1; done; return 1; }; "
			      "w assigned 1 && sleep 1 && "
			      "cp bad.yaml cur.yaml && kill -HUP $(cat run.pid) && w SIGHUP 1 && "
			      "cp late.yaml cur.yaml && kill -HUP $(cat run.pid) && w SIGHUP 2 && "
			      "cp default.yaml cur.yaml && kill -HUP $(cat run.pid) && w SIGHUP 3; "
			      "r=$?; wait $(cat run.pid) && exit $r"),
	       0));
	char *err = slurp("hup.err"), *got = slurp("hup.out");

	cr_expect(ne(ptr, strstr(err, "SIGHUP: cur.yaml:3:"), NULL), "names the line: %s", err);
	cr_expect(ne(ptr, strstr(err, "lateness"), NULL), "names the setting: %s", err);
	cr_expect(ne(ptr, strstr(err, "SIGHUP: rules reloaded"), NULL), "%s", err);
	cr_expect(eq(str, got, want), "reloaded to the defaults:\n%s\nreplay:\n%s", got, want);
	free(err);
	free(got);
	free(slow);
	free(want);
}

/* APIM gateway logs with tokens: spend is summed in the order records come, which differs
 * between a merge of partitions and one file; the events must not (cost, impact.cost_usd). */
Test(run, streamed_costs_are_the_replay_costs_to_the_last_digit)
{
	cr_assert(eq(int,
		     tl("gen --format records --kind gateway --hours 24 --scale 1 --seed 3 "
			"--out gw.ndjson.zst --quiet"),
		     0));
	cr_assert(eq(int, tl("replay --out gr --quiet gw.ndjson.zst >gw-replay.out"), 0));
	cr_assert(eq(int,
		     tl("run --feed gw.ndjson.zst --speed 0 --partitions 4 --metrics off --quiet "
			"--out gs >gw-run.out"),
		     0));
	char *want = slurp("gw-replay.out"), *got = slurp("gw-run.out");

	cr_assert(ne(ptr, strstr(want, "\"cost_usd\":"), NULL), "the day has spend: %s", want);
	cr_expect(eq(str, got, want));
	free(got);
	free(want);
}

Test(run, a_broker_down_and_back_up_loses_nothing)
{
	char *want = slurp("replay.out");

	start_hub("--partitions 2 --feed day.ndjson.zst --speed 0");
	cr_assert(
	    eq(int,
	       sh(TL_TRIPLINE " run --brokers $(head -1 hub.addr) --out o --checkpoint-every "
			      "1s --metrics off --idle 30s --exit-when-idle 4s >c.out 2>c.err & "
			      "echo $! >run.pid; sleep 2; kill -USR1 $(cat hub.pid); sleep 4; "
			      "kill -USR2 $(cat hub.pid); wait $(cat run.pid)"),
	       0));
	char *got = slurp("c.out"), *hub = slurp("hub.err");

	cr_expect(ne(ptr, strstr(hub, "broker 1 down"), NULL), "%s", hub);
	cr_expect(eq(str, got, want));
	free(got);
	free(hub);
	free(want);
}

static void produce(const char *bootstrap, const char *topic, const char *payload, size_t len)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	cr_assert(eq(int, rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	cr_assert(eq(int, rd_kafka_conf_set(conf, "message.max.bytes", "4000000", err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));

	cr_assert(ne(ptr, p, NULL), "%s", err);
	/* rd_kafka_produce(), not producev(): its macros are GNU statement expressions */
	rd_kafka_topic_t *t = rd_kafka_topic_new(p, topic, NULL);

	cr_assert(ne(ptr, t, NULL));
	cr_assert(eq(
	    int, rd_kafka_produce(t, 0, RD_KAFKA_MSG_F_COPY, (void *)payload, len, NULL, 0, NULL),
	    0));
	rd_kafka_topic_destroy(t);
	cr_assert(eq(int, rd_kafka_flush(p, 10000), 0));
	rd_kafka_destroy(p);
}

Test(run, malformed_and_oversize_messages_go_to_the_dead_letter_file)
{
	start_hub("--partitions 1");
	char *addr = slurp("hub.addr");

	addr[strcspn(addr, "\n")] = 0;
	const char good[] =
	    "{\"records\":[{\"category\":\"tripline\",\"time\":\"2025-11-04T10:00:00Z\","
	    "\"deployment\":\"chat\",\"latency_ms\":100,\"status\":200}]}";
	const char bad[] = "{\"records\":[{\"category\":\"tripline\",\"time\":";
	const size_t big_len = (1u << 20) + 4096;
	char *big = malloc(big_len);

	cr_assert(ne(ptr, big, NULL));
	memset(big, ' ', big_len);
	memcpy(big, good, sizeof(good) - 1);
	produce(addr, "insights-logs-requestresponse", good, sizeof(good) - 1);
	produce(addr, "insights-logs-requestresponse", bad, sizeof(bad) - 1);
	produce(addr, "insights-logs-requestresponse", big, big_len);
	free(big);
	char cmd[1024];

	(void)snprintf(cmd, sizeof(cmd),
		       TL_TRIPLINE " run --brokers %s --out o --metrics off --exit-when-idle 2s "
				   "--decode-threads 2 "
				   ">d.out 2>d.err",
		       addr);
	cr_assert(eq(int, sh(cmd), 0));
	char *dl = slurp("o/dead-letter.ndjson");

	cr_expect(eq(sz, th_count_lines(dl), 2), "%s", dl);
	cr_expect(ne(ptr, strstr(dl, "\"partition\":0"), NULL), "%s", dl);
	cr_expect(ne(ptr, strstr(dl, "\"offset\":1"), NULL), "%s", dl);
	cr_expect(ne(ptr, strstr(dl, "\"offset\":2"), NULL), "%s", dl);
	cr_expect(ne(ptr, strstr(dl, "over 1 MiB"), NULL), "%s", dl);
	char *err = slurp("d.err");

	cr_expect(ne(ptr, strstr(err, "2 malformed"), NULL), "%s", err);
	free(err);
	free(dl);
	free(addr);
}

/* Whether file @rel of the test's directory holds @text. */
static bool file_has(const char *rel, const char *text)
{
	char *s = th_slurp(dir, rel, 1, NULL);
	const bool has = s && strstr(s, text);

	free(s);
	return has;
}

/* GET @path from 127.0.0.1:@port: the whole response, malloc'd; NULL if none. */
static char *http_get(int port, const char *path)
{
	const int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char req[256], buf[4096], *out = NULL;
	size_t n = 0;
	ssize_t k;

	if (fd < 0)
		return NULL;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		FILE *f = open_memstream(&out, &n);

		while (f && (k = read(fd, buf, sizeof(buf))) > 0)
			(void)fwrite(buf, 1, (size_t)k, f);
		if (f)
			(void)fclose(f);
	}
	(void)close(fd);
	return out;
}

/*
 * The built-in day (18 trigger events, 13 KB) streamed to a stdout pipe of 4 KiB that nobody
 * reads until the run has read the whole day: the events wait for the reader on the output
 * thread, and the stream goes on to its end meanwhile; /metrics shows them waiting. Once read,
 * they are the replay's.
 */
Test(run, a_reader_of_stdout_that_falls_behind_does_not_hold_the_stream_up)
{
	cr_assert(eq(int, tl("gen --format records --out builtin.ndjson.zst --seed 1 --quiet"), 0));
	cr_assert(eq(int, tl("replay --out rb --quiet builtin.ndjson.zst >builtin.out"), 0));
	char *want = slurp("builtin.out");

	cr_assert(gt(sz, strlen(want), 3 * 4096), "more events than the pipe holds: %s", want);
	int fd[2];

	cr_assert(eq(int, pipe(fd), 0));
	cr_assert(ge(int, fcntl(fd[1], F_SETPIPE_SZ, 4096), 4096), "%s", strerror(errno));
	cr_assert(lt(int, fcntl(fd[1], F_GETPIPE_SZ), 8192));
	const int port = 20000 + (int)(getpid() % 20000);
	char metrics[64];

	(void)snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", port);
	const pid_t pid = fork();

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		if (dup2(fd[1], STDOUT_FILENO) < 0 || chdir(dir) < 0 ||
		    !freopen("stall.err", "w", stderr))
			_exit(127);
		(void)close(fd[0]);
		(void)close(fd[1]);
		(void)execl(TL_TRIPLINE, "tripline", "run", "--feed", "builtin.ndjson.zst",
			    "--speed", "0", "--partitions", "4", "--metrics", metrics, "--out", "o",
			    (char *)NULL);
		_exit(127);
	}
	(void)close(fd[1]);
	/* nothing read: the run must still get to the end of the day (stderr says so) */
	bool at_end = false;

	for (int i = 0; i < 1200 && !at_end; i++) {
		at_end = file_has("stall.err", "every partition at its end");
		if (!at_end)
			(void)nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	}
	struct pollfd pfd = { .fd = fd[0], .events = POLLIN };

	cr_expect(eq(int, poll(&pfd, 1, 0), 1), "the run wrote nothing to stdout");
	/* the events that do not fit the pipe wait on the output thread (metrics are rendered
	 * each second) */
	unsigned long pending = 0;

	for (int i = 0; i < 50 && pending == 0; i++) {
		char *m = http_get(port, "/metrics");
		const char *p = m ? strstr(m, "\ntripline_output_pending_steps ") : NULL;

		if (p)
			pending = strtoul(p + strlen("\ntripline_output_pending_steps "), NULL, 10);
		free(m);
		if (pending == 0)
			(void)nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	}
	cr_expect(ge(ulong, pending, 1), "no step waiting for the output thread in /metrics");
	/* now read: the run finishes and exits */
	char *got = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&got, &n);
	char buf[4096];
	ssize_t k;

	cr_assert(ne(ptr, out, NULL));
	while ((k = read(fd[0], buf, sizeof(buf))) > 0)
		(void)fwrite(buf, 1, (size_t)k, out);
	(void)fclose(out);
	(void)close(fd[0]);
	int status = 0;

	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	char *err = slurp("stall.err");

	const bool exited_0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;

	cr_expect(at_end, "the stream stopped while stdout was not read: %s", err);
	cr_expect(exited_0, "status %d: %s", status, err);
	cr_expect(eq(str, got, want));
	free(err);
	free(got);
	free(want);
}

/* stdout on a full disk: the run stops early, exit status 1, and says why. */
Test(run, a_stdout_that_cannot_be_written_stops_the_run_and_says_why)
{
	cr_assert(eq(int, sh("[ -w /dev/full ]"), 0), "this test needs /dev/full");
	const int r = tl("run --feed day.ndjson.zst --speed 0 --partitions 4 --metrics off --out o "
			 ">/dev/full");
	char *err = slurp("stderr.txt");

	cr_expect(eq(int, r, 1), "%s", err);
	cr_expect(
	    ne(ptr, strstr(err, "writing trigger events failed: No space left on device"), NULL),
	    "%s", err);
	/* it stopped at the failure: the day was not read to its end */
	cr_expect(eq(ptr, strstr(err, "every partition at its end"), NULL), "%s", err);
	cr_expect(ne(ptr, strstr(err, "offsets not committed"), NULL), "%s", err);
	free(err);
}
