/*
 * tests/it_evidence.c - evidence end to end, as a responder uses it: on the generated day the
 * latency regression after support-gpt4o's model version change recommends rolling back to
 * the version before, with the change in recent_changes, and its postmortem draft has the
 * whole timeline; every trigger's snapshot is a
 * zstd NDJSON file that zstdcat reads (header, changes, records, trailer), and `tripline
 * replay SNAPSHOT` gives the same trigger event from the snapshot alone; snapshots are the
 * same bytes at any thread count; a snapshot that cannot reproduce its trigger says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "files.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

static char dir[] = "/tmp/tl-it-evidence-XXXXXX";

static int run(const char *args)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>>stderr.txt", args);
	return th_run(dir, TL_TRIPLINE, a);
}

static int sh(const char *cmd)
{
	return th_sh(dir, cmd);
}

static char *slurp(const char *rel)
{
	char *buf = th_slurp(dir, rel, 1, NULL);

	cr_assert(ne(ptr, buf, NULL), "%s/%s", dir, rel);
	return buf;
}

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	cr_assert(eq(int, run("gen --out day --seed 7 --quiet"), 0));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(evidence, .init = setup, .fini = teardown, .timeout = 300);

/* The part of a trigger event a snapshot re-run must reproduce: up to recent_changes. */
static size_t core_len(const char *line)
{
	const char *e = strstr(line, ",\"recent_changes\"");

	cr_assert(ne(ptr, (void *)e, NULL), "%s", line);
	return (size_t)(e - line);
}

Test(evidence, a_regression_after_a_version_change_rolls_back_to_the_version_before)
{
	cr_assert(eq(int, run("replay --quiet --out out day > triggers.ndjson"), 0));
	char *text = slurp("triggers.ndjson"), *p = text, *l;
	bool seen = false;

	while ((l = th_next_line(&p))) {
		if (!strstr(l, "\"type\":\"trigger\"") || !strstr(l, "\"rule\":\"latency\""))
			continue;
		seen = true;
		cr_assert(ne(ptr, strstr(l, "\"deployment\":\"support-gpt4o\""), NULL), "%s", l);
		cr_assert(ne(ptr,
			     strstr(l, "\"action\":{\"kind\":\"rollback\",\"target\":{"
				       "\"model_version\":\"2024-08-06\"}"),
			     NULL),
			  "rolls back to the version before: %s", l);
		cr_assert(ne(ptr,
			     strstr(l, "\"kind\":\"model_version\",\"from\":\"2024-08-06\","
				       "\"to\":\"2024-11-20\""),
			     NULL),
			  "the change is among recent_changes: %s", l);
		const char *w = strstr(l, "\"kind\":\"deployment_write\"");

		cr_assert(ne(ptr, (void *)w, NULL), "and the Activity Log's deployment write: %s",
			  l);
		cr_assert(eq(ptr, strstr(w + 1, "\"kind\":\"deployment_write\""), NULL),
			  "once, though the day delivers its record twice: %s", l);
		cr_assert(ne(ptr, strstr(l, "\"snapshot\":\"snapshots/tl-"), NULL), "%s", l);
	}
	cr_assert(seen, "the latency incident fires");

	/* the postmortem draft has the whole timeline: changes, trigger, action, resolution */
	char id[32] = "", cmd[128];

	free(text);
	p = text = slurp("triggers.ndjson");
	while ((l = th_next_line(&p)))
		if (strstr(l, "\"type\":\"trigger\"") && strstr(l, "\"rule\":\"latency\""))
			cr_assert(th_field(l, "incident_id", id, sizeof(id)));
	(void)snprintf(cmd, sizeof(cmd), "postmortem %s --out out > pm.md", id);
	cr_assert(eq(int, run(cmd), 0));
	char *pm = slurp("pm.md");
	const char *order[] = { "## Timeline",
				"deployment_write",
				"model_version changed from 2024-08-06 to 2024-11-20",
				"**Trigger** Sev2 latency",
				"Recommended action: rollback to model_version 2024-08-06",
				"**Resolved**",
				"Time to detect: 5m00s",
				"## Evidence",
				"snapshots/tl-" };
	const char *at = pm;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *f = strstr(at, order[i]);

		cr_assert(ne(ptr, (void *)f, NULL), "postmortem has '%s' after the one before:\n%s",
			  order[i], pm);
		at = f;
	}
	free(pm);
	/* the other incidents had no change before them: nothing to roll back */
	free(text);
	p = text = slurp("triggers.ndjson");
	while ((l = th_next_line(&p)))
		if (!strstr(l, "\"rule\":\"latency\""))
			cr_assert(eq(ptr, strstr(l, "\"kind\":\"rollback\""), NULL), "%s", l);
	free(text);
}

