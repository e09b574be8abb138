/*
 * tripline/time.h - event time. Times are int64_t nanoseconds since the Unix epoch, UTC.
 * Only event time (the time written in records) exists in detect/; nothing here reads a clock.
 */
#ifndef TL_TIME_H
#define TL_TIME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

#define TL_NS_PER_MS   INT64_C(1000000)
#define TL_NS_PER_S    INT64_C(1000000000)
#define TL_NS_PER_MIN  (60 * TL_NS_PER_S)
#define TL_NS_PER_HOUR (60 * TL_NS_PER_MIN)
#define TL_NS_PER_DAY  (24 * TL_NS_PER_HOUR)

/* .NET ticks (100 ns since 0001-01-01T00:00:00Z) of the Unix epoch. */
#define TL_TICKS_UNIX_EPOCH INT64_C(621355968000000000)

/* Length of the text tl_time_format() writes, without the NUL. */
#define TL_TIME_TEXT_LEN 24

/**
 * tl_time_parse() - parse an RFC 3339 / ISO 8601 timestamp as Azure writes them.
 * @s: text, not NUL-terminated; @len: its length.
 * @ret_ns: the time, written on success only.
 *
 * Accepts `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1-9 digits, and an optional zone:
 * `Z`, `+HH:MM`/`-HH:MM`, or none (taken as UTC, as Azure's EnqueueTime). A space may stand
 * for the `T`. The instant must lie between 1970-01-01T00:00:00Z and 2262-04-11T23:47:16Z
 * (what int64_t nanoseconds hold).
 * Return: 0, or TL_ETIME. Thread: any.
 */
TL_MUST_CHECK int tl_time_parse(const char *s, size_t len, int64_t *ret_ns);

/* The hour tl_time_parse_memo() parsed last. Zero-initialize. */
struct tl_time_memo {
	char hour[13]; /* "YYYY-MM-DDTHH" as written */
	bool valid;
	int64_t hour_secs; /* its start, seconds since 1970, UTC */
};

/**
 * tl_time_parse_memo() - tl_time_parse(), the same result for every text, but the date and
 * hour are checked and converted only when they differ from those @m holds (of the last
 * text whose date and hour were valid). Thread: one at a time per @m.
 */
TL_MUST_CHECK int tl_time_parse_memo(struct tl_time_memo *m, const char *s, size_t len,
				     int64_t *ret_ns);

/**
 * tl_time_format() - write @ns as `2026-03-09T07:15:00.000Z` (millisecond precision, UTC).
 * @buf: at least TL_TIME_TEXT_LEN + 1 bytes; always NUL-terminated.
 * Return: @buf. Thread: any.
 */
char *tl_time_format(int64_t ns, char *buf);

/**
 * tl_duration_parse() - parse a config duration: `250ms`, `30s`, `5m`, `24h`, `7d`.
 * Return: 0, or TL_EVALUE. Thread: any.
 */
TL_MUST_CHECK int tl_duration_parse(const char *s, size_t len, int64_t *ret_ns);

/** tl_floor_div() - floor(@a / @b) for @b > 0, also for negative @a. */
static inline int64_t tl_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

#endif /* TL_TIME_H */
