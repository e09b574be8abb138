/*
 * tests/test_symtab.c - interned names.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/hash.h>
#include <tripline/symtab.h>

Test(symtab, same_text_same_symbol_and_text_is_kept)
{
	struct tl_symtab *st = tl_symtab_new(1000);
	uint32_t a, b, c;

	cr_assert(eq(int, tl_symtab_intern(st, "chat-gpt4o", 10, &a), 0));
	cr_assert(eq(int, tl_symtab_intern(st, "chat-gpt4o-mini", 15, &b), 0));
	cr_assert(eq(int, tl_symtab_intern(st, "chat-gpt4o", 10, &c), 0));
	cr_assert(eq(u32, a, c));
	cr_assert(ne(u32, a, b));
	cr_assert(eq(str, tl_symtab_str(st, a, NULL), "chat-gpt4o"));
	cr_assert(eq(str, tl_symtab_str(st, 0, NULL), ""));
	tl_symtab_free(st);
}

Test(symtab, fold_hash_ignores_ascii_case)
{
	struct tl_symtab *st = tl_symtab_new(1000);
	uint32_t a, b;

	cr_assert(eq(int, tl_symtab_intern(st, "Chat-GPT4o", 10, &a), 0));
	cr_assert(eq(int, tl_symtab_intern(st, "chat-gpt4o", 10, &b), 0));
	cr_assert(ne(u32, a, b), "symbols keep their spelling");
	cr_assert(eq(u64, tl_symtab_fold_hash(st, a), tl_symtab_fold_hash(st, b)));
	cr_assert(eq(u64, tl_fold_hash("CHAT-GPT4O", 10), tl_symtab_fold_hash(st, a)));
	tl_symtab_free(st);
}

Test(symtab, grows_past_its_first_index_and_stops_at_its_cap)
{
	struct tl_symtab *st = tl_symtab_new(20000);
	char name[32];
	uint32_t sym, first = 0;

	for (int i = 0; i < 19999; i++) {
		int n = snprintf(name, sizeof(name), "dep-%d", i);

		cr_assert(eq(int, tl_symtab_intern(st, name, (size_t)n, &sym), 0), "%d", i);
		if (i == 0)
			first = sym;
	}
	cr_assert(eq(u32, tl_symtab_count(st), 20000));
	cr_assert(eq(int, tl_symtab_intern(st, "one-more", 8, &sym), TL_EFULL));
	cr_assert(eq(int, tl_symtab_intern(st, "dep-0", 5, &sym), 0), "known names still resolve");
	cr_assert(eq(u32, sym, first));
	cr_assert(eq(str, tl_symtab_str(st, 12345, NULL), "dep-12344"));
	tl_symtab_free(st);
}

/*
 * Incident ids, shard choice and checkpoints depend on these values: a faster hash that
 * changed them would change what users see. Golden values of every tail length 0-18 and a
 * long key, as the first version computed them.
 */
Test(symtab, hash_values_never_change)
{
	static const char s[] = "support-gpt4o-mini/AOAI-CONTOSO-EUS2/2024-11-20x";
	static const uint64_t want[] = {
		UINT64_C(0x9ca066f1a4ab2eea), UINT64_C(0xf0a905f2b12a6394),
		UINT64_C(0xd7d6f358a1d790fe), UINT64_C(0xd3311362a6c60ef7),
		UINT64_C(0xd64bdd632dfd061),  UINT64_C(0x5b726b281f167739),
		UINT64_C(0x2dc075a10e3914b8), UINT64_C(0xc3417391d25f9c69),
		UINT64_C(0x803f720d2127613b), UINT64_C(0xd00f4fab72fa3b78),
		UINT64_C(0x849f8655fe7bb41d), UINT64_C(0xee4164f2d390a208),
		UINT64_C(0x2b80f67e58b69761), UINT64_C(0x78e2684430e74e3f),
		UINT64_C(0x4c6b2aa1cb26ea9a), UINT64_C(0x95202a9438d1c0c9),
		UINT64_C(0x8b8752a590b174a1), UINT64_C(0xf3f2c4cbbe945e75),
		UINT64_C(0x679e793a3bcb71ae),
	};

	for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		cr_expect(eq(u64, tl_hash64(s, n, TL_HASH_SEED), want[n]), "length %zu", n);
	cr_expect(eq(u64, tl_hash64(s, 40, TL_HASH_SEED), UINT64_C(0xe9f5050b83d7607a)));
}
