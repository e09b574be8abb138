/*
 * tests/test_flat.c - the fast path for flat records (ingest/flat.c): which documents it takes,
 * and that what it takes reads exactly as simdjson's walk reads it (the decoder sees no
 * difference; tests/fuzz/fuzz_flat.c checks the same on generated input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/error.h>

#include "ingest_int.h"
#include "json.h"

enum { S_TIME = 1, S_DURATION, S_PROPS, S_NAME, S_FLAG, S_NOTHING, N_SLOTS };

static const struct tl_jkey_spec spec[] = {
	{ "time", S_TIME, 0, NULL },
	{ "durationMs", S_DURATION, 0, NULL },
	{ "properties", S_PROPS, TL_JK_RAWSTR, NULL },
	{ "operationName", S_NAME, 0, NULL },
	{ "flag", S_FLAG, 0, NULL },
	{ "nothing", S_NOTHING, 0, NULL },
};

static struct tl_json *js;
static struct tl_jkeys keys;

static void setup(void)
{
	bool cpu_ok = true;

	js = tl_json_new(1 << 20, &cpu_ok);
	cr_assert(js != NULL);
	cr_assert(eq(int, tl_jkeys_init(&keys, spec, sizeof(spec) / sizeof(spec[0])), 0));
}

static void teardown(void)
{
	tl_json_free(js);
}

TestSuite(flat, .init = setup, .fini = teardown, .timeout = 30);

/* One record as delivered, with its strings copied out. */
struct got {
	int n;
	size_t raw_len;
	uint8_t type[N_SLOTS];
	int64_t i[N_SLOTS];
	bool b[N_SLOTS], escaped[N_SLOTS];
	char s[N_SLOTS][512];
	char digest[1 << 16]; /* every record delivered, one line each */
	size_t dn;
};

static int on_record(void *ud, const struct tl_jrec *rec)
{
	struct got *g = ud;

	g->n++;
	g->raw_len = rec->raw_len;
	g->dn += (size_t)snprintf(g->digest + g->dn, sizeof(g->digest) - g->dn, "%d %.*s |",
				  rec->not_object, (int)rec->raw_len, rec->raw);
	cr_assert(g->dn < sizeof(g->digest));
	for (int i = 1; i < N_SLOTS; i++) {
		const struct tl_jval *v = &rec->vals[i];

		g->type[i] = v->type;
		g->i[i] = v->type == TL_JT_INT ? v->i : 0;
		g->b[i] = v->type == TL_JT_BOOL && v->b;
		g->escaped[i] = v->type == TL_JT_STRING && v->escaped;
		g->s[i][0] = '\0';
		if (v->type == TL_JT_STRING) {
			cr_assert(v->n < sizeof(g->s[i]));
			memcpy(g->s[i], v->s, v->n);
			g->s[i][v->n] = '\0';
		}
		g->dn += (size_t)snprintf(g->digest + g->dn, sizeof(g->digest) - g->dn,
					  " %u:%lld:%d:%d:%s", g->type[i], (long long)g->i[i],
					  g->b[i], g->escaped[i], g->s[i]);
		cr_assert(g->dn < sizeof(g->digest));
	}
	g->dn += (size_t)snprintf(g->digest + g->dn, sizeof(g->digest) - g->dn, "\n");
	return 0;
}

/* @text in a padded buffer of its own (the index must not read the padding's quotes). */
static char *padded(const char *text, size_t len)
{
	char *doc = malloc(len + TL_JSON_PADDING);

	cr_assert(doc != NULL);
	memcpy(doc, text, len);
	memset(doc + len, '"', TL_JSON_PADDING);
	return doc;
}

/* tl_json_visit() of @len bytes of @text with the fast path on or off; its return. */
static int visit(const char *text, size_t len, bool flat, struct got *g)
{
	char *doc = padded(text, len);
	struct tl_jval vals[N_SLOTS];
	struct tl_json_error err;

	tl_json_set_flat(js, flat);
	const int r = tl_json_visit(js, doc, len, &keys, vals, on_record, g, &err);

	tl_json_set_flat(js, true);
	free(doc);
	return r;
}

