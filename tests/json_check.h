/*
 * tests/json_check.h - a strict RFC 8259 recognizer for tests and fuzz targets: does a
 * buffer hold exactly one JSON value (whitespace around it allowed), with well-formed UTF-8
 * and no raw control characters in strings? It only answers yes or no; reading values is
 * the tree's parser's job (ingest/json.h), whose walk skips the content of members it is
 * not asked for and so cannot serve as the oracle for "this output is valid JSON".
 */
#ifndef TL_TESTS_JSON_CHECK_H
#define TL_TESTS_JSON_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct jc {
	const unsigned char *p, *end;
	int depth;
};

static bool jc_value(struct jc *c);

static void jc_ws(struct jc *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool jc_lit(struct jc *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool jc_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* One UTF-8 sequence of 2 to 4 bytes at c->p (the lead byte >= 0x80). */
static bool jc_utf8(struct jc *c)
{
	unsigned ch = c->p[0], cp, min;
	size_t len;

	if (ch >= 0xc2 && ch <= 0xdf)
		len = 2, min = 0x80;
	else if (ch >= 0xe0 && ch <= 0xef)
		len = 3, min = 0x800;
	else if (ch >= 0xf0 && ch <= 0xf4)
		len = 4, min = 0x10000;
	else
		return false;
	if ((size_t)(c->end - c->p) < len)
		return false;
	cp = ch & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((c->p[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (c->p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	c->p += len;
	return true;
}

static bool jc_string(struct jc *c)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = *c->p;

		if (ch == '"') {
			c->p++;
			return true;
		}
		if (ch < 0x20)
			return false;
		if (ch == '\\') {
			if (c->end - c->p < 2)
				return false;
			ch = c->p[1];
			if (ch == 'u') {
				if (c->end - c->p < 6 || !jc_hex(c->p[2]) || !jc_hex(c->p[3]) ||
				    !jc_hex(c->p[4]) || !jc_hex(c->p[5]))
					return false;
				c->p += 6;
			} else if (ch && strchr("\"\\/bfnrt", ch)) {
				c->p += 2;
			} else {
				return false;
			}
		} else if (ch >= 0x80) {
			if (!jc_utf8(c))
				return false;
		} else {
			c->p++;
		}
	}
	return false;
}

static bool jc_digits(struct jc *c)
{
	const unsigned char *s = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static bool jc_number(struct jc *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!jc_digits(c))
		return false;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!jc_digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!jc_digits(c))
			return false;
	}
	return true;
}

static bool jc_container(struct jc *c, unsigned char close, bool object)
{
	if (++c->depth > 256)
		return false;
	c->p++;
	jc_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		c->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			jc_ws(c);
			if (!jc_string(c))
				return false;
			jc_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return false;
			c->p++;
		}
		if (!jc_value(c))
			return false;
		jc_ws(c);
		if (c->p >= c->end)
			return false;
		if (*c->p == close) {
			c->p++;
			c->depth--;
			return true;
		}
		if (*c->p != ',')
			return false;
		c->p++;
	}
}

static bool jc_value(struct jc *c)
{
	jc_ws(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
		return jc_container(c, '}', true);
	case '[':
		return jc_container(c, ']', false);
	case '"':
		return jc_string(c);
	case 't':
		return jc_lit(c, "true");
	case 'f':
		return jc_lit(c, "false");
	case 'n':
		return jc_lit(c, "null");
	default:
		return jc_number(c);
	}
}

/* Whether @n bytes at @s are exactly one JSON value. */
static inline bool json_valid(const char *s, size_t n)
{
	struct jc c = { (const unsigned char *)s, (const unsigned char *)s + n, 0 };

	if (!jc_value(&c))
		return false;
	jc_ws(&c);
	return c.p == c.end;
}

#endif /* TL_TESTS_JSON_CHECK_H */
