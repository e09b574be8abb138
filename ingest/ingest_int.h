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

/*
 * tl_flat_scalar() - the number, true, false or null at @p (before @e), its type and value
 * written to *@v: the byte after it. NULL for anything else (a string, a nested value, a
 * number tl_flat_int() declines, not JSON).
 */
static inline const char *tl_flat_scalar(const char *p, const char *e, struct tl_jval *v)
{
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		if (!(p = tl_flat_int(p, e, &v->i)))
			return NULL;
		v->type = TL_JT_INT;
		return p;
	}
	if (e - p >= 4 && memcmp(p, "true", 4) == 0) {
		v->type = TL_JT_BOOL;
		v->b = true;
		return p + 4;
	}
	if (e - p >= 5 && memcmp(p, "false", 5) == 0) {
		v->type = TL_JT_BOOL;
		v->b = false;
		return p + 5;
	}
	if (e - p >= 4 && memcmp(p, "null", 4) == 0) {
		v->type = TL_JT_NULL;
		return p + 4;
	}
	return NULL;
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

/* The fast path's state: the index of a document, kept between documents. */
struct tl_flat;

/* tl_flat_new() - state for documents up to @max_doc bytes (larger ones it declines). */
struct tl_flat *tl_flat_new(size_t max_doc);
void tl_flat_free(struct tl_flat *fx);

/**
 * tl_flat_visit() - fast path of tl_json_visit() for documents whose records are flat
 * objects: @doc (@len bytes, TL_JSON_PADDING readable bytes after them) is one such record or
 * {"records":[...]} of them, where a record is an object whose values are strings, integers of
 * at most 18 digits, true, false or null. The document holds no byte above 0x7f, no control
 * character but whitespace between tokens, no escape but \" \\ \/ \b \f \n \r \t in string
 * values (none in the string of a slot that is not TL_JK_RAWSTR), and no key "records" in a
 * record that is not in an envelope.
 * Each record is delivered to @fn as tl_json_visit()'s simdjson walk delivers it: the same
 * record text and the same slots, but that string slots point into @doc (a differential fuzz
 * target checks this). Nothing is delivered before the whole document has been read.
 * Return: true when it read the document (*@ret_stop is what @fn returned, nonzero if that
 * stopped it); false, having delivered nothing, when the caller must read it with simdjson.
 * After documents it declined in a row, it declines the next few unread (up to 63): a
 * stream of nested records pays for an index now and then only. Thread: the owner of @fx.
 */
bool tl_flat_visit(struct tl_flat *fx, const char *doc, size_t len, const struct tl_jkeys *ks,
		   struct tl_jval *vals, tl_json_record_fn fn, void *ud, int *ret_stop);

#ifdef __cplusplus
}
#endif

#endif /* TL_INGEST_INT_H */
