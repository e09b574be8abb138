/*
 * bench/bench_engine.c - the detection engine alone, single thread, on pre-decoded events:
 * events/s, and the memory a series costs.
 *
 *   bench_engine [--series N] [--events M] [--rate R] [--repeat K] [--horizon-hours H]
 *
 * Events are made in blocks of 64 k outside the timed part: N series (resource, deployment),
 * requests spread over them round-robin with a log-normal latency, a status mix and tokens, in
 * time order, R requests a second per series (default 1; the fewer, the more bucket closes
 * per event); the watermark follows two minutes behind, as in a replay. The first minute of
 * event time, which creates the series (and faults in their memory), is timed apart: the rate
 * is that of the engine running, the median of K runs. Memory is what the engine reports
 * holding, and the process's peak RSS over the first run, which adds to it what the allocator
 * keeps around those blocks (huge pages, free lists), the events block and the code.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tripline/engine.h>
#include <tripline/hash.h>
#include <tripline/symtab.h>

#include "bench.h"

#define T0 (INT64_C(1762214400) * 1000000000) /* 2025-11-04T00:00:00Z */

static uint64_t rng = 0x243f6a8885a308d3u;

static double unit(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1.0p-53;
}

int main(int argc, char **argv)
{
	size_t n_series = 1000, n_events = 20000000;
	int repeat = 5;
	double horizon_h = 24, rate = 1;

	bool bad = false, help = false;

	for (int i = 1; i < argc && !bad; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[++i] : NULL;

		if (strcmp(o, "--help") == 0) {
			help = true;
			break;
		}
		if (!v)
			bad = true;
		else if (strcmp(o, "--series") == 0)
			n_series = strtoull(v, NULL, 10);
		else if (strcmp(o, "--events") == 0)
			n_events = strtoull(v, NULL, 10);
		else if (strcmp(o, "--rate") == 0)
			rate = atof(v);
		else if (strcmp(o, "--repeat") == 0)
			repeat = atoi(v);
		else if (strcmp(o, "--horizon-hours") == 0)
			horizon_h = atof(v);
		else
			bad = true;
	}
	if (help || bad || n_series < 1 || n_events < n_series || repeat < 1 || repeat > 64 ||
	    !(rate > 0) || rate > 1e6 || !(horizon_h >= 1)) {
		fprintf(help ? stdout : stderr,
			"usage: bench_engine [--series N] [--events M] [--rate R] [--repeat K] "
			"[--horizon-hours H]\n");
		return help ? 0 : 2;
	}
	enum { BLOCK = 1 << 16 };
	struct tl_symtab *syms = tl_symtab_new((uint32_t)n_series + 64);
	struct tl_event *ev = malloc(BLOCK * sizeof(*ev));
	uint32_t *deps = malloc(n_series * sizeof(*deps)), res, model;
	uint64_t *keys = malloc(n_series * sizeof(*keys));

	if (!syms || !ev || !deps || !keys || tl_symtab_intern(syms, "AOAI-BENCH", 10, &res) < 0 ||
	    tl_symtab_intern(syms, "gpt-4o", 6, &model) < 0)
		return 1;
	for (size_t i = 0; i < n_series; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "deployment-%zu", i);

		if (tl_symtab_intern(syms, name, (size_t)n, &deps[i]) < 0)
			return 1;
		keys[i] = tl_series_key(tl_symtab_fold_hash(syms, res),
					tl_symtab_fold_hash(syms, deps[i]));
	}
	const double step = 1e9 / ((double)n_series * rate);
	const int64_t lateness = 2 * INT64_C(60000000000);
	double walls[64], cpus[64], warms[64];
	struct rusage first;
	/* the first minute of event time, in whole blocks, at most half of the events */
	size_t warm = (size_t)((double)n_series * rate * 60);

	warm = (warm + BLOCK - 1) / BLOCK * BLOCK;
	if (warm > n_events / 2)
		warm = n_events / 2 / BLOCK * BLOCK;
	size_t memory = 0, block = 0, triggers = 0;
	uint64_t unchecked = 0;
	struct tl_engine_opts o = { .horizon_ns = (int64_t)(horizon_h * 3600e9) };

	for (int k = 0; k < repeat; k++) {
		struct tl_engine *e = tl_engine_new(&o, syms);
		double wall = 0, cpu = 0, warm_wall = 0;
		int64_t next = T0;

		if (!e)
			return 1;
		rng = 0x243f6a8885a308d3u;
		for (size_t base = 0; base < n_events; base += BLOCK) {
			const size_t m = n_events - base < BLOCK ? n_events - base : BLOCK;

			for (size_t x = 0; x < m; x++) {
				const size_t i = base + x, s = i % n_series;
				const double u = unit();

				ev[x] = (struct tl_event){
					.time_ns = T0 + (int64_t)((double)i * step),
					.series = keys[s],
					.fingerprint = tl_hash_mix(i + 1),
					.resource = res,
					.deployment = deps[s],
					.model = model,
					.status = u < 0.004  ? 500
						  : u < 0.02 ? 429
							     : 200,
					.kind = TL_EV_REQUEST,
					.flags = TL_EVF_LATENCY | TL_EVF_TOKENS |
						 TL_EVF_GUARDRAIL_CHECKED,
				};
				ev[x].u.req.latency_ms =
				    (float)(800 * exp(0.5 * (unit() + unit() + unit() - 1.5)));
				ev[x].u.req.tokens_in = 600;
				ev[x].u.req.tokens_out = 150;
			}
			const double w0 = now_s(CLOCK_MONOTONIC),
				     c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

			for (size_t i = 0; i < m;) {
				/* events up to the next watermark step go in as one batch */
				size_t j = i;

				while (j < m && j - i < 64 && ev[j].time_ns < next)
					j++;
				if (j > i) {
					tl_engine_push_batch(e, &ev[i], j - i);
					i = j;
					continue;
				}
				tl_engine_push(e, &ev[i]);
				i++;
				if (ev[i - 1].time_ns >= next) {
					size_t n;

					tl_engine_advance(e, ev[i - 1].time_ns - lateness);
					(void)tl_engine_triggers(e, &n);
					triggers += n;
					tl_engine_clear_triggers(e);
					next = ev[i - 1].time_ns + 1000000000;
				}
			}
			if (base < warm) {
				warm_wall += now_s(CLOCK_MONOTONIC) - w0;
				continue;
			}
			wall += now_s(CLOCK_MONOTONIC) - w0;
			cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		}
		warms[k] = warm_wall;
		walls[k] = wall;
		if (k == 0)
			getrusage(RUSAGE_SELF, &first);
		cpus[k] = cpu;
		memory = tl_engine_memory(e);
		unchecked = tl_engine_get_counts(e)->dedup_unchecked;
		block = tl_engine_series_bytes(e);
		tl_engine_free(e);
	}
	const double wall = median(walls, repeat), cpu = median(cpus, repeat),
		     warm_s = median(warms, repeat);
	const double timed = (double)(n_events - warm);
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("engine_series %zu series\n", n_series);
	printf("engine_events %zu events\n", n_events);
	printf("engine_rate_per_series %g requests/s\n", rate);
	printf("engine_event_time %.1f s\n", (double)n_events * step / 1e9);
	printf("engine_repeats %d runs\n", repeat);
	printf("engine_warmup %zu events in %.3f s (series created)\n", warm, warm_s);
	printf("engine_timed %zu events\n", n_events - warm);
	printf("engine_wall_median %.3f s\n", wall);
	printf("engine_rate %.2f Mevents/s\n", timed / wall / 1e6);
	printf("engine_rate_cpu %.2f Mevents/cpu-s\n", timed / cpu / 1e6);
	printf("engine_ns_per_event %.1f ns\n", wall * 1e9 / timed);
	printf("engine_series_block %zu bytes\n", block);
	printf("engine_memory %.1f MiB\n", (double)memory / 1048576.0);
	printf("engine_memory_per_series %.0f bytes\n", (double)memory / (double)n_series);
	printf("engine_triggers %zu events\n", triggers / (size_t)repeat);
	/* past its capacity (8 M fingerprints by default) the duplicate window lets events
	 * through unchecked, which is cheaper than a check: say how many */
	printf("engine_dedup_unchecked %llu events\n", (unsigned long long)unchecked);
	/* one engine's lifetime; later runs may add what the allocator kept of earlier ones */
	printf("engine_peak_rss %.1f MiB\n", (double)first.ru_maxrss / 1024.0);
	printf("engine_peak_rss_all_runs %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	free(ev);
	free(deps);
	free(keys);
	tl_symtab_free(syms);
	return 0;
}
