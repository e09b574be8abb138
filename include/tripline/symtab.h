/*
 * tripline/symtab.h - interned names (resources, deployments, models, versions).
 *
 * Events carry 32-bit symbols instead of strings. Symbol 0 is the empty string. A symbol's
 * text never moves and stays valid until the table is freed, so readers on other threads may
 * keep the pointer. The number of symbols and their total bytes are capped (hostile input
 * cannot grow the table without bound).
 */
#ifndef TL_SYMTAB_H
#define TL_SYMTAB_H
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

struct tl_symtab;

/**
 * tl_symtab_new() - an empty table for at most @max_symbols names.
 * Return: the table, or NULL when out of memory. Thread: any.
 */
struct tl_symtab *tl_symtab_new(uint32_t max_symbols);
/** tl_symtab_free() - free @st; NULL is a no-op. */
void tl_symtab_free(struct tl_symtab *st);

/**
 * tl_symtab_intern() - the symbol of the @len bytes at @s, adding it if new.
 * @ret_sym: the symbol, written on success only.
 * Return: 0, or TL_ETOOBIG for a name over the length cap (4 KiB), TL_EFULL when the
 * table is at its cap, -ENOMEM.
 * Thread: any (a mutex guards inserts; lookups of known names take it too).
 */
TL_MUST_CHECK int tl_symtab_intern(struct tl_symtab *st, const char *s, size_t len,
				   uint32_t *ret_sym);

/**
 * tl_symtab_str() - the text of @sym, NUL-terminated; "" for 0 or an unknown symbol.
 * @ret_len: may be NULL. Thread: any, for symbols the caller has seen returned.
 */
const char *tl_symtab_str(const struct tl_symtab *st, uint32_t sym, size_t *ret_len);

/**
 * tl_symtab_fold_hash() - hash of the ASCII-lowercased text of @sym (case-insensitive key).
 * Thread: as tl_symtab_str().
 */
uint64_t tl_symtab_fold_hash(const struct tl_symtab *st, uint32_t sym);

/** tl_symtab_count() - symbols in the table, the empty one included. */
uint32_t tl_symtab_count(struct tl_symtab *st);

/** tl_fold_hash() - hash of the ASCII-lowercased @len bytes at @s. */
uint64_t tl_fold_hash(const char *s, size_t len);

/**
 * tl_series_key() - the series key of (@resource, @deployment) from their fold hashes.
 * Both compare case-insensitively.
 */
static inline uint64_t tl_series_key(uint64_t resource_fold, uint64_t deployment_fold)
{
	uint64_t h = resource_fold ^ (deployment_fold * UINT64_C(0x9e3779b97f4a7c15));

	h ^= h >> 31;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 29;
	return h ? h : 1;
}

#endif /* TL_SYMTAB_H */
