/*
 * tests/it_alerts.c - alert delivery end to end, as an on-call team would check it (issue 6):
 * a replayed day with --deliver reaches a PagerDuty and an Azure common-alert webhook whose
 * receiver refuses the first requests, every trigger, update and resolution in order, one
 * delivery each, keyed by incident; without --deliver nobody is paged; a run killed with
 * SIGKILL while its receiver was refusing delivers exactly the pending events after the
 * restart; a receiver that never answers only costs the dead-letter file. Secrets (URL
 * tokens, the routing key) appear in no output.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "files.h"
#include "receiver.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

static char dir[] = "/tmp/tl-it-alerts-XXXXXX";
static struct receiver rcv;

static int sh(const char *cmd)
{
	char c[8192];

	(void)snprintf(c, sizeof(c), "{ %s\n}", cmd);
	return th_sh(dir, c);
}

static int tl(const char *args)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>>stderr.txt", args);
	return th_run(dir, TL_TRIPLINE, a);
}

static char *slurp(const char *rel)
{
	char *buf = th_slurp(dir, rel, 1, NULL);

	cr_assert(ne(ptr, buf, NULL), "%s/%s", dir, rel);
	return buf;
}

/* Two webhooks on the receiver: PagerDuty and Azure's common alert schema; @extra is added to
 * both (timeouts, max_age). Their URLs and the routing key are secrets. */
static void write_config(const char *extra)
{
	char cmd[4096];

	(void)snprintf(cmd, sizeof(cmd),
		       "cat >c.yaml <<'EOF'\n"
		       "sinks:\n"
		       "  - type: webhook\n"
		       "    name: pd\n"
		       "    format: pagerduty\n"
		       "    url: http://127.0.0.1:%u/pd/SECRETPATH\n"
		       "    routing_key: R0UTINGKEY\n"
		       "    retry_initial: 100ms\n"
		       "    retry_max: 400ms\n"
		       "%s"
		       "  - type: webhook\n"
		       "    name: azure\n"
		       "    format: azure-common-alert\n"
		       "    url_env: TL_TEST_AZURE_URL\n"
		       "    retry_initial: 100ms\n"
		       "    retry_max: 400ms\n"
		       "%s"
		       "EOF\n",
		       rcv.port, extra, extra);
	cr_assert(eq(int, sh(cmd), 0));
	(void)snprintf(cmd, sizeof(cmd), "http://127.0.0.1:%u/az/x?code=SECRETQ", rcv.port);
	cr_assert(eq(int, setenv("TL_TEST_AZURE_URL", cmd, 1), 0));
}

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	cr_assert(eq(int, rcv_start(&rcv), 0));
	cr_assert(eq(int,
		     tl("gen --format records --kind rr --hours 15 --scale 0.5 --out "
			"day.ndjson.zst --seed 3 --quiet"),
		     0));
	cr_assert(eq(int, tl("replay --out rp --quiet day.ndjson.zst >replay.out"), 0));
}

static void teardown(void)
{
	(void)sh("[ -f hub.pid ] && kill $(cat hub.pid) 2>/dev/null; "
		 "[ -f run.pid ] && kill -9 $(cat run.pid) 2>/dev/null; true");
	rcv_stop(&rcv);
	th_rmrf(dir);
}

TestSuite(alerts, .init = setup, .fini = teardown, .timeout = 240);

/* The answered (2xx) requests to @prefix, in the order they came. */
static size_t delivered(const char *prefix, const char **out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&rcv.mx);
	for (size_t i = 0; i < rcv.n && n < cap; i++)
		if (strncmp(rcv.req[i].path, prefix, strlen(prefix)) == 0 &&
		    rcv.req[i].status / 100 == 2)
			out[n++] = rcv.req[i].body;
	pthread_mutex_unlock(&rcv.mx);
	return n;
}

