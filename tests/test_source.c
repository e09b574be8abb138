/*
 * tests/test_source.c - reading and framing inputs: lines and pretty-printed documents, gzip
 * and zstd, chunk boundaries, oversize and broken input, directory walks, stdin.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <zlib.h>
#include <zstd.h>

#include <tripline/source.h>

#include "helpers.h"

static char dir[] = "/tmp/tl-source-XXXXXX";

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(source, .init = setup, .fini = teardown, .timeout = 60);

static char *path_of(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	(void)snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(path_of(name), "wb");

	cr_assert(ne(ptr, f, NULL));
	cr_assert(eq(sz, fwrite(data, 1, len, f), len));
	fclose(f);
}

/* Everything an input yields, copied out. */
struct got {
	size_t n;
	uint64_t offset[4096];
	uint64_t line[4096];
	size_t len[4096];
	const char *error[4096];
	char *text[4096];
	int end; /* 1, or the error that ended the input */
	enum tl_framing framing;
};

static void drain(const char *path, size_t chunk, struct got *g)
{
	struct tl_input *in;
	struct tl_frames fr = { 0 };
	int r;

	memset(g, 0, sizeof(*g));
	cr_assert(eq(int, tl_input_open(path, 0, chunk, &in), 0), "open %s", path);
	for (;;) {
		r = tl_input_next(in, &fr);
		/* frames come with an error too: what was read before it */
		for (size_t i = 0; i < fr.n && g->n < 4096; i++, g->n++) {
			const struct tl_frame *f = &fr.f[i];

			g->offset[g->n] = f->u.offset;
			g->line[g->n] = f->u.line;
			g->len[g->n] = f->u.len;
			g->error[g->n] = f->error;
			g->text[g->n] = strndup(f->u.data, f->u.len < 200 ? f->u.len : 200);
			/* the padding after every unit is readable */
			volatile char pad = f->u.data[f->u.len + TL_UNIT_PADDING - 1];
			(void)pad;
		}
		if (r != 0)
			break;
	}
	g->end = r;
	g->framing = tl_input_framing(in);
	tl_frames_fini(&fr);
	tl_input_close(in);
}

static void free_got(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->text[i]);
}

Test(source, ndjson_lines_with_offsets_and_line_numbers)
{
	const char *text = "{\"a\":1}\n\n{\"b\":2}\r\n  {\"c\":3}";
	struct got g;

	write_file("x.ndjson", text, strlen(text));
	drain(path_of("x.ndjson"), 0, &g);
	cr_assert(eq(int, g.framing, TL_FRAMING_LINES));
	cr_assert(eq(sz, g.n, 3));
	cr_assert(eq(u64, g.offset[1], 9));
	cr_assert(eq(u64, g.line[1], 3));
	cr_assert(eq(u64, g.line[2], 4));
	cr_assert(eq(str, g.text[2], "  {\"c\":3}"), "the last line needs no newline");
	cr_assert(eq(int, g.end, 1));
	free_got(&g);
}

Test(source, pretty_printed_envelope_is_cut_into_records)
{
	size_t len;
	char *buf = th_read("activity-deployment-write.json", &len);
	struct got g;

	write_file("a.json", buf, len);
	drain(path_of("a.json"), 0, &g);
	cr_assert(eq(int, g.framing, TL_FRAMING_DOCUMENT));
	cr_assert(eq(sz, g.n, 3));
	for (size_t i = 0; i < 3; i++) {
		cr_assert(eq(ptr, (void *)g.error[i], NULL));
		cr_assert(eq(chr, buf[g.offset[i]], '{'));
		cr_assert(eq(chr, buf[g.offset[i] + g.len[i] - 1], '}'));
	}
	cr_assert(eq(u64, g.line[0], 3), "the first record opens on line 3");
	free_got(&g);
	free(buf);
}

