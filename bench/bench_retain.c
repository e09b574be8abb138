/*
 * bench/bench_retain.c - raw-record retention throughput, single thread: tl_retain_add() for
 * every record of a file, spread over about --series series, with tl_retain_expire() each
 * 10 s of event time at a watermark 2 min behind (as replay closes buckets). Prints one
 * `name value unit` line per figure.
 *
 *   bench_retain [--repeat N] [--series N] [--level L] [--block BYTES]
 *                [--stage-s S] [--max-raw BYTES] [--threads N] FILE
 *
 * FILE is JSON lines (`tripline gen --format ndjson`). It is read and decoded once, untimed,
 * for each record's series and event time; the decoded series (resource, deployment) are
 * split into sub-series by record number so that there are about --series of them, each
 * holding one deployment's records. Each repeat then times adding every record, whole lines
 * as the raw bytes, into a new retention with the default options; the figures are medians.
 * --threads -1 compresses on the adding thread, 0 (the default) on the compressor thread;
 * retain_cpu_median counts both threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tripline/decode.h>
#include <tripline/hash.h>
#include <tripline/retain.h>
#include <tripline/symtab.h>

#include "bench.h"

#define S_NS INT64_C(1000000000)

struct rec {
	uint64_t series;
	int64_t time_ns;
	uint32_t off, len;
};

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	long n;
	char *buf;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return NULL;
	buf = malloc((size_t)n + TL_UNIT_PADDING);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	memset(buf + n, ' ', TL_UNIT_PADDING);
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* Decode every line; keep the first event's series and time for each record. */
static struct rec *load(const char *buf, size_t len, uint32_t want_series, size_t *ret_n)
{
	struct tl_symtab *syms = tl_symtab_new(1u << 20);
	int err;
	struct tl_decoder *dec = tl_decoder_new(syms, NULL, NULL, &err);
	struct tl_evbuf ev = { 0 };
	size_t cap = 1u << 20, n = 0, n_keys = 0;
	struct rec *v = malloc(cap * sizeof(*v));
	uint64_t keys[4096];
	uint64_t spread;

	if (!dec || !v) {
		fprintf(stderr, "bench_retain: %s\n", dec ? "out of memory" : tl_strerror(err));
		exit(1);
	}
	for (size_t p = 0; p < len;) {
		const char *nl = memchr(buf + p, '\n', len - p);
		size_t e = nl ? (size_t)(nl - buf) : len;
		struct tl_unit u = { .data = buf + p, .len = e - p, .offset = p };

		ev.n = 0;
		if (tl_decoder_unit(dec, &u, &ev) < 0)
			exit(1);
		if (ev.n > 0 && e - p < UINT32_MAX && p < UINT32_MAX) {
			if (n == cap) {
				cap *= 2;
				v = realloc(v, cap * sizeof(*v));
				if (!v)
					exit(1);
			}
			v[n++] = (struct rec){ ev.ev[0].series, ev.ev[0].time_ns, (uint32_t)p,
					       (uint32_t)(e - p) };
		}
		p = e + 1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < n_keys && keys[k] != v[i].series)
			k++;
		if (k == n_keys && n_keys < 4096)
			keys[n_keys++] = v[i].series;
	}
	spread = n_keys && want_series > n_keys ? want_series / n_keys : 1;
	for (size_t i = 0; i < n; i++)
		v[i].series = tl_hash_combine(v[i].series, i % spread);
	tl_evbuf_fini(&ev);
	tl_decoder_free(dec);
	tl_symtab_free(syms);
	*ret_n = n;
	return v;
}

struct run {
	double wall, cpu;
	struct tl_retain_stats st;
};

static void run_once(const struct tl_retain_opts *o, const char *buf, const struct rec *v, size_t n,
		     struct run *r)
{
	struct tl_retain *rt;
	int64_t max_t = INT64_MIN, next_expire = INT64_MIN;

	if (tl_retain_new(o, &rt) < 0)
		exit(1);
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

	for (size_t i = 0; i < n; i++) {
		const struct rec *e = &v[i];

		if (tl_retain_add(rt, e->series, e->time_ns, buf + e->off, e->len, 0) < 0)
			exit(1);
		if (e->time_ns > max_t)
			max_t = e->time_ns;
		if (max_t >= next_expire) {
			if (tl_retain_expire(rt, max_t - 120 * S_NS) < 0)
				exit(1);
			next_expire = max_t + 10 * S_NS;
		}
	}
	r->wall = now_s(CLOCK_MONOTONIC) - w0;
	r->cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	tl_retain_stats(rt, &r->st);
	tl_retain_free(rt);
}

