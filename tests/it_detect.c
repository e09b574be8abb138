/*
 * tests/it_detect.c - detection end to end, as a user runs it: `tripline gen` writes a day with
 * labelled incidents, `tripline replay` must give exactly one trigger per incident in the right
 * minute and a resolved after it, nothing for the controls, the same bytes at any thread
 * count or read size, and the same result for two inputs as for one interleaved input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/time.h>

#include "files.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

static char dir[] = "/tmp/tl-it-detect-XXXXXX";

static void setup(void)
{
	char cmd[512];

	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	/* one generated day for each test (Criterion runs .init before every test) */
	(void)snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' gen --out day --seed 7 2>/dev/null", dir,
		       TL_TRIPLINE);
	cr_assert(eq(int, system(cmd), 0));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(detect, .init = setup, .fini = teardown, .timeout = 300);

static int run(const char *args)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>stderr.txt", args);
	return th_run(dir, TL_TRIPLINE, a);
}

static char *slurp(const char *rel)
{
	char *buf = th_slurp(dir, rel, 1, NULL);

	cr_assert(ne(ptr, buf, NULL), "%s/%s", dir, rel);
	return buf;
}

static int64_t t_of(const char *s)
{
	int64_t ns = 0;

	cr_assert(eq(int, tl_time_parse(s, strlen(s), &ns), 0), "%s", s);
	return ns;
}

static size_t read_labels(struct th_label *l, size_t cap)
{
	char *text = slurp("day.labels.json");
	const size_t n = th_labels(text, l, cap);

	free(text);
	cr_assert(ne(sz, n, SIZE_MAX), "day.labels.json: a label cut short or too many");
	return n;
}

/*
 * How long after an incident starts its rule may fire: the latency rule needs its 5 breaching
 * minutes; a rate rule fires once its 5 minute window's average passes the threshold, which
 * takes (threshold - background) / (incident - background) of the window; the cost projection
 * needs its 15 minute rate window to fill.
 */
static int64_t allowed_delay(const char *rule)
{
	if (strcmp(rule, "latency") == 0)
		return 6 * TL_NS_PER_MIN;
	if (strcmp(rule, "cost") == 0)
		return 15 * TL_NS_PER_MIN;
	return 5 * TL_NS_PER_MIN;
}

Test(detect, a_generated_day_gives_one_trigger_per_labelled_incident)
{
	struct th_label l[32];
	size_t n = read_labels(l, 32), fires = 0;
	char *out, *line, *save = NULL;

	cr_assert(ge(sz, n, 6));
	cr_assert(eq(int, run("replay --out out --summary summary.json day > triggers.ndjson"), 0));
	out = slurp("triggers.ndjson");
	/* every trigger event must belong to a labelled incident that expects one */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char type[16], rule[16], res[40], dep[40], fired[32];
		bool matched = false;

		cr_assert(th_field(line, "type", type, sizeof(type)));
		cr_assert(th_field(line, "rule", rule, sizeof(rule)));
		cr_assert(th_field(line, "resource", res, sizeof(res)));
		cr_assert(th_field(line, "deployment", dep, sizeof(dep)));
		cr_assert(th_field(line, "fired_at", fired, sizeof(fired)));
		cr_assert(ne(ptr, strstr(line, "\"incident_id\":\"tl-"), NULL));
		cr_assert(ne(ptr, strstr(line, "\"action\":{\"kind\":\""), NULL));
		if (strcmp(type, "trigger") != 0)
			continue;
		fires++;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(l[i].rule, rule) || strcmp(l[i].resource, res) ||
			    strcmp(l[i].deployment, dep))
				continue;
			const int64_t f = t_of(fired), s = t_of(l[i].start);

			if (f < s || f > s + allowed_delay(rule))
				continue;
			cr_assert(ne(str, l[i].expect, "seen"), "two triggers for one incident: %s",
				  line);
			cr_assert(eq(str, l[i].expect, "fire"), "a control fired: %s", line);
			strcpy(l[i].expect, "seen");
			matched = true;
			break;
		}
		cr_assert(matched, "a trigger no incident explains: %s", line);
	}
	for (size_t i = 0; i < n; i++)
		cr_assert(ne(str, l[i].expect, "fire"), "not detected: %s %s from %s", l[i].rule,
			  l[i].deployment, l[i].start);
	free(out);
	/* the summary counts the same incidents */
	char *sum = slurp("summary.json");
	size_t counted = 0;

	for (const char *p = sum; (p = strstr(p, "\"incidents\":")) != NULL; p++)
		counted += (size_t)atoi(p + strlen("\"incidents\":"));
	cr_assert(eq(sz, counted, fires), "%s", sum);
	free(sum);
}