Test(source, units_do_not_depend_on_the_chunk_size)
{
	size_t len;
	char *buf = th_read("activity-deployment-write.json", &len);
	const char *tail = "\n[\n {\"records\": [ {\"x\": \"]}\"}, 7, \"s\" ]},\n "
			   "{\"k\":[1,{\"records\":2}]}\n]\n";
	char *all = malloc(len + strlen(tail) + 1);
	struct got ref, g;

	memcpy(all, buf, len);
	strcpy(all + len, tail);
	write_file("b.json", all, strlen(all));
	drain(path_of("b.json"), 1 << 20, &ref);
	cr_assert(eq(sz, ref.n, 7), "3 records, a string with brackets, 7, \"s\", and {\"k\":...}");
	for (size_t chunk = 1; chunk < 700; chunk = chunk * 3 + 1) {
		drain(path_of("b.json"), chunk, &g);
		cr_assert(eq(sz, g.n, ref.n), "chunk %zu", chunk);
		for (size_t i = 0; i < g.n; i++) {
			cr_assert(eq(u64, g.offset[i], ref.offset[i]), "chunk %zu unit %zu", chunk,
				  i);
			cr_assert(eq(sz, g.len[i], ref.len[i]), "chunk %zu unit %zu", chunk, i);
			cr_assert(eq(u64, g.line[i], ref.line[i]), "chunk %zu unit %zu", chunk, i);
		}
		free_got(&g);
	}
	cr_assert(eq(str, ref.text[3], "{\"x\": \"]}\"}"));
	cr_assert(eq(str, ref.text[4], "7"));
	free_got(&ref);
	free(all);
	free(buf);
}

Test(source, lines_do_not_depend_on_the_chunk_size)
{
	size_t len;
	char *buf = th_read("aoai-requestresponse.ndjson", &len);
	struct got ref, g;

	write_file("rr.ndjson", buf, len);
	drain(path_of("rr.ndjson"), 0, &ref);
	cr_assert(eq(sz, ref.n, 20));
	for (size_t chunk = 1; chunk < 5000; chunk = chunk * 5 + 3) {
		drain(path_of("rr.ndjson"), chunk, &g);
		cr_assert(eq(sz, g.n, 20), "chunk %zu", chunk);
		for (size_t i = 0; i < g.n; i++)
			cr_assert(eq(u64, g.offset[i], ref.offset[i]));
		free_got(&g);
	}
	free_got(&ref);
	free(buf);
}

static void gzip_to(const char *name, const char *text, size_t len, int members)
{
	FILE *f = fopen(path_of(name), "wb");

	cr_assert(ne(ptr, f, NULL));
	for (int m = 0; m < members; m++) {
		size_t part = len / (size_t)members, from = part * (size_t)m;
		size_t n = m == members - 1 ? len - from : part;
		z_stream z = { 0 };
		unsigned char out[1 << 16];

		cr_assert(
		    eq(int, deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK));
		z.next_in = (unsigned char *)text + from;
		z.avail_in = (uInt)n;
		int zr;

		do {
			z.next_out = out;
			z.avail_out = sizeof(out);
			zr = deflate(&z, Z_FINISH);
			fwrite(out, 1, sizeof(out) - z.avail_out, f);
		} while (zr != Z_STREAM_END);
		deflateEnd(&z);
	}
	fclose(f);
}

static void zstd_to(const char *name, const char *text, size_t len)
{
	size_t cap = ZSTD_compressBound(len);
	char *out = malloc(cap);
	size_t n = ZSTD_compress(out, cap, text, len, 3);

	cr_assert(eq(int, ZSTD_isError(n), 0));
	write_file(name, out, n);
	free(out);
}

Test(source, gzip_and_zstd_read_like_plain_text)
{
	size_t len;
	char *buf = th_read("aoai-requestresponse.ndjson", &len);
	struct got plain, gz, gz3, zst;

	write_file("p.ndjson", buf, len);
	gzip_to("p.ndjson.gz", buf, len, 1);
	gzip_to("p3.log.gz", buf, len, 3); /* concatenated members, as `cat a.gz b.gz` makes */
	zstd_to("p.json.zst", buf, len);
	drain(path_of("p.ndjson"), 4096, &plain);
	drain(path_of("p.ndjson.gz"), 4096, &gz);
	drain(path_of("p3.log.gz"), 4096, &gz3);
	drain(path_of("p.json.zst"), 4096, &zst);
	cr_assert(eq(sz, plain.n, 20));
	cr_assert(eq(int, gz.end, 1));
	cr_assert(eq(int, gz3.end, 1));
	cr_assert(eq(int, zst.end, 1));
	for (size_t i = 0; i < 20; i++) {
		cr_assert(eq(str, gz.text[i], plain.text[i]));
		cr_assert(eq(str, gz3.text[i], plain.text[i]));
		cr_assert(eq(str, zst.text[i], plain.text[i]));
		cr_assert(eq(u64, zst.offset[i], plain.offset[i]),
			  "offsets are in decompressed bytes");
	}
	free_got(&plain);
	free_got(&gz);
	free_got(&gz3);
	free_got(&zst);
	free(buf);
}

