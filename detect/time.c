/*
 * detect/time.c - parse and format event times. Pure functions; no clock is read.
 *
 * Azure writes 1 to 7 fractional digits, with or without the trailing Z (EnqueueTime has
 * none). Conversion uses the days-from-civil algorithm on the proleptic Gregorian calendar.
 */
#include <stdbool.h>
#include <string.h>

#include <tripline/time.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, unsigned n, unsigned *ret)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned c = (unsigned)(unsigned char)s[i] - '0';

		if (c > 9)
			return false;
		v = v * 10 + c;
	}
	*ret = v;
	return true;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DDTHH" (T, t or a space) of @s, @len >= 19: the hour's seconds since 1970, UTC. */
static bool parse_hour(const char *s, int64_t *ret_secs)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h;

	if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		return false;
	if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23)
		return false;
	if (d > (unsigned)mdays[mo - 1] + (mo == 2 && leap(y)))
		return false;
	*ret_secs = days_from_civil(y, mo, d) * 86400 + h * 3600;
	return true;
}

/*
 * The rest of @s from byte 13: ":MM:SS", a fraction, a zone; @hour_secs what parse_hour()
 * gave for bytes 0 .. 12.
 */
static int parse_rest(const char *s, size_t len, int64_t hour_secs, int64_t *ret_ns)
{
	unsigned mi, sec;
	int64_t frac = 0, offset_s = 0;
	size_t i = 19;

	if (s[13] != ':' || s[16] != ':' || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec) ||
	    mi > 59 || sec > 60)
		return TL_ETIME;
	if (i < len && s[i] == '.') {
		static const int64_t pow10[10] = {
			1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000
		};
		const size_t from = ++i;

		/* 1 to 9 digits; a tenth is one too many, whatever follows */
		while (i < len && i - from < 10 && (unsigned)(unsigned char)s[i] - '0' <= 9)
			frac = frac * 10 + (s[i++] - '0');
		if (i == from || i - from > 9)
			return TL_ETIME;
		frac *= pow10[9 - (i - from)];
	}
	if (i < len) {
		if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
			i++;
		} else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
			unsigned oh, om;

			if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 ||
			    om > 59)
				return TL_ETIME;
			offset_s = (int64_t)(oh * 3600 + om * 60);
			if (s[i] == '+')
				offset_s = -offset_s;
			i = len;
		} else {
			return TL_ETIME;
		}
	}
	if (i != len)
		return TL_ETIME;

	const int64_t secs = hour_secs + mi * 60 + sec + offset_s;

	/* the instant, not the local date, must lie in what int64 nanoseconds hold:
	 * 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z */
	if (secs < 0 || secs >= INT64_MAX / TL_NS_PER_S)
		return TL_ETIME;
	*ret_ns = secs * TL_NS_PER_S + frac;
	return 0;
}

int tl_time_parse(const char *s, size_t len, int64_t *ret_ns)
{
	int64_t hour_secs;

	if (len < 19 || !parse_hour(s, &hour_secs))
		return TL_ETIME;
	return parse_rest(s, len, hour_secs, ret_ns);
}

int tl_time_parse_memo(struct tl_time_memo *m, const char *s, size_t len, int64_t *ret_ns)
{
	if (len < 19)
		return TL_ETIME;
	/* records of a batch are mostly of one hour: its date is checked and converted once */
	if (!m->valid || memcmp(s, m->hour, sizeof(m->hour)) != 0) {
		int64_t hour_secs;

		if (!parse_hour(s, &hour_secs))
			return TL_ETIME;
		memcpy(m->hour, s, sizeof(m->hour));
		m->hour_secs = hour_secs;
		m->valid = true;
	}
	return parse_rest(s, len, m->hour_secs, ret_ns);
}

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

char *tl_time_format(int64_t ns, char *buf)
{
	int64_t secs = tl_floor_div(ns, TL_NS_PER_S);
	unsigned ms = (unsigned)((ns - secs * TL_NS_PER_S) / TL_NS_PER_MS);
	int64_t days = tl_floor_div(secs, 86400);
	unsigned rem = (unsigned)(secs - days * 86400);
	int64_t y;
	unsigned m, d, yy;
	char *p = buf;

	civil_from_days(days, &y, &m, &d);
	yy = (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y);
	p = put2(p, yy / 100);
	p = put2(p, yy % 100);
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	p = put2(p, d);
	*p++ = 'T';
	p = put2(p, rem / 3600);
	*p++ = ':';
	p = put2(p, rem / 60 % 60);
	*p++ = ':';
	p = put2(p, rem % 60);
	*p++ = '.';
	*p++ = (char)('0' + ms / 100);
	p = put2(p, ms % 100);
	*p++ = 'Z';
	*p = '\0';
	return buf;
}

int tl_duration_parse(const char *s, size_t len, int64_t *ret_ns)
{
	int64_t v = 0, unit;
	size_t i = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > INT64_C(1000000000000))
			return TL_EVALUE;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return TL_EVALUE;
	const size_t rest = len - i;

	if (rest == 2 && s[i] == 'm' && s[i + 1] == 's')
		unit = TL_NS_PER_MS;
	else if (rest == 1 && s[i] == 's')
		unit = TL_NS_PER_S;
	else if (rest == 1 && s[i] == 'm')
		unit = TL_NS_PER_MIN;
	else if (rest == 1 && s[i] == 'h')
		unit = TL_NS_PER_HOUR;
	else if (rest == 1 && s[i] == 'd')
		unit = TL_NS_PER_DAY;
	else
		return TL_EVALUE;
	if (v > INT64_MAX / unit)
		return TL_EVALUE;
	*ret_ns = v * unit;
	return 0;
}
