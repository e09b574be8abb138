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
 */
#ifndef TL_INGEST_JSON_H
#define TL_INGEST_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	uint8_t type; /* enum tl_jtype */
	bool escaped; /* STRING with TL_JK_RAWSTR: s/n is the raw text and holds a backslash */
	bool nested;  /* OBJECT whose keys went into the sub key set's slots (s/n unset) */
	bool b;
	int64_t i;
	double d;
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

#define TL_JKEYS_CELLS 128

struct tl_jkey {
	const char *name;
	uint32_t len;
	uint16_t slot;
	uint8_t flags;
	const struct tl_jkeys *sub;
};

struct tl_jkeys {
	uint16_t n_slots; /* 1 + highest slot here and in sub sets */
	uint16_t n_keys;
	struct tl_jkey keys[64];
	int8_t cells[TL_JKEYS_CELLS]; /* index into keys[], -1 = empty */
};

static inline uint32_t tl_jkeys__hash(const char *k, size_t len)
{
	uint32_t h = (uint32_t)len * 0x9e3779b1u;

	if (len > 0)
		h ^= (uint32_t)(unsigned char)k[0] * 0x85ebca6bu ^
		     (uint32_t)(unsigned char)k[len - 1] * 0xc2b2ae35u;
	if (len > 2)
		h ^= (uint32_t)(unsigned char)k[len / 2] * 0x27d4eb2fu;
	return (h ^ (h >> 15)) & (TL_JKEYS_CELLS - 1);
}

/**
 * tl_jkeys_find() - the key of @ks named by the @len bytes at @k, or NULL.
 * Thread: any (key sets are read-only once built).
 */
static inline const struct tl_jkey *tl_jkeys_find(const struct tl_jkeys *ks, const char *k,
						  size_t len)
{
	for (uint32_t i = tl_jkeys__hash(k, len);; i = (i + 1) & (TL_JKEYS_CELLS - 1)) {
		int c = ks->cells[i];

		if (c < 0)
			return NULL;
		if (ks->keys[c].len == len && memcmp(ks->keys[c].name, k, len) == 0)
			return &ks->keys[c];
	}
}

/** tl_jkeys_clear() - mark the slots of @ks and of its sub sets absent. */
static inline void tl_jkeys_clear(const struct tl_jkeys *ks, struct tl_jval *vals)
{
	for (uint16_t i = 0; i < ks->n_keys; i++) {
		vals[ks->keys[i].slot].type = TL_JT_ABSENT;
		if (ks->keys[i].sub)
			tl_jkeys_clear(ks->keys[i].sub, vals);
	}
}

/**
 * tl_jkeys_init() - build @ks from @n specs (at most 64; names unique, without escapes).
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

/* One record found by tl_json_visit(). */
struct tl_jrec {
	struct tl_jval *vals; /* the caller's slots, filled for this record */
	const char *raw;      /* the record's JSON text */
	size_t raw_len;
	uint32_t index;  /* 0-based position in the document */
	bool not_object; /* an envelope element that is not an object: vals are unset */
};

typedef int (*tl_json_record_fn)(void *ud, const struct tl_jrec *rec);

struct tl_json_error {
	const char *message;   /* static text */
	size_t offset;         /* byte offset in the document where the error was found */
	uint32_t records_done; /* records delivered before the error */
	const char *rest;      /* the text from the failed record on (for the dead-letter file) */
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
 * Return: 0, TL_EJSON (bad JSON), or TL_ETYPE (the text is not an object).
 * Thread: the owner of @js.
 */
int tl_json_extract(struct tl_json *js, int level, const char *text, size_t len, bool escaped,
		    const struct tl_jkeys *keys, struct tl_jval *vals);

/**
 * tl_json_each() - call @fn for each element of a JSON array given as raw JSON text @arr
 * (as a TL_JT_ARRAY slot holds it), with the slots of @keys filled for object elements.
 * Parsed at @level (1 to 3). Return: as tl_json_visit(). Thread: the owner of @js.
 */
int tl_json_each(struct tl_json *js, int level, const char *arr, size_t len,
		 const struct tl_jkeys *keys, struct tl_jval *vals, tl_json_record_fn fn, void *ud);

/**
 * tl_json_unescape() - the text of a JSON string given raw (as TL_JK_RAWSTR returns it).
 * @ret_s, @ret_n: the unescaped text, valid until the next call at @level (1 to 3).
 * Return: 0, TL_EJSON or TL_ETOOBIG. Thread: the owner of @js.
 */
int tl_json_unescape(struct tl_json *js, int level, const char *text, size_t len, bool escaped,
		     const char **ret_s, size_t *ret_n);

#ifdef __cplusplus
}
#endif
#endif /* TL_INGEST_JSON_H */
