/*
 * tests/fuzz/fuzz_state.c - fuzz tl_state_decode() (store/state.c): a snapshot's replay state
 * is read from a file anyone may hand to `tripline replay`. The input bytes are the binary
 * record (base64-encoded here, so the fuzzer mutates the layout, not the text); the text is
 * decoded too, as is. Invariants: what decodes encodes to text that decodes again; and an engine
 * started from it (tl_engine_seed()) takes events and watermarks without fault, whatever the seed
 * and settings say, as `tripline replay SNAPSHOT` would run it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/engine.h>
#include <tripline/state.h>
#include <tripline/symtab.h>

#include "fuzz.h"

static void run_engine(const struct tl_replay_state *st)
{
	const struct tl_engine_opts eo = { .lateness_ns = st->lateness_ns,
					   .bucket_ns = st->bucket_ns,
					   .horizon_ns = st->horizon_ns,
					   .min_history_ns = st->min_history_ns,
					   .hold_ns = st->hold_ns,
					   .update_every_ns = st->update_every_ns,
					   .prices = st->prices,
					   .n_prices = st->n_prices,
					   .rules = &st->rules };
	struct tl_symtab *syms = tl_symtab_new(64);
	struct tl_engine *e = syms ? tl_engine_new(&eo, syms) : NULL;
	uint32_t res, dep, model;

	if (!e || tl_symtab_intern(syms, st->resource, strlen(st->resource), &res) < 0 ||
	    tl_symtab_intern(syms, st->deployment, strlen(st->deployment), &dep) < 0 ||
	    tl_symtab_intern(syms, "gpt-4o", 6, &model) < 0)
		goto out;
	struct tl_event ev = { .series = 42,
			       .resource = res,
			       .deployment = dep,
			       .model = model,
			       .kind = TL_EV_REQUEST,
			       .status = 200,
			       .flags = TL_EVF_LATENCY | TL_EVF_TOKENS | TL_EVF_REFUSAL_CHECKED };

	if (tl_engine_seed(e, &ev, st->seed, st->from) < 0)
		goto out;
	/* two hours of a request every 7 s, some failing, so every rule is evaluated */
	for (int i = 0; i < 1000; i++) {
		size_t n;

		ev.time_ns = st->from + (int64_t)i * 7 * INT64_C(1000000000);
		ev.status = i % 5 ? 200 : 503;
		ev.u.req.latency_ms = (float)(100 + (i * 37) % 5000);
		ev.u.req.tokens_out = (uint32_t)(i * 13);
		tl_engine_push(e, &ev);
		tl_engine_advance(e, ev.time_ns - st->lateness_ns);
		(void)tl_engine_triggers(e, &n);
		tl_engine_clear_triggers(e);
	}
out:
	tl_engine_free(e);
	tl_symtab_free(syms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tl_buf text = { 0 }, again = { 0 };
	struct tl_replay_state st, back;
	char err[200];

	if (size > (1u << 20))
		return 0;
	tl_buf_base64(&text, data, size);
	if (tl_buf_ok(&text) && tl_state_decode(text.p, text.n, &st, err, sizeof(err)) == 0) {
		tl_state_encode(&st, &again);
		if (tl_buf_ok(&again)) {
			FUZZ_CHECK(tl_state_decode(again.p, again.n, &back, err, sizeof(err)) == 0);
			FUZZ_CHECK(back.from == st.from && back.seed->horizon == st.seed->horizon);
			tl_state_fini(&back);
		}
		run_engine(&st);
		tl_state_fini(&st);
	}
	/* the same bytes as text */
	if (tl_state_decode((const char *)data, size, &st, err, sizeof(err)) == 0)
		tl_state_fini(&st);
	tl_buf_fini(&text);
	tl_buf_fini(&again);
	return 0;
}
