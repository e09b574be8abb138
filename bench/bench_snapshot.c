/*
 * bench/bench_snapshot.c - evidence snapshots written and read again by the production
 * writer and reader (store/snapshot.c): compression ratio and speed. Prints one
 * `name value unit` line per figure.
 *
 *   bench_snapshot [--repeat N] [--level L] --dir DIR FILE...
 *
 * Each FILE is a snapshot (`tripline replay` writes them to OUT/snapshots/). It is read once,
 * untimed, into memory: its header, its caller lines (the trailer's "lines") and its raw
 * records. Each repeat then writes every snapshot anew into DIR under its own name, timed as
 * replay writes one (tl_snapshot_create(), _add_line(), _add_record(), _finish(): zstd at
 * the level, then fsync, rename and the directory's fsync), reads the written files back
 * with tl_snapshot_open()/_next() (timed apart), and removes them. The figures are medians of
 * the repeats; "JSON bytes" are the lines of the written files with their newlines, header
 * and trailer included, i.e. what `zstdcat` gives.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tripline/snapshot.h>

#include "bench.h"

struct snap {
	char *name; /* the file's base name */
	char *text; /* every line after the header, each ending in '\n' */
	size_t *off, *len;
	size_t n, n_caller; /* lines after the header; how many of them are caller lines */
	char *header;
	size_t header_len;
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "bench_snapshot: out of memory\n");
		exit(1);
	}
	return p;
}

/* Read @path into @s: 0, or -1 after saying why. */
static int load(const char *path, struct snap *s)
{
	struct tl_snapshot_reader *rd;
	const char *line, *trailer = NULL;
	size_t len, cap = 0, used = 0, lcap = 0;
	int r = tl_snapshot_open(path, &rd);

	memset(s, 0, sizeof(*s));
	if (r < 0) {
		fprintf(stderr, "bench_snapshot: %s: %s\n", path, tl_strerror(r));
		return -1;
	}
	while ((r = tl_snapshot_next(rd, &line, &len)) == 1) {
		if (!s->header) {
			s->header = xrealloc(NULL, len + 1);
			memcpy(s->header, line, len + 1);
			s->header_len = len;
			continue;
		}
		if (used + len + 1 > cap) {
			cap = (used + len + 1) * 2;
			s->text = xrealloc(s->text, cap);
		}
		if (s->n == lcap) {
			lcap = lcap ? lcap * 2 : 1024;
			s->off = xrealloc(s->off, lcap * sizeof(*s->off));
			s->len = xrealloc(s->len, lcap * sizeof(*s->len));
		}
		memcpy(s->text + used, line, len);
		s->text[used + len] = '\n';
		s->off[s->n] = used;
		s->len[s->n++] = len;
		used += len + 1;
	}
	if (r < 0 || !tl_snapshot_is_complete(rd) || !s->header || s->n == 0) {
		fprintf(stderr, "bench_snapshot: %s: %s\n", path,
			r < 0 ? tl_snapshot_errmsg(rd) : "not a complete snapshot");
		tl_snapshot_close(rd);
		return -1;
	}
	tl_snapshot_close(rd);
	s->n--; /* the trailer: the writer writes its own */
	trailer = s->text + s->off[s->n];
	const char *p = strstr(trailer, "\"lines\":");

	s->n_caller = p ? strtoull(p + 8, NULL, 10) : 0;
	if (s->n_caller > s->n)
		s->n_caller = s->n;
	const char *base = strrchr(path, '/');

	s->name = strdup(base ? base + 1 : path);
	if (!s->name) {
		fprintf(stderr, "bench_snapshot: out of memory\n");
		return -1;
	}
	return 0;
}

struct run {
	double write_wall, write_cpu, read_wall;
	uint64_t file_bytes, json_bytes, lines;
};

