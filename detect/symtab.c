/*
 * detect/symtab.c - interned names.
 *
 * Symbols live in fixed chunks of TL_SYM_CHUNK entries that are never moved or freed before
 * the table, and their text lives in append-only arena blocks, so a symbol's text may be read
 * without a lock by any thread that learned the symbol through a synchronizing path (a ring,
 * a mutex). The lookup index (open addressing on the hash of the bytes) is guarded by a
 * mutex: interning happens per record, but decoders keep their own cache in front of it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/hash.h>
#include <tripline/symtab.h>

#define TL_SYM_CHUNK_BITS 12
#define TL_SYM_CHUNK      (1u << TL_SYM_CHUNK_BITS)
#define TL_SYM_MAX_LEN    4096
#define TL_ARENA_BLOCK    (64u * 1024)

struct sym {
	const char *text;
	uint32_t len;
	uint64_t hash; /* tl_hash64 of the bytes */
	uint64_t fold; /* tl_fold_hash of the bytes */
};

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	char data[];
};

struct tl_symtab {
	pthread_mutex_t lock;
	uint32_t max;   /* cap on symbols */
	uint32_t count; /* symbols in use, symbol 0 included */
	uint32_t n_chunks_max;
	struct sym **chunks; /* n_chunks_max pointers, filled on demand */
	uint32_t *index;     /* open addressing: symbol or 0 (empty) */
	uint32_t index_mask;
	struct arena_block *arena;
};

