/*
 * tripline/buf.h - a growable text buffer and the JSON text helpers every output uses
 * (stats, dead-letter lines, trigger events). Appends never fail silently: a buffer that
 * cannot grow remembers it, and tl_buf_ok() tells.
 */
#ifndef TL_BUF_H
#define TL_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

struct tl_buf {
	char *p;
	size_t n, cap;
	bool oom;
};

void tl_buf_fini(struct tl_buf *b);
/** tl_buf_reset() - empty @b, keeping its storage. */
static inline void tl_buf_reset(struct tl_buf *b)
{
	b->n = 0;
	b->oom = false;
}
static inline bool tl_buf_ok(const struct tl_buf *b)
{
	return !b->oom;
}
void tl_buf_put(struct tl_buf *b, const void *s, size_t n);
void tl_buf_puts(struct tl_buf *b, const char *s);
void tl_buf_printf(struct tl_buf *b, const char *fmt, ...) TL_PRINTF(2, 3);
/** tl_buf_json_str() - append @n bytes as a quoted JSON string (control characters escaped;
 * bytes that are not UTF-8 become U+FFFD). */
void tl_buf_json_str(struct tl_buf *b, const char *s, size_t n);
/** tl_buf_json_num() - append a finite double with up to 6 decimals, trimmed; non-finite as 0. */
void tl_buf_json_num(struct tl_buf *b, double v);
/** tl_buf_base64() - append @n bytes in base64 (no quotes). */
void tl_buf_base64(struct tl_buf *b, const void *s, size_t n);

/** tl_utf8_valid() - whether @n bytes at @s are well-formed UTF-8. */
bool tl_utf8_valid(const char *s, size_t n);

#endif /* TL_BUF_H */
