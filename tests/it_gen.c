/*
 * tests/it_gen.c - `tripline gen --scenario`: bench/scenarios/builtin.yaml is the built-in day
 * to the byte; a bad scenario is refused naming the file and line; every bench scenario
 * (but the series-* ones, which are for benchmarks) replays to exactly its labels: each
 * `fire` label gets a trigger of its rule, resource and deployment between its start and a
 * few minutes after its end, no `none` label gets one, and no trigger is unlabelled;
 * replicas give the series they ask for.
 */
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

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

struct label {
	char rule[16], resource[40], deployment[72], start[32], end[32], expect[8];
	bool fired;
};

/* The labels in @rel into @l (at most @cap). */
static size_t read_labels(const char *rel, struct label *l, size_t cap)
{
	char *text = slurp(rel), *p = text;
	size_t n = 0;

	while ((p = strstr(p, "{\"rule\"")) != NULL) {
		char *e = strchr(p, '}');

		cr_assert(lt(sz, n, cap));
		cr_assert(ne(ptr, e, NULL));
		*e = '\0';
		l[n] = (struct label){ 0 };
		cr_assert(th_field(p, "rule", l[n].rule, sizeof(l[n].rule)));
		cr_assert(th_field(p, "resource", l[n].resource, sizeof(l[n].resource)));
		cr_assert(th_field(p, "deployment", l[n].deployment, sizeof(l[n].deployment)));
		cr_assert(th_field(p, "start", l[n].start, sizeof(l[n].start)));
		cr_assert(th_field(p, "end", l[n].end, sizeof(l[n].end)));
		cr_assert(th_field(p, "expect", l[n].expect, sizeof(l[n].expect)));
		n++;
		p = e + 1;
	}
	free(text);
	return n;
}

/* A trigger may come this long after its incident ends (a rate rule's window, lateness). */
#define GRACE (5 * TL_NS_PER_MIN)

/* Replay a day of @yaml and hold it to its labels. */
static void check_scenario(const char *yaml)
{
	struct label l[64];
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
	struct label l[32];
	size_t n = read_labels("r.labels", l, 32);

	cr_assert(eq(sz, n, 13), "one label for many-00012, one per replica for many");
	cr_assert(eq(str, l[0].deployment, "many-00012"));
	cr_assert(eq(str, l[0].resource, "APIM-CONTOSO-AIGW"));
	cr_assert(eq(str, l[1].deployment, "many-00001"));
	cr_assert(eq(str, l[12].deployment, "many-00012"));
	cr_assert(eq(str, l[12].expect, "none"));
}
