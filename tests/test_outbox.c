/*
 * tests/test_outbox.c - the durable outbox (store/outbox.c), as its users see it: entries come
 * back in order per sink and stay until done; a reopen keeps what is pending and never reuses
 * a seq; a crash at any byte of the last frame (or a flipped byte in it) loses nothing before
 * it; a bad ack file is refused by name; a log all done is started afresh; one process at a
 * time; a writer and a delivery thread at once see every entry exactly once, in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <zlib.h>

#include <tripline/outbox.h>

#include "files.h"

#define FRAME_LEN 24 /* the frame header, as tripline/outbox.h lays it out */

static char dir[] = "/tmp/tl-test-outbox-XXXXXX";
static char odir[256];
static char shm[64]; /* the concurrency test's directory on tmpfs, if any */

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	(void)snprintf(odir, sizeof(odir), "%s/" TL_OUTBOX_SUBDIR, dir);
}

static void teardown(void)
{
	th_rmrf(dir);
	if (shm[0])
		th_rmrf(shm);
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 240);

static const char *const AB[] = { "a", "b" };

static struct tl_outbox *open_in(const char *d, const char *const *names, size_t n, char *note,
				 size_t notelen)
{
	struct tl_outbox *o = NULL;
	char err[512] = "", mynote[1024];

	if (!note) {
		note = mynote;
		notelen = sizeof(mynote);
	}
	cr_assert(eq(int, tl_outbox_open(d, names, n, &o, note, notelen, err, sizeof(err)), 0),
		  "%s", err);
	cr_assert(ne(ptr, o, NULL));
	return o;
}

static struct tl_outbox *open_ob(const char *const *names, size_t n, char *note, size_t notelen)
{
	return open_in(dir, names, n, note, notelen);
}

/* The payload of entry @i of sink @sink: text, a length that varies with @i. */
static size_t payload(char *buf, size_t cap, size_t sink, int i)
{
	int n =
	    snprintf(buf, cap, "{\"sink\":%zu,\"event\":%d,\"pad\":\"%*s\"}", sink, i, i % 37, "");

	cr_assert(ge(int, n, 1));
	cr_assert(lt(sz, (size_t)n, cap));
	return (size_t)n;
}

static void append_range(struct tl_outbox *o, size_t sink, int from, int to)
{
	char buf[256];

	for (int i = from; i < to; i++) {
		size_t n = payload(buf, sizeof(buf), sink, i);

		cr_assert(eq(int, tl_outbox_append(o, sink, buf, n, 1000 + i), 0));
	}
	cr_assert(eq(int, tl_outbox_sync(o), 0));
}

/* Peek entry @i of @sink with seq @seq (checking it), and mark it done if @done. */
static void expect_entry(struct tl_outbox *o, size_t sink, uint64_t seq, int i, bool done)
{
	struct tl_outbox_entry e = { 0 };
	char buf[256];
	size_t n = payload(buf, sizeof(buf), sink, i);

	cr_assert(eq(int, tl_outbox_peek(o, sink, &e), 1), "sink %zu seq %llu", sink,
		  (unsigned long long)seq);
	cr_assert(eq(u64, e.seq, seq));
	cr_assert(eq(i64, e.enqueued_ns, 1000 + i));
	cr_assert(eq(sz, e.data.n, n));
	cr_assert(eq(int, memcmp(e.data.p, buf, n), 0), "seq %llu", (unsigned long long)seq);
	tl_buf_fini(&e.data);
	if (done)
		cr_assert(eq(int, tl_outbox_done(o, sink, seq), 0));
}

static void expect_empty(struct tl_outbox *o, size_t sink)
{
	struct tl_outbox_entry e = { 0 };

	cr_assert(eq(sz, tl_outbox_pending(o, sink), 0));
	cr_assert(eq(int, tl_outbox_peek(o, sink, &e), 0));
	tl_buf_fini(&e.data);
}

static off_t file_size(const char *path)
{
	struct stat st;

	cr_assert(eq(int, stat(path, &st), 0), "%s", path);
	return st.st_size;
}

