/*
 * ingest/embedded.c - the fast path for `properties` held as a JSON string (see
 * tl_embedded_extract() in ingest_int.h).
 *
 * Unescaping the string and parsing it again costs about as much as parsing the whole record
 * (measured: bench/bench_decode.c). The Azure properties string is a flat object whose only
 * escapes are the quotes around keys and string values, so those bytes are read where they
 * are, in one pass, without copying. The recognizer is deliberately narrow: the first byte
 * outside its grammar sends the record to simdjson.
 */
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ingest_int.h"

/* The raw bytes \" that stand for a quote inside the outer string. */
static inline bool at_quote(const char *p, const char *e)
{
	return e - p >= 2 && p[0] == '\\' && p[1] == '"';
}

static inline const char *skip_ws(const char *p, const char *e)
{
	while (p < e && *p == ' ')
		p++;
	return p;
}

/*
 * A string body up to its closing \" ; NULL if it holds any other escape or a raw quote
 * (the content of a JSON string has none, but this also guards direct callers).
 */
static const char *scan_string(const char *p, const char *e)
{
#ifdef __SSE2__
	/* 16 bytes at a time while they are surely inside the text */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');

	while (e - p >= 16) {
		const __m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
		const unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(w, quote), _mm_cmpeq_epi8(w, bslash)));

		if (m) {
			p += __builtin_ctz(m);
			return at_quote(p, e) ? p : NULL;
		}
		p += 16;
	}
#endif
	/* 8 bytes at a time while they are surely inside the text */
	while (e - p >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		const uint64_t m = tl_swar_eq(w, '"') | tl_swar_eq(w, '\\');

		if (m) {
			p += __builtin_ctzll(m) >> 3;
			return at_quote(p, e) ? p : NULL;
		}
		p += 8;
	}
	for (; p < e; p++)
		if (*p == '\\' || *p == '"')
			return at_quote(p, e) ? p : NULL;
	return NULL;
}

bool tl_embedded_extract(const char *s, size_t n, const struct tl_jkeys *ks, struct tl_jval *vals)
{
	const char *p = s, *e = s + n;

	tl_jkeys_clear(ks, vals);
	p = skip_ws(p, e);
	if (p == e || *p++ != '{')
		return false;
	p = skip_ws(p, e);
	if (p < e && *p == '}') {
		p++;
		goto out_end;
	}
	for (;;) {
		const char *k, *ke;

		if (!at_quote(p, e))
			return false;
		k = p + 2;
		ke = scan_string(k, e);
		if (!ke)
			return false;
		p = skip_ws(ke + 2, e);
		if (p == e || *p++ != ':')
			return false;
		p = skip_ws(p, e);
		if (p == e)
			return false;

		const struct tl_jkey *key = tl_jkeys_find(ks, k, (size_t)(ke - k));
		/*
		 * Written in place, a field at a time: a tl_jval built on the stack and then
		 * copied reads back bytes just stored by narrower writes, which stalls the
		 * store forwarding on every value (a third of this function's time, measured).
		 */
		struct tl_jval sink, *v = key ? &vals[key->slot] : &sink;

		v->escaped = false;
		v->i = 0;
		v->s = NULL;
		v->n = 0;

		if (at_quote(p, e)) {
			const char *b = p + 2, *q = scan_string(b, e);

			if (!q)
				return false;
			v->type = TL_JT_STRING;
			v->s = b;
			v->n = (size_t)(q - b);
			p = q + 2;
		} else if (!(p = tl_flat_scalar(p, e, v))) {
			return false; /* nested, a number left to simdjson, or not JSON */
		}
		p = skip_ws(p, e);
		if (p == e)
			return false;
		if (*p == '}') {
			p++;
			break;
		}
		if (*p++ != ',')
			return false;
		p = skip_ws(p, e);
	}
out_end:
	p = skip_ws(p, e);
	return p == e;
}
