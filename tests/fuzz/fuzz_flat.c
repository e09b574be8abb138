/*
 * tests/fuzz/fuzz_flat.c - differential target: the fast path for flat records, alone or in
 * an envelope, tl_flat_visit() (ingest/flat.c), against simdjson's walk, tl_json_visit() with
 * the fast path off (ingest/json.cpp).
 *
 * The input is the document, followed by TL_JSON_PADDING bytes of quotes and backslashes (the
 * index reads up to 63 bytes past the end; what it finds there must not count).
 *
 * Invariants (a failure traps):
 *  - when the fast path reads the document, simdjson's walk returns 0 and delivers the same
 *    records: the same record text and the same slots (type, boolean or integer, string
 *    bytes and escaped flag); when it declines, it has delivered nothing;
 *  - its string slots lie inside the document;
 *  - tl_json_visit() with the fast path on returns and delivers what it does with it off.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ingest_int.h"
#include "json.h"

#define MAX_DOC (1u << 16)

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

/* The records a walk delivered, as bytes to compare. */
struct trace {
	const char *doc;
	size_t size;
	unsigned char buf[1 << 20];
	size_t n, records;
};

static void put(struct trace *t, const void *p, size_t n)
{
	if (t->n + n > sizeof(t->buf))
		abort(); /* the input bounds the records: cannot happen */
	memcpy(t->buf + t->n, p, n);
	t->n += n;
}

static int on_record(void *ud, const struct tl_jrec *rec)
{
	struct trace *t = ud;
	const size_t at = (size_t)(rec->raw - t->doc);

	FUZZ_CHECK(rec->raw >= t->doc && at <= t->size && rec->raw_len <= t->size - at);
	t->records++;
	put(t, &at, sizeof(at));
	put(t, &rec->raw_len, sizeof(rec->raw_len));
	put(t, &rec->not_object, 1);
	for (int i = 1; !rec->not_object && i < N_SLOTS; i++) {
		const struct tl_jval *v = &rec->vals[i];

		put(t, &v->type, 1);
		switch (v->type) {
		case TL_JT_BOOL:
			put(t, &v->b, 1);
			break;
		case TL_JT_INT:
			put(t, &v->i, sizeof(v->i));
			break;
		case TL_JT_DOUBLE:
			put(t, &v->d, sizeof(v->d));
			break;
		case TL_JT_STRING:
		case TL_JT_OBJECT:
		case TL_JT_ARRAY:
			put(t, &v->escaped, 1);
			put(t, &v->n, sizeof(v->n));
			put(t, v->s, v->n);
			break;
		default:
			break;
		}
	}
	return 0;
}

/* Three traces: the fast path alone, simdjson alone, tl_json_visit() with both. */
static struct trace fast, full, both;

static void start(struct trace *t, const char *doc, size_t size)
{
	t->doc = doc;
	t->size = size;
	t->n = t->records = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tl_jval vals[N_SLOTS];
	struct tl_json_error err;
	struct tl_flat *fx;
	int stop = -1;
	char *doc;

	if (!js) {
		bool cpu_ok = true;

		js = tl_json_new(MAX_DOC, &cpu_ok);
		if (!js || tl_jkeys_init(&keys, spec, sizeof(spec) / sizeof(spec[0])) != 0 ||
		    keys.n_slots != N_SLOTS)
			abort();
	}
	if (size > MAX_DOC)
		return 0;
	doc = malloc(size + TL_JSON_PADDING);
	fx = tl_flat_new(MAX_DOC); /* each input its own: no back-off from the last one */
	if (!doc || !fx)
		abort();
	if (size)
		memcpy(doc, data, size);
	for (size_t i = 0; i < TL_JSON_PADDING; i++)
		doc[size + i] = i % 2 ? '"' : '\\';

	start(&fast, doc, size);
	start(&full, doc, size);
	start(&both, doc, size);
	memset(vals, 0x5a, sizeof(vals));
	const bool took = tl_flat_visit(fx, doc, size, &keys, vals, on_record, &fast, &stop);

	memset(vals, 0xa5, sizeof(vals));
	tl_json_set_flat(js, false);
	const int r_full = tl_json_visit(js, doc, size, &keys, vals, on_record, &full, &err);

	memset(vals, 0x5a, sizeof(vals));
	tl_json_set_flat(js, true);
	const int r_both = tl_json_visit(js, doc, size, &keys, vals, on_record, &both, &err);

	if (took)
		FUZZ_CHECK(stop == 0 && r_full == 0 && fast.n == full.n &&
			   memcmp(fast.buf, full.buf, full.n) == 0);
	else
		FUZZ_CHECK(fast.records == 0);
	FUZZ_CHECK(r_both == r_full && both.n == full.n && memcmp(both.buf, full.buf, full.n) == 0);
	tl_flat_free(fx);
	free(doc);
	return 0;
}
