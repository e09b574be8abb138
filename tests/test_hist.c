/*
 * tests/test_hist.c - the latency histogram keeps its stated error bound and merges.
 */
#include <math.h>
#include <stdlib.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/hist.h>

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

/* xorshift: a fixed seed, printed on failure */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static double unit(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1.0p-53;
}

Test(hist, quantiles_are_within_two_percent_of_the_exact_value)
{
	enum { N = 20000 };
	static float v[N];
	const double qs[] = { 0.5, 0.9, 0.95, 0.99, 0.999, 1.0 };

	for (int trial = 0; trial < 20; trial++) {
		struct tl_hist h = { 0 };
		const double median = 5 + 2000 * unit(), sigma = 0.1 + 1.5 * unit();

		for (int i = 0; i < N; i++) {
			double u = unit(), w = unit();
			double z = sqrt(-2 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307 * w);

			v[i] = (float)(median * exp(sigma * z));
			if (v[i] < TL_HIST_MIN_MS)
				v[i] = (float)TL_HIST_MIN_MS;
			if (v[i] >= TL_HIST_MAX_MS)
				v[i] = (float)(TL_HIST_MAX_MS * 0.99);
			tl_hist_add(&h, v[i]);
		}
		qsort(v, N, sizeof(float), cmp_float);
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			size_t rank = (size_t)ceil(qs[k] * N);
			double exact = v[rank - 1],
			       est = tl_hist_value(tl_hist_quantile_bin(&h, qs[k]));

			cr_assert(le(dbl, fabs(est - exact) / exact, TL_HIST_REL_ERROR),
				  "trial %d q %.3f: exact %.4f, histogram %.4f (seed after: %llx)",
				  trial, qs[k], exact, est, (unsigned long long)rng);
		}
	}
}

Test(hist, every_value_is_within_the_bound_of_its_bin)
{
	for (double ms = TL_HIST_MIN_MS; ms < TL_HIST_MAX_MS; ms *= 1.0003) {
		double rep = tl_hist_value(tl_hist_bin((float)ms));

		cr_assert(le(dbl, fabs(rep - (float)ms) / (float)ms, TL_HIST_REL_ERROR),
			  "%.6f ms -> %.6f", ms, rep);
	}
	cr_assert(eq(u32, tl_hist_bin(0.2f), 0), "below 1 ms: the underflow bin");
	cr_assert(eq(u32, tl_hist_bin(1e9f), TL_HIST_BINS - 1), "beyond: the overflow bin");
	cr_assert(eq(u32, tl_hist_bin(NAN), 0));
}

Test(hist, merging_equals_adding_to_one)
{
	struct tl_hist a = { 0 }, b = { 0 }, all = { 0 };

	for (int i = 0; i < 5000; i++) {
		float ms = (float)(10 + 900 * unit());

		tl_hist_add(i % 3 ? &a : &b, ms);
		tl_hist_add(&all, ms);
	}
	tl_hist_merge(&a, &b);
	cr_assert(eq(u32, a.n, all.n));
	for (uint32_t i = 0; i < TL_HIST_BINS; i++)
		cr_assert(eq(u32, a.bins[i], all.bins[i]));
	cr_assert(eq(u32, tl_hist_quantile_bin(&a, 0.95), tl_hist_quantile_bin(&all, 0.95)));
}