/*
 * @text read by the fast path alone (with its own state, so no back-off) and by simdjson
 * alone: whether the fast path read it (and then both gave the same records; else it gave
 * none). tl_json_visit() with both gives simdjson's records and return in any case.
 */
static bool read_both(const char *text, struct got *ret)
{
	const size_t len = strlen(text);
	char *doc = padded(text, len);
	struct tl_flat *fx = tl_flat_new(1 << 20);
	struct tl_jval vals[N_SLOTS];
	static struct got fast, full, both;
	int stop = 1;

	cr_assert(fx != NULL);
	memset(&fast, 0, sizeof(fast));
	memset(&full, 0, sizeof(full));
	memset(&both, 0, sizeof(both));
	const bool took = tl_flat_visit(fx, doc, len, &keys, vals, on_record, &fast, &stop);
	const int r_full = visit(text, len, false, &full), r_both = visit(text, len, true, &both);

	cr_assert(eq(int, r_both, r_full), "%s", text);
	cr_assert(eq(str, both.digest, full.digest), "%s", text);
	if (took) {
		cr_assert(eq(int, r_full, 0), "simdjson refuses %s", text);
		cr_assert(eq(int, stop, 0));
		cr_assert(eq(str, fast.digest, full.digest), "%s", text);
	} else {
		cr_assert(eq(int, fast.n, 0), "declined after delivering: %s", text);
	}
	tl_flat_free(fx);
	free(doc);
	if (ret)
		*ret = full;
	return took;
}

Test(flat, a_request_response_line_takes_the_fast_path)
{
	struct got g;

	cr_assert(read_both(
	    "{\"time\": \"2025-11-04T00:00:00.2472290Z\", \"durationMs\": 59, \"callerIpAddress\": "
	    "\"20.236.10.***\", \"operationName\": \"Embeddings_Create\", \"properties\": "
	    "\"{\\\"apiName\\\":\\\"Azure OpenAI API version 2024-10-21\\\",\\\"requestTime\\\":"
	    "638978112001578351,\\\"modelDeploymentName\\\":\\\"embed-3-large\\\"}\", \"flag\": "
	    "true, \"other\": null, \"n\": -12}",
	    &g));
	cr_assert(eq(str, g.s[S_TIME], "2025-11-04T00:00:00.2472290Z"));
	cr_assert(eq(i64, g.i[S_DURATION], 59));
	cr_assert(eq(int, g.escaped[S_PROPS], 1));
	cr_assert(
	    eq(str, g.s[S_PROPS],
	       "{\\\"apiName\\\":\\\"Azure OpenAI API version 2024-10-21\\\",\\\"requestTime\\\":"
	       "638978112001578351,\\\"modelDeploymentName\\\":\\\"embed-3-large\\\"}"));
	cr_assert(eq(int, g.b[S_FLAG], 1));
	cr_assert(eq(u8, g.type[S_NOTHING], TL_JT_ABSENT));
}

Test(flat, strings_numbers_and_literals_read_alike)
{
	const char *const taken[] = {
		"{}",
		"{ }",
		"{\"time\":\"\"}",
		"{\"durationMs\":0,\"flag\":false}",
		"{\"durationMs\":-0}",
		"{\"durationMs\":123456789012345678}",
		"{\"durationMs\":-123456789012345678}",
		"{\"durationMs\":12345678,\"time\":null}",
		"{\"properties\":\"a\\\\b\\/c\\nd\\te\\\"f\\r\\b\\f\"}",
		"{\"properties\":\"\\\\\\\\\\\\\\\"\"}",
		"{\"unknown\":\"with \\\" an escape\", \"flag\" : true }   ",
		"{\"time\":\"t1\",\"time\":\"t2\"}",
		"{\"\":1,\"durationMs\":2}",
		"{\"time\":\"a\",\n\"flag\":true}",
		"{\"time\":\"a\"}\r\n",
		" \t{\"time\":\"a\"}",
	};

	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		cr_assert(read_both(taken[i], NULL), "declined: %s", taken[i]);
}

