/*
 * tests/it_gen.c - `tripline gen --scenario`: bench/scenarios/builtin.yaml is the built-in day
 * to the byte; a bad scenario is refused naming the file and line; every bench scenario
 * (but the series-* ones, which are for benchmarks) replays to exactly its labels: each
 * `fire` label gets a trigger of its rule, resource and deployment between its start and a
 * few minutes after its end, no `none` label gets one, and no trigger is unlabelled;
 * replicas give the series they ask for; --brokers produces to the embedded hub the very
 * envelopes --format records writes, one message each, and a failed delivery is an error.
 */
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <librdkafka/rdkafka.h>

#include <tripline/error.h>
#include <tripline/time.h>

#include "files.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif
#ifndef TL_EXAMPLE_CONFIG
#error "TL_EXAMPLE_CONFIG must name tripline.example.yaml (at the top of the source tree)"
#endif

static char dir[] = "/tmp/tl-it-gen-XXXXXX";
static char scenarios[1024]; /* bench/scenarios of the source tree */

static void setup(void)
{
	const char *slash = strrchr(TL_EXAMPLE_CONFIG, '/');

	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	cr_assert(ne(ptr, (void *)slash, NULL));
	(void)snprintf(scenarios, sizeof(scenarios), "%.*s/bench/scenarios",
		       (int)(slash - TL_EXAMPLE_CONFIG), TL_EXAMPLE_CONFIG);
}

static void teardown(void)
{
	(void)th_sh(dir, "[ -f hub.pid ] && kill $(cat hub.pid) 2>/dev/null; true");
	th_rmrf(dir);
}

TestSuite(gen, .init = setup, .fini = teardown, .timeout = 300);

static int run(const char *fmt, ...) TL_PRINTF(1, 2);

static int run(const char *fmt, ...)
{
	char a[4096];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	(void)vsnprintf(a, sizeof(a) - 32, fmt, ap);
	va_end(ap);
	n = strlen(a);
	(void)snprintf(a + n, sizeof(a) - n, " 2>stderr.txt");
	return th_run(dir, TL_TRIPLINE, a);
}

static char *slurp(const char *rel)
{
	char *buf = th_slurp(dir, rel, 1, NULL);

	cr_assert(ne(ptr, buf, NULL), "%s/%s", dir, rel);
	return buf;
}

static void write_file(const char *rel, const char *text)
{
	char path[1200];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	cr_assert(ne(ptr, f = fopen(path, "w"), NULL), "%s", path);
	fputs(text, f);
	cr_assert(eq(int, fclose(f), 0));
}

static int64_t t_of(const char *s)
{
	int64_t ns = 0;

	cr_assert(eq(int, tl_time_parse(s, strlen(s), &ns), 0), "%s", s);
	return ns;
}

Test(gen, the_builtin_scenario_file_gives_the_builtin_bytes)
{
	char yaml[1200];

	(void)snprintf(yaml, sizeof(yaml), "%s/builtin.yaml", scenarios);
	cr_assert(eq(int, run("gen --quiet --out a"), 0));
	cr_assert(eq(int, run("gen --quiet --out b --scenario '%s'", yaml), 0));
	cr_assert(
	    eq(int, th_sh(dir, "diff -r a b >/dev/null && cmp a.labels.json b.labels.json"), 0));
	cr_assert(eq(int,
		     run("gen --quiet --format records --batch 20-100 --hours 30 --seed 5 "
			 "--out a.json --labels a.l"),
		     0));
	cr_assert(eq(int,
		     run("gen --quiet --format records --batch 20-100 --hours 30 --seed 5 "
			 "--out b.json --labels b.l --scenario '%s'",
			 yaml),
		     0));
	cr_assert(eq(int, th_sh(dir, "cmp a.json b.json && cmp a.l b.l"), 0));
	/* and the labels are the scenario's: 8 incidents a day (none in the first 6 hours of the
	 * second), 2 of them controls */
	char *l = slurp("b.l");
	size_t n = 0, none = 0;

	for (const char *p = l; (p = strstr(p, "{\"rule\"")); p++)
		n++;
	for (const char *p = l; (p = strstr(p, "\"expect\":\"none\"")); p++)
		none++;
	cr_assert(eq(sz, n, 8));
	cr_assert(eq(sz, none, 2));
	free(l);
}

