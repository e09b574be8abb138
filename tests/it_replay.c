/*
 * tests/it_replay.c - `tripline replay` as a user runs it: a mixed directory of a storage-
 * account tree, .zst and .gz batches and malformed lines gives exact counts in --stats, and
 * every malformed record is in the dead-letter file with its input, position and reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <zlib.h>
#include <zstd.h>

#include "files.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

static char dir[] = "/tmp/tl-it-replay-XXXXXX";

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(replay, .init = setup, .fini = teardown, .timeout = 120);

static void make_parent(const char *path)
{
	char cmd[1200];

	(void)snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	cr_assert(eq(int, system(cmd), 0));
}

static void put(const char *rel, const char *text)
{
	char path[1024];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	make_parent(path);
	FILE *f = fopen(path, "wb");

	cr_assert(ne(ptr, f, NULL));
	fputs(text, f);
	fclose(f);
}

static void put_zst(const char *rel, const char *text)
{
	size_t n = strlen(text), cap = ZSTD_compressBound(n);
	char *out = malloc(cap), path[1024];
	size_t c = ZSTD_compress(out, cap, text, n, 3);
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	make_parent(path);
	f = fopen(path, "wb");
	cr_assert(ne(ptr, f, NULL));
	fwrite(out, 1, c, f);
	fclose(f);
	free(out);
}

static void put_gz(const char *rel, const char *text)
{
	char path[1024];
	gzFile g;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	make_parent(path);
	g = gzopen(path, "wb");
	cr_assert(ne(ptr, g, NULL));
	gzputs(g, text);
	gzclose(g);
}

/* Run tripline with @args (a shell fragment); return its exit status. */
static int run(const char *args)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>stderr.txt >stdout.txt", args);
	return th_run(dir, TL_TRIPLINE, a);
}

/* NULL if there is no such file */
static char *slurp(const char *rel)
{
	return th_slurp(dir, rel, 1, NULL);
}