Test(evidence, every_snapshot_reads_with_zstdcat_and_replays_to_its_trigger)
{
	cr_assert(eq(int, run("replay --quiet --out out day > triggers.ndjson"), 0));
	char *text = slurp("triggers.ndjson"), *p = text, *l;
	size_t snapshots = 0;

	while ((l = th_next_line(&p))) {
		char snap[128], id[32], cmd[512];

		if (!th_field(l, "snapshot", snap, sizeof(snap)))
			continue;
		cr_assert(th_field(l, "incident_id", id, sizeof(id)));
		cr_assert(ne(ptr, strstr(l, "\"type\":\"trigger\""), NULL),
			  "only trigger events name a snapshot");
		snapshots++;

		/* zstdcat reads it: header, changes, records, the trailer */
		(void)snprintf(cmd, sizeof(cmd), "zstdcat out/%s > snap.ndjson", snap);
		cr_assert(eq(int, sh(cmd), 0), "zstdcat %s", snap);
		char *s = slurp("snap.ndjson"), *q = s, *h = th_next_line(&q), *m, *last = NULL;
		size_t lines = 1, records = 0;
		char want[64];

		cr_assert(eq(int, strncmp(h, "{\"type\":\"tripline.snapshot\"", 27), 0), "%s", h);
		(void)snprintf(want, sizeof(want), "\"incident_id\":\"%s\"", id);
		cr_assert(ne(ptr, strstr(h, want), NULL));
		cr_assert(ne(ptr, strstr(h, "\"reproducible\":true"), NULL), "%.300s", h);
		cr_assert(ne(ptr, strstr(h, "\"minutes\":[{\"minute\""), NULL));
		cr_assert(ne(ptr, strstr(h, "\"replay_state\":\""), NULL));
		while ((m = th_next_line(&q))) {
			lines++;
			last = m;
			if (strncmp(m, "{\"type\":\"tripline.", 18) != 0)
				records++;
		}
		cr_assert(ne(ptr, last, NULL));
		cr_assert(eq(int, strncmp(last, "{\"type\":\"tripline.snapshot.end\"", 31), 0));
		char n[32];

		(void)snprintf(n, sizeof(n), "\"records\":%zu,", records);
		cr_assert(ne(ptr, strstr(last, n), NULL), "%s has %zu records", last, records);
		cr_assert(ge(sz, records, 501), "a busy deployment's 20 minutes of records");
		free(s);

		/* re-run from the snapshot alone: the same trigger event */
		(void)snprintf(cmd, sizeof(cmd), "replay out/%s > rerun.ndjson", snap);
		cr_assert(eq(int, run(cmd), 0), "%s", cmd);
		char *r = slurp("rerun.ndjson"), *rq = r, *rl;
		bool same = false;

		while ((rl = th_next_line(&rq)) && !same)
			same = core_len(rl) == core_len(l) && memcmp(rl, l, core_len(l)) == 0;
		cr_assert(same, "replaying %s gives %.*s", snap, (int)core_len(l), l);
		free(r);
	}
	cr_assert(eq(sz, snapshots, 6), "one snapshot per incident of the day");
	free(text);
}

