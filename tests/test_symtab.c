/*
 * tests/test_symtab.c - interned names.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

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
