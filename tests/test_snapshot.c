/*
 * tests/test_snapshot.c - the snapshot file: what zstdcat and jq see, the reader's round trip,
 * truncated and corrupt files, the temporary file on abort, the size bound, plain input.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <zstd.h>

#include <tripline/snapshot.h>

#include "files.h"

static char dir[] = "/tmp/tl-snapshot-XXXXXX";

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 60);

static const char header[] = "{\"type\":\"tripline.snapshot\",\"rule\":\"latency\"}";

static char *path_of(const char *name)
{
	static char p[2][512];
	static int i;

	i = (i + 1) % 2;
	(void)snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static int n_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert(ne(ptr, d, NULL));
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
	closedir(d);
	return n;
}

static struct tl_snapshot *create(const char *name, size_t max_bytes)
{
	struct tl_snapshot_opts o = { .max_bytes = max_bytes };
	struct tl_snapshot *w;

	cr_assert(eq(int, tl_snapshot_create(dir, name, &o, header, strlen(header), &w), 0));
	return w;
}

static const char *records[] = {
	"{\"time\":\"2025-11-04T00:00:01Z\",\"category\":\"RequestResponse\",\"x\":1}",
	"{\n  \"time\": \"2025-11-04T00:00:02Z\",\n  \"category\": \"RequestResponse\"\n}",
	"{\"time\":\"2025-11-04T00:00:03Z\",\"s\":\"a\\nb\"}",
};

/* A snapshot with the header, one change line and the three records. */
static void write_small(const char *name, struct tl_snapshot_stats *ret_st)
{
	struct tl_snapshot *w = create(name, 0);
	const char *change = "{\"type\":\"change\",\"op\":\"deployment_write\"}";

	cr_assert(eq(int, tl_snapshot_add_line(w, change, strlen(change)), 0));
	for (size_t i = 0; i < 3; i++)
		cr_assert(eq(int, tl_snapshot_add_record(w, records[i], strlen(records[i])), 0));
	cr_assert(eq(int, tl_snapshot_finish(w, ret_st), 0));
}

static const char *want_lines[] = {
	header,
	"{\"type\":\"change\",\"op\":\"deployment_write\"}",
	"{\"time\":\"2025-11-04T00:00:01Z\",\"category\":\"RequestResponse\",\"x\":1}",
	"{   \"time\": \"2025-11-04T00:00:02Z\",   \"category\": \"RequestResponse\" }",
	"{\"time\":\"2025-11-04T00:00:03Z\",\"s\":\"a\\nb\"}",
	"{\"type\":\"tripline.snapshot.end\",\"records\":3,\"omitted\":0,\"lines\":1,"
	"\"lines_omitted\":0,\"newlines_replaced\":1}",
};

Test(snapshot, zstdcat_sees_header_first_then_lines_and_jq_parses_them)
{
	struct tl_snapshot_stats st;
	char cmd[1200], line[4096];
	FILE *p;
	size_t i = 0;

	write_small("a.ndjson.zst", &st);
	cr_assert(eq(u64, st.records, 3));
	cr_assert(eq(u64, st.newlines_replaced, 1));
	cr_assert(eq(int, n_entries(), 1));
	if (system("command -v zstdcat >/dev/null 2>&1") != 0)
		cr_skip_test("zstdcat not installed");
	(void)snprintf(cmd, sizeof(cmd), "zstdcat '%s'", path_of("a.ndjson.zst"));
	p = popen(cmd, "r");
	cr_assert(ne(ptr, p, NULL));
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		cr_assert(lt(sz, i, 6));
		cr_assert(eq(str, line, (char *)want_lines[i]));
		i++;
	}
	cr_assert(eq(int, pclose(p), 0));
	cr_assert(eq(sz, i, 6));
	if (system("command -v jq >/dev/null 2>&1") == 0) {
		(void)snprintf(cmd, sizeof(cmd), "zstdcat '%s' | jq -e -s 'length == 6' >/dev/null",
			       path_of("a.ndjson.zst"));
		cr_assert(eq(int, system(cmd), 0));
	}
}

static void expect_lines(const char *path, const char **want, size_t n)
{
	struct tl_snapshot_reader *rd;
	const char *line;
	size_t len, i = 0;
	int r;

	cr_assert(eq(int, tl_snapshot_open(path, &rd), 0));
	while ((r = tl_snapshot_next(rd, &line, &len)) == 1) {
		cr_assert(lt(sz, i, n));
		cr_assert(eq(sz, len, strlen(want[i])));
		cr_assert(eq(str, (char *)line, (char *)want[i]));
		i++;
	}
	cr_assert(eq(int, r, 0), "%s", tl_snapshot_errmsg(rd));
	cr_assert(eq(sz, i, n));
	cr_assert(tl_snapshot_is_complete(rd));
	cr_assert(eq(int, tl_snapshot_next(rd, &line, &len), 0));
	tl_snapshot_close(rd);
}