Test(evidence, a_snapshot_replays_to_the_owner_incident_commander_and_comms_owner)
{
	/* they are in the snapshot's replay state, as the owner is */
	FILE *f;
	char path[256];
	const char *people = "\"owner\":\"svc-oncall\",\"incident_commander\":\"ic-dana\","
			     "\"comms_owner\":\"comms-eli\"";

	(void)snprintf(path, sizeof(path), "%s/people.yaml", dir);
	cr_assert(ne(ptr, f = fopen(path, "w"), NULL));
	fputs("deployments:\n  support-gpt4o: {owner: svc-oncall, incident_commander: ic-dana, "
	      "comms_owner: comms-eli}\n",
	      f);
	fclose(f);
	cr_assert(eq(int, run("replay --quiet --config people.yaml --out out day > t.ndjson"), 0));
	cr_assert(eq(int,
		     sh("grep '\"type\":\"trigger\".*\"deployment\":\"support-gpt4o\"' t.ndjson "
			"| head -1 > trig.ndjson"),
		     0));
	char *t = slurp("trig.ndjson"), snap[128];

	cr_assert(ne(ptr, strstr(t, people), NULL), "%s", t);
	cr_assert(th_field(t, "snapshot", snap, sizeof(snap)), "%s", t);
	(void)snprintf(path, sizeof(path), "replay out/%s > rerun.ndjson", snap);
	cr_assert(eq(int, run(path), 0));
	char *r = slurp("rerun.ndjson");

	cr_assert(ne(ptr, strstr(r, people), NULL), "%s", r);
	free(r);
	free(t);
}

Test(evidence, snapshots_are_the_same_bytes_at_any_thread_count)
{
	cr_assert(eq(int, run("replay --quiet --out o1 day > t1.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --out o3 --threads 3 day > t3.ndjson"), 0));
	cr_assert(eq(int, sh("cmp -s t1.ndjson t3.ndjson"), 0));
	cr_assert(eq(int, sh("test $(ls o1/snapshots | wc -l) -eq 6"), 0));
	cr_assert(eq(int,
		     sh("for f in o1/snapshots/*; do cmp -s $f o3/snapshots/${f##*/} || "
			"exit 1; done"),
		     0));
}

Test(evidence, a_trigger_in_a_gap_after_the_last_record_is_reproduced_at_any_thread_count)
{
	/* the 5xx burst of embed-3-large at 09:10, with every record from 09:11 to 09:24 gone
	 * (an outage of the log pipeline): the errors rule fires at 09:12:40, after the
	 * series' last record, and the watermark then jumps across the gap */
	cr_assert(eq(int,
		     run("gen --format ndjson --kind rr --hours 11 --seed 7 --quiet --out "
			 "rr.ndjson"),
		     0));
	cr_assert(eq(int,
		     sh("grep -v -E '\"time\": \"2025-11-04T09:(1[1-9]|2[0-4])' rr.ndjson "
			"> gap.ndjson"),
		     0));
	cr_assert(eq(int, run("replay --quiet --out o1 gap.ndjson > t1.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --threads 3 --out o3 gap.ndjson > t3.ndjson"), 0));
	cr_assert(eq(int, sh("grep -q '\"fired_at\":\"2025-11-04T09:12:40.000Z\"' t1.ndjson"), 0),
		  "the errors rule fires inside the gap");
	cr_assert(eq(int, sh("cmp -s t1.ndjson t3.ndjson"), 0));
	cr_assert(eq(int, sh("test $(ls o1/snapshots | wc -l) -ge 1"), 0));
	cr_assert(eq(int,
		     sh("for f in o1/snapshots/*; do cmp -s $f o3/snapshots/${f##*/} || "
			"exit 1; done"),
		     0),
		  "the same snapshots at 1 and 3 threads");
	/* exit 0: each gives its own trigger (3 would say it does not) */
	cr_assert(eq(int,
		     sh("for f in o1/snapshots/*; do '" TL_TRIPLINE "' replay --quiet $f "
			"> /dev/null || exit 1; done"),
		     0));
}

