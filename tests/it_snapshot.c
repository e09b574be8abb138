/*
 * tests/it_snapshot.c - `tripline snapshot show|extract FILE` as a responder uses them, on the
 * snapshots of the generated day: show summarizes a snapshot (incident, rule, trigger, the
 * changes before it, retention, the minutes, the trailer) the same way every time; extract
 * writes exactly the records zstdcat shows between the header and changes line and the
 * trailer, and `tripline replay` reads them; a file that is not a snapshot, a cut one and
 * usage errors are refused with the documented exit status, naming the file.
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

static char dir[] = "/tmp/tl-it-snapshot-XXXXXX";

/* Run tripline with @args (a shell fragment that may redirect stdout); stderr to @err. */
static int run(const char *args, const char *err)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>%s", args, err);
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
	cr_assert(eq(int, run("gen --out day --seed 7 --quiet", "gen.err"), 0));
	cr_assert(eq(int, run("replay --quiet --out out day > triggers.ndjson", "replay.err"), 0));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 300);

struct snap {
	char id[32], rule[32], path[128];
};

/* The trigger events that name a snapshot, in output order; their number. */
static size_t snapshots(struct snap *s, size_t cap)
{
	char *text = slurp("triggers.ndjson"), *p = text, *l;
	size_t n = 0;

	while ((l = th_next_line(&p)) && n < cap) {
		if (!th_field(l, "snapshot", s[n].path, sizeof(s[n].path)))
			continue;
		cr_assert(th_field(l, "incident_id", s[n].id, sizeof(s[n].id)));
		cr_assert(th_field(l, "rule", s[n].rule, sizeof(s[n].rule)));
		n++;
	}
	free(text);
	cr_assert(eq(sz, n, 6), "one snapshot per incident of the day");
	return n;
}

/* The trailer's "records" of out/@path, as zstdcat reads it. */
static unsigned long trailer_records(const char *path)
{
	char cmd[512];
	unsigned long n = 0;

	(void)snprintf(cmd, sizeof(cmd), "zstdcat out/%s | tail -1 > trailer.json", path);
	cr_assert(eq(int, sh(cmd), 0));
	char *t = slurp("trailer.json"), *p = strstr(t, "\"records\":");

	cr_assert(eq(int, strncmp(t, "{\"type\":\"tripline.snapshot.end\"", 31), 0), "%s", t);
	cr_assert(ne(ptr, p, NULL), "%s", t);
	n = strtoul(p + strlen("\"records\":"), NULL, 10);
	free(t);
	return n;
}

Test(snapshot, show_summarizes_the_latency_incident_with_the_change_before_it)
{
	struct snap s[8];
	const size_t n = snapshots(s, 8);
	const struct snap *lat = NULL;
	char cmd[512], want[128];

	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].rule, "latency") == 0)
			lat = &s[i];
	cr_assert(ne(ptr, (void *)lat, NULL), "the latency incident has a snapshot");
	(void)snprintf(cmd, sizeof(cmd), "snapshot show out/%s > show.txt", lat->path);
	cr_assert(eq(int, run(cmd, "show.err"), 0));
	char *out = slurp("show.txt");
	const char *has[] = {
		"incident       ",
		lat->id,
		"series         AOAI-",
		"/support-gpt4o",
		"rule           latency: statistic p95, factor 2, for 300s",
		"\ntrigger\n  fired_at     20",
		"  severity     Sev2",
		"  observed     ",
		" ms\n  baseline     ",
		" ms\n  threshold    ",
		"  action       rollback\n  target       model_version 2024-08-06\n  reason",
		"\nrecent changes\n",
		"deployment_write: Microsoft.CognitiveServices/accounts/deployments/write",
		"model_version 2024-08-06 -> 2024-11-20\n",
		"\nretained\n  records      ",
		"  re-run from  20",
		"  reproducible yes\n",
		"latency_ms  refusal_rate  spend_usd  in_baseline\n",
		"\nfile\n  records      ",
		"  complete     yes",
	};
	const char *at = out;

	for (size_t i = 0; i < sizeof(has) / sizeof(has[0]); i++) {
		const char *f = strstr(at, has[i]);

		cr_assert(ne(ptr, (void *)f, NULL), "show has '%s' after the one before:\n%s",
			  has[i], out);
		at = f;
	}
	/* the trailer's counts, as the file has them */
	(void)snprintf(want, sizeof(want), "  trailer      records %lu, omitted 0, lines 1,",
		       trailer_records(lat->path));
	cr_assert(ne(ptr, strstr(out, want), NULL), "%s in:\n%s", want, out);
	(void)snprintf(want, sizeof(want), "\n  records      %lu\n", trailer_records(lat->path));
	cr_assert(ne(ptr, strstr(out, want), NULL), "%s in:\n%s", want, out);

	/* one table row per minute of the header, and not the replay state */
	(void)snprintf(cmd, sizeof(cmd),
		       "zstdcat out/%s | head -1 > header.json && "
		       "test $(grep -o '\"minute\":' header.json | wc -l) -eq "
		       "$(grep -c '^  20[0-9-]*T[0-9:]*\\.000Z  ' show.txt)",
		       lat->path);
	cr_assert(eq(int, sh(cmd), 0), "a row per minute:\n%s", out);
	char *h = slurp("header.json"), state[33] = "";
	const char *rs = strstr(h, "\"replay_state\":\"");

	cr_assert(ne(ptr, (void *)rs, NULL));
	memcpy(state, rs + 16, 32);
	cr_assert(eq(ptr, strstr(out, state), NULL), "show does not print the replay state");
	cr_assert(eq(ptr, strstr(out, "replay_state"), NULL));
	free(h);

	/* the same file, the same summary */
	(void)snprintf(cmd, sizeof(cmd), "snapshot show out/%s > show2.txt", lat->path);
	cr_assert(eq(int, run(cmd, "show2.err"), 0));
	cr_assert(eq(int, sh("cmp -s show.txt show2.txt"), 0));
	free(out);
}