static int run_once(const char *dir, const struct tl_snapshot_opts *o, const struct snap *v,
		    size_t n, struct run *ret)
{
	char path[4096];
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct snap *s = &v[i];
		struct tl_snapshot *w = NULL;

		r = tl_snapshot_create(dir, s->name, o, s->header, s->header_len, &w);
		for (size_t j = 0; j < s->n && r >= 0; j++)
			r = j < s->n_caller
				? tl_snapshot_add_line(w, s->text + s->off[j], s->len[j])
				: tl_snapshot_add_record(w, s->text + s->off[j], s->len[j]);
		if (r >= 0)
			r = tl_snapshot_finish(w, NULL);
		else if (w)
			tl_snapshot_abort(w);
	}
	ret->write_wall = now_s(CLOCK_MONOTONIC) - w0;
	ret->write_cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (r < 0) {
		fprintf(stderr, "bench_snapshot: writing into %s: %s\n", dir, tl_strerror(r));
		return -1;
	}
	w0 = now_s(CLOCK_MONOTONIC);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct tl_snapshot_reader *rd;
		const char *line;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
		if ((r = tl_snapshot_open(path, &rd)) < 0)
			break;
		while ((r = tl_snapshot_next(rd, &line, &len)) == 1) {
			ret->json_bytes += len + 1;
			ret->lines++;
		}
		if (r < 0)
			fprintf(stderr, "bench_snapshot: %s\n", tl_snapshot_errmsg(rd));
		tl_snapshot_close(rd);
	}
	ret->read_wall = now_s(CLOCK_MONOTONIC) - w0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
		if (stat(path, &st) == 0)
			ret->file_bytes += (uint64_t)st.st_size;
		unlink(path);
	}
	if (r < 0) {
		fprintf(stderr, "bench_snapshot: reading back from %s: %s\n", dir, tl_strerror(r));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int repeat = 5;
	struct tl_snapshot_opts o = { 0 };
	const char *dir = NULL;
	char **files = xrealloc(NULL, (size_t)argc * sizeof(*files));
	size_t n = 0;
	bool bad = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
			o.level = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strncmp(argv[i], "--", 2) == 0)
			bad = true;
		else
			files[n++] = argv[i];
	}
	if (bad || !dir || n == 0 || repeat < 1 || repeat > 64) {
		fprintf(stderr,
			"usage: bench_snapshot [--repeat N] [--level L] --dir DIR FILE...\n");
		return 2;
	}
	struct snap *v = xrealloc(NULL, n * sizeof(*v));
	uint64_t records = 0, caller = 0, in_bytes = 0;
	struct run runs[64];
	double ww[64], wc[64], rw[64];

	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (load(files[i], &v[i]) < 0)
			return 1;
		for (size_t j = i; j-- > 0;)
			if (strcmp(v[j].name, v[i].name) == 0) {
				fprintf(stderr, "bench_snapshot: %s: two files of that name\n",
					v[i].name);
				return 2;
			}
		records += v[i].n - v[i].n_caller;
		caller += v[i].n_caller;
		if (stat(files[i], &st) == 0)
			in_bytes += (uint64_t)st.st_size;
	}
	for (int k = 0; k < repeat; k++) {
		if (run_once(dir, &o, v, n, &runs[k]) < 0)
			return 1;
		ww[k] = runs[k].write_wall;
		wc[k] = runs[k].write_cpu;
		rw[k] = runs[k].read_wall;
	}
	const double wall = median(ww, repeat), cpu = median(wc, repeat), rd = median(rw, repeat);
	const struct run *r0 = &runs[0];
	const double mb = (double)r0->json_bytes / 1e6;

	printf("snapshot_files %zu files\n", n);
	printf("snapshot_records %llu records\n", (unsigned long long)records);
	printf("snapshot_caller_lines %llu lines\n", (unsigned long long)caller);
	printf("snapshot_lines %llu lines\n", (unsigned long long)r0->lines);
	printf("snapshot_level %d\n", o.level ? o.level : TL_SNAPSHOT_LEVEL);
	printf("snapshot_repeats %d runs\n", repeat);
	printf("snapshot_json_bytes %llu bytes\n", (unsigned long long)r0->json_bytes);
	printf("snapshot_file_bytes %llu bytes\n", (unsigned long long)r0->file_bytes);
	printf("snapshot_input_file_bytes %llu bytes\n", (unsigned long long)in_bytes);
	printf("snapshot_compression_ratio %.2f\n",
	       (double)r0->json_bytes / (double)(r0->file_bytes ? r0->file_bytes : 1));
	printf("snapshot_write_wall_median %.4f s\n", wall);
	printf("snapshot_write_cpu_median %.4f s\n", cpu);
	printf("snapshot_write_ms_per_file %.2f ms\n", wall * 1e3 / (double)n);
	printf("snapshot_write_throughput %.1f MB/s\n", mb / wall);
	printf("snapshot_write_throughput_cpu %.1f MB/cpu-s\n", mb / cpu);
	printf("snapshot_read_wall_median %.4f s\n", rd);
	printf("snapshot_read_throughput %.1f MB/s\n", mb / rd);
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].text);
		free(v[i].off);
		free(v[i].len);
		free(v[i].header);
	}
	free(v);
	free(files);
	return 0;
}