Test(snapshot, reader_gives_back_every_line)
{
	write_small("b.ndjson.zst", NULL);
	expect_lines(path_of("b.ndjson.zst"), want_lines, 6);
}

Test(snapshot, reader_takes_an_uncompressed_file_with_or_without_a_last_newline)
{
	char cmd[1200];

	write_small("c.ndjson.zst", NULL);
	if (system("command -v zstdcat >/dev/null 2>&1") != 0)
		cr_skip_test("zstdcat not installed");
	(void)snprintf(cmd, sizeof(cmd), "zstdcat '%s' > '%s'", path_of("c.ndjson.zst"),
		       path_of("c.ndjson"));
	cr_assert(eq(int, system(cmd), 0));
	expect_lines(path_of("c.ndjson"), want_lines, 6);
	(void)snprintf(cmd, sizeof(cmd), "truncate -s -1 '%s'", path_of("c.ndjson"));
	cr_assert(eq(int, system(cmd), 0));
	expect_lines(path_of("c.ndjson"), want_lines, 6);
}

/* Read @path to its end; the result, and the message in @msg. */
static int read_all(const char *path, char *msg, size_t cap, size_t *ret_lines)
{
	struct tl_snapshot_reader *rd;
	const char *line;
	size_t len;
	int r;

	*ret_lines = 0;
	cr_assert(eq(int, tl_snapshot_open(path, &rd), 0));
	while ((r = tl_snapshot_next(rd, &line, &len)) == 1)
		(*ret_lines)++;
	(void)snprintf(msg, cap, "%s", tl_snapshot_errmsg(rd));
	tl_snapshot_close(rd);
	return r;
}

/* A snapshot of @n records of about 200 bytes, each different. */
static void write_many(const char *name, int n, size_t max_bytes, struct tl_snapshot_stats *st)
{
	struct tl_snapshot *w = create(name, max_bytes);
	char rec[256];

	for (int i = 0; i < n; i++) {
		int len = snprintf(rec, sizeof(rec),
				   "{\"time\":\"2025-11-04T00:00:00Z\",\"i\":%d,\"h\":\"%08x%08x\","
				   "\"pad\":\"%0120d\"}",
				   i, (unsigned)(i * 2654435761u), (unsigned)(i * 40503u), i);
		int r = tl_snapshot_add_record(w, rec, (size_t)len);

		cr_assert(r == 0 || r == 1);
	}
	cr_assert(eq(int, tl_snapshot_finish(w, st), 0));
}

Test(snapshot, truncated_or_corrupt_file_is_an_error_naming_file_and_offset)
{
	struct stat sb;
	char msg[600], cmd[1300];
	size_t lines;
	FILE *f;
	int c;

	write_many("t.ndjson.zst", 20000, 0, NULL);
	cr_assert(eq(int, read_all(path_of("t.ndjson.zst"), msg, sizeof(msg), &lines), 0));
	cr_assert(eq(sz, lines, 20002));
	cr_assert(eq(int, stat(path_of("t.ndjson.zst"), &sb), 0));
	(void)snprintf(cmd, sizeof(cmd), "head -c %lld '%s' > '%s'", (long long)sb.st_size / 2,
		       path_of("t.ndjson.zst"), path_of("half.ndjson.zst"));
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(
	    eq(int, read_all(path_of("half.ndjson.zst"), msg, sizeof(msg), &lines), TL_ECOMPRESS));
	cr_assert(ge(sz, lines, 101));
	cr_assert(ne(ptr, strstr(msg, "half.ndjson.zst: byte "), NULL), "%s", msg);
	cr_assert(ne(ptr, strstr(msg, "truncated"), NULL), "%s", msg);
	/* cut just before the checksum: all data there, the frame unfinished */
	(void)snprintf(cmd, sizeof(cmd), "head -c %lld '%s' > '%s'", (long long)sb.st_size - 2,
		       path_of("t.ndjson.zst"), path_of("end.ndjson.zst"));
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(
	    eq(int, read_all(path_of("end.ndjson.zst"), msg, sizeof(msg), &lines), TL_ECOMPRESS));
	/* one byte changed in the middle */
	(void)snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path_of("t.ndjson.zst"),
		       path_of("bad.ndjson.zst"));
	cr_assert(eq(int, system(cmd), 0));
	f = fopen(path_of("bad.ndjson.zst"), "r+b");
	cr_assert(ne(ptr, f, NULL));
	cr_assert(eq(int, fseek(f, sb.st_size / 2, SEEK_SET), 0));
	c = fgetc(f);
	cr_assert(eq(int, fseek(f, sb.st_size / 2, SEEK_SET), 0));
	cr_assert(eq(int, fputc(c ^ 0x55, f), c ^ 0x55));
	cr_assert(eq(int, fclose(f), 0));
	cr_assert(
	    eq(int, read_all(path_of("bad.ndjson.zst"), msg, sizeof(msg), &lines), TL_ECOMPRESS));
	cr_assert(ne(ptr, strstr(msg, "bad.ndjson.zst: byte "), NULL), "%s", msg);
}