Test(source, truncated_compressed_input_yields_what_it_has_then_fails)
{
	/* 3000 lines of 1000 random hex digits: zstd decodes whole blocks of up to 128 KiB, so
	 * the lines before a cut need several blocks before it, which text that compresses
	 * well would not fill */
	const size_t lines = 3000, width = 1000;
	size_t len = lines * (width + 1);
	char *buf = malloc(len);
	uint64_t x = 88172645463325252u;
	struct got g;

	cr_assert(ne(ptr, buf, NULL));
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = i % (width + 1) == width ? '\n' : "0123456789abcdef"[x & 15];
	}
	gzip_to("t.ndjson.gz", buf, len, 1);
	zstd_to("t.ndjson.zst", buf, len);
	/* cut each compressed file in half */
	for (int k = 0; k < 2; k++) {
		const char *name = k ? "t.ndjson.zst" : "t.ndjson.gz";
		struct stat st;

		cr_assert(eq(int, stat(path_of(name), &st), 0));
		cr_assert(eq(int, truncate(path_of(name), st.st_size / 2), 0));
		drain(path_of(name), 1024, &g);
		cr_assert(eq(int, g.end, TL_ECOMPRESS), "%s", name);
		cr_assert(ge(sz, g.n, 100), "%s: the lines before the cut", name);
		cr_assert(lt(sz, g.n, lines), "%s", name);
		free_got(&g);
	}
	free(buf);
}

Test(source, oversize_line_is_reported_and_the_next_line_survives)
{
	size_t n = TL_MAX_RECORD + 5000;
	char *text = malloc(n + 64);

	memset(text, 'x', n);
	text[0] = '{';
	memcpy(text + n, "\n{\"ok\":1}\n", 11);
	write_file("big.ndjson", "{\"first\":1}\n", 12);
	FILE *f = fopen(path_of("big.ndjson"), "ab");
	fwrite(text, 1, n + 10, f);
	fclose(f);
	struct got g;

	drain(path_of("big.ndjson"), 0, &g);
	cr_assert(eq(sz, g.n, 3));
	cr_assert(eq(str, (char *)g.error[1], "line larger than 1 MiB"));
	cr_assert(eq(sz, g.len[1], TL_MAX_RECORD));
	cr_assert(eq(u64, g.line[1], 2));
	cr_assert(eq(str, g.text[2], "{\"ok\":1}"));
	cr_assert(eq(u64, g.line[2], 3));
	free_got(&g);
	free(text);
}

Test(source, oversize_record_in_a_document)
{
	size_t n = TL_MAX_RECORD + 10;
	char *text = malloc(n + 200);
	size_t p = 0;

	p += (size_t)sprintf(text, "{\n\"records\": [\n{\"v\":\"");
	memset(text + p, 'y', n);
	p += n;
	p += (size_t)sprintf(text + p, "\"},\n{\"w\":2}\n]\n}\n");
	write_file("bigdoc.json", text, p);
	struct got g;

	drain(path_of("bigdoc.json"), 0, &g);
	cr_assert(eq(sz, g.n, 2));
	cr_assert(eq(str, (char *)g.error[0], "record larger than 1 MiB"));
	cr_assert(eq(str, g.text[1], "{\"w\":2}"));
	free_got(&g);
	free(text);
}

Test(source, broken_document_resumes_at_the_next_top_level_line)
{
	const char *text = "{\n  \"records\": [\n    {\"a\": 1},\n    {\"b\": ]\n  ]\n}\n"
			   "{\n  \"records\": [\n    {\"c\": 3}\n  ]\n}\n";
	struct got g;

	write_file("broken.json", text, strlen(text));
	drain(path_of("broken.json"), 0, &g);
	cr_assert(eq(sz, g.n, 3));
	cr_assert(eq(str, g.text[0], "{\"a\": 1}"));
	cr_assert(eq(str, (char *)g.error[1], "bad JSON: unbalanced brackets"));
	cr_assert(eq(u64, g.line[1], 4));
	cr_assert(eq(str, g.text[2], "{\"c\": 3}"));
	cr_assert(eq(u64, g.line[2], 9));
	free_got(&g);
}