Test(flat, anything_else_goes_to_simdjson_which_reads_it)
{
	const char *const declined[] = {
		"{\"durationMs\":1.5}",
		"{\"durationMs\":1e3}",
		"{\"durationMs\":1234567890123456789}",
		"{\"time\":\"caf\xc3\xa9\"}",
		"{\"time\":\"\\u00e9\"}",
		"{\"time\":\"a\\\"b\"}", /* an escape in a slot that wants the text unescaped */
		"{\"ti\\u006de\":\"a\"}",
		"{\"flag\":{\"x\":1}}",
		"{\"flag\":[1,2]}",
		"[{\"time\":\"a\"}]",
		"{\"durationMs\":01}", /* simdjson: a number it cannot read */
		"{\"durationMs\":1-2}",
		"{\"durationMs\":-}",
	};
	struct got g;

	for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
		cr_assert(not(read_both(declined[i], NULL)), "taken: %s", declined[i]);
	(void)read_both("{\"time\":\"a\\\"b\"}", &g);
	cr_assert(eq(str, g.s[S_TIME], "a\"b"), "simdjson unescapes it");
}

Test(flat, bad_json_is_left_to_simdjson_and_never_delivered)
{
	const char *const bad[] = {
		"{\"time\":\"a\"",         "{\"time\":\"a\",}", "{\"time\" \"a\"}",
		"{\"time\":\"a\"} x",      "{\"time\":tru}",    "{\"time\":\"a\\q\"}",
		"{\"time\":\"a\x01\"}",    "{\"time\":\"a\"}}", "{time:1}",
		"{\"properties\":\"\\\"}", "{\"flag\":nul}",    "{\"flag\":true false}",
		"{\"time\":\"a\nb\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct got g = { 0 };

		cr_assert(not(read_both(bad[i], NULL)), "took %s", bad[i]);
		cr_assert(eq(int, visit(bad[i], strlen(bad[i]), true, &g), TL_EJSON), "%s", bad[i]);
	}
}

Test(flat, strings_across_64_byte_words)
{
	char text[6000], pad[300];
	struct got g;

	/* every position of a string's end and of its escapes against the index's words */
	for (size_t n = 0; n < 140; n++) {
		memset(pad, 'x', n);
		pad[n] = '\0';
		(void)snprintf(
		    text, sizeof(text),
		    "{\"time\":\"%s\",\"properties\":\"%s\\\\\\\"%s\",\"durationMs\":%zu}", pad,
		    pad, pad, n);
		cr_assert(read_both(text, &g), "declined: %s", text);
		cr_assert(eq(sz, strlen(g.s[S_TIME]), n));
		cr_assert(eq(i64, g.i[S_DURATION], (int64_t)n));
	}
}

Test(flat, documents_longer_than_its_index_go_to_simdjson)
{
	struct tl_flat *fx = tl_flat_new(4096);
	static char text[6000], big[5000];
	struct tl_jval vals[N_SLOTS];
	struct got g = { 0 };
	int stop;

	cr_assert(fx != NULL);
	memset(big, 'y', sizeof(big) - 1);
	(void)snprintf(text, sizeof(text), "{\"other\":\"%s\",\"durationMs\":7}", big);
	char *doc = padded(text, strlen(text));

	cr_assert(not(tl_flat_visit(fx, doc, strlen(text), &keys, vals, on_record, &g, &stop)));
	cr_assert(eq(int, g.n, 0));
	free(doc);
	tl_flat_free(fx);
	cr_assert(eq(int, visit(text, strlen(text), true, &g), 0));
	cr_assert(eq(int, g.n, 1));
	cr_assert(eq(i64, g.i[S_DURATION], 7));
}