static char *slurp(const char *d, const char *rel, size_t *ret_len)
{
	char *buf = th_slurp(d, rel, 1, ret_len);

	cr_assert(ne(ptr, buf, NULL), "%s/%s", d, rel);
	return buf;
}

static void spew(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	cr_assert(ne(ptr, f, NULL), "%s", path);
	cr_assert(eq(sz, fwrite(p, 1, n, f), n));
	cr_assert(eq(int, fclose(f), 0));
}

Test(outbox, entries_come_back_in_order_per_sink_and_sinks_are_independent)
{
	struct tl_outbox *o = open_ob(AB, 2, NULL, 0);

	for (int i = 0; i < 10; i++) {
		char buf[256];
		size_t n = payload(buf, sizeof(buf), 0, i);

		cr_assert(eq(int, tl_outbox_append(o, 0, buf, n, 1000 + i), 0));
		if (i % 2 == 0) {
			n = payload(buf, sizeof(buf), 1, i / 2);
			cr_assert(eq(int, tl_outbox_append(o, 1, buf, n, 1000 + i / 2), 0));
		}
	}
	cr_assert(eq(int, tl_outbox_sync(o), 0));
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 10));
	cr_assert(eq(sz, tl_outbox_pending(o, 1), 5));

	/* a peek without done shows the same entry again */
	expect_entry(o, 0, 1, 0, false);
	expect_entry(o, 0, 1, 0, true);
	for (int i = 1; i < 10; i++)
		expect_entry(o, 0, (uint64_t)i + 1, i, true);
	expect_empty(o, 0);
	/* draining sink 0 left sink 1 alone; its seqs are its own, from 1 */
	cr_assert(eq(sz, tl_outbox_pending(o, 1), 5));
	for (int i = 0; i < 5; i++)
		expect_entry(o, 1, (uint64_t)i + 1, i, true);
	expect_empty(o, 1);
	tl_outbox_close(o);
	tl_outbox_close(NULL);
}

Test(outbox, a_reopen_keeps_pending_entries_and_seqs_continue)
{
	struct tl_outbox *o = open_ob(AB, 2, NULL, 0);
	char note[1024];

	append_range(o, 0, 0, 5);
	append_range(o, 1, 0, 2);
	expect_entry(o, 0, 1, 0, true);
	expect_entry(o, 0, 2, 1, true);
	tl_outbox_close(o);

	o = open_ob(AB, 2, note, sizeof(note));
	cr_assert(eq(str, note, ""));
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 3));
	cr_assert(eq(sz, tl_outbox_pending(o, 1), 2));
	append_range(o, 0, 5, 7);
	for (int i = 2; i < 7; i++)
		expect_entry(o, 0, (uint64_t)i + 1, i, true);
	expect_empty(o, 0);
	tl_outbox_close(o);

	/* all done, the log is kept (small), and the next seq is still 8 */
	o = open_ob(AB, 2, NULL, 0);
	expect_empty(o, 0);
	append_range(o, 0, 7, 8);
	expect_entry(o, 0, 8, 7, true);
	expect_entry(o, 1, 1, 0, false);
	tl_outbox_close(o);
}

Test(outbox, done_persists_and_acks_everything_up_to_its_seq)
{
	struct tl_outbox *o = open_ob(AB, 1, NULL, 0);

	cr_assert(eq(int, tl_outbox_done(o, 0, 1), -EINVAL)); /* nothing pending */
	append_range(o, 0, 0, 6);
	cr_assert(eq(int, tl_outbox_done(o, 0, 0), -EINVAL));
	cr_assert(eq(int, tl_outbox_done(o, 0, 7), -EINVAL));
	cr_assert(eq(int, tl_outbox_done(o, 0, 3), 0));
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 3));
	cr_assert(eq(int, tl_outbox_done(o, 0, 3), -EINVAL)); /* done already */
	cr_assert(eq(int, tl_outbox_done(o, 1, 4), -EINVAL)); /* no such sink */
	tl_outbox_close(o);

	o = open_ob(AB, 1, NULL, 0);
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 3));
	expect_entry(o, 0, 4, 3, true);
	tl_outbox_close(o);
	o = open_ob(AB, 1, NULL, 0);
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 2));
	expect_entry(o, 0, 5, 4, false);
	tl_outbox_close(o);
}