int main(int argc, char **argv)
{
	int repeat = 5;
	uint32_t series = 1000;
	struct tl_retain_opts o = { 0 };
	const char *file = NULL;
	bool bad = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc)
			series = (uint32_t)atoi(argv[++i]);
		else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
			o.level = atoi(argv[++i]);
		else if (strcmp(argv[i], "--stage-s") == 0 && i + 1 < argc)
			o.stage_ns = atol(argv[++i]) * S_NS;
		else if (strcmp(argv[i], "--max-raw") == 0 && i + 1 < argc)
			o.max_raw_bytes = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			o.threads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--block") == 0 && i + 1 < argc)
			o.block_bytes = (size_t)atol(argv[++i]);
		else if (strncmp(argv[i], "--", 2) == 0 || file)
			bad = true;
		else
			file = argv[i];
	}
	if (bad || !file || repeat < 1 || repeat > 64 || series < 1) {
		fprintf(stderr, "usage: bench_retain [--repeat N] [--series N] [--level L] "
				"[--block BYTES] [--threads N] FILE\n");
		return 2;
	}
	size_t len, n;
	char *buf = slurp(file, &len);

	if (!buf) {
		fprintf(stderr, "bench_retain: cannot read %s\n", file);
		return 1;
	}
	struct rec *v = load(buf, len, series, &n);
	uint64_t bytes = 0;
	int64_t t_min = INT64_MAX, t_max = INT64_MIN;
	struct run runs[64];
	double walls[64], cpus[64];

	for (size_t i = 0; i < n; i++) {
		bytes += v[i].len;
		t_min = v[i].time_ns < t_min ? v[i].time_ns : t_min;
		t_max = v[i].time_ns > t_max ? v[i].time_ns : t_max;
	}
	if (n == 0) {
		fprintf(stderr, "bench_retain: no records in %s\n", file);
		return 1;
	}
	for (int k = 0; k < repeat; k++) {
		run_once(&o, buf, v, n, &runs[k]);
		walls[k] = runs[k].wall;
		cpus[k] = runs[k].cpu;
	}
	const double wall = median(walls, repeat), cpu = median(cpus, repeat);
	const struct tl_retain_stats *st = &runs[0].st;
	const uint64_t held = st->held_bytes + st->staged_bytes;
	printf("retain_records %zu records\n", n);
	printf("retain_bytes %llu bytes\n", (unsigned long long)bytes);
	printf("retain_event_time_span %.1f s\n", (double)(t_max - t_min) / 1e9);
	printf("retain_series %llu series\n", (unsigned long long)st->series);
	printf("retain_level %d\n", o.level ? o.level : TL_RETAIN_LEVEL);
	printf("retain_block %zu bytes\n", o.block_bytes ? o.block_bytes : TL_RETAIN_BLOCK_BYTES);
	printf("retain_max_raw %zu bytes\n",
	       o.max_raw_bytes ? o.max_raw_bytes : TL_RETAIN_MAX_RAW_BYTES);
	printf("retain_threads %d\n", o.threads);
	printf("retain_repeats %d runs\n", repeat);
	printf("retain_wall_median %.3f s\n", wall);
	printf("retain_cpu_median %.3f s\n", cpu);
	printf("retain_add_ns %.1f ns/record\n", wall * 1e9 / (double)n);
	printf("retain_rate %.3f Mrecords/s\n", (double)n / wall / 1e6);
	printf("retain_throughput %.1f MB/s\n", (double)bytes / wall / 1e6);
	printf("retain_compression_ratio %.2f\n", st->compression_ratio);
	printf("retain_blocks_sealed %llu blocks\n", (unsigned long long)st->blocks_sealed);
	printf("retain_blocks_compressed %llu blocks\n", (unsigned long long)st->blocks_compressed);
	printf("retain_dropped_by_time %llu records\n",
	       (unsigned long long)st->dropped_time_records);
	printf("retain_dropped_by_bytes %llu records\n",
	       (unsigned long long)st->dropped_series_records);
	printf("retain_held_at_end %.1f MiB\n", (double)held / 1048576.0);
	printf("retain_held_bytes_per_series %.1f KiB\n",
	       (double)st->held_bytes / (double)(st->series ? st->series : 1) / 1024.0);
	printf("retain_raw_bytes_per_series %.1f KiB\n",
	       (double)st->raw_bytes / (double)(st->series ? st->series : 1) / 1024.0);
	printf("retain_staged_bytes_per_series %.1f KiB\n",
	       (double)st->staged_bytes / (double)(st->series ? st->series : 1) / 1024.0);
	free(v);
	free(buf);
	return 0;
}
