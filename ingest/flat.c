/*
 * ingest/flat.c - the fast path for records that are flat JSON objects, alone or in a
 * {"records":[...]} envelope (see tl_flat_visit() in ingest_int.h).
 *
 * A RequestResponse record is an object of a dozen strings and numbers. simdjson indexes every
 * structural character of a document (stage 1), then walks them and copies each string it
 * returns. For this shape less does: an index of the quotes that open and close strings (64
 * bytes a step, escapes resolved with bit masks, so the `properties` string full of \" is
 * crossed in one jump), then a walk from quote to quote that leaves strings where they are.
 *
 * Like embedded.c, the recognizer is narrow on purpose. The index declines a document with
 * any byte above 0x7f, a control character inside a string or an escape other than the simple
 * ones; the walk declines at the first thing outside its grammar (a nested value, a number
 * that is not a short integer, an escape in a key). Nothing is delivered before the whole
 * document has been read (an envelope's fields are kept until then), so a declined document
 * goes to simdjson whole: the records and errors a document gives are simdjson's, whoever
 * reads them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <tripline/jsonbits.h>

#include "ingest_int.h"

/* Documents indexed at most (larger ones go to simdjson); the index takes 1/4 of this. */
#define FLAT_MAX_DOC (8u << 20)
/* Fields (of known keys) and records an envelope may keep before delivering them: a 1 MiB
 * Event Hubs message of RequestResponse records has ~10 k and ~1,200; an envelope of many
 * tiny records goes to simdjson instead of holding ~40 bytes for each. */
#define FLAT_MAX_KEPT (1u << 16)
/*
 * After documents it declined, the next 2^k - 1 go straight to simdjson, k the declines in a
 * row up to this: a stream of nested records (APIM gateway logs) pays for an index once in 64
 * documents, while a stream that mixes them with flat ones keeps trying.
 */
#define FLAT_BACKOFF_MAX 6

/* A field of a record in an envelope, kept until the whole envelope has been read. */
struct flat_field {
	uint16_t slot;
	struct tl_jval v;
};

/* A record of an envelope: its text and its fields[first .. first + n). */
struct flat_rec {
	const char *raw;
	size_t raw_len;
	size_t first, n;
};

struct tl_flat {
	size_t cap_words;
	unsigned backoff;    /* documents left to send straight to simdjson */
	unsigned misses;     /* documents declined in a row */
	uint64_t *quote;     /* quotes that are not escaped: strings open and close */
	uint64_t *backslash; /* every backslash */
	size_t n_words;
	/* an envelope's records, delivered only once all of it has been read */
	struct flat_field *fields;
	size_t n_fields, cap_fields;
	struct flat_rec *recs;
	size_t n_recs, cap_recs;
};

struct tl_flat *tl_flat_new(size_t max_doc)
{
	struct tl_flat *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return NULL;
	if (max_doc > FLAT_MAX_DOC)
		max_doc = FLAT_MAX_DOC;
	fx->cap_words = max_doc / 64 + 1;
	fx->quote = malloc(fx->cap_words * sizeof(*fx->quote));
	fx->backslash = malloc(fx->cap_words * sizeof(*fx->backslash));
	if (!fx->quote || !fx->backslash) {
		tl_flat_free(fx);
		return NULL;
	}
	return fx;
}

void tl_flat_free(struct tl_flat *fx)
{
	if (!fx)
		return;
	free(fx->quote);
	free(fx->backslash);
	free(fx->fields);
	free(fx->recs);
	free(fx);
}

/*
 * Whitespace between tokens. Only the walk calls it, on a document the index has taken: there
 * every byte up to 0x20 outside strings is a space, \n, \r or \t.
 */
static inline const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (unsigned char)*p <= ' ')
		p++;
	return p;
}

/* Whether @c may follow a backslash in a string this path accepts (all but \u). */
static inline bool simple_escape(char c)
{
	return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
	       c == 't';
}

#if defined(__AVX2__)
/* The 64 byte flags of two 32-byte compare results, one bit each. */
static inline uint64_t bits64(__m256i lo, __m256i hi)
{
	return (uint64_t)(uint32_t)_mm256_movemask_epi8(lo) |
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(hi) << 32;
}
#endif