Test(gen, a_bad_scenario_names_the_file_and_line_and_exits_2)
{
	const struct {
		const char *yaml, *expect;
	} cases[] = {
		{ "deployments:\n  - {name: a, bogus: 1}\n", "s.yaml:2: key 'bogus': unknown" },
		{ "deployments:\n  - name: a\n    peak_rate: fast\n",
		  "s.yaml:3: key 'peak_rate': expected a number, got 'fast'" },
		{ "deployments:\n  - name: a\n    replicas: 2000000\n",
		  "s.yaml:3: key 'replicas': 2000000 is out of range" },
		{ "deployments:\n  - {name: a}\nincidents:\n  - {rule: latency, deployment: b, "
		  "start: \"1:00\", end: \"2:00\", effect: latency, amount: 2}\n",
		  "s.yaml:4: key 'deployment': 'b' is not a deployment" },
		{ "deployments:\n  - {name: a}\nincidents:\n  - {rule: latency, deployment: a, "
		  "start: \"2:00\", end: \"1:00\", effect: latency, amount: 2}\n",
		  "s.yaml:4: key 'end': not after start" },
		{ "deployments:\n  - {name: a}\nincidents:\n  - {rule: errors, deployment: a, "
		  "start: \"1:00\", end: \"2:00\", effect: 5xx, amount: 2}\n",
		  "s.yaml:4: key 'amount': effect 5xx takes a share of calls from 0 to 1" },
		{ "deployments:\n  - {name: a}\nincidents:\n  - {rule: errors, deployment: a, "
		  "start: \"1:00\", effect: 5xx, amount: 0.5}\n",
		  "s.yaml:4: incidents: key 'end' is missing" },
		{ "deployments:\n  - {name: a}\nchanges:\n  - {deployment: a, at: \"25:00\", "
		  "version: x}\n",
		  "s.yaml:4: key 'at': expected a time of day" },
		{ "deployments:\n  - {name: a, replicas: 3}\n  - {name: a-00002}\n",
		  "s.yaml:3: deployment 'a-00002': the same name as a replica" },
		{ "deployments:\n  - {name: \"a/b\"}\n", "s.yaml:2: key 'name': expected a name" },
		{ "deployments: [\n", "s.yaml:2: " },
		{ "deployments:\n  - &x {name: a}\n  - *x\n", "s.yaml:3: aliases" },
		{ "deploymnts: []\n", "s.yaml:1: key 'deploymnts': unknown" },
		{ "", "s.yaml:1: empty" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file("s.yaml", cases[i].yaml);
		cr_assert(eq(int, run("gen --out o --scenario s.yaml"), 2), "%s", cases[i].yaml);
		char *err = slurp("stderr.txt");
		char want[256];

		(void)snprintf(want, sizeof(want), "gen: %s", cases[i].expect);
		cr_assert(ne(ptr, strstr(err, want), NULL), "expected '%s', got '%s'", want, err);
		free(err);
	}
	cr_assert(eq(int, run("gen --out o --scenario missing.yaml"), 1));
}

/* The labels in @rel into @l (at most @cap). */
static size_t read_labels(const char *rel, struct th_label *l, size_t cap)
{
	char *text = slurp(rel);
	const size_t n = th_labels(text, l, cap);

	free(text);
	cr_assert(ne(sz, n, SIZE_MAX), "%s: a label cut short or too many", rel);
	return n;
}

/* A trigger may come this long after its incident ends (a rate rule's window, lateness). */
#define GRACE (5 * TL_NS_PER_MIN)

/* Replay a day of @yaml and hold it to its labels. */
static void check_scenario(const char *yaml)
{
	struct th_label l[64];
	char *out, *p, *line;
	size_t n, fires = 0;

	/* a tree's hour files are appended to: start from nothing */
	cr_assert(eq(int, th_sh(dir, "rm -rf day out"), 0));
	cr_assert(eq(int, run("gen --quiet --scenario '%s' --out day --seed 3", yaml), 0), "%s",
		  yaml);
	n = read_labels("day.labels.json", l, 64);
	cr_assert(ge(sz, n, 3), "%s", yaml);
	cr_assert(eq(int, run("replay --quiet --out out day > triggers.ndjson"), 0), "%s", yaml);
	p = out = slurp("triggers.ndjson");
	while ((line = th_next_line(&p))) {
		char type[16], rule[16], res[40], dep[72], fired[32];
		bool explained = false;

		cr_assert(th_field(line, "type", type, sizeof(type)));
		if (strcmp(type, "trigger") != 0)
			continue;
		fires++;
		cr_assert(th_field(line, "rule", rule, sizeof(rule)));
		cr_assert(th_field(line, "resource", res, sizeof(res)));
		cr_assert(th_field(line, "deployment", dep, sizeof(dep)));
		cr_assert(th_field(line, "fired_at", fired, sizeof(fired)));
		for (size_t i = 0; i < n; i++) {
			const int64_t f = t_of(fired);

			if (strcmp(l[i].rule, rule) || strcmp(l[i].resource, res) ||
			    strcmp(l[i].deployment, dep) || f < t_of(l[i].start) ||
			    f > t_of(l[i].end) + GRACE)
				continue;
			cr_assert(eq(str, l[i].expect, "fire"), "%s: a 'none' label fired: %s",
				  yaml, line);
			l[i].fired = explained = true;
		}
		cr_assert(explained, "%s: a trigger no label explains: %s", yaml, line);
	}
	for (size_t i = 0; i < n; i++)
		cr_assert(l[i].fired || strcmp(l[i].expect, "fire") != 0,
			  "%s: not detected: %s %s %s from %s", yaml, l[i].rule, l[i].resource,
			  l[i].deployment, l[i].start);
	cr_assert(ge(sz, fires, 1), "%s", yaml);
	free(out);
}

Test(gen, every_bench_scenario_replays_to_its_labels)
{
	char pattern[1200];
	glob_t gl;
	size_t checked = 0;

	(void)snprintf(pattern, sizeof(pattern), "%s/*.yaml", scenarios);
	cr_assert(eq(int, glob(pattern, 0, NULL, &gl), 0), "%s", pattern);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		const char *base = strrchr(gl.gl_pathv[i], '/') + 1;

		if (strncmp(base, "series-", 7) == 0)
			continue;
		check_scenario(gl.gl_pathv[i]);
		checked++;
	}
	globfree(&gl);
	cr_assert(ge(sz, checked, 3), "builtin.yaml and at least two more");
}