Test(source, document_cut_short_is_reported)
{
	const char *text = "{\n \"records\": [\n  {\"a\": 1},\n  {\"b\": 2";
	struct got g;

	write_file("short.json", text, strlen(text));
	drain(path_of("short.json"), 0, &g);
	cr_assert(eq(sz, g.n, 2));
	cr_assert(eq(str, (char *)g.error[1], "bad JSON: the input ends inside a value"));
	cr_assert(eq(str, g.text[1], "{\"b\": 2"));
	free_got(&g);
}

Test(source, directory_walk_finds_log_files_in_time_order)
{
	const char *tree =
	    "insights-logs-requestresponse/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/"
	    "PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/A";
	const char *hours[] = { "y=2025/m=11/d=04/h=14/m=00", "y=2025/m=11/d=04/h=09/m=00",
				"y=2025/m=10/d=31/h=23/m=00" };
	char cmd[1024];
	struct tl_paths ps = { 0 };
	const char *bad = NULL;

	for (int i = 0; i < 3; i++) {
		(void)snprintf(cmd, sizeof(cmd),
			       "mkdir -p '%s/%s/%s' && echo '{}' > '%s/%s/%s/PT1H.json'", dir, tree,
			       hours[i], dir, tree, hours[i]);
		cr_assert(eq(int, system(cmd), 0));
	}
	(void)snprintf(cmd, sizeof(cmd),
		       "mkdir -p '%s/.hidden' && touch '%s/.hidden/x.json' "
		       "'%s/notes.txt' '%s/b.ndjson.zst'",
		       dir, dir, dir, dir);
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(eq(int, tl_paths_add(&ps, dir, &bad), 0));
	cr_assert(eq(sz, ps.n, 4));
	cr_assert(eq(sz, ps.ignored, 1), "notes.txt");
	cr_assert(eq(int, strstr(ps.p[0].path, "b.ndjson.zst") != NULL, 1));
	cr_assert(eq(int, strstr(ps.p[1].path, "m=10/d=31/h=23") != NULL, 1));
	cr_assert(eq(int, strstr(ps.p[3].path, "d=04/h=14") != NULL, 1));
	cr_assert(eq(i64, ps.p[0].hint_ns, INT64_MIN));
	cr_assert(eq(i64, ps.p[3].hint_ns, INT64_C(1762264800) * 1000000000));
	cr_assert(eq(i64, ps.p[3].hint_ns - ps.p[2].hint_ns, INT64_C(5) * 3600 * 1000000000));
	cr_assert(lt(int, tl_paths_add(&ps, "/nonexistent/x.json", &bad), 0));
	cr_assert(eq(str, (char *)bad, "/nonexistent/x.json"));
	tl_paths_fini(&ps);
}

Test(source, path_hint_takes_whole_components_only)
{
	cr_assert(eq(i64, tl_path_hint("/a/y=2025/m=11/d=04/h=14/m=00/PT1H.json"),
		     INT64_C(1762264800) * 1000000000));
	cr_assert(eq(i64, tl_path_hint("/a/y=2025/m=123/d=04/h=14/m=00/PT1H.json"), INT64_MIN),
		  "m=123 is not month 12");
	cr_assert(eq(i64, tl_path_hint("/a/y=2025/m=1/d=04/h=14/m=00/PT1H.json"), INT64_MIN));
	cr_assert(eq(i64, tl_path_hint("/a/y=2025/d=04/h=14/m=11/PT1H.json"), INT64_MIN),
		  "the minute is not the month");
}

Test(source, stdin_is_an_input)
{
	int fds[2];
	const char *text = "{\"a\":1}\n{\"b\":2}\n";
	struct got g;

	cr_assert(eq(int, pipe(fds), 0));
	cr_assert(eq(sz, (size_t)write(fds[1], text, strlen(text)), strlen(text)));
	close(fds[1]);
	cr_assert(ne(int, dup2(fds[0], STDIN_FILENO), -1));
	drain("-", 0, &g);
	cr_assert(eq(sz, g.n, 2));
	cr_assert(eq(str, g.text[1], "{\"b\":2}"));
	free_got(&g);
}
