/*
 * tests/fuzz/fuzz_embedded.c - differential target: the fast path for JSON held in a JSON
 * string, tl_embedded_extract() (ingest/embedded.c), against the full parser,
 * tl_json_extract() (ingest/json.cpp).
 *
 * The fast path's precondition is that its input is the body of a valid JSON string, so the
 * input bytes are first wrapped as {"properties":"<bytes>"} and read by tl_json_visit() with
 * "properties" flagged TL_JK_RAWSTR, as the decoder reads records; inputs that do not make a
 * valid document with a string there are dropped. The raw string body is then copied to a
 * buffer laid out as the decoder hands it over, the body followed by its closing quote and
 * TL_JSON_PADDING bytes (the key lookup reads 8 bytes at a time; ASan shows reads past
 * that), and extracted both ways.
 *
 * Invariants (a failure traps):
 *  - a TL_JK_RAWSTR slot holds a string body: no unescaped quote, no control character, and
 *    its escaped flag says whether it holds a backslash;
 *  - whenever the fast path accepts, the full parser accepts too (returns 0) and fills every
 *    slot alike: same type, same boolean or integer, same string bytes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ingest_int.h"
#include "json.h"

#define MAX_DOC (1u << 20)

enum { S_OUTER = 1, N_OUTER };

static const struct tl_jkey_spec outer_spec[] = {
	{ "properties", S_OUTER, TL_JK_RAWSTR, NULL },
};

static const struct tl_jkey_spec inner_spec[] = {
	{ "a", 1, 0, NULL }, /* short keys the fuzzer finds fast */
	{ "b", 2, 0, NULL },
	{ "x", 3, 0, NULL },
	{ "", 4, 0, NULL },                    /* the empty key */
	{ "modelDeploymentName", 5, 0, NULL }, /* keys the decoder reads from properties */
	{ "requestTime", 6, 0, NULL },
	{ "streamType", 7, 0, NULL },
};
#define N_INNER 8

static struct tl_json *js;
static struct tl_jkeys outer, inner;

struct capture {
	bool got;
	const char *s;
	size_t n;
	bool escaped;
};

static int on_record(void *ud, const struct tl_jrec *rec)
{
	struct capture *c = ud;
	const struct tl_jval *v = &rec->vals[S_OUTER];

	if (!rec->not_object && !c->got && v->type == TL_JT_STRING) {
		c->got = true;
		c->s = v->s;
		c->n = v->n;
		c->escaped = v->escaped;
	}
	return 0;
}

static void setup(void)
{
	bool cpu_ok = true;

	js = tl_json_new(MAX_DOC, &cpu_ok);
	if (!js)
		abort();
	if (tl_jkeys_init(&outer, outer_spec, sizeof(outer_spec) / sizeof(outer_spec[0])) != 0 ||
	    tl_jkeys_init(&inner, inner_spec, sizeof(inner_spec) / sizeof(inner_spec[0])) != 0)
		abort();
	if (outer.n_slots != N_OUTER || inner.n_slots != N_INNER)
		abort();
}

/* Whether @n bytes at @s can be the body of a JSON string, and whether they hold a '\\'. */
static bool string_body(const char *s, size_t n, bool *ret_backslash)
{
	bool backslash = false;

	for (size_t i = 0; i < n; i++) {
		const unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == '"')
			return false;
		if (c == '\\') {
			backslash = true;
			if (++i == n)
				return false;
		}
	}
	*ret_backslash = backslash;
	return true;
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
		return a->n == b->n && (a->n == 0 || memcmp(a->s, b->s, a->n) == 0);
	case TL_JT_ABSENT:
	case TL_JT_NULL:
		return true;
	default:
		return false; /* the fast path never gives other types */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pre[] = "{\"properties\":\"", post[] = "\"}";
	struct tl_jval ovals[N_OUTER], fast[N_INNER], full[N_INNER];
	struct capture cap = { 0 };
	struct tl_json_error err;
	size_t len = sizeof(pre) - 1 + size + sizeof(post) - 1;
	char *doc, *body;
	bool backslash;

	if (!js)
		setup();
	if (size > MAX_DOC - 64)
		return 0;
	doc = malloc(len + TL_JSON_PADDING);
	if (!doc)
		return 0;
	memcpy(doc, pre, sizeof(pre) - 1);
	if (size)
		memcpy(doc + sizeof(pre) - 1, data, size);
	memcpy(doc + sizeof(pre) - 1 + size, post, sizeof(post) - 1);
	memset(doc + len, ' ', TL_JSON_PADDING);
	memset(ovals, 0, sizeof(ovals));
	if (tl_json_visit(js, doc, len, &outer, ovals, on_record, &cap, &err) != 0 || !cap.got) {
		free(doc);
		return 0;
	}
	FUZZ_CHECK(cap.s >= doc && cap.n <= len && (size_t)(cap.s - doc) <= len - cap.n);
	FUZZ_CHECK(string_body(cap.s, cap.n, &backslash));
	FUZZ_CHECK(backslash == cap.escaped);

	body = malloc(cap.n + 1 + TL_JSON_PADDING);
	if (!body) {
		free(doc);
		return 0;
	}
	memcpy(body, cap.s, cap.n);
	body[cap.n] = '"';
	memset(body + cap.n + 1, ' ', TL_JSON_PADDING);
	memset(fast, 0xa5, sizeof(fast));
	memset(full, 0x5a, sizeof(full));
	if (tl_embedded_extract(body, cap.n, &inner, fast)) {
		FUZZ_CHECK(tl_json_extract(js, 1, body, cap.n, cap.escaped, &inner, full) == 0);
		for (int i = 1; i < N_INNER; i++)
			FUZZ_CHECK(same_val(&fast[i], &full[i]));
	}
	free(body);
	free(doc);
	return 0;
}