/* Each event of @want (NDJSON) arrived once, in order, in both formats. */
static void expect_every_event(const char *want)
{
	const char *pd[64], *az[64];
	const size_t n = th_count_lines(want), npd = delivered("/pd/", pd, 64),
		     naz = delivered("/az/", az, 64);
	const char *line = want;

	cr_expect(eq(sz, npd, n), "PagerDuty got %zu of %zu events", npd, n);
	cr_expect(eq(sz, naz, n), "Azure got %zu of %zu events", naz, n);
	for (size_t i = 0; i < n && i < npd && i < naz; i++) {
		char id[64], type[16], want_pd[128];

		cr_assert(th_field(line, "incident_id", id, sizeof(id)));
		cr_assert(th_field(line, "type", type, sizeof(type)));
		const bool resolved = strcmp(type, "resolved") == 0;

		(void)snprintf(want_pd, sizeof(want_pd), "\"dedup_key\":\"%s\"", id);
		cr_expect(ne(ptr, strstr(pd[i], want_pd), NULL), "event %zu (%s): %s", i, id,
			  pd[i]);
		cr_expect(ne(ptr,
			     strstr(pd[i], resolved ? "\"event_action\":\"resolve\""
						    : "\"event_action\":\"trigger\""),
			     NULL),
			  "event %zu: %s", i, pd[i]);
		cr_expect(ne(ptr, strstr(pd[i], "\"routing_key\":\"R0UTINGKEY\""), NULL), "%s",
			  pd[i]);
		cr_expect(
		    ne(ptr, strstr(az[i], "\"schemaId\":\"azureMonitorCommonAlertSchema\""), NULL),
		    "%s", az[i]);
		cr_expect(ne(ptr, strstr(az[i], id), NULL), "event %zu (%s): %s", i, id, az[i]);
		cr_expect(ne(ptr,
			     strstr(az[i], resolved ? "\"monitorCondition\":\"Resolved\""
						    : "\"monitorCondition\":\"Fired\""),
			     NULL),
			  "event %zu: %s", i, az[i]);
		line = strchr(line, '\n') + 1;
	}
}

/* No secret in anything tripline printed or wrote beside the outbox and the requests. */
static void expect_no_secrets(void)
{
	cr_expect(eq(int,
		     sh("! grep -r -l -e SECRETPATH -e SECRETQ -e R0UTINGKEY "
			"--exclude-dir=outbox --exclude=c.yaml . >leaks.txt"),
		     0),
		  "a secret was printed or written: see %s/leaks.txt", dir);
}

Test(alerts, replay_delivers_every_event_in_both_formats_through_refusals)
{
	char *want = slurp("replay.out");

	cr_assert(ge(sz, th_count_lines(want), 3), "the day has incidents: %s", want);
	atomic_store(&rcv.refuse, 3);
	atomic_store(&rcv.retry_after, 1);
	write_config("");
	cr_assert(eq(int,
		     tl("replay --config c.yaml --deliver --out o --stats st.json "
			"day.ndjson.zst >got.out"),
		     0));
	char *got = slurp("got.out"), *st = slurp("st.json");

	cr_expect(eq(str, got, want), "stdout is the same with sinks");
	cr_expect(eq(sz, rcv_count(&rcv, "/", 5), 3), "three refusals");
	expect_every_event(want);
	cr_expect(ne(ptr, strstr(st, "\"alerts\":[{\"sink\":\"pd\",\"delivered\":"), NULL), "%s",
		  st);
	/* the refused request with Retry-After: 1 was not retried sooner */
	pthread_mutex_lock(&rcv.mx);
	for (size_t i = 1; i < rcv.n; i++)
		if (strncmp(rcv.req[i].path, rcv.req[0].path, 4) == 0) {
			cr_expect(ge(dbl, rcv.req[i].at - rcv.req[0].at, 0.95),
				  "retried %.3f s after Retry-After: 1",
				  rcv.req[i].at - rcv.req[0].at);
			break;
		}
	pthread_mutex_unlock(&rcv.mx);
	expect_no_secrets();
	free(st);
	free(got);
	free(want);
}

