/*
 * bench/bench.h - shared by the benchmarks: clocks and medians.
 */
#ifndef TL_BENCH_H
#define TL_BENCH_H
#include <stdlib.h>
#include <time.h>

static inline double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of @n figures (the upper one of the middle two for even @n); sorts @v. */
static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

#endif /* TL_BENCH_H */
