/*
 * ingest/json.h - the thin C API over simdjson On-Demand (ingest/json.cpp, the only C++ in
 * the tree). Private to ingest/.
 *
 * A caller describes the object keys it wants as a key set (struct tl_jkeys): each key names a
 * slot in a caller-owned array of struct tl_jval. tl_json_visit() walks one JSON document and
 * calls back once per record with the slots filled in a single pass over the object's fields.
 * A document is a record (an object), an envelope {"records":[...]} whose elements are records,
 * or an array of envelopes or records. Keys not in the set are skipped without being read.
 *
 * Validation: simdjson's stage 1 checks the whole document (UTF-8, strings, control
 * characters) and the walk checks structure; values of keys not in the set are skipped by
 * structure, their content is not checked.
 *
 * A document whose records are all flat objects is read by a fast path first (ingest/flat.c,
 * tl_flat_visit() in ingest_int.h), which gives the same records and slots; it checks every
 * value, and leaves any document it does not take to simdjson whole.
 */
#ifndef TL_INGEST_JSON_H
#define TL_INGEST_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes that must be readable after the end of any buffer given to tl_json. */
#define TL_JSON_PADDING 64

enum tl_jtype {
	TL_JT_ABSENT = 0,
	TL_JT_NULL,
	TL_JT_BOOL,
	TL_JT_INT,    /* integer that fits int64_t */
	TL_JT_DOUBLE, /* any other number */
	TL_JT_STRING,
	TL_JT_OBJECT,
	TL_JT_ARRAY,
	TL_JT_BAD, /* a number simdjson cannot represent */
};

struct tl_jval {
	uint8_t type; /* enum tl_jtype; 0 is TL_JT_ABSENT, so zeroed slots are absent */
	bool escaped; /* STRING with TL_JK_RAWSTR: s/n is the raw text and holds a backslash */
	union {
		bool b;
		int64_t i;
		double d;
	};
	const char *s; /* STRING: text (unescaped unless TL_JK_RAWSTR); OBJECT/ARRAY: raw JSON */
	size_t n;
};

/* key flags */
enum {
	TL_JK_RAWSTR = 1, /* a string value is returned raw (still escaped), for embedded JSON */
};

struct tl_jkeys;

struct tl_jkey_spec {
	const char *name;
	uint16_t slot;
	uint8_t flags;
	const struct tl_jkeys *sub; /* an object value fills these slots instead */
};

#define TL_JKEY_MAX 40 /* longest key a set can hold */

struct tl_jkey {
	uint64_t head;              /* the first 8 bytes of the name, zero-padded */
	uint64_t tail;              /* its last 8 bytes, if longer than 8; else 0 */
	char name[TL_JKEY_MAX + 8]; /* zero-padded, so 8-byte loads stay inside */
	uint32_t len;
	uint16_t slot;
	uint8_t flags;
	const struct tl_jkeys *sub;
};

/* Keys are kept sorted by length: a lookup compares only the keys of the same length,
 * usually one or two, by their first 8 bytes. */
struct tl_jkeys {
	uint16_t n_slots; /* 1 + highest slot here and in sub sets */
	uint16_t n_all;
	uint16_t all[128]; /* the slots of these keys and of every sub set below them */
	uint16_t lo, hi;   /* when those slots are exactly lo .. hi, one memset clears them */
	bool dense;
	uint8_t by_len[TL_JKEY_MAX + 2]; /* keys[by_len[n] .. by_len[n + 1]) have length n */
	struct tl_jkey keys[64];
};

/* Bit 7 of each byte of @x that equals @c (exact for the lowest such byte; bytes above it
 * may be flagged falsely, so only the lowest set bit may be used). */
static inline uint64_t tl_swar_eq(uint64_t x, unsigned char c)
{
	const uint64_t y = x ^ (UINT64_C(0x0101010101010101) * c);

	return (y - UINT64_C(0x0101010101010101)) & ~y & UINT64_C(0x8080808080808080);
}

/*
 * The first '"' or '\\' at or after @p, 16 (or 8) bytes at a time. Callers guarantee one comes
 * before the readable end (a JSON string closes, and inputs carry TL_JSON_PADDING bytes).
 */
static inline const char *tl_scan_quote(const char *p)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');

	for (;; p += 16) {
		const __m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
		const unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(w, quote), _mm_cmpeq_epi8(w, bslash)));

		if (m)
			return p + __builtin_ctz(m);
	}
#endif
	for (;; p += 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		const uint64_t m = tl_swar_eq(w, '"') | tl_swar_eq(w, '\\');

		if (m)
			return p + (__builtin_ctzll(m) >> 3);
	}
}

/* The first 8 bytes of @k (of @len), zero-padded. @k must have 8 readable bytes. */
static inline uint64_t tl_jkeys__head(const char *k, size_t len)
{
	uint64_t v;

	memcpy(&v, k, 8);
	return len >= 8 ? v : v & ((UINT64_C(1) << (len * 8)) - 1);
}

/* The last 8 bytes of @k (of @len) if it is longer than 8, else 0. */
static inline uint64_t tl_jkeys__tail(const char *k, size_t len)
{
	uint64_t v = 0;

	if (len > 8)
		memcpy(&v, k + len - 8, 8);
	return v;
}

/*
 * Whether bytes 8 .. @len - 8 of @name (zero-padded) and of @k agree, 8 at a time (the first
 * and last 8 are compared apart): keys are short, and a call to memcmp per key cost more.
 */
static inline bool tl_jkeys__mid_eq(const char *name, const char *k, size_t len)
{
	for (size_t i = 8; i + 8 < len; i += 8) {
		uint64_t a, b;

		memcpy(&a, name + i, 8);
		memcpy(&b, k + i, 8);
		if (a != b)
			return false;
	}
	return true;
}