/* The series of a --stats file that start with @prefix. */
static size_t count_series(const char *stats, const char *prefix)
{
	char pat[128];
	size_t n = 0;

	(void)snprintf(pat, sizeof(pat), "\"deployment\":\"%s", prefix);
	for (const char *p = stats; (p = strstr(p, pat)); p++)
		n++;
	return n;
}

Test(gen, replicas_give_the_series_they_ask_for)
{
	char cmd[2048];

	/* an hour of series-1k, thinned: each series still has about 25 requests */
	(void)snprintf(cmd, sizeof(cmd),
		       "gen --quiet --scenario '%s/series-1k.yaml' --format ndjson --hours 1 "
		       "--scale 0.1 --out s.ndjson",
		       scenarios);
	cr_assert(eq(int, run("%s", cmd), 0));
	cr_assert(
	    eq(int, run("replay --quiet --no-evidence --out o --stats st.json s.ndjson >/dev/null"),
	       0));
	char *st = slurp("st.json");

	cr_assert(eq(sz, count_series(st, ""), 1000));
	cr_assert(eq(sz, count_series(st, "quiet-0"), 1000));
	cr_assert(ne(ptr, strstr(st, "\"deployment\":\"quiet-00001\""), NULL));
	cr_assert(ne(ptr, strstr(st, "\"deployment\":\"quiet-01000\""), NULL));
	free(st);

	/* replicas beside a plain deployment, with an incident on one replica and one on all */
	write_file("r.yaml", "deployments:\n"
			     "  - {name: one, peak_rate: 2}\n"
			     "  - {name: many, replicas: 12, peak_rate: 2, via: apim}\n"
			     "incidents:\n"
			     "  - {rule: errors, deployment: many-00012, start: \"00:10\", end: "
			     "\"00:20\", effect: 5xx, amount: 0.3}\n"
			     "  - {rule: latency, deployment: many, start: \"00:30\", end: "
			     "\"00:35\", effect: latency, amount: 1.2, expect: none}\n");
	cr_assert(eq(int,
		     run("gen --quiet --scenario r.yaml --format ndjson --hours 1 --out r.ndjson "
			 "--labels r.labels"),
		     0));
	cr_assert(eq(
	    int, run("replay --quiet --no-evidence --out o2 --stats st2.json r.ndjson >/dev/null"),
	    0));
	st = slurp("st2.json");
	cr_assert(eq(sz, count_series(st, ""), 13));
	cr_assert(eq(sz, count_series(st, "many-0000"), 9));
	cr_assert(eq(sz, count_series(st, "many-0001"), 3));
	free(st);
	struct th_label l[32];
	size_t n = read_labels("r.labels", l, 32);

	cr_assert(eq(sz, n, 13), "one label for many-00012, one per replica for many");
	cr_assert(eq(str, l[0].deployment, "many-00012"));
	cr_assert(eq(str, l[0].resource, "APIM-CONTOSO-AIGW"));
	cr_assert(eq(str, l[1].deployment, "many-00001"));
	cr_assert(eq(str, l[12].deployment, "many-00012"));
	cr_assert(eq(str, l[12].expect, "none"));
}

