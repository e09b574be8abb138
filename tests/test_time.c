/*
 * tests/test_time.c - event time parsing and formatting.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/time.h>

static int64_t parse(const char *s, int *ret_r)
{
	int64_t ns = -1;

	*ret_r = tl_time_parse(s, strlen(s), &ns);
	return ns;
}

Test(time, parses_every_form_azure_writes)
{
	const struct {
		const char *text;
		int64_t ns;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2025-11-04T02:03:59.9910000Z", INT64_C(1762221839991000000) },
		{ "2025-11-04T02:03:59.9910000", INT64_C(1762221839991000000) },
		{ "2025-11-04T02:03:59.9Z", INT64_C(1762221839900000000) },
		{ "2025-11-04T02:03:59.123456789Z", INT64_C(1762221839123456789) },
		{ "2025-11-04 02:03:59Z", INT64_C(1762221839000000000) },
		{ "2025-11-04T04:03:59+02:00", INT64_C(1762221839000000000) },
		{ "2025-11-03T23:03:59-03:00", INT64_C(1762221839000000000) },
		{ "2024-02-29T00:00:00Z", INT64_C(1709164800000000000) },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;
		int64_t ns = parse(cases[i].text, &r);

		cr_assert(eq(int, r, 0), "%s", cases[i].text);
		cr_assert(eq(i64, ns, cases[i].ns), "%s", cases[i].text);
	}
}

Test(time, rejects_what_is_not_a_timestamp)
{
	const char *bad[] = { "",
			      "2025-11-04",
			      "2025-13-04T00:00:00Z",
			      "2025-02-30T00:00:00Z",
			      "2023-02-29T00:00:00Z",
			      "2025-11-04T24:00:00Z",
			      "2025-11-04T00:00:00.Z",
			      "2025-11-04T00:00:00.1234567890Z",
			      "2025-11-04T00:00:00ZZ",
			      "2025-11-04T00:00:00+0200",
			      "1969-12-31T23:59:59Z",
			      "2025-11-04X00:00:00Z",
			      "2025-1a-04T00:00:00Z" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		(void)parse(bad[i], &r);
		cr_assert(eq(int, r, TL_ETIME), "'%s' accepted", bad[i]);
	}
}

Test(time, formats_with_milliseconds_in_utc)
{
	char buf[TL_TIME_TEXT_LEN + 1];

	cr_assert(
	    eq(str, tl_time_format(INT64_C(1762221839991900000), buf), "2025-11-04T02:03:59.991Z"));
	cr_assert(eq(str, tl_time_format(0, buf), "1970-01-01T00:00:00.000Z"));
	cr_assert(eq(sz, strlen(buf), TL_TIME_TEXT_LEN));
}

Test(time, format_and_parse_round_trip_over_years)
{
	char buf[TL_TIME_TEXT_LEN + 1];

	for (int64_t ns = 0; ns < INT64_C(4000000000) * TL_NS_PER_S;
	     ns += INT64_C(86399123) * TL_NS_PER_MS) {
		int64_t back;

		tl_time_format(ns, buf);
		cr_assert(eq(int, tl_time_parse(buf, strlen(buf), &back), 0), "%s", buf);
		cr_assert(eq(i64, back, ns), "%s", buf);
	}
}

Test(time, durations_in_config_units)
{
	const struct {
		const char *text;
		int64_t ns;
	} ok[] = { { "250ms", 250 * TL_NS_PER_MS }, { "30s", 30 * TL_NS_PER_S },
		   { "5m", 5 * TL_NS_PER_MIN },     { "24h", 24 * TL_NS_PER_HOUR },
		   { "7d", 7 * TL_NS_PER_DAY },     { "0s", 0 } };
	const char *bad[] = { "", "5", "m", "5x", "1.5h", "-5m", "5 m", "99999999999999999999s" };
	int64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert(eq(int, tl_duration_parse(ok[i].text, strlen(ok[i].text), &ns), 0));
		cr_assert(eq(i64, ns, ok[i].ns), "%s", ok[i].text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(eq(int, tl_duration_parse(bad[i], strlen(bad[i]), &ns), TL_EVALUE),
			  "'%s'", bad[i]);
}

/*
 * tl_time_parse_memo() gives what tl_time_parse() gives for every text, whatever the memo
 * holds: texts of the same hour, of another, a bad text of the memo's hour (its date and
 * hour valid, the rest not), another form of the same hour, and the good and bad texts
 * above, each after each.
 */
Test(time, the_memo_of_the_hour_changes_no_result)
{
	const char *texts[] = { "2025-11-04T02:03:59.9910000Z",
				"2025-11-04T02:59:00Z",
				"2025-11-04T02:60:00Z",
				"2025-11-04T02:03:61Z",
				"2025-11-04T02:03:59.1234567890Z",
				"2025-11-04T02:03:59+02:00",
				"2025-11-04 02:03:59Z",
				"2025-11-04t02:03:59Z",
				"2025-11-04T03:00:00Z",
				"2025-11-04T02:03",
				"2025-11-04T02:03:59.9910000",
				"1970-01-01T00:00:00+01:00",
				"1970-01-01T00:00:00-01:00",
				"1970-01-01T00:00:00Z",
				"2262-04-11T23:47:16Z",
				"2262-04-11T23:47:15Z",
				"2024-02-29T00:00:00Z",
				"2023-02-29T00:00:00Z",
				"2025-11-04X02:03:59Z",
				"2025-11-04T02:03:59Z" };
	const size_t n = sizeof(texts) / sizeof(texts[0]);
	struct tl_time_memo memo = { 0 };

	for (size_t a = 0; a < n; a++)
		for (size_t b = 0; b < n; b++) {
			const char *t[2] = { texts[a], texts[b] };

			for (int k = 0; k < 2; k++) {
				int64_t want = -1, got = -1;
				const int rw = tl_time_parse(t[k], strlen(t[k]), &want),
					  rg = tl_time_parse_memo(&memo, t[k], strlen(t[k]), &got);

				cr_assert(eq(int, rg, rw), "'%s' after '%s'", t[k], t[1 - k]);
				cr_assert(eq(i64, got, want), "'%s' after '%s'", t[k], t[1 - k]);
			}
		}
	/* and it took the hour at all: the second text of an hour reads the memo's */
	int64_t ns;

	cr_assert(eq(int, tl_time_parse_memo(&memo, "2025-11-04T05:00:00Z", 20, &ns), 0));
	memo.hour_secs += 3600; /* a memo that lies shows itself */
	cr_assert(eq(int, tl_time_parse_memo(&memo, "2025-11-04T05:10:00Z", 20, &ns), 0));
	cr_expect(eq(i64, ns, INT64_C(1762233000000000000) + 3600 * TL_NS_PER_S));
}