Test(alerts, replay_without_deliver_pages_no_one)
{
	write_config("");
	cr_assert(eq(int, tl("replay --config c.yaml --out o day.ndjson.zst >got.out"), 0));
	char *err = slurp("stderr.txt");

	cr_expect(eq(sz, rcv.n, 0), "a backtest sent %zu requests", rcv.n);
	cr_expect(ne(ptr, strstr(err, "stay silent"), NULL), "%s", err);
	free(err);
}

Test(alerts, kill_9_with_a_pending_outbox_and_a_restart_delivers_every_event_once)
{
	char *want = slurp("replay.out");
	char cmd[2048];

	atomic_store(&rcv.refuse, 1000000); /* down for the first run */
	write_config("");
	/* the killed member leaves the group after the session timeout: 6 s, not 45 */
	cr_assert(eq(int,
		     sh("printf 'source:\\n  kafka:\\n    session.timeout.ms: 6000\\n"
			"    heartbeat.interval.ms: 500\\n' >>c.yaml"),
		     0));
	(void)snprintf(
	    cmd, sizeof(cmd),
	    "%s hub --partitions 4 --feed day.ndjson.zst --speed 0 >hub.addr 2>hub.err & "
	    "echo $! >hub.pid; "
	    "for i in $(seq 100); do [ -s hub.addr ] && exit 0; sleep 0.1; done; exit 1",
	    TL_TRIPLINE);
	cr_assert(eq(int, sh(cmd), 0), "the hub printed no address");
	/* the first run tells every event (journal, outbox, stdout), then dies */
	(void)snprintf(cmd, sizeof(cmd),
		       TL_TRIPLINE " run --config c.yaml --brokers $(head -1 hub.addr) --out o "
				   "--checkpoint-every 1s --idle 2s --metrics off >a.out 2>a.err & "
				   "echo $! >run.pid; "
				   "for i in $(seq 900); do [ $(wc -l <a.out) -ge %zu ] && break; "
				   "sleep 0.1; done; sleep 1; kill -9 $(cat run.pid); wait; "
				   "[ $(wc -l <a.out) -ge %zu ]",
		       th_count_lines(want), th_count_lines(want));
	cr_assert(eq(int, sh(cmd), 0), "the first run did not tell every event");
	cr_expect(eq(sz, rcv_count(&rcv, "/", 2), 0), "nothing was delivered before the kill");
	cr_expect(ge(sz, rcv_count(&rcv, "/", 5), 2), "the first run tried");
	/* the receiver is back; the restart delivers what the outbox holds */
	atomic_store(&rcv.refuse, 0);
	cr_assert(eq(int,
		     sh(TL_TRIPLINE " run --config c.yaml --brokers $(head -1 hub.addr) --out o "
				    "--checkpoint-every 1s --metrics off --exit-when-idle 3s "
				    ">b.out 2>b.err"),
		     0));
	char *b = slurp("b.out"), *err = slurp("b.err");

	cr_expect(eq(str, b, ""), "the restart told nothing again");
	cr_expect(ne(ptr, strstr(err, "pending from before"), NULL), "%s", err);
	expect_every_event(want);
	expect_no_secrets();
	free(err);
	free(b);
	free(want);
}

Test(alerts, a_receiver_that_never_answers_costs_only_the_dead_letter_file)
{
	char *want = slurp("replay.out");

	atomic_store(&rcv.hang, true);
	write_config("    timeout: 60s\n    max_age: 3s\n");
	cr_assert(
	    eq(int, tl("replay --config c.yaml --deliver --out o day.ndjson.zst >got.out"), 0));
	char *got = slurp("got.out"), *dead = slurp("o/alerts-dead-letter.ndjson");

	cr_expect(eq(str, got, want));
	cr_expect(eq(sz, th_count_lines(dead), 2 * th_count_lines(want)),
		  "every event of both sinks: %s", dead);
	cr_expect(ne(ptr, strstr(dead, "\"sink\":\"pd\""), NULL), "%s", dead);
	cr_expect(ne(ptr, strstr(dead, "\"sink\":\"azure\""), NULL), "%s", dead);
	expect_no_secrets();
	free(dead);
	free(got);
	free(want);
}
