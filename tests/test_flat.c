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
};

static int on_record(void *ud, const struct tl_jrec *rec)
{
	struct got *g = ud;

	g->n++;
	g->raw_len = rec->raw_len;
	for (int i = 1; i < N_SLOTS; i++) {
		const struct tl_jval *v = &rec->vals[i];

		g->type[i] = v->type;
		g->i[i] = v->type == TL_JT_INT ? v->i : 0;
		g->b[i] = v->type == TL_JT_BOOL && v->b;
		g->escaped[i] = v->type == TL_JT_STRING && v->escaped;
		if (v->type == TL_JT_STRING) {
			cr_assert(v->n < sizeof(g->s[i]));
			memcpy(g->s[i], v->s, v->n);
			g->s[i][v->n] = '\0';
		}
	}
	return 0;
}

/* @text read both ways; whether the fast path took it (and then both read it alike). */
static bool read_both(const char *text, struct got *ret)
{
	const size_t len = strlen(text);
	char *doc = malloc(len + TL_JSON_PADDING);
	struct tl_jval vals[N_SLOTS];
	struct tl_json_error err;
	struct got fast = { 0 }, full = { 0 };
	int stop = 1;

	cr_assert(doc != NULL);
	memcpy(doc, text, len);
	memset(doc + len, '"', TL_JSON_PADDING); /* the index must not read these as quotes */
	const bool took = tl_flat_visit(doc, len, &keys, vals, on_record, &fast, &stop);

	tl_json_set_flat(js, false);
	cr_assert(eq(int, tl_json_visit(js, doc, len, &keys, vals, on_record, &full, &err), 0),
		  "simdjson refuses %s", text);
	tl_json_set_flat(js, true);
	cr_assert(eq(int, full.n, 1));
	if (took) {
		cr_assert(eq(int, stop, 0));
		cr_assert(eq(int, fast.n, 1));
		cr_assert(eq(sz, fast.raw_len, full.raw_len), "%s", text);
		for (int i = 1; i < N_SLOTS; i++) {
			cr_assert(eq(u8, fast.type[i], full.type[i]), "slot %d of %s", i, text);
			cr_assert(eq(i64, fast.i[i], full.i[i]), "slot %d of %s", i, text);
			cr_assert(eq(int, fast.b[i], full.b[i]), "slot %d of %s", i, text);
			cr_assert(eq(int, fast.escaped[i], full.escaped[i]), "slot %d of %s", i,
				  text);
			cr_assert(eq(str, fast.s[i], full.s[i]), "slot %d of %s", i, text);
		}
	} else {
		cr_assert(eq(int, fast.n, 0), "declined after delivering: %s", text);
	}
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
		"{\"records\":[{\"time\":\"a\"}]}",
		"{\"time\":\"a\",\n\"flag\":true}",
		"{\"time\":\"a\"}\n",
		"[{\"time\":\"a\"}]",
		" \t{\"time\":\"a\"}",
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

/* tl_json_visit() of @text with the fast path on or off: its return, records in *@ret_n. */
static int visit(const char *text, bool flat, int *ret_n)
{
	const size_t len = strlen(text);
	char *doc = malloc(len + TL_JSON_PADDING);
	struct tl_jval vals[N_SLOTS];
	struct tl_json_error err;
	struct got g = { 0 };

	cr_assert(doc != NULL);
	memcpy(doc, text, len);
	memset(doc + len, '}', TL_JSON_PADDING);
	tl_json_set_flat(js, flat);
	const int r = tl_json_visit(js, doc, len, &keys, vals, on_record, &g, &err);

	tl_json_set_flat(js, true);
	free(doc);
	*ret_n = g.n;
	return r;
}

Test(flat, bad_json_is_left_to_simdjson_and_never_delivered)
{
	const char *const bad[] = {
		"{\"time\":\"a\"",         "{\"time\":\"a\",}", "{\"time\" \"a\"}",
		"{\"time\":\"a\"} x",      "{\"time\":tru}",    "{\"time\":\"a\\q\"}",
		"{\"time\":\"a\x01\"}",    "{\"time\":\"a\"}}", "{time:1}",
		"{\"properties\":\"\\\"}", "{\"flag\":nul}",    "{\"flag\":true false}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const size_t len = strlen(bad[i]);
		char *doc = malloc(len + TL_JSON_PADDING);
		struct tl_jval vals[N_SLOTS];
		struct got g = { 0 };
		int stop = 0, n_on, n_off;

		cr_assert(doc != NULL);
		memcpy(doc, bad[i], len);
		memset(doc + len, '}', TL_JSON_PADDING);
		cr_assert(not(tl_flat_visit(doc, len, &keys, vals, on_record, &g, &stop)),
			  "took %s", bad[i]);
		cr_assert(eq(int, g.n, 0));
		free(doc);
		/* tl_json_visit() then says and delivers what simdjson alone does: an error */
		const int on = visit(bad[i], true, &n_on), off = visit(bad[i], false, &n_off);

		cr_assert(eq(int, on, off), "%s", bad[i]);
		cr_assert(eq(int, n_on, n_off), "%s", bad[i]);
		cr_assert(eq(int, on, TL_EJSON), "%s", bad[i]);
	}
}

Test(flat, strings_across_64_byte_words_and_long_records)
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
	/* longer than the fast path indexes: simdjson reads it */
	char big[5000];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	(void)snprintf(text, sizeof(text), "{\"other\":\"%s\",\"durationMs\":7}", big);
	cr_assert(not(read_both(text, &g)));
	cr_assert(eq(i64, g.i[S_DURATION], 7));
}