/* The number after "key": in @json, searched from @from (a unique prefix). */
static long long num_after(const char *json, const char *from, const char *key)
{
	const char *p = from ? strstr(json, from) : json;
	char pat[128];

	cr_assert(ne(ptr, (void *)p, NULL), "no '%s' in %s", from, json);
	(void)snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	cr_assert(ne(ptr, (void *)p, NULL), "no key %s", key);
	return strtoll(p + strlen(pat), NULL, 10);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

#define RR(t, corr, dep, dur, st)                                                          \
	"{\"time\":\"2025-11-04T" t                                                        \
	"Z\",\"category\":\"RequestResponse\",\"correlationId\":\"" corr                   \
	"\",\"resourceId\":\"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/"                 \
	"MICROSOFT.COGNITIVESERVICES"                                                      \
	"/ACCOUNTS/AOAI-ONE\",\"durationMs\":" dur ",\"resultSignature\":\"" st            \
	"\",\"properties\":"                                                               \
	"\"{\\\"modelDeploymentName\\\":\\\"" dep "\\\",\\\"modelName\\\":\\\"gpt-4o\\\"," \
	"\\\"modelVersion\\\":\\\"2024-11-20\\\"}\"}"

#define TREE                                                                          \
	"insights-logs-requestresponse/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/" \
	"PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/AOAI-ONE/y=2025/m=11/d=04/"

Test(replay, mixed_directory_gives_exact_counts_and_dead_letters)
{
	/* hour 14 of the storage tree: 4 good lines, a truncated line, a line of garbage */
	put("in/" TREE "h=14/m=00/PT1H.json",
	    RR("14:00:01.5", "c1", "chat", "100", "200") "\n" RR(
		"14:00:02.25", "c2", "chat", "120",
		"200") "\n"
		       "{\"time\":\"2025-11-04T14:00:03Z\",\"category\":\"RequestResp\n" RR(
			   "14:00:04", "c3", "chat", "-5",
			   "500") "\n"
				  "this is not json\n" RR("14:00:05", "c4", "mini", "80",
							  "429") "\n");
	/* hour 15: 2 good lines, one missing its time, one with a wrong type, an Audit record */
	put("in/" TREE "h=15/m=00/PT1H.json",
	    RR("15:00:00", "c5", "chat", "90",
	       "200") "\n"
		      "{\"category\":\"RequestResponse\",\"correlationId\":\"x\",\"properties\":{}}"
		      "\n" RR("15:00:01", "c6", "chat", "true",
			      "200") "\n"
				     "{\"time\":\"2025-11-04T15:00:02Z\",\"category\":\"Audit\","
				     "\"operationName\":\"ListKey\"}\n" RR("15:00:03", "c7", "mini",
									   "70", "200") "\n");
	/* an Event Hubs capture as .zst: one envelope holding a duplicate of c2 and a new c8 */
	put_zst("in/hub/batch-0001.json.zst",
		"{\"records\":[" RR("14:00:02.25", "c2", "chat", "120",
				    "200") "," RR("14:30:00", "c8", "chat", "130", "200") "]}\n");
	/* a .gz with a redelivery of c5 and a native event */
	put_gz("in/hub/app.ndjson.gz", RR("15:00:00", "c5", "chat", "90",
					  "200") "\n"
						 "{\"category\":\"tripline\",\"time\":\"2025-11-"
						 "04T14:10:00Z\",\"resource\":\"app\","
						 "\"deployment\":\"chat-main\",\"latency_ms\":5,"
						 "\"status\":200,\"request_id\":\"n1\"}\n");
	put("in/README.txt", "not a log file\n");

	cr_assert(eq(int, run("replay --stats stats.json --out out in"), 0));
	char *stats = slurp("stats.json");

	cr_assert(ne(ptr, stats, NULL));
	/* 6 + 5 lines, 2 + 2 records: c1 c2 c3 c4 c5 c7 c8 n1 decoded; c2 and c5 again;
	 * the cut line, the garbage, the missing time and the boolean duration malformed */
	cr_assert(eq(int, (int)num_after(stats, "\"records\"", "read"), 15));
	cr_assert(eq(int, (int)num_after(stats, "\"records\"", "decoded"), 8));
	cr_assert(eq(int, (int)num_after(stats, "\"records\"", "duplicate"), 2));
	cr_assert(eq(int, (int)num_after(stats, "\"records\"", "malformed"), 4));
	cr_assert(eq(int, (int)num_after(stats, "\"records\"", "skipped"), 1));
	/* the .gz holds n1 (14:10) after c5 (15:00): 50 minutes back, past the 2 min lateness */
	cr_assert(eq(int, (int)num_after(stats, "\"records\"", "late"), 1));
	/* per series: AOAI-ONE/chat has c1 c2 c3 c5 c8 (c6 is malformed) */
	cr_assert(eq(int, (int)num_after(stats, "\"deployment\":\"chat\"", "requests"), 5));
	cr_assert(eq(int, (int)num_after(stats, "\"deployment\":\"chat\"", "5xx"), 1));
	cr_assert(eq(int, (int)num_after(stats, "\"deployment\":\"mini\"", "requests"), 2));
	cr_assert(eq(int, (int)num_after(stats, "\"deployment\":\"mini\"", "429"), 1));
	cr_assert(eq(int, (int)num_after(stats, "\"deployment\":\"chat-main\"", "requests"), 1));
	cr_assert(ne(ptr, strstr(stats, "\"resource\":\"APP\""), NULL));

	char *dl = slurp("out/dead-letter.ndjson");

	cr_assert(ne(ptr, dl, NULL));
	cr_assert(eq(int, count_lines(dl), 4));
	cr_assert(ne(ptr, strstr(dl, "\"line\":2,\"reason\":\"missing field 'time'\""), NULL), "%s",
		  dl);
	cr_assert(ne(ptr, strstr(dl, "\"line\":3,\"reason\":\"bad JSON: "), NULL), "%s", dl);
	cr_assert(ne(ptr, strstr(dl, "\"line\":5,\"reason\":\"bad JSON: "), NULL), "%s", dl);
	cr_assert(ne(ptr, strstr(dl, "\"raw\":\"this is not json\""), NULL), "%s", dl);
	cr_assert(ne(ptr,
		     strstr(dl, "\"line\":3,\"reason\":\"field 'durationMs': expected a number, "
				"got a boolean\""),
		     NULL),
		  "%s", dl);
	cr_assert(ne(ptr, strstr(dl, "h=15/m=00/PT1H.json\",\"offset\":"), NULL), "%s", dl);
	free(dl);
	free(stats);

	/* --dead-letter puts the file elsewhere; one input alone gives its own counts */
	cr_assert(eq(
	    int, run("replay --quiet --dead-letter dl.ndjson in/" TREE "h=15/m=00/PT1H.json"), 0));
	dl = slurp("dl.ndjson");
	cr_assert(eq(int, count_lines(dl), 2));
	free(dl);
}

Test(replay, same_counts_at_any_read_size_and_from_stdin)
{
	put("a.ndjson", RR("14:00:01", "a1", "chat", "100", "200") "\n" RR(
			    "14:00:02", "a2", "chat", "100",
			    "200") "\n"
				   "garbage\n" RR("14:00:01", "a1", "chat", "100", "200") "\n");
	cr_assert(eq(int, run("replay --quiet --stats s1.json a.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --chunk 7 --stats s2.json a.ndjson"), 0));
	cr_assert(eq(int, run("replay --quiet --stats s3.json - < a.ndjson"), 0));
	char *s1 = slurp("s1.json"), *s2 = slurp("s2.json"), *s3 = slurp("s3.json");

	cr_assert(eq(int, (int)num_after(s1, NULL, "duplicate"), 1));
	cr_assert(eq(str, s1, s2));
	cr_assert(eq(int, (int)num_after(s3, NULL, "read"), 4));
	cr_assert(eq(int, (int)num_after(s3, NULL, "malformed"), 1));
	free(s1);
	free(s2);
	free(s3);
}

Test(replay, errors_name_the_file_and_set_the_exit_status)
{
	cr_assert(eq(int, run("replay --quiet nonexistent.ndjson"), 1));
	char *err = slurp("stderr.txt");

	cr_assert(ne(ptr, strstr(err, "'nonexistent.ndjson': No such file or directory"), NULL),
		  "%s", err);
	free(err);
	cr_assert(eq(int, run("replay --bogus x"), 2));
	cr_assert(eq(int, run("replay"), 2));
	cr_assert(eq(int, run("frobnicate"), 2));
	/* a truncated .zst: what precedes the cut is read, the file is named, status 1 */
	put_zst("t.ndjson.zst", RR("14:00:01", "t1", "chat", "1",
				   "200") "\n" RR("14:00:02", "t2", "chat", "1", "200") "\n");
	char path[1024];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/t.ndjson.zst", dir);
	cr_assert(eq(int, stat(path, &st), 0));
	cr_assert(eq(int, truncate(path, st.st_size - 4), 0));
	cr_assert(eq(int, run("replay --quiet --stats s.json t.ndjson.zst"), 1));
	err = slurp("stderr.txt");
	cr_assert(
	    ne(ptr, strstr(err, "'t.ndjson.zst': corrupt or truncated compressed data"), NULL),
	    "%s", err);
	free(err);
	char *s = slurp("s.json");

	cr_assert(ne(ptr, strstr(s, "\"error\":\"corrupt or truncated compressed data\""), NULL),
		  "%s", s);
	free(s);
	/* nothing but stats (when asked for with -) reaches stdout */
	put("ok.ndjson", RR("14:00:01", "o1", "chat", "1", "200") "\n");
	cr_assert(eq(int, run("replay ok.ndjson"), 0));
	char *out = slurp("stdout.txt");

	cr_assert(eq(str, out, ""));
	free(out);
}

Test(replay, records_after_a_gap_in_event_time_are_all_detected_on)
{
	/* two minutes of one deployment, half an hour of nothing, two more minutes: the first
	 * records after the gap are far ahead of the buckets closed before it, and must move
	 * them on rather than be dropped as too far ahead */
	char path[1024];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/gap.ndjson", dir);
	cr_assert(ne(ptr, f = fopen(path, "w"), NULL));
	for (int i = 0; i < 240; i++) {
		const int s = i < 120 ? i : 1800 + i;

		fprintf(f,
			"{\"category\":\"tripline\",\"time\":\"2025-11-04T10:%02d:%02d.000Z\","
			"\"deployment\":\"chat\",\"request_id\":\"r%d\",\"latency_ms\":100,"
			"\"status\":200}\n",
			s / 60, s % 60, i);
	}
	fclose(f);
	cr_assert(eq(int, run("replay --quiet --no-evidence --stats s.json gap.ndjson"), 0));
	char *st = slurp("s.json");

	cr_assert(eq(int, (int)num_after(st, NULL, "decoded"), 240));
	cr_assert(eq(int, (int)num_after(st, NULL, "late"), 0));
	cr_assert(eq(int, (int)num_after(st, NULL, "ahead"), 0), "%s", st);
	free(st);
}
