/*
 * tests/json_get.h - read one value back out of a JSON text by its path, with the tree's own
 * parser (ingest/json.h): the tests of the webhook formats and of their delivery check
 * bodies field by field with it. Criterion asserts on allocation failures.
 */
#ifndef TL_TESTS_JSON_GET_H
#define TL_TESTS_JSON_GET_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "json.h"

struct th_pick {
	long want, seen;
	char *out;
};

static inline char *th_dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	cr_assert(p != NULL);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static inline int th_on_elem(void *ud, const struct tl_jrec *jr)
{
	struct th_pick *p = ud;

	if (p->seen++ != p->want)
		return 0;
	p->out = th_dup_n(jr->raw, jr->raw_len);
	return 1;
}

static inline int th_on_member(void *ud, const struct tl_jrec *jr)
{
	struct th_pick *p = ud;
	const struct tl_jval *v = &jr->vals[0];
	char t[64];

	switch (v->type) {
	case TL_JT_STRING:
	case TL_JT_OBJECT:
	case TL_JT_ARRAY:
		p->out = th_dup_n(v->s, v->n);
		break;
	case TL_JT_INT:
		(void)snprintf(t, sizeof(t), "%lld", (long long)v->i);
		p->out = th_dup_n(t, strlen(t));
		break;
	case TL_JT_DOUBLE:
		(void)snprintf(t, sizeof(t), "%.17g", v->d);
		p->out = th_dup_n(t, strlen(t));
		break;
	case TL_JT_BOOL:
		p->out = th_dup_n(v->b ? "true" : "false", v->b ? 4 : 5);
		break;
	case TL_JT_NULL:
		p->out = th_dup_n("null", 4);
		break;
	default:
		break;
	}
	return 1;
}

/*
 * The value at @path in the JSON text @json: object keys and array indexes joined by '.'
 * ("0.labels.alertname"). A string comes back unescaped, a number or literal as text, an
 * object or array as its JSON text; NULL when there is no such value. Each step parses the
 * text of the step before with the tree's parser (@js).
 */
static inline char *th_jget(struct tl_json *js, const char *json, const char *path)
{
	char *cur = th_dup_n(json, strlen(json));

	while (cur && *path) {
		const size_t n = strcspn(path, ".");
		const size_t len = strlen(cur);
		char seg[64], *doc = malloc(len + TL_JSON_PADDING);
		struct tl_jval vals[1];
		struct tl_jkeys ks;
		struct tl_json_error e;
		struct th_pick p = { -1, 0, NULL };

		cr_assert(doc && n < sizeof(seg));
		memcpy(seg, path, n);
		seg[n] = '\0';
		path += n + (path[n] == '.');
		memcpy(doc, cur, len);
		memset(doc + len, ' ', TL_JSON_PADDING);
		const struct tl_jkey_spec spec = { seg, 0, 0, NULL };

		cr_assert(tl_jkeys_init(&ks, &spec, 1) == 0);
		if (n && strspn(seg, "0123456789") == n && cur[0] == '[') {
			p.want = strtol(seg, NULL, 10);
			(void)tl_json_visit(js, doc, len, &ks, vals, th_on_elem, &p, &e);
		} else if (cur[0] == '{') {
			(void)tl_json_visit(js, doc, len, &ks, vals, th_on_member, &p, &e);
		}
		free(doc);
		free(cur);
		cur = p.out;
		if (p.want >= 0 && cur && cur[0] == '"') { /* a string element: unescape it */
			char *wrap = malloc(strlen(cur) + 8);

			cr_assert(wrap != NULL);
			(void)sprintf(wrap, "{\"v\":%s}", cur);
			free(cur);
			cur = th_jget(js, wrap, "v");
			free(wrap);
		}
	}
	return cur;
}

/* The value at @path of @body is @want (as th_jget() gives it). */
static inline void th_expect(struct tl_json *js, const char *body, const char *path,
			     const char *want)
{
	char *got = th_jget(js, body, path);

	cr_assert(got != NULL, "%s: absent in %s", path, body);
	cr_assert(eq(str, got, (char *)want), "%s", path);
	free(got);
}

/* @body has no value at @path. */
static inline void th_expect_absent(struct tl_json *js, const char *body, const char *path)
{
	char *got = th_jget(js, body, path);

	cr_assert(got == NULL, "%s: present (%s)", path, got ? got : "");
}

#endif /* TL_TESTS_JSON_GET_H */
