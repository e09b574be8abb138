/*
 * tests/fuzz/fuzz_flat.c - differential target: the fast path for a record that is one flat
 * object, tl_flat_visit() (ingest/flat.c), against simdjson's walk, tl_json_visit() with the
 * fast path off (ingest/json.cpp).
 *
 * The input is the document, followed by TL_JSON_PADDING bytes of quotes and backslashes (the
 * index reads up to 63 bytes past the end; what it finds there must not count).
 *
 * Invariants (a failure traps):
 *  - whenever the fast path delivers a record, simdjson's walk delivers exactly one record
 *    too and returns 0, with the same record text and the same slots: same type, same
 *    boolean or integer, same string bytes and escaped flag;
 *  - the fast path's string slots lie inside the document.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ingest_int.h"
#include "json.h"

#define MAX_DOC (1u << 20)

enum { S_A = 1, S_B, S_X, S_EMPTY, S_TIME, S_DURATION, S_PROPS, S_RECORDS, N_SLOTS };

static const struct tl_jkey_spec spec[] = {
	{ "a", S_A, 0, NULL }, /* short keys the fuzzer finds fast */
	{ "b", S_B, TL_JK_RAWSTR, NULL },
	{ "x", S_X, 0, NULL },
	{ "", S_EMPTY, 0, NULL },    /* the empty key */
	{ "time", S_TIME, 0, NULL }, /* keys the decoder reads */
	{ "durationMs", S_DURATION, 0, NULL },
	{ "properties", S_PROPS, TL_JK_RAWSTR, NULL },
	{ "records", S_RECORDS, 0, NULL },
};

static struct tl_json *js;
static struct tl_jkeys keys;

struct capture {
	int n;
	const char *raw;
	size_t raw_len;
	bool not_object;
	struct tl_jval vals[N_SLOTS];
};

static int on_fast(void *ud, const struct tl_jrec *rec)
{
	struct capture *c = ud;

	if (c->n++ == 0) {
		c->raw = rec->raw;
		c->raw_len = rec->raw_len;
		c->not_object = rec->not_object;
		memcpy(c->vals, rec->vals, sizeof(c->vals));
	}
	return 0;
}

static bool same_val(const struct tl_jval *a, const struct tl_jval *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case TL_JT_BOOL:
		return a->b == b->b;
	case TL_JT_INT:
		return a->i == b->i;
	case TL_JT_STRING:
		return a->escaped == b->escaped && a->n == b->n &&
		       (a->n == 0 || memcmp(a->s, b->s, a->n) == 0);
	case TL_JT_ABSENT:
	case TL_JT_NULL:
		return true;
	default:
		return false; /* the fast path never gives other types */
	}
}

static int full_seen; /* records simdjson's walk delivered */

/* simdjson's record, checked against the fast path's while its strings are valid. */
static int on_full(void *ud, const struct tl_jrec *rec)
{
	const struct capture *fast = ud;

	FUZZ_CHECK(full_seen++ == 0);
	FUZZ_CHECK(!rec->not_object && !fast->not_object);
	FUZZ_CHECK(rec->raw == fast->raw && rec->raw_len == fast->raw_len);
	for (int i = 1; i < N_SLOTS; i++)
		FUZZ_CHECK(same_val(&fast->vals[i], &rec->vals[i]));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tl_jval vals[N_SLOTS];
	struct capture fast = { 0 };
	struct tl_json_error err;
	int stop = -1;
	char *doc;

	if (!js) {
		bool cpu_ok = true;

		js = tl_json_new(MAX_DOC, &cpu_ok);
		if (!js || tl_jkeys_init(&keys, spec, sizeof(spec) / sizeof(spec[0])) != 0 ||
		    keys.n_slots != N_SLOTS)
			abort();
		tl_json_set_flat(js, false);
	}
	if (size > MAX_DOC)
		return 0;
	doc = malloc(size + TL_JSON_PADDING);
	if (!doc)
		return 0;
	if (size)
		memcpy(doc, data, size);
	for (size_t i = 0; i < TL_JSON_PADDING; i++)
		doc[size + i] = i % 2 ? '"' : '\\';
	memset(vals, 0x5a, sizeof(vals));
	if (tl_flat_visit(doc, size, &keys, vals, on_fast, &fast, &stop)) {
		FUZZ_CHECK(fast.n == 1 && stop == 0);
		FUZZ_CHECK(fast.raw >= doc && fast.raw_len <= size);
		for (int i = 1; i < N_SLOTS; i++) {
			const struct tl_jval *v = &fast.vals[i];

			if (v->type == TL_JT_STRING)
				FUZZ_CHECK(v->s >= doc && v->s + v->n <= doc + size);
		}
		full_seen = 0;
		memset(vals, 0xa5, sizeof(vals));
		FUZZ_CHECK(tl_json_visit(js, doc, size, &keys, vals, on_full, &fast, &err) == 0);
		FUZZ_CHECK(full_seen == 1);
	} else {
		FUZZ_CHECK(fast.n == 0); /* declined before delivering anything */
	}
	free(doc);
	return 0;
}
