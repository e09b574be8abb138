/*
 * detect/buf.c - growable text buffers and JSON text output (see tripline/buf.h). In detect/,
 * the bottom layer, because tools/ and store/ both write JSON.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/buf.h>

void tl_buf_fini(struct tl_buf *b)
{
	free(b->p);
	*b = (struct tl_buf){ 0 };
}

static bool grow(struct tl_buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->cap - b->n > more)
		return true;
	size_t cap = b->cap ? b->cap : 256;

	while (cap - b->n <= more)
		cap *= 2;
	char *p = realloc(b->p, cap);

	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void tl_buf_put(struct tl_buf *b, const void *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void tl_buf_puts(struct tl_buf *b, const char *s)
{
	tl_buf_put(b, s, strlen(s));
}

void tl_buf_printf(struct tl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at @s (at most @n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	unsigned cp = c & (0x7f >> len);

	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool tl_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);

		if (!k)
			return false;
		i += k;
	}
	return true;
}

void tl_buf_json_str(struct tl_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	if (!grow(b, n + 2))
		return;
	b->p[b->n++] = '"';
	for (size_t i = 0; i < n;) {
		size_t run = i;

		/* copy plain ASCII in one go */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			tl_buf_put(b, s + i, run - i);
			i = run;
			continue;
		}
		unsigned c = p[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			tl_buf_put(b, esc, 2);
			i++;
		} else if (c < 0x20) {
			const char *named = c == '\n'   ? "\\n"
					    : c == '\r' ? "\\r"
					    : c == '\t' ? "\\t"
							: NULL;

			if (named) {
				tl_buf_put(b, named, 2);
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				tl_buf_put(b, esc, 6);
			}
			i++;
		} else {
			size_t k = utf8_seq(p + i, n - i);

			if (k) {
				tl_buf_put(b, s + i, k);
				i += k;
			} else {
				tl_buf_put(b, "\xef\xbf\xbd", 3); /* U+FFFD */
				i++;
			}
		}
	}
	tl_buf_put(b, "\"", 1);
}

void tl_buf_json_num(struct tl_buf *b, double v)
{
	char tmp[64];
	int n;

	if (!isfinite(v))
		v = 0;
	if (fabs(v) >= 1e15) {
		/* past what six decimals say anything about (and %f would not fit tmp) */
		n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	} else if (v == (double)(int64_t)v) {
		n = snprintf(tmp, sizeof(tmp), "%lld.0", (long long)v);
	} else {
		n = snprintf(tmp, sizeof(tmp), "%.6f", v);
		while (n > 2 && tmp[n - 1] == '0' && tmp[n - 2] != '.')
			n--;
	}
	tl_buf_put(b, tmp, (size_t)n);
}

void tl_buf_base64(struct tl_buf *b, const void *s, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = s;
	char out[4];

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[3] = i + 2 < n ? tab[v & 63] : '=';
		tl_buf_put(b, out, 4);
	}
}
