/*
 * tests/helpers.h - shared by the unit tests: read test data, decode text into events.
 */
#ifndef TL_TESTS_HELPERS_H
#define TL_TESTS_HELPERS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/decode.h>
#include <tripline/symtab.h>

#include "files.h"

#ifndef TL_TEST_DATA
#error "TL_TEST_DATA must name the tests/data directory"
#endif

/* Read tests/data/@name into a buffer with TL_UNIT_PADDING spare bytes; abort on failure. */
static inline char *th_read(const char *name, size_t *ret_len)
{
	char *buf = th_slurp(TL_TEST_DATA, name, TL_UNIT_PADDING + 1, ret_len);

	if (!buf)
		abort();
	return buf;
}

/* What the malformed callback saw. */
struct th_bad {
	size_t n;
	char reason[16][320];
	uint64_t offset[16];
	uint64_t line[16];
	size_t raw_len[16];
};

static inline void th_on_malformed(void *ud, const struct tl_malformed *m)
{
	struct th_bad *b = ud;

	if (b->n < 16) {
		(void)snprintf(b->reason[b->n], sizeof(b->reason[0]), "%s", m->reason);
		b->offset[b->n] = m->offset;
		b->line[b->n] = m->line;
		b->raw_len[b->n] = m->raw_len;
	}
	b->n++;
}

/* A decoder with its symbol table, and what it produced. */
struct th_dec {
	struct tl_symtab *syms;
	struct tl_decoder *dec;
	struct tl_evbuf out;
	struct th_bad bad;
};

static inline void th_dec_init(struct th_dec *t)
{
	int err = 0;

	memset(t, 0, sizeof(*t));
	t->syms = tl_symtab_new(1u << 16);
	t->dec = tl_decoder_new(t->syms, th_on_malformed, &t->bad, &err);
	if (!t->syms || !t->dec)
		abort();
}

static inline void th_dec_fini(struct th_dec *t)
{
	tl_decoder_free(t->dec);
	tl_symtab_free(t->syms);
	tl_evbuf_fini(&t->out);
}

/* Decode @len bytes at @text as one unit (copied to a padded buffer). */
static inline void th_unit(struct th_dec *t, const char *text, size_t len)
{
	char *buf = calloc(1, len + TL_UNIT_PADDING);
	struct tl_unit u = { .data = buf, .len = len, .line = 1 };

	if (!buf)
		abort();
	memcpy(buf, text, len);
	if (tl_decoder_unit(t->dec, &u, &t->out) != 0)
		abort();
	free(buf);
}

static inline void th_str(struct th_dec *t, const char *text)
{
	th_unit(t, text, strlen(text));
}

/* Decode each line of @buf as a unit, keeping buffers alive (events point into them). */
static inline void th_lines(struct th_dec *t, const char *buf, size_t len)
{
	uint64_t line = 1;

	for (size_t p = 0; p < len;) {
		const char *nl = memchr(buf + p, '\n', len - p);
		size_t e = nl ? (size_t)(nl - buf) : len;
		struct tl_unit u = { .data = buf + p, .len = e - p, .offset = p, .line = line++ };

		if (tl_decoder_unit(t->dec, &u, &t->out) != 0)
			abort();
		p = e + 1;
	}
}

static inline const char *th_sym(const struct th_dec *t, uint32_t sym)
{
	return tl_symtab_str(t->syms, sym, NULL);
}

#endif /* TL_TESTS_HELPERS_H */
