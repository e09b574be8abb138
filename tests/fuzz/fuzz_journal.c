/*
 * tests/fuzz/fuzz_journal.c - fuzz the journal reader, tl_journal_scan() (store/journal.c),
 * which tl_journal_read() and tl_journal_open() run on every segment. The input bytes are one
 * segment file. Invariants: records are handed over in file order, inside the input, never
 * overlapping each other or the reported damage; every byte after the header is either part
 * of a good frame or reported as skipped; good_end is the end of the last good frame; a record
 * is at most TL_JOURNAL_RECORD_MAX bytes; the same input scans the same way twice.
 */
#include <stdint.h>
#include <string.h>

#include <tripline/journal.h>

#include "fuzz.h"

struct walk {
	const uint8_t *buf;
	size_t len;
	uint64_t pos; /* bytes accounted for: frames and damage so far */
	uint64_t n_records, n_damage, skipped;
	int64_t max_time;
};

static int on_record(void *ud, const struct tl_journal_record *rec)
{
	struct walk *w = ud;

	FUZZ_CHECK(rec->offset >= w->pos);
	FUZZ_CHECK(rec->len <= TL_JOURNAL_RECORD_MAX);
	FUZZ_CHECK(rec->offset + TL_JOURNAL_FRAME_LEN + rec->len <= w->len);
	FUZZ_CHECK((const uint8_t *)rec->data == w->buf + rec->offset + TL_JOURNAL_FRAME_LEN);
	/* seals between records are good frames too, so only an upper bound moves */
	w->pos = rec->offset + TL_JOURNAL_FRAME_LEN + rec->len;
	w->n_records++;
	if (rec->time_ns > w->max_time)
		w->max_time = rec->time_ns;
	return 0;
}

static void on_damage(void *ud, const struct tl_journal_damage *d)
{
	struct walk *w = ud;

	FUZZ_CHECK(d->offset >= w->pos || d->offset == 0);
	FUZZ_CHECK(d->offset + d->len <= w->len);
	FUZZ_CHECK(d->len > 0 || d->offset == 0);
	FUZZ_CHECK(d->reason && d->reason[0]);
	/* torn tails run to the end of the input */
	FUZZ_CHECK(!d->at_end || d->offset + d->len == w->len);
	w->pos = d->offset + d->len;
	w->n_damage++;
	w->skipped += d->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct walk w = { data, size, 0, 0, 0, 0, INT64_MIN }, w2 = w;
	struct tl_journal_scan_info info, info2;

	FUZZ_CHECK(tl_journal_scan(data, size, "fuzz", on_record, on_damage, &w, &info) == 0);
	FUZZ_CHECK(info.n_records == w.n_records);
	FUZZ_CHECK(info.max_time_ns == w.max_time);
	FUZZ_CHECK(info.good_end <= size);
	if (!info.header_ok) {
		FUZZ_CHECK(w.n_records == 0 && w.n_damage == 1 && w.skipped == size);
		FUZZ_CHECK(info.good_end == 0);
	} else {
		FUZZ_CHECK(size >= TL_JOURNAL_HEADER_LEN && info.good_end >= TL_JOURNAL_HEADER_LEN);
		FUZZ_CHECK(w.pos == size || w.pos <= info.good_end);
		/* nothing good past good_end: what follows it is one torn tail, or nothing */
		FUZZ_CHECK(info.good_end == size || w.pos == size);
	}
	/* deterministic */
	FUZZ_CHECK(tl_journal_scan(data, size, "fuzz", on_record, on_damage, &w2, &info2) == 0);
	FUZZ_CHECK(memcmp(&w, &w2, sizeof(w)) == 0); /* no padding: 8-byte fields only */
	FUZZ_CHECK(info.header_ok == info2.header_ok && info.sequence == info2.sequence &&
		   info.good_end == info2.good_end && info.n_records == info2.n_records &&
		   info.max_time_ns == info2.max_time_ns && info.sealed == info2.sealed);
	return 0;
}
