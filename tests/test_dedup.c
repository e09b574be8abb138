/*
 * tests/test_dedup.c - the duplicate window: exact within the window, bounded memory.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/dedup.h>
#include <tripline/hash.h>
#include <tripline/time.h>

#define T0 (INT64_C(1762221839) * TL_NS_PER_S)

Test(dedup, second_delivery_is_a_duplicate)
{
	struct tl_dedup *d = tl_dedup_new(NULL);

	for (uint64_t i = 1; i <= 1000; i++)
		cr_assert(eq(int, tl_dedup_check(d, T0 + (int64_t)i * TL_NS_PER_MS, tl_hash_mix(i)),
			     TL_DEDUP_NEW));
	for (uint64_t i = 1; i <= 1000; i++)
		cr_assert(eq(int, tl_dedup_check(d, T0 + (int64_t)i * TL_NS_PER_MS, tl_hash_mix(i)),
			     TL_DEDUP_DUPLICATE));
	tl_dedup_free(d);
}

Test(dedup, window_forgets_old_slices_and_memory_stays_flat)
{
	struct tl_dedup_opts o = { .slice_ns = 2 * TL_NS_PER_MIN, .n_slices = 4 };
	struct tl_dedup *d = tl_dedup_new(&o);
	struct tl_dedup_stats s;
	uint64_t peak = 0;

	/* two hours at 50 records per second, the watermark two minutes behind */
	for (int64_t i = 0; i < 2 * 3600 * 50; i++) {
		int64_t t = T0 + i * (TL_NS_PER_S / 50);

		tl_dedup_advance(d, t - 2 * TL_NS_PER_MIN);
		cr_assert(
		    eq(int, tl_dedup_check(d, t, tl_hash_mix((uint64_t)i + 1)), TL_DEDUP_NEW));
		tl_dedup_get_stats(d, &s);
		if (s.entries > peak)
			peak = s.entries;
	}
	/* at most three 2-minute slices of 6000 records: the one behind the watermark, the
	 * watermark's, and the one the newest records are in */
	cr_assert(le(u64, peak, 3 * 6000));
	/* a redelivery an hour late is older than the window: not checked, not remembered */
	cr_assert(eq(int, tl_dedup_check(d, T0 + 3600 * TL_NS_PER_S, 42), TL_DEDUP_UNCHECKED));
	tl_dedup_get_stats(d, &s);
	cr_assert(eq(u64, s.unchecked, 1));
	tl_dedup_free(d);
}

Test(dedup, out_of_order_within_the_window_is_still_caught)
{
	struct tl_dedup *d = tl_dedup_new(NULL);

	cr_assert(eq(int, tl_dedup_check(d, T0, 7), TL_DEDUP_NEW));
	cr_assert(eq(int, tl_dedup_check(d, T0 + 3 * TL_NS_PER_MIN, 8), TL_DEDUP_NEW));
	tl_dedup_advance(d, T0 + TL_NS_PER_MIN);
	cr_assert(eq(int, tl_dedup_check(d, T0, 7), TL_DEDUP_DUPLICATE));
	cr_assert(eq(int, tl_dedup_check(d, T0 - TL_NS_PER_S, 9), TL_DEDUP_NEW));
	/* the watermark, not a record far ahead, moves the window */
	cr_assert(eq(int, tl_dedup_check(d, T0 + 60 * TL_NS_PER_MIN, 10), TL_DEDUP_UNCHECKED));
	cr_assert(eq(int, tl_dedup_check(d, T0, 7), TL_DEDUP_DUPLICATE));
	tl_dedup_free(d);
}

Test(dedup, full_window_passes_records_unchecked)
{
	struct tl_dedup_opts o = { .max_entries = 100 };
	struct tl_dedup *d = tl_dedup_new(&o);
	struct tl_dedup_stats s;
	int unchecked = 0;

	for (uint64_t i = 1; i <= 300; i++)
		unchecked += tl_dedup_check(d, T0, tl_hash_mix(i)) == TL_DEDUP_UNCHECKED;
	tl_dedup_get_stats(d, &s);
	/* a window smaller than the usual first table still fills to its cap */
	cr_assert(eq(u64, s.entries, 100));
	cr_assert(eq(int, unchecked, 200));
	cr_assert(eq(int, tl_dedup_check(d, T0, tl_hash_mix(1)), TL_DEDUP_DUPLICATE));
	cr_assert(eq(int, tl_dedup_check(d, T0, tl_hash_mix(300)), TL_DEDUP_UNCHECKED));
	tl_dedup_free(d);
}