Test(detect, every_incident_that_ends_in_the_data_resolves)
{
	char *out;

	cr_assert(eq(int, run("replay --quiet --out out day > triggers.ndjson"), 0));
	out = slurp("triggers.ndjson");
	for (const char *p = out; (p = strstr(p, "\"type\":\"trigger\"")) != NULL; p++) {
		char id[32], rule[16], resolved[96];
		const char *eol = strchr(p, '\n');
		char *line = strndup(p, (size_t)(eol - p));

		cr_assert(th_field(line, "incident_id", id, sizeof(id)));
		cr_assert(th_field(line, "rule", rule, sizeof(rule)));
		(void)snprintf(resolved, sizeof(resolved),
			       "\"type\":\"resolved\",\"incident_id\":\"%s\"", id);
		cr_assert(ne(ptr, strstr(out, resolved), NULL), "no resolved for %s", line);
		free(line);
	}
	free(out);
}

Test(detect, the_same_bytes_for_any_thread_count_and_read_size)
{
	cr_assert(eq(int, run("replay --quiet --out o1 --stats s1.json day > t1.ndjson"), 0));
	cr_assert(
	    eq(int, run("replay --quiet --out o4 --threads 4 --stats s4.json day > t4.ndjson"), 0));
	cr_assert(
	    eq(int, run("replay --quiet --out o3 --threads 3 --chunk 65536 day > t3.ndjson"), 0));
	char *t1 = slurp("t1.ndjson"), *t4 = slurp("t4.ndjson"), *t3 = slurp("t3.ndjson");
	char *s1 = slurp("s1.json"), *s4 = slurp("s4.json");

	cr_assert(ge(sz, strlen(t1), 1001));
	cr_assert(eq(str, t1, t4));
	cr_assert(eq(str, t1, t3));
	/* the record counts agree (the engine's memory does not: 4 engines hold more) */
	cr_assert(eq(int, strncmp(s1, s4, (size_t)(strstr(s1, "\"engine\"") - s1)), 0));
	free(t1);
	free(t4);
	free(t3);
	free(s1);
	free(s4);
}

Test(detect, two_inputs_merge_like_one_interleaved_input)
{
	/* one stream of every category, split by category into two files */
	cr_assert(eq(int, run("gen --format ndjson --malformed 0 --out all.ndjson --seed 9"), 0));
	char cmd[1024];

	(void)snprintf(
	    cmd, sizeof(cmd),
	    "cd '%s' && grep '\"category\": \"RequestResponse\"' all.ndjson > rr.ndjson && "
	    "grep -v '\"category\": \"RequestResponse\"' all.ndjson > other.ndjson",
	    dir);
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(eq(int, run("replay --quiet --out a all.ndjson > one.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --out b rr.ndjson other.ndjson > two.ndjson"), 0));
	char *one = slurp("one.ndjson"), *two = slurp("two.ndjson");

	cr_assert(ge(sz, strlen(one), 1001));
	cr_assert(eq(str, one, two));
	free(one);
	free(two);
}