/*
 * Of the 64 bytes at @p, bit i set where byte i is a quote (*@q), a backslash (*@b), below
 * 0x20 or above 0x7f (*@c).
 */
static inline void masks64(const char *p, uint64_t *q, uint64_t *b, uint64_t *c)
{
#if defined(__AVX2__)
	const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\');
	const __m256i space = _mm256_set1_epi8(0x20);
	const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)p);
	const __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));

	*q = bits64(_mm256_cmpeq_epi8(lo, quote), _mm256_cmpeq_epi8(hi, quote));
	*b = bits64(_mm256_cmpeq_epi8(lo, bslash), _mm256_cmpeq_epi8(hi, bslash));
	/* signed compare: bytes 0x80 to 0xff are negative, so below 0x20 too */
	*c = bits64(_mm256_cmpgt_epi8(space, lo), _mm256_cmpgt_epi8(space, hi));
#elif defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	*q = *b = *c = 0;
	for (int i = 0; i < 4; i++) {
		const __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));

		*q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, quote)) << (16 * i);
		*b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(w, bslash)) << (16 * i);
		/* signed compare: bytes 0x80 to 0xff are negative, so below 0x20 too */
		*c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(w, space)) << (16 * i);
	}
#else
	*q = *b = *c = 0;
	for (int i = 0; i < 64; i++) {
		const unsigned char x = (unsigned char)p[i];

		*q |= (uint64_t)(x == '"') << i;
		*b |= (uint64_t)(x == '\\') << i;
		*c |= (uint64_t)(x < 0x20 || x > 0x7f) << i;
	}
#endif
}

/*
 * Index @len bytes at @doc (63 readable bytes after them). False when the document holds a
 * byte this path declines: any byte above 0x7f, a control character inside a string or
 * outside one but whitespace, an escape other than the simple ones.
 */
static bool flat_index(struct tl_flat *fx, const char *doc, size_t len)
{
	uint64_t carry = 0;     /* the next word's first byte is escaped */
	uint64_t in_string = 0; /* all ones when the next word starts inside a string */

	fx->n_words = (len + 63) / 64;
	for (size_t w = 0; w < fx->n_words; w++) {
		const char *p = doc + 64 * w;
		const uint64_t in =
		    len - 64 * w >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << (len - 64 * w)) - 1;
		uint64_t q, b, c, esc;

		masks64(p, &q, &b, &c);
		q &= in;
		b &= in;
		esc = b | carry ? tl_json_escaped(b, &carry) : 0; /* most words have none */
		/* every escape is a simple one: \" needs no look */
		for (uint64_t r = esc & ~q & in; r; r &= r - 1)
			if (!simple_escape(p[__builtin_ctzll(r)]))
				return false;
		q &= ~esc;
		if ((c &= in)) {
			/* whitespace between tokens; nothing else below 0x20, nothing above 0x7f */
			const uint64_t strings = tl_prefix_xor(q) ^ in_string;

			for (uint64_t r = c; r; r &= r - 1) {
				const int i = __builtin_ctzll(r);

				if ((strings >> i) & 1 ||
				    (p[i] != '\n' && p[i] != '\r' && p[i] != '\t'))
					return false;
			}
		}
		in_string ^= (uint64_t)0 - (uint64_t)(__builtin_popcountll(q) & 1);
		fx->quote[w] = q;
		fx->backslash[w] = b;
	}
	return true;
}

/*
 * The walk's place in the index. It meets every unescaped quote of a document it reads, in
 * order (each opens or closes a string it steps over), so quotes are taken from the index one
 * after the other; backslashes only matter to say whether a string holds one.
 */
struct cursor {
	size_t w;      /* the word of quote[] being taken */
	uint64_t left; /* its quotes not yet taken */
	size_t bs;     /* the first backslash at or after the place last asked about */
	/* the index's (copied here, so the walk keeps them in registers) */
	const uint64_t *quote, *backslash;
	size_t n_words;
};

/* The first set bit of @m (@n words) at or after bit @from, or SIZE_MAX. */
static inline size_t next_bit(const uint64_t *m, size_t n, size_t from)
{
	size_t w = from / 64;

	if (w >= n)
		return SIZE_MAX;
	uint64_t x = m[w] & (~UINT64_C(0) << (from % 64));

	while (!x) {
		if (++w >= n)
			return SIZE_MAX;
		x = m[w];
	}
	return 64 * w + (size_t)__builtin_ctzll(x);
}