/**
 * tl_jkeys_find() - the key of @ks named by the @len bytes at @k, or NULL. The 8 bytes past
 * @k's end must be readable (JSON input is padded).
 * Thread: any (key sets are read-only once built).
 */
static inline const struct tl_jkey *tl_jkeys_find(const struct tl_jkeys *ks, const char *k,
						  size_t len)
{
	if (len > TL_JKEY_MAX)
		return NULL;
	/* the first and last 8 bytes: the whole name up to 16 bytes, most of any */
	const uint64_t head = tl_jkeys__head(k, len), tail = tl_jkeys__tail(k, len);

	for (unsigned i = ks->by_len[len]; i < ks->by_len[len + 1]; i++) {
		const struct tl_jkey *key = &ks->keys[i];

		if (key->head == head && key->tail == tail &&
		    (len <= 16 || tl_jkeys__mid_eq(key->name, k, len)))
			return key;
	}
	return NULL;
}

/**
 * tl_jkeys_clear() - mark the slots of @ks and of all its sub sets absent, so nothing of an
 * earlier object survives into this one, whichever keys it lacks.
 */
static inline void tl_jkeys_clear(const struct tl_jkeys *ks, struct tl_jval *vals)
{
	if (ks->dense) {
		memset(&vals[ks->lo], 0, (size_t)(ks->hi - ks->lo + 1) * sizeof(*vals));
		return;
	}
	for (uint16_t i = 0; i < ks->n_all; i++)
		vals[ks->all[i]].type = TL_JT_ABSENT;
}

/**
 * tl_jkeys_init() - build @ks from @n specs (at most 64; names unique, without escapes,
 * at most TL_JKEY_MAX bytes; at most 128 slots with those of the sub sets). Sub sets must be
 * built first.
 * Return: 0, or -1 if the specs do not fit. Thread: any.
 */
int tl_jkeys_init(struct tl_jkeys *ks, const struct tl_jkey_spec *spec, size_t n);

struct tl_json;

#define TL_JSON_MAX_LEVEL 3

/**
 * tl_json_new() - parser state for documents up to @max_doc bytes.
 * Return: NULL when out of memory, or when the CPU lacks the instructions the parser was
 * built for (@ret_cpu_ok false). Thread: the returned state belongs to one thread.
 */
struct tl_json *tl_json_new(size_t max_doc, bool *ret_cpu_ok);
void tl_json_free(struct tl_json *js);

/**
 * tl_json_set_flat() - whether tl_json_visit() may read a document that is one flat record
 * without simdjson (tl_flat_visit(); on by default). Off, for the tests and benchmarks that
 * compare the two. Thread: the owner of @js.
 */
void tl_json_set_flat(struct tl_json *js, bool on);

/* One record found by tl_json_visit(). */
struct tl_jrec {
	struct tl_jval *vals; /* the caller's slots, filled for this record */
	const char *raw;      /* the record's JSON text */
	size_t raw_len;
	bool not_object; /* an envelope element that is not an object: vals are unset */
};

typedef int (*tl_json_record_fn)(void *ud, const struct tl_jrec *rec);

struct tl_json_error {
	const char *message; /* static text */
	size_t offset;       /* byte offset in the document where the error was found */
	const char *rest;    /* the text from the failed record on (for the dead-letter file) */
	size_t rest_len;
};

/**
 * tl_json_visit() - call @fn for each record of the document @doc (@len bytes; at least
 * TL_JSON_PADDING readable bytes must follow). @vals has @keys->n_slots slots.
 * Return: 0; the nonzero value @fn returned to stop; or TL_EJSON with @ret_err filled.
 * Thread: the owner of @js.
 */
int tl_json_visit(struct tl_json *js, const char *doc, size_t len, const struct tl_jkeys *keys,
		  struct tl_jval *vals, tl_json_record_fn fn, void *ud,
		  struct tl_json_error *ret_err);

/**
 * tl_json_extract() - fill the slots of @keys from JSON text that is itself held in a string:
 * @text is the raw string content (escaped when @escaped), as TL_JK_RAWSTR returns it. The
 * object is parsed at nesting @level (1 to 3; level 0 belongs to tl_json_visit), so strings
 * filled by outer levels stay valid.
 * Return: 0, TL_EJSON (bad JSON), TL_ETYPE (the text is not an object), TL_ETOOBIG (@level
 * out of range, or the text too long) or -ENOMEM.
 * Thread: the owner of @js.
 */
int tl_json_extract(struct tl_json *js, int level, const char *text, size_t len, bool escaped,
		    const struct tl_jkeys *keys, struct tl_jval *vals);

/**
 * tl_json_each() - call @fn for each element of a JSON array given as raw JSON text @arr
 * (as a TL_JT_ARRAY slot holds it), with the slots of @keys filled for object elements.
 * Parsed at @level (1 to 3). Return: as tl_json_visit(), or TL_ETOOBIG as
 * tl_json_extract(). Thread: the owner of @js.
 */
int tl_json_each(struct tl_json *js, int level, const char *arr, size_t len,
		 const struct tl_jkeys *keys, struct tl_jval *vals, tl_json_record_fn fn, void *ud);

/**
 * tl_json_unescape() - the text of a JSON string given raw (as TL_JK_RAWSTR returns it).
 * @ret_s, @ret_n: the unescaped text, valid until the next call at @level (1 to 3).
 * Return: 0, TL_EJSON, TL_ETOOBIG (as tl_json_extract()) or -ENOMEM.
 * Thread: the owner of @js.
 */
int tl_json_unescape(struct tl_json *js, int level, const char *text, size_t len, bool escaped,
		     const char **ret_s, size_t *ret_n);

#ifdef __cplusplus
}
#endif
#endif /* TL_INGEST_JSON_H */
