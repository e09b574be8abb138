/*
 * tripline/hist.h - a mergeable log-bucketed latency histogram.
 *
 * Each octave of milliseconds (1-2, 2-4, ...) is split into TL_HIST_PER_OCTAVE bins of equal
 * ratio g = 2^(1/18) = 1.0393. A quantile is reported as the point of its bin whose relative
 * distance to both bin edges is (g - 1) / (g + 1) = 1.93 %, so every value the bin holds is
 * within 1.93 % of the report; mapping a value to its bin through a 12-bit table of the
 * mantissa moves it by at most one part in 2^12 more. Stated bound: 2 % of the true quantile,
 * for latencies from TL_HIST_MIN_MS to TL_HIST_MAX_MS (values outside fall in the end bins).
 * Histograms of the same layout merge by adding counts.
 */
#ifndef TL_HIST_H
#define TL_HIST_H
#include <stdint.h>

#define TL_HIST_PER_OCTAVE 18
#define TL_HIST_OCTAVES    19 /* 1 ms .. 2^19 ms (8.7 min) */
#define TL_HIST_BINS       (TL_HIST_PER_OCTAVE * TL_HIST_OCTAVES + 2) /* + underflow, overflow */
#define TL_HIST_MIN_MS     1.0
#define TL_HIST_MAX_MS     524288.0
#define TL_HIST_REL_ERROR  0.02

struct tl_hist {
	uint32_t n;
	uint32_t bins[TL_HIST_BINS];
};

/** tl_hist_bin() - the bin of a latency of @ms milliseconds. Thread: any. */
uint32_t tl_hist_bin(float ms);

/** tl_hist_value() - the value a bin reports (its 1.93 % point); 0 for the underflow bin. */
double tl_hist_value(uint32_t bin);

static inline void tl_hist_add(struct tl_hist *h, float ms)
{
	h->bins[tl_hist_bin(ms)]++;
	h->n++;
}

/** tl_hist_merge() - add the counts of @src to @dst. */
void tl_hist_merge(struct tl_hist *dst, const struct tl_hist *src);

/**
 * tl_hist_quantile_bin() - the bin holding quantile @q (0 < q <= 1) of @h: the first bin at
 * which the running count reaches ceil(q * n). @h must not be empty.
 */
uint32_t tl_hist_quantile_bin(const struct tl_hist *h, double q);

#endif /* TL_HIST_H */