Test(detect, a_sparse_input_does_not_hold_back_the_others)
{
	/* a second input with a record at each end of the day (repeats, so dropped): while it
	 * waits for its second record it must not keep the watermark at its first */
	cr_assert(eq(int, run("gen --format ndjson --malformed 0 --out all.ndjson --seed 9"), 0));
	char cmd[1024];

	(void)snprintf(
	    cmd, sizeof(cmd),
	    "cd '%s' && grep '\"RequestResponse\"' all.ndjson | sed -n '1p;$p' > ends.ndjson", dir);
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(eq(int, run("replay --quiet --out a all.ndjson > one.ndjson"), 0));
	cr_assert(eq(int,
		     run("replay --quiet --out b --stats stats.json all.ndjson ends.ndjson "
			 "> two.ndjson"),
		     0));
	char *one = slurp("one.ndjson"), *two = slurp("two.ndjson"), *st = slurp("stats.json");

	cr_assert(ge(sz, strlen(one), 1001));
	cr_assert(eq(str, one, two));
	cr_assert(ne(ptr, strstr(st, "\"ahead\":0,"), NULL), "%s", st);
	free(one);
	free(two);
	free(st);
}

Test(detect, a_deployment_override_in_the_config_changes_the_outcome)
{
	char cmd[1024];

	(void)snprintf(cmd, sizeof(cmd),
		       "cd '%s' && printf 'deployments:\\n  embed-3-large:\\n    errors: {enabled: "
		       "false}\\nrules:\\n  throttling: {rate: 0.5}\\n' > c.yaml",
		       dir);
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(eq(int, run("replay --quiet --out o --config c.yaml day > t.ndjson"), 0));
	char *t = slurp("t.ndjson");

	cr_assert(eq(ptr, strstr(t, "\"rule\":\"errors\""), NULL), "errors off for embed-3-large");
	cr_assert(eq(ptr, strstr(t, "\"rule\":\"throttling\""), NULL),
		  "throttling only past 50 %%");
	cr_assert(ne(ptr, strstr(t, "\"rule\":\"latency\""), NULL), "the rest as before");
	free(t);
}

static void write_file(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	cr_assert(ne(ptr, f = fopen(path, "w"), NULL), "%s", path);
	fputs(text, f);
	cr_assert(eq(int, fclose(f), 0));
}

/* @s with every @cut taken out, in place. */
static void remove_all(char *s, const char *cut)
{
	const size_t n = strlen(cut);
	char *p;

	while ((p = strstr(s, cut)) != NULL)
		memmove(p, p + n, strlen(p + n) + 1);
}

Test(detect, the_incident_commander_and_comms_owner_follow_the_owner_only_when_set)
{
	write_file("owner.yaml", "deployments:\n  support-gpt4o: {owner: svc-oncall}\n");
	write_file("people.yaml", "deployments:\n"
				  "  support-gpt4o:\n"
				  "    owner: svc-oncall\n"
				  "    incident_commander: ic-dana\n"
				  "    comms_owner: comms-eli\n");
	cr_assert(eq(int, run("replay --quiet --out o1 --config owner.yaml day > o.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --out o2 --config people.yaml day > p.ndjson"), 0));
	char *o = slurp("o.ndjson"), *p = slurp("p.ndjson"), *q = p, *l;
	size_t with = 0, without = 0;

	/* every event of the deployment names all three, right after one another; the others
	 * name none */
	while ((l = th_next_line(&q))) {
		if (strstr(l, "\"deployment\":\"support-gpt4o\"")) {
			cr_assert(ne(ptr,
				     strstr(l, "\"owner\":\"svc-oncall\",\"incident_commander\":"
					       "\"ic-dana\",\"comms_owner\":\"comms-eli\""),
				     NULL),
				  "%s", l);
			with++;
		} else {
			cr_assert(eq(ptr, strstr(l, "\"owner\""), NULL), "%s", l);
			cr_assert(eq(ptr, strstr(l, "\"incident_commander\""), NULL), "%s", l);
			cr_assert(eq(ptr, strstr(l, "\"comms_owner\""), NULL), "%s", l);
			without++;
		}
	}
	cr_assert(ge(sz, with, 2), "the latency incident's trigger and resolved");
	cr_assert(ge(sz, without, 2));
	/* without them, the events are what they were to the byte */
	cr_assert(eq(ptr, strstr(o, "incident_commander"), NULL));
	cr_assert(eq(ptr, strstr(o, "comms_owner"), NULL));
	free(p); /* cut into lines above */
	p = slurp("p.ndjson");
	remove_all(p, ",\"incident_commander\":\"ic-dana\",\"comms_owner\":\"comms-eli\"");
	cr_assert(eq(str, p, o));
	free(o);
	free(p);
}