Test(snapshot, abort_and_failure_leave_no_temporary_file)
{
	struct tl_snapshot *w = create("d.ndjson.zst", 0);
	struct stat sb;

	cr_assert(eq(int, stat(path_of(".d.ndjson.zst.tmp"), &sb), 0));
	cr_assert(eq(int, tl_snapshot_add_record(w, "{}", 2), 0));
	tl_snapshot_abort(w);
	cr_assert(eq(int, n_entries(), 0));
	tl_snapshot_abort(NULL);
	/* while writing, only the temporary file exists; after, only the final one */
	w = create("e.ndjson.zst", 0);
	cr_assert(ne(int, stat(path_of("e.ndjson.zst"), &sb), 0));
	cr_assert(eq(int, tl_snapshot_finish(w, NULL), 0));
	cr_assert(eq(int, stat(path_of("e.ndjson.zst"), &sb), 0));
	cr_assert(eq(int, n_entries(), 1));
}

Test(snapshot, bad_names_and_headers_are_refused)
{
	struct tl_snapshot *w;
	const char *h = "{\"type\":\"other\"}";

	cr_assert(
	    eq(int, tl_snapshot_create(dir, "a/b", NULL, header, strlen(header), &w), TL_EVALUE));
	cr_assert(
	    eq(int, tl_snapshot_create(dir, ".x", NULL, header, strlen(header), &w), TL_EVALUE));
	cr_assert(
	    eq(int, tl_snapshot_create(dir, "", NULL, header, strlen(header), &w), TL_EVALUE));
	cr_assert(eq(int, tl_snapshot_create(dir, "x", NULL, h, strlen(h), &w), TL_EVALUE));
	cr_assert(lt(
	    int, tl_snapshot_create("/nonexistent-dir", "x", NULL, header, strlen(header), &w), 0));
	cr_assert(eq(int, n_entries(), 0));
}

Test(snapshot, size_bound_omits_later_records_and_the_trailer_says_how_many)
{
	struct tl_snapshot_stats st;
	struct tl_snapshot_reader *rd;
	const char *line;
	char *last = NULL, want[200];
	struct stat sb;
	size_t len, n = 0;

	write_many("s.ndjson.zst", 200000, 256 * 1024, &st);
	cr_assert(ge(u64, st.records_omitted, 1));
	cr_assert(eq(u64, st.records + st.records_omitted, 200000));
	cr_assert(eq(int, stat(path_of("s.ndjson.zst"), &sb), 0));
	cr_assert(le(i64, (int64_t)sb.st_size, 256 * 1024));
	cr_assert(ge(i64, (int64_t)sb.st_size, (200 * 1024) + 1), "bound used poorly: %lld",
		  (long long)sb.st_size);
	cr_assert(eq(u64, st.bytes, (uint64_t)sb.st_size));
	cr_assert(eq(int, tl_snapshot_open(path_of("s.ndjson.zst"), &rd), 0));
	(void)snprintf(want, sizeof(want), "\"i\":%llu,", (unsigned long long)st.records - 1);
	while (tl_snapshot_next(rd, &line, &len) == 1) {
		n++;
		if (n == st.records + 1) /* the records kept are a prefix: the last is i - 1 */
			cr_assert(ne(ptr, strstr(line, want), NULL), "%s", line);
		free(last);
		last = strdup(line);
	}
	cr_assert(tl_snapshot_is_complete(rd));
	cr_assert(eq(sz, n, st.records + 2));
	(void)snprintf(want, sizeof(want), "\"records\":%llu,\"omitted\":%llu,",
		       (unsigned long long)st.records, (unsigned long long)st.records_omitted);
	cr_assert(ne(ptr, strstr(last, want), NULL), "%s", last);
	free(last);
	tl_snapshot_close(rd);
}

Test(snapshot, a_missing_trailer_reads_as_incomplete)
{
	struct tl_snapshot_reader *rd;
	const char *line;
	size_t len;
	FILE *f = fopen(path_of("p.ndjson"), "w");

	cr_assert(ne(ptr, f, NULL));
	fputs("{\"type\":\"tripline.snapshot\"}\n{\"a\":1}\n", f);
	fclose(f);
	cr_assert(eq(int, tl_snapshot_open(path_of("p.ndjson"), &rd), 0));
	while (tl_snapshot_next(rd, &line, &len) == 1)
		;
	cr_assert_not(tl_snapshot_is_complete(rd));
	tl_snapshot_close(rd);
	cr_assert(lt(int, tl_snapshot_open(path_of("none"), &rd), 0));
}