Test(outbox, bad_appends_and_sink_indexes_are_refused)
{
	struct tl_outbox *o = open_ob(AB, 2, NULL, 0);
	struct tl_outbox_entry e = { 0 };
	char *big = malloc(TL_OUTBOX_MAX_ENTRY + 1);

	cr_assert(ne(ptr, big, NULL));
	memset(big, 'x', TL_OUTBOX_MAX_ENTRY + 1);
	cr_assert(eq(int, tl_outbox_append(o, 0, big, 0, 1), -EINVAL));
	cr_assert(eq(int, tl_outbox_append(o, 0, big, TL_OUTBOX_MAX_ENTRY + 1, 1), -EINVAL));
	cr_assert(eq(int, tl_outbox_append(o, 2, big, 1, 1), -EINVAL));
	cr_assert(eq(int, tl_outbox_peek(o, 2, &e), -EINVAL));
	cr_assert(eq(int, tl_outbox_done(o, 2, 1), -EINVAL));
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 0));
	/* the refusals left no trace: the longest entry gets seq 1 and comes back whole */
	cr_assert(eq(int, tl_outbox_append(o, 0, big, TL_OUTBOX_MAX_ENTRY, 7), 0));
	cr_assert(eq(int, tl_outbox_sync(o), 0));
	tl_outbox_close(o);
	o = open_ob(AB, 2, NULL, 0);
	cr_assert(eq(int, tl_outbox_peek(o, 0, &e), 1));
	cr_assert(eq(u64, e.seq, 1));
	cr_assert(eq(sz, e.data.n, TL_OUTBOX_MAX_ENTRY));
	cr_assert(eq(int, memcmp(e.data.p, big, TL_OUTBOX_MAX_ENTRY), 0));
	tl_buf_fini(&e.data);
	tl_outbox_close(o);
	free(big);
}

Test(outbox, bad_sink_names_are_refused)
{
	static const struct {
		const char *names[2];
		size_t n;
	} bad[] = {
		{ { "a", "a" }, 2 },        { { "" }, 1 }, { { "a/b" }, 1 }, { { "x y" }, 1 },
		{ { "a", "\xc3\xa9" }, 2 },
	};
	const char *many[TL_OUTBOX_MAX_SINKS + 1];
	char long_name[66], err[256], names[TL_OUTBOX_MAX_SINKS + 1][8];
	const char *lng[1] = { long_name };
	struct tl_outbox *o = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(
		    eq(int,
		       tl_outbox_open(dir, bad[i].names, bad[i].n, &o, NULL, 0, err, sizeof(err)),
		       -EINVAL),
		    "case %zu", i);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0'; /* 65 characters */
	cr_assert(eq(int, tl_outbox_open(dir, lng, 1, &o, NULL, 0, err, sizeof(err)), -EINVAL));
	for (size_t i = 0; i < TL_OUTBOX_MAX_SINKS + 1; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "s%zu", i);
		many[i] = names[i];
	}
	cr_assert(eq(
	    int, tl_outbox_open(dir, many, TL_OUTBOX_MAX_SINKS + 1, &o, NULL, 0, err, sizeof(err)),
	    -EINVAL));
	cr_assert(eq(ptr, o, NULL));
	/* 64 characters, and 64 sinks, are fine */
	long_name[64] = '\0';
	o = open_ob(lng, 1, NULL, 0);
	tl_outbox_close(o);
	o = open_ob(many, TL_OUTBOX_MAX_SINKS, NULL, 0);
	tl_outbox_close(o);
}