Test(detect, config_errors_name_the_file_and_line)
{
	const struct {
		const char *yaml, *expect;
	} cases[] = {
		{ "rules:\n  latency:\n    factr: 3\n",
		  "c.yaml:3: key 'factr': unknown in rules.latency" },
		{ "lateness: soon\n",
		  "c.yaml:1: key 'lateness': expected a duration like 30s, 5m, 24h, "
		  "got 'soon'" },
		{ "baseline: {horizon: 24h}\nbaseline: {horizon: 12h}\n",
		  "c.yaml:2: key 'baseline': given twice" },
		{ "rules: {errors: {rate: 2}}\n", "c.yaml:1: key 'rate': 2 is out of range" },
		{ "rules:\n  cost:\n    warn_at: [0.8, 0.5]\n",
		  "c.yaml:3: key 'warn_at': expected increasing" },
		{ "rules: [\n", "c.yaml:" },
		{ "deployments:\n  chat:\n    latency: {factor: x}\n",
		  "c.yaml:3: key 'factor': expected a number" },
		{ "bogus: 1\n", "c.yaml:1: key 'bogus': unknown" },
		/* hostile nesting is refused before it can exhaust the stack */
		{ "rules: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
		  "c.yaml:1: nested deeper than 16 levels" },
		/* people are named per deployment, as the owner is */
		{ "rules:\n  incident_commander: ic-dana\n",
		  "c.yaml:2: key 'incident_commander': unknown in rules" },
		{ "rules: {comms_owner: comms-eli}\n",
		  "c.yaml:1: key 'comms_owner': unknown in rules" },
		{ "deployments:\n  chat:\n    incident_commander: "
		  "x2345678901234567890123456789012345678901234567890123456789012345678901234567890"
		  "\n",
		  "c.yaml:3: key 'incident_commander': longer than 79 characters" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512];
		FILE *f;

		(void)snprintf(path, sizeof(path), "%s/c.yaml", dir);
		f = fopen(path, "w");
		fputs(cases[i].yaml, f);
		fclose(f);
		cr_assert(eq(int, run("config --check c.yaml"), 2), "%s", cases[i].yaml);
		char *err = slurp("stderr.txt");

		cr_assert(ne(ptr, strstr(err, cases[i].expect), NULL), "expected '%s', got '%s'",
			  cases[i].expect, err);
		free(err);
		cr_assert(eq(int, run("replay --quiet --config c.yaml day"), 2));
	}
	cr_assert(eq(int, run("replay --quiet --config missing.yaml day"), 1));
}

Test(detect, the_shipped_example_config_is_the_generated_one_and_loads)
{
	char cmd[1024];

	cr_assert(eq(int, run("config --example > example.yaml"), 0));
	(void)snprintf(cmd, sizeof(cmd), "cmp '%s/example.yaml' '%s'", dir, TL_EXAMPLE_CONFIG);
	cr_assert(eq(int, system(cmd), 0), "tripline.example.yaml is stale: regenerate it");
	(void)snprintf(cmd, sizeof(cmd), "config --check '%s'", TL_EXAMPLE_CONFIG);
	cr_assert(eq(int, run(cmd), 0));
}