static inline void cursor_init(struct cursor *c, const struct tl_flat *fx)
{
	c->w = 0;
	c->left = fx->n_words ? fx->quote[0] : 0;
	c->bs = next_bit(fx->backslash, fx->n_words, 0);
	c->quote = fx->quote;
	c->backslash = fx->backslash;
	c->n_words = fx->n_words;
}

/* The next unescaped quote of the document, or SIZE_MAX. */
static inline size_t take_quote(struct cursor *c)
{
	while (!c->left) {
		if (++c->w >= c->n_words)
			return SIZE_MAX;
		c->left = c->quote[c->w];
	}
	const size_t at = 64 * c->w + (size_t)__builtin_ctzll(c->left);

	c->left &= c->left - 1;
	return at;
}

/* Whether bytes [@a, @b) hold a backslash; @a never goes back from one call to the next. */
static inline bool any_backslash(struct cursor *c, size_t a, size_t b)
{
	if (c->bs < a)
		c->bs = next_bit(c->backslash, c->n_words, a);
	return c->bs < b;
}

/*
 * Room for one more element of *@a (@n of @cap, @size bytes each); false when out of memory
 * or past FLAT_MAX_KEPT.
 */
static bool grow(void **a, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return true;
	if (n >= FLAT_MAX_KEPT)
		return false;
	const size_t c = *cap ? 2 * *cap : 256;
	void *b = realloc(*a, c * size);

	if (!b)
		return false;
	*a = b;
	*cap = c;
	return true;
}

/*
 * The flat object at @p (its '{'), its fields into the slots of @ks: the byte after its '}',
 * or NULL where it leaves the grammar (or memory runs out). @top: the document itself, whose
 * key "records" declines (an envelope, perhaps); its fields go to @vals. Else a record of an
 * envelope, whose fields are kept in @fx->fields.
 */
static const char *flat_object(struct tl_flat *fx, struct cursor *cur_io, const char *doc,
			       const char *p, const char *e, const struct tl_jkeys *ks,
			       struct tl_jval *vals, bool top)
{
	/* a copy the compiler keeps in registers: the stores below may alias *cur_io */
	struct cursor c = *cur_io, *cur = &c;

	if (p == e || *p++ != '{')
		return NULL;
	if (top)
		tl_jkeys_clear(ks, vals);
	p = skip_ws(p, e);
	if (p < e && *p == '}') {
		*cur_io = c;
		return p + 1;
	}
	for (;;) {
		if (p == e || *p != '"')
			return NULL;
		/* the quote at @p is the next one: the walk has seen every byte since the last */
		if (take_quote(cur) != (size_t)(p - doc))
			return NULL;
		const size_t ko = (size_t)(p - doc) + 1, kc = take_quote(cur);

		if (kc == SIZE_MAX || any_backslash(cur, ko, kc))
			return NULL; /* simdjson's walk skips a key with an escape: so would we */
		const char *k = doc + ko, *ke = doc + kc;
		const size_t klen = kc - ko;

		if (top && klen == 7 && memcmp(k, "records", 7) == 0)
			return NULL;
		p = skip_ws(ke + 1, e);
		if (p == e || *p++ != ':')
			return NULL;
		p = skip_ws(p, e);
		if (p == e)
			return NULL;

		const struct tl_jkey *key = tl_jkeys_find(ks, k, klen);
		/* written in place, a field at a time (see embedded.c: store forwarding) */
		struct tl_jval sink, *v = &sink;

		if (key && top) {
			v = &vals[key->slot];
		} else if (key) {
			if (!grow((void **)&fx->fields, fx->n_fields, &fx->cap_fields,
				  sizeof(*fx->fields)))
				return NULL;
			fx->fields[fx->n_fields].slot = key->slot;
			v = &fx->fields[fx->n_fields++].v;
		}

		v->escaped = false;
		if (*p == '"') {
			if (take_quote(cur) != (size_t)(p - doc))
				return NULL;
			const size_t so = (size_t)(p - doc) + 1, sc = take_quote(cur);

			if (sc == SIZE_MAX)
				return NULL;
			const bool esc = any_backslash(cur, so, sc);

			/* a slot that is not raw wants the text unescaped: simdjson's job */
			if (esc && key && !(key->flags & TL_JK_RAWSTR))
				return NULL;
			v->type = TL_JT_STRING;
			v->escaped = esc;
			v->s = doc + so;
			v->n = sc - so;
			p = doc + sc + 1;
		} else if (!(p = tl_flat_scalar(p, e, v))) {
			return NULL; /* nested, a number left to simdjson, or not JSON */
		}
		p = skip_ws(p, e);
		if (p == e)
			return NULL;
		if (*p == '}') {
			*cur_io = c;
			return p + 1;
		}
		if (*p++ != ',')
			return NULL;
		p = skip_ws(p, e);
	}
}

