/*
 * bench/bench_decode.c - decode throughput, single thread: the input layer (read, frame)
 * and the decoders, no detection. Prints one `name value unit` line per figure.
 *
 *   bench_decode [--repeat N] FILE...
 *   bench_decode [--repeat N] --in-memory FILE
 *
 * Each repeat reads every FILE through tl_input_next() and decodes each unit; the figure is
 * the median over the repeats. FILE may be - (standard input) with --repeat 1. --in-memory
 * reads one file into memory first and times only framing by lines and decoding (no read(2),
 * no decompression). CPU time is the
 * process's own (CLOCK_PROCESS_CPUTIME_ID); peak RSS is the process's high-water mark, to show
 * that memory does not grow with the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tripline/decode.h>
#include <tripline/source.h>
#include <tripline/symtab.h>

#include "bench.h"

struct run {
	double wall, cpu;
	uint64_t records, events, malformed, bytes;
};

static void decode_files(struct tl_decoder *dec, char **files, int n, size_t chunk,
			 struct tl_evbuf *ev, struct run *r)
{
	struct tl_frames fr = { 0 };

	for (int i = 0; i < n; i++) {
		struct tl_input *in;
		int st;

		if (tl_input_open(files[i], (uint32_t)i, chunk, &in) < 0) {
			fprintf(stderr, "bench_decode: cannot open %s\n", files[i]);
			exit(1);
		}
		while ((st = tl_input_next(in, &fr)) >= 0) {
			ev->n = 0;
			if (tl_decode_frames(dec, &fr, ev) < 0)
				exit(1);
			r->events += ev->n;
			if (st == 1)
				break;
		}
		if (st < 0) {
			fprintf(stderr, "bench_decode: %s: %s\n", files[i], tl_strerror(st));
			exit(1);
		}
		r->bytes += tl_input_offset(in);
		tl_input_close(in);
	}
	tl_frames_fini(&fr);
}

static void decode_memory(struct tl_decoder *dec, const char *buf, size_t len, struct tl_evbuf *ev,
			  struct run *r)
{
	uint64_t line = 1;

	for (size_t p = 0; p < len;) {
		const char *nl = memchr(buf + p, '\n', len - p);
		size_t e = nl ? (size_t)(nl - buf) : len;
		struct tl_unit u = { .data = buf + p, .len = e - p, .offset = p, .line = line++ };

		if (ev->n > 4096)
			ev->n = 0;
		size_t before = ev->n;

		if (tl_decoder_unit(dec, &u, ev) < 0)
			exit(1);
		r->events += ev->n - before;
		p = e + 1;
	}
	r->bytes += len;
}

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

int main(int argc, char **argv)
{
	int repeat = 5, nfiles = 0, err;
	bool in_memory = false;
	char **files = calloc((size_t)argc, sizeof(*files));
	struct run runs[64];
	double walls[64], cpus[64];

	bool bad = false, help = false, stdin_used = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (strcmp(argv[i], "--in-memory") == 0)
			in_memory = true;
		else if (strcmp(argv[i], "--help") == 0)
			help = true;
		else if (strncmp(argv[i], "--", 2) == 0)
			bad = true;
		else {
			stdin_used |= strcmp(argv[i], "-") == 0;
			files[nfiles++] = argv[i];
		}
	}
	/* standard input can be read once; --in-memory times one file */
	if (help || bad || nfiles == 0 || repeat < 1 || repeat > 64 || (stdin_used && repeat > 1) ||
	    (in_memory && (nfiles != 1 || stdin_used))) {
		fprintf(help ? stdout : stderr,
			"usage: bench_decode [--repeat N] FILE...   (FILE - needs --repeat 1)\n"
			"       bench_decode [--repeat N] --in-memory FILE\n");
		return help ? 0 : 2;
	}
	char *mem = NULL;
	size_t mem_len = 0;

	if (in_memory && !(mem = slurp(files[0], &mem_len))) {
		fprintf(stderr, "bench_decode: cannot read %s\n", files[0]);
		return 1;
	}
	for (int k = 0; k < repeat; k++) {
		struct tl_symtab *syms = tl_symtab_new(1u << 20);
		struct tl_decoder *dec = tl_decoder_new(syms, NULL, NULL, &err);
		struct tl_evbuf ev = { 0 };
		struct run *r = &runs[k];

		if (!dec) {
			fprintf(stderr, "bench_decode: %s\n", tl_strerror(err));
			return 1;
		}
		memset(r, 0, sizeof(*r));
		double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

		if (in_memory)
			decode_memory(dec, mem, mem_len, &ev, r);
		else
			decode_files(dec, files, nfiles, 0, &ev, r);
		r->wall = now_s(CLOCK_MONOTONIC) - w0;
		r->cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		r->records = tl_decoder_stats(dec)->records;
		r->malformed = tl_decoder_stats(dec)->malformed;
		walls[k] = r->wall;
		cpus[k] = r->cpu;
		tl_evbuf_fini(&ev);
		tl_decoder_free(dec);
		tl_symtab_free(syms);
	}
	const double wall = median(walls, repeat), cpu = median(cpus, repeat);
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("decode_mode %s\n", in_memory ? "in-memory" : "files");
	printf("decode_records %llu records\n", (unsigned long long)runs[0].records);
	printf("decode_events %llu events\n", (unsigned long long)runs[0].events);
	printf("decode_malformed %llu records\n", (unsigned long long)runs[0].malformed);
	printf("decode_bytes %llu bytes\n", (unsigned long long)runs[0].bytes);
	printf("decode_repeats %d runs\n", repeat);
	printf("decode_wall_median %.3f s\n", wall);
	printf("decode_cpu_median %.3f s\n", cpu);
	printf("decode_rate %.3f Mrecords/s\n", (double)runs[0].records / wall / 1e6);
	printf("decode_rate_cpu %.3f Mrecords/cpu-s\n", (double)runs[0].records / cpu / 1e6);
	printf("decode_throughput %.1f MB/s\n", (double)runs[0].bytes / wall / 1e6);
	printf("decode_peak_rss %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	free(mem);
	free(files);
	return 0;
}