/* ---- --brokers ---------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define N_PARTS 4

Test(gen, brokers_get_the_envelopes_of_format_records_as_messages)
{
	char cmd[2048], err[512], *addr;

	/* the embedded hub, 4 partitions; its address on the first line it prints */
	cr_assert(eq(int,
		     th_sh(dir, "(" TL_TRIPLINE " hub --partitions 4 >hub.addr 2>hub.err & echo $! "
				">hub.pid; for i in $(seq 100); do [ -s hub.addr ] && exit 0; "
				"sleep 0.1; done; exit 1)"),
		     0),
		  "the hub printed no address");
	addr = slurp("hub.addr");
	addr[strcspn(addr, "\n")] = '\0';
	/* two hours (about 4600 records, 1 MB a partition), paced by --rate */
	(void)snprintf(cmd, sizeof(cmd),
		       "gen --brokers %s --topic insights-logs-requestresponse --hours 2 --seed 7 "
		       "--batch 20-100 --rate 50000",
		       addr);
	int st = run("%s", cmd);
	char *gen_err = slurp("stderr.txt");

	cr_assert(eq(int, st, 0), "%s", gen_err);
	cr_assert(
	    eq(int, run("gen --format records --hours 2 --seed 7 --batch 20-100 --out r.json"), 0));
	char *file_err = slurp("stderr.txt");
	unsigned long long n_gen = 0, n_file = 0, n_msgs = 0;

	cr_assert(eq(int,
		     sscanf(strstr(gen_err, "gen: ") + 5, "%llu records in %llu messages", &n_gen,
			    &n_msgs),
		     2),
		  "%s", gen_err);
	cr_assert(eq(int, sscanf(strstr(file_err, "gen: ") + 5, "%llu records", &n_file), 1));
	cr_assert(eq(u64, n_gen, n_file));
	cr_assert(ge(u64, n_gen, 1000));

	/* the file's lines, sorted (partitions keep their own order only) */
	char *text = slurp("r.json"), *p = text, *l, **lines = NULL;
	size_t n_lines = 0;

	while ((l = th_next_line(&p))) {
		lines = realloc(lines, (n_lines + 1) * sizeof(*lines));
		cr_assert(ne(ptr, lines, NULL));
		lines[n_lines++] = l;
	}
	cr_assert(eq(u64, (unsigned long long)n_lines, n_msgs));
	qsort(lines, n_lines, sizeof(*lines), cmp_str);

	/* read every partition from the beginning */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(N_PARTS);

	cr_assert(eq(int, rd_kafka_conf_set(conf, "bootstrap.servers", addr, err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	cr_assert(eq(int, rd_kafka_conf_set(conf, "group.id", "it-gen", err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	cr_assert(eq(int, rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)),
		     RD_KAFKA_CONF_OK));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));

	cr_assert(ne(ptr, rk, NULL), "%s", err);
	for (int32_t i = 0; i < N_PARTS; i++)
		rd_kafka_topic_partition_list_add(tl, "insights-logs-requestresponse", i)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	cr_assert(eq(int, rd_kafka_assign(rk, tl), 0));
	rd_kafka_topic_partition_list_destroy(tl);

	char **msgs = calloc(n_lines + 1, sizeof(*msgs));
	size_t n = 0, per_part[N_PARTS] = { 0 };

	cr_assert(ne(ptr, msgs, NULL));
	for (int64_t end = now_ms() + 30000; n < n_lines + 1 && now_ms() < end;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (!m)
			continue;
		if (!m->err) {
			cr_assert(eq(ptr, m->key, NULL));
			cr_assert(lt(int, m->partition, N_PARTS));
			per_part[m->partition]++;
			msgs[n] = strndup(m->payload, m->len);
			cr_assert(eq(sz, strlen(msgs[n]), m->len));
			n++;
			/* one more than expected would be a duplicate: wait a little for it */
			if (n == n_lines)
				end = now_ms() + 1000;
		}
		rd_kafka_message_destroy(m);
	}
	(void)rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	cr_assert(eq(sz, n, n_lines));
	for (int i = 0; i < N_PARTS; i++)
		cr_assert(ge(sz, per_part[i], 1), "partition %d got nothing", i);
	qsort(msgs, n, sizeof(*msgs), cmp_str);
	for (size_t i = 0; i < n; i++) {
		cr_assert(eq(str, msgs[i], lines[i]), "message %zu", i);
		free(msgs[i]);
	}
	free(msgs);
	free(lines);
	free(text);
	free(gen_err);
	free(file_err);
	free(addr);
}

Test(gen, a_failed_delivery_exits_1_and_says_why)
{
	/* one envelope of all of some 5000 records (6 MB) is over the 2 MB a message may have:
	 * refused before any broker is asked, so nothing needs to listen on port 1 */
	cr_assert(
	    eq(int, run("gen --quiet --brokers 127.0.0.1:1 --batch 100000 --records 5000"), 1));
	char *e = slurp("stderr.txt");

	cr_assert(ne(ptr,
		     strstr(e, "gen: 1 of 1 messages not delivered to topic "
			       "'insights-logs-requestresponse': Broker: Message size too large"),
		     NULL),
		  "%s", e);
	free(e);
	cr_assert(eq(int, run("gen --brokers 127.0.0.1:1 --out x"), 2));
	cr_assert(eq(int, run("gen --brokers 127.0.0.1:1 --format ndjson"), 2));
	cr_assert(eq(int, run("gen --out x --rate 10"), 2));
	cr_assert(eq(int, run("gen --brokers 127.0.0.1:1 --rate 0"), 2));
}
