/*
 * ingest/ingest_int.h - declarations shared inside ingest/ only.
 */
#ifndef TL_INGEST_INT_H
#define TL_INGEST_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the 8 bytes at @p are all decimal digits; if so their value in *@ret. */
static inline bool tl_eight_digits(const char *p, uint64_t *ret)
{
	uint64_t w;

	memcpy(&w, p, 8); /* little-endian, as the SWAR helpers assume */
	if (((w & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
	     (((w + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >> 4)) !=
	    UINT64_C(0x3333333333333333))
		return false;
	w -= UINT64_C(0x3030303030303030);
	w = (w * 10) + (w >> 8); /* pairs */
	w = (((w & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x000F424000000064)) +
	     (((w >> 16) & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x0000271000000001))) >>
	    32;
	*ret = w;
	return true;
}

/*
 * tl_flat_int() - the JSON number at @p (before @e) when it is an integer of at most 18
 * digits, which always fits int64_t: its value in *@ret and the byte after it. NULL for
 * anything else (a fraction, an exponent, a zero followed by digits, 19 digits or more,
 * not a number): the fast paths leave those to simdjson. Reads 8 bytes at a time while at
 * least 8 remain before @e.
 */
static inline const char *tl_flat_int(const char *p, const char *e, int64_t *ret)
{
	const bool neg = *p == '-';
	int64_t x = 0;
	int nd = 0;

	if (neg)
		p++;
	if (p == e || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0') {
		p++;
		nd = 1;
	} else {
		uint64_t eight;

		/* tick counts have 18 digits: 8 at a time while they last */
		while (nd <= 10 && e - p >= 8 && tl_eight_digits(p, &eight)) {
			x = x * 100000000 + (int64_t)eight;
			p += 8;
			nd += 8;
		}
		for (; p < e && *p >= '0' && *p <= '9'; p++, nd++) {
			if (nd == 18)
				return NULL;
			x = x * 10 + (*p - '0');
		}
	}
	if (p < e && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
		return NULL;
	*ret = neg ? -x : x;
	return p;
}

/**
 * tl_embedded_extract() - fast path for a JSON object held in a JSON string, as Azure writes
 * `properties`: @s is the raw string content, e.g. {\"apiName\":\"...\",\"requestTime\":63...}.
 *
 * Handles a strict subset of JSON: a flat object whose keys and string values hold no escape
 * (each backslash is the one before a quote), whose numbers are integers of at most 18
 * digits, whose other values are true, false or null, with spaces as the only whitespace.
 * Everything it accepts is valid JSON and gives the slots tl_json_extract() would give (a
 * differential fuzz target checks this). Anything else, it declines.
 * At least 8 bytes after @s + @n must be readable (key compares load 8 bytes at a time;
 * JSON input always carries TL_JSON_PADDING).
 * Return: true with the slots of @ks filled; false when the caller must use tl_json_extract()
 * (the slots are then in an unspecified state). Thread: any.
 */
bool tl_embedded_extract(const char *s, size_t n, const struct tl_jkeys *ks, struct tl_jval *vals);

/**
 * tl_flat_visit() - fast path of tl_json_visit() for a document that is one record written as
 * a flat object, as a RequestResponse line is: @doc (@len bytes, TL_JSON_PADDING readable
 * bytes after them) is an object whose values are strings, integers of at most 18 digits,
 * true, false or null, with no key "records", no byte outside printable ASCII (spaces are
 * the only whitespace), no escape but \" \\ \/ \b \f \n \r \t in string values (none in
 * the string of a slot that is not TL_JK_RAWSTR), then nothing but spaces.
 * At most 4 KiB: longer records are declined.
 * Everything it accepts is valid JSON that tl_json_visit()'s simdjson walk reads alike: the
 * same record text and the same slots, but that string slots point into @doc (a differential
 * fuzz target checks this). Anything else it declines before touching anything but @vals.
 * Return: true when it delivered the record (*@ret_stop is what @fn returned); false when the
 * caller must read the document with simdjson. Thread: any.
 */
bool tl_flat_visit(const char *doc, size_t len, const struct tl_jkeys *ks, struct tl_jval *vals,
		   tl_json_record_fn fn, void *ud, int *ret_stop);

#ifdef __cplusplus
}
#endif

#endif /* TL_INGEST_INT_H */
