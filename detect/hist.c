/*
 * detect/hist.c - log-bucketed latency histograms (see tripline/hist.h).
 *
 * The bin of a value comes from its float bits: the exponent gives the octave, and a table of
 * the top 12 bits of the mantissa gives the bin inside the octave, floor(18 * log2(1 + m)).
 * No log() per value. Pure; the table is built once (thread-safe via call_once).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <threads.h>

#include <tripline/error.h>
#include <tripline/hist.h>

#define MANT_BITS 12

static uint8_t sub_bin[1u << MANT_BITS];
static once_flag table_once = ONCE_FLAG_INIT;
static atomic_bool table_ready;

static void build_table(void)
{
	for (uint32_t i = 0; i < (1u << MANT_BITS); i++) {
		/* the bin of the middle of this mantissa cell */
		double m = ((double)i + 0.5) / (double)(1u << MANT_BITS);
		int b = (int)floor(TL_HIST_PER_OCTAVE * log2(1.0 + m));

		sub_bin[i] = (uint8_t)(b < TL_HIST_PER_OCTAVE ? b : TL_HIST_PER_OCTAVE - 1);
	}
	/* release: the table is complete before anyone sees it ready */
	atomic_store_explicit(&table_ready, true, memory_order_release);
}

uint32_t tl_hist_bin(float ms)
{
	uint32_t bits;
	int e;

	/* acquire pairs with the release in build_table(); after the first call this is a load */
	if (TL_UNLIKELY(!atomic_load_explicit(&table_ready, memory_order_acquire)))
		call_once(&table_once, build_table);
	if (!(ms >= (float)TL_HIST_MIN_MS))
		return 0; /* below 1 ms, or NaN */
	if (ms >= (float)TL_HIST_MAX_MS)
		return TL_HIST_BINS - 1;
	memcpy(&bits, &ms, sizeof(bits));
	e = (int)((bits >> 23) & 0xff) - 127; /* 0 .. 18 for 1 ms .. 2^19 ms */
	return 1 + (uint32_t)e * TL_HIST_PER_OCTAVE +
	       sub_bin[(bits >> (23 - MANT_BITS)) & ((1u << MANT_BITS) - 1)];
}

double tl_hist_value(uint32_t bin)
{
	const double g = exp2(1.0 / TL_HIST_PER_OCTAVE);

	if (bin == 0)
		return 0.0;
	if (bin >= TL_HIST_BINS - 1)
		return TL_HIST_MAX_MS;
	/* bin [a, a g): the point 2 a g / (1 + g) is (g - 1) / (g + 1) from both edges */
	const double a = exp2((double)(bin - 1) / TL_HIST_PER_OCTAVE) * TL_HIST_MIN_MS;

	return 2.0 * a * g / (1.0 + g);
}

void tl_hist_merge(struct tl_hist *dst, const struct tl_hist *src)
{
	for (uint32_t i = 0; i < TL_HIST_BINS; i++)
		dst->bins[i] += src->bins[i];
	dst->n += src->n;
}

uint32_t tl_hist_quantile_bin(const struct tl_hist *h, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)h->n), seen = 0;

	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < TL_HIST_BINS; i++) {
		seen += h->bins[i];
		if (seen >= rank)
			return i;
	}
	return TL_HIST_BINS - 1;
}