uint64_t tl_fold_hash(const char *s, size_t len)
{
	char buf[256];

	if (len <= sizeof(buf)) {
		for (size_t i = 0; i < len; i++) {
			char c = s[i];

			buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		return tl_hash64(buf, len, TL_HASH_SEED ^ 0xf01d);
	}
	/* Long names: fold in pieces; the result differs from the short path only for
	 * lengths that never take it. */
	uint64_t h = TL_HASH_SEED ^ 0xf01d;

	for (size_t off = 0; off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		for (size_t i = 0; i < n; i++) {
			char c = s[off + i];

			buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		h = tl_hash_combine(h, tl_hash64(buf, n, TL_HASH_SEED ^ 0xf01d));
	}
	return h;
}

static struct sym *sym_at(const struct tl_symtab *st, uint32_t id)
{
	return &st->chunks[id >> TL_SYM_CHUNK_BITS][id & (TL_SYM_CHUNK - 1)];
}

static char *arena_copy(struct tl_symtab *st, const char *s, size_t len)
{
	struct arena_block *b = st->arena;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > TL_ARENA_BLOCK ? len + 1 : TL_ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = st->arena;
		b->used = 0;
		b->cap = cap;
		st->arena = b;
	}
	char *p = b->data + b->used;

	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

struct tl_symtab *tl_symtab_new(uint32_t max_symbols)
{
	struct tl_symtab *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (max_symbols < 2)
		max_symbols = 2;
	if (max_symbols > UINT32_MAX - TL_SYM_CHUNK)
		max_symbols = UINT32_MAX - TL_SYM_CHUNK;
	st->max = max_symbols;
	st->n_chunks_max = (max_symbols + TL_SYM_CHUNK - 1) / TL_SYM_CHUNK;
	st->chunks = calloc(st->n_chunks_max, sizeof(*st->chunks));
	st->index_mask = 1023;
	st->index = calloc(st->index_mask + 1, sizeof(*st->index));
	if (!st->chunks || !st->index || pthread_mutex_init(&st->lock, NULL) != 0) {
		free(st->chunks);
		free(st->index);
		free(st);
		return NULL;
	}
	st->chunks[0] = calloc(TL_SYM_CHUNK, sizeof(struct sym));
	if (!st->chunks[0]) {
		tl_symtab_free(st);
		return NULL;
	}
	/* symbol 0: the empty string */
	st->chunks[0][0] = (struct sym){ .text = "",
					 .len = 0,
					 .hash = tl_hash64("", 0, TL_HASH_SEED),
					 .fold = tl_fold_hash("", 0) };
	st->count = 1;
	return st;
}

void tl_symtab_free(struct tl_symtab *st)
{
	if (!st)
		return;
	for (uint32_t i = 0; i < st->n_chunks_max; i++)
		free(st->chunks[i]);
	free(st->chunks);
	free(st->index);
	while (st->arena) {
		struct arena_block *next = st->arena->next;

		free(st->arena);
		st->arena = next;
	}
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static int grow_index(struct tl_symtab *st)
{
	uint32_t mask = st->index_mask * 2 + 1;
	uint32_t *index = calloc((size_t)mask + 1, sizeof(*index));

	if (!index)
		return -ENOMEM;
	for (uint32_t id = 1; id < st->count; id++) {
		uint32_t i = (uint32_t)sym_at(st, id)->hash & mask;

		while (index[i])
			i = (i + 1) & mask;
		index[i] = id;
	}
	free(st->index);
	st->index = index;
	st->index_mask = mask;
	return 0;
}

int tl_symtab_intern(struct tl_symtab *st, const char *s, size_t len, uint32_t *ret_sym)
{
	uint64_t h;
	uint32_t i, id;
	int r = 0;

	if (len == 0) {
		*ret_sym = 0;
		return 0;
	}
	if (len > TL_SYM_MAX_LEN)
		return TL_ETOOBIG;
	h = tl_hash64(s, len, TL_HASH_SEED);
	pthread_mutex_lock(&st->lock);
	for (i = (uint32_t)h & st->index_mask; (id = st->index[i]) != 0;
	     i = (i + 1) & st->index_mask) {
		const struct sym *y = sym_at(st, id);

		if (y->hash == h && y->len == len && memcmp(y->text, s, len) == 0)
			goto out_found;
	}
	if (st->count >= st->max) {
		r = TL_EFULL;
		goto out_unlock;
	}
	id = st->count;
	if (!st->chunks[id >> TL_SYM_CHUNK_BITS]) {
		st->chunks[id >> TL_SYM_CHUNK_BITS] = calloc(TL_SYM_CHUNK, sizeof(struct sym));
		if (!st->chunks[id >> TL_SYM_CHUNK_BITS]) {
			r = -ENOMEM;
			goto out_unlock;
		}
	}
	const char *text = arena_copy(st, s, len);

	if (!text) {
		r = -ENOMEM;
		goto out_unlock;
	}
	*sym_at(st, id) = (struct sym){
		.text = text, .len = (uint32_t)len, .hash = h, .fold = tl_fold_hash(s, len)
	};
	st->index[i] = id;
	st->count++;
	/* keep the load factor under 1/2 */
	if ((uint64_t)st->count * 2 > st->index_mask && grow_index(st) < 0) {
		r = -ENOMEM;
		goto out_unlock;
	}
out_found:
	*ret_sym = id;
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return r;
}

const char *tl_symtab_str(const struct tl_symtab *st, uint32_t sym, size_t *ret_len)
{
	/* count only grows, and a caller only asks for symbols it was given */
	if (sym >= st->max || !st->chunks[sym >> TL_SYM_CHUNK_BITS] ||
	    (sym && !sym_at(st, sym)->text)) {
		if (ret_len)
			*ret_len = 0;
		return "";
	}
	const struct sym *y = sym_at(st, sym);

	if (ret_len)
		*ret_len = y->len;
	return y->text;
}

uint64_t tl_symtab_fold_hash(const struct tl_symtab *st, uint32_t sym)
{
	if (sym >= st->max || !st->chunks[sym >> TL_SYM_CHUNK_BITS])
		return tl_fold_hash("", 0);
	return sym_at(st, sym)->fold;
}

uint32_t tl_symtab_count(struct tl_symtab *st)
{
	uint32_t n;

	pthread_mutex_lock(&st->lock);
	n = st->count;
	pthread_mutex_unlock(&st->lock);
	return n;
}