/* Whether the 9 bytes at @p are "records" with its quotes (@p has 9 readable bytes). */
static inline bool is_records_key(const char *p)
{
	return memcmp(p, "\"records\"", 9) == 0;
}

bool tl_flat_visit(struct tl_flat *fx, const char *doc, size_t len, const struct tl_jkeys *ks,
		   struct tl_jval *vals, tl_json_record_fn fn, void *ud, int *ret_stop)
{
	const char *p = doc, *e = doc + len;

	*ret_stop = 0;
	if (fx->backoff) {
		fx->backoff--;
		return false;
	}
	struct cursor cur;

	if (len / 64 + 1 > fx->cap_words || !flat_index(fx, doc, len))
		goto out_decline;
	cursor_init(&cur, fx);
	p = skip_ws(p, e);
	const char *o = p; /* the document's object */

	if (p == e || *p++ != '{')
		goto out_decline;
	p = skip_ws(p, e);
	if (e - p < 9 || !is_records_key(p)) {
		if (!(p = flat_object(fx, &cur, doc, o, e, ks, vals, true)) || skip_ws(p, e) != e)
			goto out_decline; /* trailing content: simdjson reports it */

		/* as simdjson's walk gives it: from the document's start */
		const struct tl_jrec rec = { vals, doc, (size_t)(p - doc), false };

		fx->misses = 0;
		*ret_stop = fn(ud, &rec);
		return true;
	}
	/* {"records":[ records ]}, and nothing else: read to the end before delivering */
	fx->n_fields = fx->n_recs = 0;
	if (take_quote(&cur) != (size_t)(p - doc) || take_quote(&cur) != (size_t)(p - doc) + 8)
		goto out_decline;
	p = skip_ws(p + 9, e);
	if (p == e || *p++ != ':')
		goto out_decline;
	p = skip_ws(p, e);
	if (p == e || *p++ != '[')
		goto out_decline;
	p = skip_ws(p, e);
	if (p < e && *p == ']') {
		p++;
	} else {
		for (;;) {
			const char *r = p;
			const size_t first = fx->n_fields;

			if (!(p = flat_object(fx, &cur, doc, p, e, ks, vals, false)) ||
			    !grow((void **)&fx->recs, fx->n_recs, &fx->cap_recs, sizeof(*fx->recs)))
				goto out_decline;
			fx->recs[fx->n_recs++] = (struct flat_rec){
				.raw = r,
				.raw_len = (size_t)(p - r),
				.first = first,
				.n = fx->n_fields - first,
			};
			p = skip_ws(p, e);
			if (p < e && *p == ']') {
				p++;
				break;
			}
			if (p == e || *p++ != ',')
				goto out_decline;
			p = skip_ws(p, e);
		}
	}
	p = skip_ws(p, e);
	if (p == e || *p++ != '}' || skip_ws(p, e) != e)
		goto out_decline;
	for (size_t i = 0; i < fx->n_recs; i++) {
		const struct flat_rec *r = &fx->recs[i];

		tl_jkeys_clear(ks, vals);
		for (size_t f = r->first; f < r->first + r->n; f++)
			vals[fx->fields[f].slot] = fx->fields[f].v;

		const struct tl_jrec rec = { vals, r->raw, r->raw_len, false };

		if ((*ret_stop = fn(ud, &rec)))
			break;
	}
	fx->misses = 0;
	return true;

out_decline:
	if (fx->misses < FLAT_BACKOFF_MAX)
		fx->misses++;
	fx->backoff = (1u << fx->misses) - 1;
	return false;
}