Test(snapshot, show_names_each_snapshots_own_incident_and_rule)
{
	struct snap s[8];
	const size_t n = snapshots(s, 8);

	for (size_t i = 0; i < n; i++) {
		char cmd[512], want[128];

		(void)snprintf(cmd, sizeof(cmd), "snapshot show out/%s > show.txt", s[i].path);
		cr_assert(eq(int, run(cmd, "show.err"), 0), "%s", cmd);
		char *out = slurp("show.txt");

		(void)snprintf(want, sizeof(want), "incident       %s\n", s[i].id);
		cr_assert(eq(int, strncmp(out, want, strlen(want)), 0), "%s", out);
		(void)snprintf(want, sizeof(want), "\nrule           %s", s[i].rule);
		cr_assert(ne(ptr, strstr(out, want), NULL), "%s", out);
		cr_assert(ne(ptr, strstr(out, "  reproducible yes\n"), NULL), "%s", out);
		cr_assert(ne(ptr, strstr(out, "  complete     yes"), NULL), "%s", out);
		free(out);
	}
}

Test(snapshot, extract_writes_the_records_exactly_as_stored)
{
	struct snap s[8];
	const size_t n = snapshots(s, 8);

	for (size_t i = 0; i < n; i++) {
		char cmd[1024];
		const unsigned long records = trailer_records(s[i].path);

		(void)snprintf(cmd, sizeof(cmd), "snapshot extract out/%s > recs.ndjson",
			       s[i].path);
		cr_assert(eq(int, run(cmd, "extract.err"), 0), "%s", cmd);

		/* as many lines as the trailer counts records, none of them ours */
		char *text = slurp("recs.ndjson"), *p = text, *l;
		unsigned long lines = 0;

		while ((l = th_next_line(&p))) {
			lines++;
			cr_assert(ne(int, strncmp(l, "{\"type\":\"tripline.", 18), 0), "%s", l);
			cr_assert(eq(int, l[0], '{'), "a record: %.200s", l);
		}
		cr_assert(eq(ulong, lines, records), "%s", s[i].path);
		cr_assert(ge(ulong, records, 501), "a busy deployment's 20 minutes of records");
		free(text);

		/* the same bytes zstdcat shows, less the header, the changes line, the trailer */
		(void)snprintf(cmd, sizeof(cmd),
			       "zstdcat out/%s | sed '1d;$d' | "
			       "sed '1{/^{\"type\":\"tripline\\.changes\"/d}' > want.ndjson && "
			       "cmp recs.ndjson want.ndjson",
			       s[i].path);
		cr_assert(eq(int, sh(cmd), 0), "%s", cmd);
	}

	/* and tripline replay reads them as ordinary input: every one a record it reads */
	char cmd[512];

	(void)snprintf(cmd, sizeof(cmd), "snapshot extract out/%s > recs.ndjson", s[0].path);
	cr_assert(eq(int, run(cmd, "extract.err"), 0));
	cr_assert(
	    eq(int,
	       run("replay --quiet --out o2 --stats st.json recs.ndjson > t.ndjson", "replay2.err"),
	       0));
	char *st = slurp("st.json"), want[64];

	(void)snprintf(want, sizeof(want), "\"read\":%lu,", trailer_records(s[0].path));
	cr_assert(ne(ptr, strstr(st, want), NULL), "%s in %s", want, st);
	cr_assert(ne(ptr, strstr(st, "\"malformed\":0"), NULL), "%s", st);
	free(st);
}

