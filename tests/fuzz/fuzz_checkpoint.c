/*
 * tests/fuzz/fuzz_checkpoint.c - fuzz tl_engine_load() (detect/engine.c): a checkpoint is read
 * from a file at start, and a file can be damaged. The input is loaded twice into a fresh
 * engine of the geometry the corpus was saved with (tests/fuzz/corpus/checkpoint/): as it is,
 * and with its length and checksum written again, so that mutations reach the reader past the
 * checksum. Invariants: what loads runs (watermarks for an hour past the saved one, events
 * before and after); what loads saves again to a blob that loads, and saves to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/engine.h>
#include <tripline/hash.h>
#include <tripline/symtab.h>

#include "fuzz.h"

#define NS_MIN (INT64_C(60) * 1000000000)

/* The settings the corpus was saved with: tests/test_checkpoint.c, small_opts(). */
static const struct tl_engine_opts opts = { .horizon_ns = 60 * NS_MIN, .dedup.max_entries = 64 };

/*
 * Events around the saved watermark, and watermarks for an hour past it. Before any watermark
 * only events: the first one would close every bucket from the first with data, which a
 * mutated first bucket puts at any time since 1970. Times are from 1970 on, as events have.
 */
static void run(struct tl_engine *e, struct tl_symtab *syms)
{
	const int64_t saved = tl_engine_watermark(e);
	const int64_t w = saved == INT64_MIN ? INT64_C(1762214400) * 1000000000 : saved;
	struct tl_event ev = { .fingerprint = 1,
			       .kind = TL_EV_REQUEST,
			       .status = 503,
			       .flags = TL_EVF_LATENCY | TL_EVF_TOKENS | TL_EVF_REFUSAL_CHECKED |
					TL_EVF_GUARDRAIL_CHECKED };
	size_t n;

	if (tl_symtab_intern(syms, "AOAI-X", 6, &ev.resource) < 0 ||
	    tl_symtab_intern(syms, "chat", 4, &ev.deployment) < 0)
		return;
	for (int i = 0; i < 360; i++) {
		ev.time_ns = w + (int64_t)(i % 7) * 20000000000LL + (int64_t)i * 10000000000LL;
		ev.series = 42 + (uint64_t)(i % 3);
		ev.fingerprint = (uint64_t)(i % 50) + 1;
		ev.usage_key = ev.fingerprint;
		ev.u.req.latency_ms = (float)(100 + (i * 37) % 5000);
		ev.u.req.tokens_out = (uint32_t)(i * 13);
		tl_engine_push(e, &ev);
		if (saved != INT64_MIN)
			tl_engine_advance(e, w + (int64_t)i * 10000000000LL);
		(void)tl_engine_triggers(e, &n);
		tl_engine_clear_triggers(e);
	}
}

/* Load @n bytes into a fresh engine; what loads saves, loads and saves again the same. */
static void load(const uint8_t *p, size_t n)
{
	struct tl_symtab *syms = tl_symtab_new(256), *syms2 = tl_symtab_new(256);
	struct tl_engine *e = tl_engine_new(&opts, syms), *f = tl_engine_new(&opts, syms2);
	struct tl_buf once = { 0 }, twice = { 0 };
	char err[200];

	if (!e || !f || tl_engine_load(e, p, n, err, sizeof(err)) != 0)
		goto out;
	if (tl_engine_save(e, &once) == 0) {
		FUZZ_CHECK(tl_engine_load(f, once.p, once.n, err, sizeof(err)) == 0);
		FUZZ_CHECK(tl_engine_save(f, &twice) == 0);
		FUZZ_CHECK(twice.n == once.n && memcmp(twice.p, once.p, once.n) == 0);
	}
	run(e, syms);
out:
	tl_buf_fini(&once);
	tl_buf_fini(&twice);
	tl_engine_free(e);
	tl_engine_free(f);
	tl_symtab_free(syms);
	tl_symtab_free(syms2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size > (1u << 20))
		return 0;
	load(data, size);
	if (size < 32 || !(copy = malloc(size)))
		return 0;
	/* the header's body length and checksum (engine.c, "The blob of tl_engine_save()") */
	const uint64_t body = size - 32, sum = tl_hash64(data + 32, body, TL_HASH_SEED);

	memcpy(copy, data, size);
	for (int i = 0; i < 8; i++) {
		copy[16 + i] = (uint8_t)(body >> (8 * i));
		copy[24 + i] = (uint8_t)(sum >> (8 * i));
	}
	load(copy, size);
	free(copy);
	return 0;
}