Test(outbox, a_second_open_of_the_same_directory_is_busy)
{
	struct tl_outbox *o = open_ob(AB, 2, NULL, 0), *o2 = NULL;
	char err[512] = "";

	cr_assert(eq(int, tl_outbox_open(dir, AB, 1, &o2, NULL, 0, err, sizeof(err)), -EBUSY));
	cr_assert(eq(ptr, o2, NULL));
	cr_assert(ne(ptr, strstr(err, "/outbox/lock"), NULL), "%s", err);
	tl_outbox_close(o);
	o = open_ob(AB, 1, NULL, 0);
	tl_outbox_close(o);
}

/*
 * Five entries in a.log; returns the log's bytes, its size and the offset of the last frame.
 */
static char *five_entries(size_t *ret_len, size_t *ret_last)
{
	struct tl_outbox *o = open_ob(AB, 1, NULL, 0);
	char buf[256];
	size_t len;
	char *log;

	append_range(o, 0, 0, 5);
	tl_outbox_close(o);
	log = slurp(odir, "a.log", &len);
	*ret_last = len - (FRAME_LEN + payload(buf, sizeof(buf), 0, 4));
	*ret_len = len;
	return log;
}

/* Open the outbox of @d whose a.log was damaged from @last on: four entries survive. */
static void check_cut(const char *d, size_t last, bool expect_note)
{
	char note[1024], log[512], off[64];
	struct tl_outbox *o = open_in(d, AB, 1, note, sizeof(note));

	(void)snprintf(log, sizeof(log), "%s/" TL_OUTBOX_SUBDIR "/a.log", d);
	(void)snprintf(off, sizeof(off), "offset %zu:", last);
	if (expect_note) {
		cr_assert(ne(ptr, strstr(note, log), NULL), "%s", note);
		cr_assert(ne(ptr, strstr(note, off), NULL), "%s", note);
	} else {
		cr_assert(eq(str, note, ""));
	}
	cr_assert(eq(i64, (int64_t)file_size(log), (int64_t)last));
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 4));
	append_range(o, 0, 4, 5); /* the torn entry again: seq 5 is free */
	tl_outbox_close(o);

	o = open_in(d, AB, 1, note, sizeof(note));
	cr_assert(eq(str, note, ""));
	for (int i = 0; i < 5; i++)
		expect_entry(o, 0, (uint64_t)i + 1, i, true);
	tl_outbox_close(o);
}

Test(outbox, a_crash_at_every_byte_of_the_last_frame_loses_nothing_before_it)
{
	size_t len, last;
	char *log = five_entries(&len, &last);
	char d[512], p[600];

	for (size_t cut = last; cut < len; cut++) {
		(void)snprintf(d, sizeof(d), "%s/cut-%zu", dir, cut);
		(void)snprintf(p, sizeof(p), "%s/" TL_OUTBOX_SUBDIR, d);
		cr_assert(eq(int, mkdir(d, 0755), 0));
		cr_assert(eq(int, mkdir(p, 0755), 0));
		(void)snprintf(p, sizeof(p), "%s/" TL_OUTBOX_SUBDIR "/a.log", d);
		spew(p, log, cut);
		check_cut(d, last, cut > last);
		th_rmrf(d);
	}
	free(log);
}

Test(outbox, a_flipped_byte_anywhere_in_the_last_frame_cuts_it_and_nothing_before)
{
	size_t len, last;
	char *log = five_entries(&len, &last);
	char d[512], p[600];

	for (size_t at = last; at < len; at++) {
		(void)snprintf(d, sizeof(d), "%s/flip-%zu", dir, at);
		(void)snprintf(p, sizeof(p), "%s/" TL_OUTBOX_SUBDIR, d);
		cr_assert(eq(int, mkdir(d, 0755), 0));
		cr_assert(eq(int, mkdir(p, 0755), 0));
		(void)snprintf(p, sizeof(p), "%s/" TL_OUTBOX_SUBDIR "/a.log", d);
		log[at] ^= 0x10;
		spew(p, log, len);
		log[at] ^= 0x10;
		check_cut(d, last, true);
		th_rmrf(d);
	}
	free(log);
}