Test(flat, envelopes_of_flat_records_take_the_fast_path)
{
	struct got g;

	cr_assert(read_both("{\"records\":[{\"time\":\"a\",\"durationMs\":1},{\"time\":\"b\"},"
			    "{\"time\":\"c\",\"records\":\"not an envelope in a record\"}]}",
			    &g));
	cr_assert(eq(int, g.n, 3));
	cr_assert(eq(str, g.s[S_TIME], "c"));
	cr_assert(read_both("{ \"records\" : [ ] }", &g));
	cr_assert(eq(int, g.n, 0));
	/* whitespace between tokens, as a pretty-printed batch has */
	cr_assert(
	    read_both("{\n  \"records\": [\n    {\r\n\t\"time\": \"a\"\n    }\n  ]\n}\n", &g));
	cr_assert(eq(int, g.n, 1));
	cr_assert(eq(str, g.s[S_TIME], "a"));
}

Test(flat, an_envelope_with_anything_else_goes_to_simdjson_whole)
{
	const char *const mixed[] = {
		/* a nested record third: simdjson reads them all */
		("{\"records\":[{\"time\":\"a\"},{\"time\":\"b\"},"
		 "{\"flag\":{\"x\":1},\"time\":\"c\"},{\"time\":\"d\"}]}"),
		/* not an object */
		"{\"records\":[{\"time\":\"a\"},7,{\"time\":\"b\"}]}",
		/* bad JSON in the third record: simdjson's records and error */
		("{\"records\":[{\"time\":\"a\"},{\"time\":\"b\"},"
		 "{\"time\" \"c\"},{\"time\":\"d\"}]}"),
		/* more after the array */
		"{\"records\":[{\"time\":\"a\"}],\"records\":[{\"time\":\"b\"}]}",
		"{\"records\":[{\"time\":\"a\"}]} trailing",
		/* a number the fast path leaves to simdjson */
		"{\"records\":[{\"durationMs\":1},{\"durationMs\":2.5},{\"durationMs\":3}]}",
		/* records, not in first place: an envelope to simdjson, fields before it dropped */
		"{\"time\":\"x\",\"records\":[{\"time\":\"a\"}]}",
		"{\"records\":5}",
		"[{\"time\":\"a\"},{\"records\":[{\"time\":\"b\"}]}]",
	};

	for (size_t i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++)
		cr_assert(not(read_both(mixed[i], NULL)), "took %s", mixed[i]);
}

Test(flat, the_event_hubs_sample_batch_reads_alike)
{
	FILE *f = fopen(TL_TEST_DATA "/eventhub-batch.json", "rb");
	static char text[1 << 16];
	struct got g;

	cr_assert(f != NULL);
	const size_t n = fread(text, 1, sizeof(text) - 1, f);

	fclose(f);
	text[n] = '\0';
	/* pretty-printed flat records, but its AllMetrics record has "average": 6375.4, a
	 * number the fast path leaves to simdjson: read alike all the same */
	cr_assert(not(read_both(text, &g)));
	cr_assert(ge(int, g.n, 3));
	char *m = strstr(text, "6375.4");

	cr_assert(m != NULL);
	memcpy(m, "6375  ", 6); /* a whole number: the fast path reads the batch */
	cr_assert(read_both(text, &g));
	cr_assert(ge(int, g.n, 3));
}

Test(flat, after_a_declined_document_the_next_ones_still_read_alike)
{
	/* the back-off sends documents to simdjson for a while: results do not change */
	static struct got on, off;
	const char *const docs[] = { "{\"flag\":{\"x\":1}}", "{\"time\":\"a\"}",
				     "{\"records\":[{\"time\":\"b\"},{\"time\":\"c\"}]}" };

	for (int round = 0; round < 40; round++)
		for (size_t i = 0; i < 3; i++) {
			cr_assert(eq(int, visit(docs[i], strlen(docs[i]), true, &on), 0));
			cr_assert(eq(int, visit(docs[i], strlen(docs[i]), false, &off), 0));
		}
	cr_assert(eq(int, on.n, 160));
	cr_assert(eq(str, on.digest, off.digest));
}