Test(evidence, a_cut_snapshot_is_refused_naming_the_file_and_offset)
{
	cr_assert(eq(int, run("replay --quiet --out out day > triggers.ndjson"), 0));
	cr_assert(eq(int,
		     sh("f=$(ls out/snapshots/* | head -1) && "
			"head -c $(($(stat -c %s $f) / 2)) $f > cut.ndjson.zst"),
		     0));
	cr_assert(eq(int, run("replay cut.ndjson.zst > rerun.ndjson"), 1));
	char *err = slurp("stderr.txt");

	cr_assert(ne(ptr, strstr(err, "cut.ndjson.zst"), NULL), "%s", err);
	cr_assert(ne(ptr, strstr(err, "byte"), NULL), "%s", err);
	free(err);
}

Test(evidence, a_snapshot_whose_records_do_not_reach_back_says_it_cannot_reproduce)
{
	/* keep one minute of records: too little for a 5 minute window before the trigger */
	FILE *f;
	char path[256];

	(void)snprintf(path, sizeof(path), "%s/short.yaml", dir);
	cr_assert(ne(ptr, f = fopen(path, "w"), NULL));
	fputs("evidence:\n  keep: 1m\n", f);
	fclose(f);
	cr_assert(eq(int, run("replay --quiet --config short.yaml --out out day > t.ndjson"), 0));
	cr_assert(
	    eq(int, sh("f=$(ls out/snapshots/* | head -1) && zstdcat $f | head -1 > h.json"), 0));
	char *h = slurp("h.json");

	cr_assert(ne(ptr, strstr(h, "\"reproducible\":false,\"why_not\":"), NULL), "%.400s", h);
	free(h);
}

Test(evidence, options_that_do_not_apply_to_a_snapshot_are_refused)
{
	cr_assert(eq(int, run("replay --quiet --out out day > t.ndjson"), 0));
	cr_assert(eq(int, sh("ls out/snapshots/* | head -1 > snap.txt"), 0));
	char *snap = slurp("snap.txt"), cmd[512];

	snap[strcspn(snap, "\n")] = '\0';
	(void)snprintf(cmd, sizeof(cmd), "replay --config none.yaml %s > r.ndjson", snap);
	cr_assert(eq(int, run(cmd), 2), "the snapshot's own rules apply, not a config");
	(void)snprintf(cmd, sizeof(cmd), "replay --quiet %s > r.ndjson", snap);
	cr_assert(eq(int, run(cmd), 0));
	free(snap);
}

Test(evidence, replaying_the_same_logs_again_shows_each_event_once)
{
	cr_assert(eq(int, run("replay --quiet --out out day > t1.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --out out day > t2.ndjson"), 0));
	char *t = slurp("t1.ndjson"), id[32];

	cr_assert(th_field(t, "incident_id", id, sizeof(id)));
	free(t);
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "incidents show %s --out out > show.json", id);
	cr_assert(eq(int, run(cmd), 0));
	cr_assert(eq(int, sh("test $(grep -c '\"type\":\"trigger\"' show.json) -eq 1"), 0),
		  "the journal has it twice; show prints it once");
	cr_assert(eq(int, sh("test $(ls out/journal/*.tlj | wc -l) -ge 1"), 0));
}

Test(evidence, no_evidence_writes_no_journal_and_no_snapshots)
{
	cr_assert(eq(int, run("replay --quiet --no-evidence --out out day > t.ndjson"), 0));
	cr_assert(ne(int, sh("test -e out/snapshots"), 0));
	cr_assert(ne(int, sh("test -e out/journal"), 0));
	char *t = slurp("t.ndjson");

	cr_assert(eq(ptr, strstr(t, "\"snapshot\""), NULL));
	free(t);
}