Test(outbox, a_damaged_frame_after_open_peeks_as_corrupt_with_its_seq_and_can_be_done)
{
	struct tl_outbox *o = open_ob(AB, 1, NULL, 0);
	struct tl_outbox_entry e = { 0 };
	char path[512];
	size_t len, last;
	char *log;
	int fd;

	append_range(o, 0, 0, 3);
	log = slurp(odir, "a.log", &len);
	/* a payload byte of the second frame */
	last = FRAME_LEN + payload(path, sizeof(path), 0, 0) + FRAME_LEN + 3;
	(void)snprintf(path, sizeof(path), "%s/a.log", odir);
	fd = open(path, O_WRONLY);
	cr_assert(ge(int, fd, 0));
	cr_assert(eq(sz, (size_t)pwrite(fd, "#", 1, (off_t)last), 1));
	close(fd);

	expect_entry(o, 0, 1, 0, true);
	cr_assert(eq(int, tl_outbox_peek(o, 0, &e), TL_ECORRUPT));
	cr_assert(eq(u64, e.seq, 2));
	cr_assert(eq(int, tl_outbox_done(o, 0, e.seq), 0));
	expect_entry(o, 0, 3, 2, true);
	tl_buf_fini(&e.data);
	tl_outbox_close(o);
	free(log);
}

Test(outbox, a_bad_ack_file_is_refused_naming_it)
{
	struct tl_outbox *o = open_ob(AB, 1, NULL, 0);
	char path[512], err[512];
	size_t len;
	char *good, bad[32];

	append_range(o, 0, 0, 3);
	expect_entry(o, 0, 1, 0, true);
	tl_outbox_close(o);
	good = slurp(odir, "a.ack", &len);
	cr_assert(eq(sz, len, 16));
	(void)snprintf(path, sizeof(path), "%s/a.ack", odir);

	static const struct {
		size_t n, at;
		unsigned char x;
	} cases[] = {
		{ 15, 0, 0 },  /* short */
		{ 17, 16, 0 }, /* long */
		{ 16, 9, 1 },  /* the checksum */
		{ 16, 0, 1 },  /* the seq */
		{ 16, 15, 1 }, /* the zero word */
		{ 16, 0, 0 },  /* seq 0 with a good checksum: set below */
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(bad, 0, sizeof(bad));
		memcpy(bad, good, 16);
		bad[cases[k].at] = (char)(bad[cases[k].at] ^ cases[k].x);
		if (k == 5) {
			memset(bad, 0, 16);
			uint32_t c = (uint32_t)crc32(0L, (const Bytef *)bad, 8);

			for (int b = 0; b < 4; b++)
				bad[8 + b] = (char)(c >> (8 * b));
		}
		spew(path, bad, cases[k].n);
		o = NULL;
		err[0] = '\0';
		cr_assert(
		    eq(int, tl_outbox_open(dir, AB, 1, &o, NULL, 0, err, sizeof(err)), TL_ECORRUPT),
		    "case %zu", k);
		cr_assert(eq(ptr, o, NULL));
		cr_assert(ne(ptr, strstr(err, path), NULL), "%s", err);
	}
	/* nothing was guessed or rewritten: with the good ack back, all is as it was */
	spew(path, good, 16);
	o = open_ob(AB, 1, NULL, 0);
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 2));
	expect_entry(o, 0, 2, 1, false);
	tl_outbox_close(o);
	free(good);
}