static int count_record(void *ud, const struct tl_jrec *rec)
{
	(void)rec;
	++*(size_t *)ud;
	return 0;
}

/* {"records":[{},{},...]} of @n records, padded; its length in *@ret_len. */
static char *empty_records(size_t n, size_t *ret_len)
{
	const size_t len = 13 + 3 * n;
	char *doc = malloc(len + TL_JSON_PADDING);

	cr_assert(doc != NULL);
	memcpy(doc, "{\"records\":[", 12);
	for (size_t i = 0; i < n; i++)
		memcpy(doc + 12 + 3 * i, i + 1 < n ? "{}," : "{}]", 3);
	doc[len - 1] = '}';
	memset(doc + len, ' ', TL_JSON_PADDING);
	*ret_len = len;
	return doc;
}

Test(flat, an_envelope_of_very_many_records_goes_to_simdjson)
{
	struct tl_flat *fx = tl_flat_new(1 << 20);
	struct tl_jval vals[N_SLOTS];
	struct tl_json_error err;
	size_t len, got = 0;
	int stop;

	cr_assert(fx != NULL);
	/* a thousand records the path keeps until the envelope ends */
	char *doc = empty_records(1000, &len);

	cr_assert(tl_flat_visit(fx, doc, len, &keys, vals, count_record, &got, &stop));
	cr_assert(eq(sz, got, 1000));
	free(doc);
	/* more than it keeps: simdjson reads them, all */
	doc = empty_records(70000, &len);
	got = 0;
	cr_assert(not(tl_flat_visit(fx, doc, len, &keys, vals, count_record, &got, &stop)));
	cr_assert(eq(sz, got, 0));
	cr_assert(eq(int, tl_json_visit(js, doc, len, &keys, vals, count_record, &got, &err), 0));
	cr_assert(eq(sz, got, 70000));
	tl_flat_free(fx);
	free(doc);
}

/*
 * Key lookup (json.h's tl_jkeys_find(), which the walk and embedded.c use) finds a name only
 * when every byte agrees, at every length up to TL_JKEY_MAX: the first 8 bytes, the last 8
 * and those between are compared apart, so each byte position is changed in turn.
 */
Test(flat, a_key_is_found_by_its_whole_name_only)
{
	static char names[TL_JKEY_MAX][TL_JKEY_MAX + 1];
	struct tl_jkey_spec sp[TL_JKEY_MAX];
	static struct tl_jkeys ks;

	for (size_t n = 1; n <= TL_JKEY_MAX; n++) {
		for (size_t i = 0; i < n; i++)
			names[n - 1][i] = (char)('a' + (n * 7 + i * 3) % 26);
		sp[n - 1] = (struct tl_jkey_spec){ names[n - 1], (uint16_t)n, 0, NULL };
	}
	cr_assert(eq(int, tl_jkeys_init(&ks, sp, TL_JKEY_MAX), 0));
	for (size_t n = 1; n <= TL_JKEY_MAX; n++) {
		char k[TL_JKEY_MAX + 16] = { 0 }; /* the padding a lookup may read */

		memcpy(k, names[n - 1], n);
		const struct tl_jkey *key = tl_jkeys_find(&ks, k, n);

		cr_assert(ne(ptr, (void *)key, NULL), "length %zu", n);
		cr_expect(eq(u16, key->slot, (uint16_t)n));
		for (size_t i = 0; i < n; i++) {
			k[i] = 'Z';
			cr_expect(eq(ptr, (void *)tl_jkeys_find(&ks, k, n), NULL),
				  "length %zu, byte %zu changed", n, i);
			k[i] = names[n - 1][i];
		}
		/* its prefix is no name (the names of each length differ in every byte) */
		if (n > 1)
			cr_expect(eq(ptr, (void *)tl_jkeys_find(&ks, k, n - 1), NULL), "length %zu",
				  n);
	}
}
