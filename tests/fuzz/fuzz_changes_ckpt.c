/*
 * tests/fuzz/fuzz_changes_ckpt.c - fuzz tl_changes_load() (detect/changes.c): a checkpoint is
 * read back after a restart, and storage can hand back anything. The bytes are loaded as they
 * are, and again with the header's length and checksum made to fit, so that mutations reach
 * the state behind the checksum. Invariants: what loads saves to a blob that loads again and
 * saves to the same bytes; it loads into a tracker with other options too; and a loaded
 * tracker takes events, triggers and annotations without fault.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/buf.h>
#include <tripline/changes.h>
#include <tripline/decode.h>
#include <tripline/hash.h>
#include <tripline/symtab.h>
#include <tripline/time.h>
#include <tripline/trigger.h>

#include "fuzz.h"

/* The names and times of the seeds in corpus/changes_ckpt/ */
#define T0  (INT64_C(1773039600) * TL_NS_PER_S)
#define RES "AOAI-FABRIKAM-WEU"
#define DEP "support-gpt4o"

struct proc {
	struct tl_symtab *syms;
	struct tl_changes *c;
};

static int proc_load(struct proc *p, const struct tl_changes_opts *o, const void *b, size_t n)
{
	char err[200];

	p->syms = tl_symtab_new(1u << 16);
	p->c = p->syms ? tl_changes_new(o, p->syms) : NULL;
	if (!p->c)
		return -1;
	return tl_changes_load(p->c, p->syms, b, n, err, sizeof(err));
}

static void proc_fini(struct proc *p)
{
	tl_changes_free(p->c);
	tl_symtab_free(p->syms);
}

static uint32_t name(struct proc *p, const char *s)
{
	uint32_t v = 0;

	return tl_symtab_intern(p->syms, s, strlen(s), &v) == 0 ? v : 0;
}

/* Half an hour of a new version, a deployment write and incidents on the seeds' series. */
static void run(struct proc *p)
{
	static const char *const deps[] = { DEP, TL_ACCOUNT_DEPLOYMENT };
	const uint32_t res = name(p, RES), vb = name(p, "2024-08-06"), vc = name(p, "2024-11-20");
	struct tl_buf b = { 0 };
	struct tl_annotation a;

	for (size_t d = 0; d < 2; d++) {
		const uint64_t key = tl_series_key(tl_fold_hash(RES, strlen(RES)),
						   tl_fold_hash(deps[d], strlen(deps[d])));
		const int64_t from = T0 + 3 * TL_NS_PER_HOUR;

		for (int i = 0; i < 180; i++) {
			const int64_t t = from + i * 10 * TL_NS_PER_S;
			struct tl_event ev = { .time_ns = t,
					       .series = key,
					       .resource = res,
					       .model_version = i % 7 ? vc : vb,
					       .kind = TL_EV_REQUEST };

			tl_changes_event(p->c, &ev);
			if (i % 60 == 30) {
				ev.kind = TL_EV_CHANGE;
				ev.u.change.op = (uint8_t)(1 + i % 4);
				ev.u.change.phase = TL_PHASE_SUCCESS;
				tl_changes_event(p->c, &ev);
			}
			if (i % 45 != 44)
				continue;
			struct tl_trigger tr = { .at = t,
						 .fired_at = t - (i % 2) * TL_NS_PER_MIN,
						 .window_start = t - 5 * TL_NS_PER_MIN,
						 .resolved_at = t,
						 .incident = (uint64_t)(i / 90),
						 .series = key,
						 .resource = res,
						 .type = (uint8_t)(TL_TRIGGER_FIRE + (i / 45) % 3),
						 .rule = (uint8_t)(1 + i % 5),
						 .severity = 2,
						 .action = TL_ACTION_INVESTIGATE,
						 .fallback = "" };

			tl_changes_trigger(p->c, &tr);
			tl_changes_annotate(p->c, &tr, &a);
			tl_buf_reset(&b);
			tl_annotation_json(&a, p->syms, &b);
		}
	}
	tl_buf_fini(&b);
}

/* @n bytes at @data loaded: the invariants above. */
static void check_loaded(const uint8_t *data, size_t n)
{
	const struct tl_changes_opts other = { .lateness_ns = 10 * TL_NS_PER_MIN,
					       .max_per_series = 3,
					       .max_series = 2 };
	struct tl_buf b1 = { 0 }, b2 = { 0 };
	struct proc a, again, narrow;

	FUZZ_CHECK(proc_load(&a, NULL, data, n) == 0);
	if (tl_changes_save(a.c, &b1) == 0) {
		FUZZ_CHECK(proc_load(&again, NULL, b1.p, b1.n) == 0);
		FUZZ_CHECK(tl_changes_save(again.c, &b2) == 0);
		FUZZ_CHECK(b1.n == b2.n && memcmp(b1.p, b2.p, b1.n) == 0);
		proc_fini(&again);
	}
	run(&a);
	FUZZ_CHECK(proc_load(&narrow, &other, data, n) == 0);
	run(&narrow);
	proc_fini(&narrow);
	proc_fini(&a);
	tl_buf_fini(&b1);
	tl_buf_fini(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc p;
	uint8_t *fixed;
	int r;

	if (size > (1u << 20))
		return 0;
	r = proc_load(&p, NULL, data, size);
	proc_fini(&p);
	if (r == 0)
		check_loaded(data, size);
	if (size < 32 || !(fixed = malloc(size)))
		return 0;
	memcpy(fixed, data, size);
	const uint64_t len = size - 32, sum = tl_hash64(fixed + 32, len, TL_HASH_SEED);

	for (int i = 0; i < 8; i++) {
		fixed[16 + i] = (uint8_t)(len >> (8 * i));
		fixed[24 + i] = (uint8_t)(sum >> (8 * i));
	}
	r = proc_load(&p, NULL, fixed, size);
	proc_fini(&p);
	if (r == 0)
		check_loaded(fixed, size);
	free(fixed);
	return 0;
}