Test(outbox, a_log_all_done_over_1_MiB_is_started_afresh_and_seqs_continue)
{
	struct tl_outbox *o = open_ob(AB, 1, NULL, 0);
	char *big = malloc(4096), path[512];
	struct tl_outbox_entry e = { 0 };
	const int n = 300; /* 300 entries of 4 KiB: 1.2 MiB */

	cr_assert(ne(ptr, big, NULL));
	memset(big, 'y', 4096);
	(void)snprintf(path, sizeof(path), "%s/a.log", odir);
	for (int i = 0; i < n; i++)
		cr_assert(eq(int, tl_outbox_append(o, 0, big, 4096, i), 0));
	cr_assert(eq(int, tl_outbox_sync(o), 0));
	cr_assert(ge(i64, (int64_t)file_size(path), (1 << 20) + 1));
	cr_assert(eq(int, tl_outbox_done(o, 0, (uint64_t)n - 1), 0));
	/* one entry pending: kept */
	cr_assert(ge(i64, (int64_t)file_size(path), (1 << 20) + 1));
	cr_assert(eq(int, tl_outbox_done(o, 0, (uint64_t)n), 0));
	cr_assert(eq(i64, (int64_t)file_size(path), 0));
	tl_outbox_close(o);

	/* an empty log: the ack file alone carries the next seq */
	o = open_ob(AB, 1, NULL, 0);
	expect_empty(o, 0);
	append_range(o, 0, 0, 1);
	cr_assert(eq(int, tl_outbox_peek(o, 0, &e), 1));
	cr_assert(eq(u64, e.seq, (uint64_t)n + 1));
	tl_outbox_close(o);
	o = open_ob(AB, 1, NULL, 0);
	expect_entry(o, 0, (uint64_t)n + 1, 0, true);
	tl_outbox_close(o);
	tl_buf_fini(&e.data);
	free(big);
}

/*
 * Entries appended, delivered and done, then lost from the log in a crash before a sync: the
 * ack is past the log's end. Their seqs are not reused, and what is appended next survives.
 */
Test(outbox, an_ack_past_the_end_of_the_log_starts_it_afresh_and_seqs_continue)
{
	struct tl_outbox *o = open_ob(AB, 1, NULL, 0);
	char path[512], *ack;
	size_t len;

	append_range(o, 0, 0, 9);
	cr_assert(eq(int, tl_outbox_done(o, 0, 9), 0));
	tl_outbox_close(o);
	ack = slurp(odir, "a.ack", &len);
	th_rmrf(odir);
	o = open_ob(AB, 1, NULL, 0);
	append_range(o, 0, 0, 3); /* the log as it was when the crash came: seqs 1 to 3 */
	tl_outbox_close(o);
	(void)snprintf(path, sizeof(path), "%s/a.ack", odir);
	spew(path, ack, len);

	o = open_ob(AB, 1, NULL, 0);
	expect_empty(o, 0);
	append_range(o, 0, 9, 11);
	tl_outbox_close(o);
	o = open_ob(AB, 1, NULL, 0);
	cr_assert(eq(sz, tl_outbox_pending(o, 0), 2));
	expect_entry(o, 0, 10, 9, true);
	expect_entry(o, 0, 11, 10, true);
	tl_outbox_close(o);
	free(ack);
}

Test(outbox, a_sink_no_longer_configured_is_reported_and_its_files_left_alone)
{
	struct tl_outbox *o = open_ob(AB, 2, NULL, 0);
	char note[1024], want[600];
	size_t len_log, len_ack, n;
	char *log, *ack, *now;

	append_range(o, 1, 0, 3);
	expect_entry(o, 1, 1, 0, true);
	tl_outbox_close(o);
	log = slurp(odir, "b.log", &len_log);
	ack = slurp(odir, "b.ack", &len_ack);

	o = open_ob(AB, 1, note, sizeof(note));
	(void)snprintf(want, sizeof(want),
		       "outbox: sink 'b' is no longer configured; its 2 pending events stay in "
		       "%s/b.log",
		       odir);
	cr_assert(eq(str, note, want));
	tl_outbox_close(o);
	now = slurp(odir, "b.log", &n);
	cr_assert(eq(sz, n, len_log));
	cr_assert(eq(int, memcmp(now, log, n), 0));
	free(now);
	now = slurp(odir, "b.ack", &n);
	cr_assert(eq(sz, n, len_ack));
	cr_assert(eq(int, memcmp(now, ack, n), 0));
	free(now);

	/* configured again, it goes on where it was */
	o = open_ob(AB, 2, note, sizeof(note));
	cr_assert(eq(str, note, ""));
	expect_entry(o, 1, 2, 1, true);
	expect_entry(o, 1, 3, 2, true);
	tl_outbox_close(o);
	free(log);
	free(ack);
}