Test(snapshot, a_file_that_is_not_a_snapshot_is_refused_naming_it)
{
	const char *files[] = { "triggers.ndjson", "out/dead-letter.ndjson", "empty.ndjson" };

	cr_assert(eq(int, sh(": > empty.ndjson"), 0));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		for (int k = 0; k < 2; k++) {
			char cmd[512], want[256];

			(void)snprintf(cmd, sizeof(cmd), "snapshot %s %s > out.txt",
				       k ? "extract" : "show", files[i]);
			cr_assert(eq(int, run(cmd, "err.txt"), 1), "%s", cmd);
			char *err = slurp("err.txt"), *out = slurp("out.txt");

			(void)snprintf(want, sizeof(want), "%s: not a tripline snapshot", files[i]);
			cr_assert(ne(ptr, strstr(err, want), NULL), "%s: %s", cmd, err);
			cr_assert(eq(str, out, ""), "%s writes nothing to stdout", cmd);
			free(err);
			free(out);
		}
	}
	cr_assert(eq(int, run("snapshot show no-such-file > out.txt", "err.txt"), 1));
	char *err = slurp("err.txt");

	cr_assert(ne(ptr, strstr(err, "no-such-file: No such file"), NULL), "%s", err);
	free(err);
}

Test(snapshot, a_cut_snapshot_is_refused_naming_the_file_and_offset)
{
	struct snap s[8];

	(void)snapshots(s, 8);
	char cmd[512];

	(void)snprintf(cmd, sizeof(cmd),
		       "f=out/%s && head -c $(($(stat -c %%s $f) / 2)) $f > cut.ndjson.zst",
		       s[0].path);
	cr_assert(eq(int, sh(cmd), 0));
	for (int k = 0; k < 2; k++) {
		(void)snprintf(cmd, sizeof(cmd), "snapshot %s cut.ndjson.zst > out.txt",
			       k ? "extract" : "show");
		cr_assert(eq(int, run(cmd, "err.txt"), 1), "%s", cmd);
		char *err = slurp("err.txt");

		cr_assert(ne(ptr, strstr(err, "cut.ndjson.zst: byte "), NULL), "%s", err);
		cr_assert(ne(ptr, strstr(err, "truncated"), NULL), "%s", err);
		free(err);
	}

	/* cut as text, before its trailer: show says so; extract fails after the records */
	(void)snprintf(cmd, sizeof(cmd), "zstdcat out/%s | head -100 > cut.ndjson", s[0].path);
	cr_assert(eq(int, sh(cmd), 0));
	cr_assert(eq(int, run("snapshot show cut.ndjson > show.txt", "err.txt"), 0));
	char *out = slurp("show.txt");

	cr_assert(ne(ptr, strstr(out, "  trailer      none\n  complete     no"), NULL), "%s", out);
	free(out);
	cr_assert(eq(int, run("snapshot extract cut.ndjson > recs.ndjson", "err.txt"), 1));
	char *err = slurp("err.txt");

	cr_assert(ne(ptr, strstr(err, "cut.ndjson: ends without the snapshot's trailer"), NULL),
		  "%s", err);
	free(err);
	cr_assert(eq(int, sh("test $(wc -l < recs.ndjson) -eq 98"), 0),
		  "the 98 records after the header and the changes line");
}

Test(snapshot, usage_errors_exit_2_and_help_exits_0)
{
	const char *bad[] = { "snapshot", "snapshot show", "snapshot extract a b",
			      "snapshot show --bogus x", "snapshot list x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char cmd[256];

		(void)snprintf(cmd, sizeof(cmd), "%s > out.txt", bad[i]);
		cr_assert(eq(int, run(cmd, "err.txt"), 2), "%s", bad[i]);
		char *err = slurp("err.txt");

		cr_assert(ne(ptr, strstr(err, "snapshot"), NULL), "%s: %s", bad[i], err);
		free(err);
	}
	const char *help[][2] = { { "snapshot --help", "usage: tripline snapshot show FILE" },
				  { "snapshot show --help", "replay state" },
				  { "snapshot extract --help", "exactly\nas stored" } };

	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
		char cmd[256];

		(void)snprintf(cmd, sizeof(cmd), "%s > out.txt", help[i][0]);
		cr_assert(eq(int, run(cmd, "err.txt"), 0), "%s", help[i][0]);
		char *out = slurp("out.txt");

		cr_assert(ne(ptr, strstr(out, help[i][1]), NULL), "%s: %s", help[i][0], out);
		free(out);
	}
}