/* ---- a writer and a delivery thread at once --------------------------------------------- */

#define N_CONC 100000

struct writer {
	struct tl_outbox *o;
	_Atomic int failed_at; /* -1: none */
	int r;
};

static size_t conc_payload(char *buf, size_t cap, int i)
{
	/* about 120 bytes: 10,000 entries make more than 1 MiB of log */
	return (size_t)snprintf(buf, cap, "{\"event\":%d,\"pad\":\"%*s\"}", i, 90 + i % 17, "");
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	(void)nanosleep(&ts, NULL);
}

static void *write_entries(void *ud)
{
	struct writer *w = ud;
	char buf[256];

	for (int i = 0; i < N_CONC; i++) {
		size_t n = conc_payload(buf, sizeof(buf), i);

		if ((w->r = tl_outbox_append(w->o, 0, buf, n, i)) != 0 ||
		    (i % 1000 == 999 && (w->r = tl_outbox_sync(w->o)) != 0)) {
			atomic_store_explicit(&w->failed_at, i, memory_order_release);
			return NULL;
		}
		/* now and then let the delivery thread catch up, so the log is started
		 * afresh while this thread goes on appending */
		if (i % 10000 == 9999)
			while (tl_outbox_pending(w->o, 0) > 0)
				pause_us(50);
	}
	return NULL;
}

Test(outbox, a_writer_and_a_delivery_thread_see_every_entry_once_in_order)
{
	/* a done() renames and fsyncs: on tmpfs, 100,000 of them take seconds, not minutes */
	char path[512], buf[256];
	const char *d;

	(void)snprintf(shm, sizeof(shm), "/dev/shm/tl-test-outbox-XXXXXX");
	if (!mkdtemp(shm))
		shm[0] = '\0';
	d = shm[0] ? shm : dir;
	struct tl_outbox *o = open_in(d, AB, 1, NULL, 0);
	struct writer w = { o, -1, 0 };
	struct tl_outbox_entry e = { 0 };
	pthread_t t;
	int seen = 0;

	cr_assert(eq(int, pthread_create(&t, NULL, write_entries, &w), 0));
	while (seen < N_CONC) {
		int r = tl_outbox_peek(o, 0, &e);

		if (r == 0) {
			/* acquire pairs with the writer's release: w.r is set */
			if (atomic_load_explicit(&w.failed_at, memory_order_acquire) >= 0)
				break;
			pause_us(20);
			continue;
		}
		cr_assert(eq(int, r, 1), "after %d entries", seen);
		size_t n = conc_payload(buf, sizeof(buf), seen);

		cr_assert(eq(u64, e.seq, (uint64_t)seen + 1));
		cr_assert(eq(i64, e.enqueued_ns, seen));
		cr_assert(eq(sz, e.data.n, n), "entry %d", seen);
		cr_assert(eq(int, memcmp(e.data.p, buf, n), 0), "entry %d", seen);
		cr_assert(eq(int, tl_outbox_done(o, 0, e.seq), 0));
		seen++;
	}
	cr_assert(eq(int, pthread_join(t, NULL), 0));
	cr_assert(eq(int, atomic_load_explicit(&w.failed_at, memory_order_acquire), -1),
		  "append: %s", tl_strerror(w.r));
	cr_assert(eq(int, seen, N_CONC));
	expect_empty(o, 0);
	/* about 12 MB went through the log; it was started afresh as it went */
	(void)snprintf(path, sizeof(path), "%s/" TL_OUTBOX_SUBDIR "/a.log", d);
	cr_assert(le(i64, (int64_t)file_size(path), 2 << 20));
	tl_outbox_close(o);
	tl_buf_fini(&e.data);
}
