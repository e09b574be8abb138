/*
 * tests/test_journal.c - the incident journal (store/journal.c): records come back as they
 * went in; a crash at any byte of the last record loses only that record; damage in the
 * middle is reported and skipped; retention deletes only whole old segments, by event time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/journal.h>
#include <tripline/time.h>

#include "files.h"

static char dir[] = "/tmp/tl-test-journal-XXXXXX";
static char jdir[256];

static void setup(void)
{
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	(void)snprintf(jdir, sizeof(jdir), "%s/out/journal", dir);
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 120);

/* What the reader saw. */
struct seen {
	size_t n;
	char *data[256];
	size_t len[256];
	int64_t time[256];
	uint64_t offset[256];
	size_t n_damage;
	uint64_t d_offset[16];
	uint64_t d_len[16];
	bool d_at_end[16];
	char d_file[16][512];
	char d_reason[16][128];
};

static int on_record(void *ud, const struct tl_journal_record *rec)
{
	struct seen *s = ud;

	cr_assert(lt(sz, s->n, 256));
	s->data[s->n] = malloc(rec->len + 1);
	memcpy(s->data[s->n], rec->data, rec->len);
	s->data[s->n][rec->len] = '\0';
	s->len[s->n] = rec->len;
	s->time[s->n] = rec->time_ns;
	s->offset[s->n] = rec->offset;
	s->n++;
	return 0;
}

static void on_damage(void *ud, const struct tl_journal_damage *d)
{
	struct seen *s = ud;

	if (s->n_damage < 16) {
		s->d_offset[s->n_damage] = d->offset;
		s->d_len[s->n_damage] = d->len;
		s->d_at_end[s->n_damage] = d->at_end;
		(void)snprintf(s->d_file[s->n_damage], sizeof(s->d_file[0]), "%s", d->file);
		(void)snprintf(s->d_reason[s->n_damage], sizeof(s->d_reason[0]), "%s", d->reason);
	}
	s->n_damage++;
}

static void seen_fini(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->data[i]);
	memset(s, 0, sizeof(*s));
}

static void read_all(const char *d, struct seen *s)
{
	char err[512] = "";

	memset(s, 0, sizeof(*s));
	cr_assert(eq(int, tl_journal_read(d, on_record, on_damage, s, err, sizeof(err)), 0), "%s",
		  err);
}

static struct tl_journal *open_j(const char *d, const struct tl_journal_opts *o, struct seen *s)
{
	struct tl_journal_opts oo;
	struct tl_journal *j = NULL;
	char err[512] = "";

	if (o)
		oo = *o;
	else
		tl_journal_opts_defaults(&oo);
	oo.on_damage = on_damage;
	oo.ud = s;
	cr_assert(eq(int, tl_journal_open(d, &oo, err, sizeof(err), &j), 0), "%s", err);
	return j;
}

/* A trigger-like payload for record @i at @t, @pad bytes of padding in its reason. */
static size_t payload(char *buf, size_t cap, int i, int64_t t, size_t pad)
{
	char ts[TL_TIME_TEXT_LEN + 1];
	int n = snprintf(buf, cap,
			 "{\"type\":\"trigger\",\"incident_id\":\"tl-%016x\",\"fired_at\":\"%s\","
			 "\"reason\":\"%*s\"}\n",
			 i, tl_time_format(t, ts), (int)pad, "r");

	cr_assert(ge(int, n, 1));
	cr_assert(lt(sz, (size_t)n, cap));
	return (size_t)n;
}

static void append_n(struct tl_journal *j, int from, int to, int64_t t0, int64_t step, size_t pad)
{
	char buf[2048];

	for (int i = from; i < to; i++) {
		int64_t t = t0 + i * step;
		size_t n = payload(buf, sizeof(buf), i, t, pad);

		cr_assert(eq(int, tl_journal_append(j, t, buf, n), 0));
	}
	cr_assert(eq(int, tl_journal_sync(j), 0), "%s", tl_journal_errmsg(j));
}

static void check_records(const struct seen *s, int from, int to, int64_t t0, int64_t step,
			  size_t pad)
{
	char buf[2048];

	cr_assert(eq(sz, s->n, (size_t)(to - from)));
	for (int i = from; i < to; i++) {
		int64_t t = t0 + i * step;
		size_t n = payload(buf, sizeof(buf), i, t, pad) - 1; /* stored without the \n */

		cr_assert(eq(i64, s->time[i - from], t));
		cr_assert(eq(sz, s->len[i - from], n));
		buf[n] = '\0';
		cr_assert(eq(str, s->data[i - from], buf), "record %d", i);
	}
}

static const int64_t T0 = INT64_C(1767225600) * TL_NS_PER_S; /* 2026-01-01 */

Test(journal, records_come_back_in_order_with_their_times_across_reopens)
{
	struct seen s = { 0 }, dmg = { 0 };
	struct tl_journal *j = open_j(jdir, NULL, &dmg);

	append_n(j, 0, 10, T0, TL_NS_PER_MIN, 20);
	cr_assert(eq(u64, tl_journal_count(j), 10));
	cr_assert(eq(int, tl_journal_close(j), 0));
	j = open_j(jdir, NULL, &dmg);
	append_n(j, 10, 25, T0, TL_NS_PER_MIN, 20);
	cr_assert(eq(int, tl_journal_close(j), 0));
	cr_assert(eq(sz, dmg.n_damage, 0));

	read_all(jdir, &s);
	check_records(&s, 0, 25, T0, TL_NS_PER_MIN, 20);
	cr_assert(eq(sz, s.n_damage, 0));
	seen_fini(&s);
}

Test(journal, payload_without_newline_and_empty_payload_are_kept_as_given)
{
	struct seen s = { 0 };
	struct tl_journal *j = open_j(jdir, NULL, &s);

	cr_assert(eq(int, tl_journal_append(j, 5, "{\"a\":1}", 7), 0));
	cr_assert(eq(int, tl_journal_append(j, 6, "", 0), 0));
	cr_assert(eq(int, tl_journal_append(j, 7, "x\n\n", 3), 0));
	cr_assert(eq(int, tl_journal_close(j), 0));
	read_all(jdir, &s);
	cr_assert(eq(sz, s.n, 3));
	cr_assert(eq(str, s.data[0], "{\"a\":1}"));
	cr_assert(eq(sz, s.len[1], 0));
	cr_assert(eq(str, s.data[2], "x\n"));
	cr_assert(eq(i64, s.time[2], 7));
	seen_fini(&s);
}

Test(journal, a_record_over_the_limit_is_refused_and_the_journal_goes_on)
{
	struct seen s = { 0 };
	struct tl_journal *j = open_j(jdir, NULL, &s);
	char *big = malloc(TL_JOURNAL_RECORD_MAX + 2);

	memset(big, 'x', TL_JOURNAL_RECORD_MAX + 2);
	cr_assert(eq(int, tl_journal_append(j, 1, big, TL_JOURNAL_RECORD_MAX + 1), TL_ETOOBIG));
	cr_assert(ne(ptr, strstr(tl_journal_errmsg(j), "size limit exceeded"), NULL), "%s",
		  tl_journal_errmsg(j));
	cr_assert(eq(int, tl_journal_append(j, 1, big, TL_JOURNAL_RECORD_MAX), 0));
	cr_assert(eq(int, tl_journal_close(j), 0));
	read_all(jdir, &s);
	cr_assert(eq(sz, s.n, 1));
	cr_assert(eq(sz, s.len[0], TL_JOURNAL_RECORD_MAX));
	seen_fini(&s);
	free(big);
}

/* The first @n bytes of segment 1 of the test's journal into the file @to. */
static void copy_prefix(const char *to, size_t n)
{
	char *buf;
	size_t len;
	FILE *f;

	buf = th_slurp(jdir, "0000000000000001.tlj", 1, &len);
	cr_assert(ne(ptr, buf, NULL));
	cr_assert(le(sz, n, len));
	f = fopen(to, "wb");
	cr_assert(ne(ptr, f, NULL));
	cr_assert(eq(sz, fwrite(buf, 1, n, f), n));
	cr_assert(eq(int, fclose(f), 0));
	free(buf);
}

static off_t file_size(const char *path)
{
	struct stat st;

	cr_assert(eq(int, stat(path, &st), 0), "%s", path);
	return st.st_size;
}

/*
 * A crash while the last record was being written: for every byte offset inside it, a copy of
 * the segment cut there opens with the earlier records intact, the torn record reported and
 * gone, and appends after it read back.
 */
Test(journal, a_torn_last_record_at_every_byte_is_cut_and_the_rest_survives)
{
	struct seen s = { 0 };
	struct tl_journal *j = open_j(jdir, NULL, &s);
	char seg[512], cut_dir[512], cut_seg[600];
	uint64_t last;
	off_t size;

	append_n(j, 0, 5, T0, TL_NS_PER_MIN, 40);
	cr_assert(eq(int, tl_journal_close(j), 0));
	read_all(jdir, &s);
	cr_assert(eq(sz, s.n, 5));
	last = s.offset[4];
	seen_fini(&s);
	(void)snprintf(seg, sizeof(seg), "%s/0000000000000001.tlj", jdir);
	size = file_size(seg);
	cr_assert(ge(i64, (int64_t)size, ((int64_t)last + 40) + 1));

	for (uint64_t cut = last; cut < (uint64_t)size; cut++) {
		struct seen dmg = { 0 };

		(void)snprintf(cut_dir, sizeof(cut_dir), "%s/cut-%llu", dir,
			       (unsigned long long)cut);
		cr_assert(eq(int, mkdir(cut_dir, 0755), 0));
		(void)snprintf(cut_seg, sizeof(cut_seg), "%s/0000000000000001.tlj", cut_dir);
		copy_prefix(cut_seg, (size_t)cut);

		/* the reader sees four records and, unless the cut is at a record boundary,
		 * the torn one */
		read_all(cut_dir, &s);
		cr_assert(eq(sz, s.n, 4), "cut at %llu", (unsigned long long)cut);
		check_records(&s, 0, 4, T0, TL_NS_PER_MIN, 40);
		cr_assert(eq(sz, s.n_damage, cut == last ? 0 : 1));
		if (cut > last) {
			cr_assert(eq(u64, s.d_offset[0], last));
			cr_assert(eq(u64, s.d_len[0], cut - last));
			cr_assert(s.d_at_end[0]);
			cr_assert(eq(str, s.d_file[0], cut_seg));
		}
		seen_fini(&s);

		j = open_j(cut_dir, NULL, &dmg);
		cr_assert(eq(sz, dmg.n_damage, cut == last ? 0 : 1));
		cr_assert(eq(i64, (int64_t)file_size(cut_seg), (int64_t)last));
		append_n(j, 4, 6, T0, TL_NS_PER_MIN, 40);
		cr_assert(eq(int, tl_journal_close(j), 0));
		read_all(cut_dir, &s);
		check_records(&s, 0, 6, T0, TL_NS_PER_MIN, 40);
		cr_assert(eq(sz, s.n_damage, 0));
		seen_fini(&s);
		th_rmrf(cut_dir);
	}
}

static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(sz, (size_t)pread(fd, &c, 1, (off_t)off), 1));
	c ^= 0x10;
	cr_assert(eq(sz, (size_t)pwrite(fd, &c, 1, (off_t)off), 1));
	close(fd);
}

/* Flip a byte at @delta from the start of the middle record: reported, skipped, not cut. */
static void flip_middle(uint64_t delta, const char *reason)
{
	struct seen s = { 0 }, dmg = { 0 };
	struct tl_journal *j = open_j(jdir, NULL, &s);
	char seg[512];
	uint64_t at, next;
	off_t size;

	append_n(j, 0, 5, T0, TL_NS_PER_MIN, 30);
	cr_assert(eq(int, tl_journal_close(j), 0));
	read_all(jdir, &s);
	at = s.offset[2];
	next = s.offset[3];
	seen_fini(&s);
	(void)snprintf(seg, sizeof(seg), "%s/0000000000000001.tlj", jdir);
	flip(seg, at + delta);
	size = file_size(seg);

	read_all(jdir, &s);
	cr_assert(eq(sz, s.n, 4));
	cr_assert(eq(sz, s.n_damage, 1));
	cr_assert(eq(u64, s.d_offset[0], at));
	cr_assert(eq(u64, s.d_len[0], next - at));
	cr_assert_not(s.d_at_end[0]);
	cr_assert(eq(str, s.d_file[0], seg));
	cr_assert(eq(str, s.d_reason[0], (char *)reason));
	cr_assert(eq(u64, s.offset[2], next));
	seen_fini(&s);

	/* opening for append keeps the damaged record's bytes: only a torn tail is cut */
	j = open_j(jdir, NULL, &dmg);
	cr_assert(eq(sz, dmg.n_damage, 1));
	cr_assert(eq(i64, (int64_t)file_size(seg), (int64_t)size));
	append_n(j, 5, 6, T0, TL_NS_PER_MIN, 30);
	cr_assert(eq(int, tl_journal_close(j), 0));
	read_all(jdir, &s);
	cr_assert(eq(sz, s.n, 5));
	cr_assert(eq(sz, s.n_damage, 1));
	cr_assert(eq(i64, s.time[4], T0 + 5 * TL_NS_PER_MIN));
	seen_fini(&s);
}

Test(journal, a_flipped_payload_byte_in_a_middle_record_is_reported_and_skipped)
{
	flip_middle(TL_JOURNAL_FRAME_LEN + 10, "bad checksum");
}

Test(journal, a_flipped_length_byte_in_a_middle_record_is_reported_and_skipped)
{
	flip_middle(6, "bad record length");
}

Test(journal, a_flipped_magic_byte_in_a_middle_record_is_reported_and_skipped)
{
	flip_middle(1, "bad record magic");
}

static int count_segments(const char *d)
{
	char cmd[600];
	FILE *p;
	int n = -1;

	(void)snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.tlj$'", d);
	p = popen(cmd, "r");
	cr_assert(ne(ptr, p, NULL));
	cr_assert(eq(int, fscanf(p, "%d", &n), 1));
	pclose(p);
	return n;
}

/*
 * One record a day, two records a segment: a payload is 150 bytes with its newline, stored as
 * 149 after a 20-byte frame header; a segment is 32 bytes of header, two records and a 28-byte
 * seal: 398 bytes (a third record would take it to 567).
 */
static void retention_run(const struct tl_journal_opts *o, int reopen_at)
{
	struct seen dmg = { 0 };
	struct tl_journal *j = open_j(jdir, o, &dmg);
	char buf[256];
	size_t n0 = payload(buf, sizeof(buf), 0, T0, 0);

	for (int i = 0; i < 30; i++) {
		int64_t t = T0 + i * TL_NS_PER_DAY;
		size_t n = payload(buf, sizeof(buf), i, t, 151 - n0);

		cr_assert(eq(sz, n, 150));
		cr_assert(eq(int, tl_journal_append(j, t, buf, n), 0));
		if (i == reopen_at) {
			cr_assert(eq(int, tl_journal_close(j), 0));
			j = open_j(jdir, o, &dmg);
		}
	}
	cr_assert(eq(int, tl_journal_close(j), 0));
	cr_assert(eq(sz, dmg.n_damage, 0));
}

static void check_suffix(int first)
{
	struct seen s = { 0 };
	char buf[256];
	size_t n0 = payload(buf, sizeof(buf), 0, T0, 0);

	read_all(jdir, &s);
	cr_assert(eq(sz, s.n_damage, 0));
	check_records(&s, first, 30, T0, TL_NS_PER_DAY, 151 - n0);
	seen_fini(&s);
}

Test(journal, retention_by_age_deletes_whole_segments_older_than_the_newest_event)
{
	struct tl_journal_opts o;

	tl_journal_opts_defaults(&o);
	o.segment_bytes = 400;
	o.max_age_ns = 10 * TL_NS_PER_DAY;
	o.max_bytes = 0;
	retention_run(&o, -1);
	/* newest day 29: segments whose newest record is day 17 or before are past 10 days;
	 * the segment of days 18 and 19 is not, though day 18 alone would be */
	check_suffix(18);
	cr_assert(eq(int, count_segments(jdir), 6));
}

Test(journal, retention_by_bytes_deletes_the_oldest_segments)
{
	struct tl_journal_opts o;

	tl_journal_opts_defaults(&o);
	o.segment_bytes = 400;
	o.max_age_ns = 0;
	o.max_bytes = 1700; /* the newest segment and four sealed ones */
	retention_run(&o, -1);
	check_suffix(20);
	cr_assert(eq(int, count_segments(jdir), 5));
}

Test(journal, retention_is_the_same_when_the_journal_is_reopened_midway)
{
	struct tl_journal_opts o;

	tl_journal_opts_defaults(&o);
	o.segment_bytes = 400;
	o.max_age_ns = 10 * TL_NS_PER_DAY;
	o.max_bytes = 0;
	retention_run(&o, 16);
	check_suffix(18);
	cr_assert(eq(int, count_segments(jdir), 6));
}

Test(journal, segments_roll_at_their_size_and_read_back_in_order)
{
	struct tl_journal_opts o;
	struct seen s = { 0 };
	struct tl_journal *j;

	tl_journal_opts_defaults(&o);
	o.segment_bytes = 1024;
	j = open_j(jdir, &o, &s);
	append_n(j, 0, 100, T0, TL_NS_PER_S, 50);
	cr_assert(eq(int, tl_journal_close(j), 0));
	cr_assert(ge(int, count_segments(jdir), 11));
	read_all(jdir, &s);
	check_records(&s, 0, 100, T0, TL_NS_PER_S, 50);
	cr_assert(eq(sz, s.n_damage, 0));
	seen_fini(&s);
}

Test(journal, a_sealed_newest_segment_gets_a_successor_on_open)
{
	struct tl_journal_opts o;
	struct seen s = { 0 };
	struct tl_journal *j;
	char path[512];

	tl_journal_opts_defaults(&o);
	o.segment_bytes = 400;
	j = open_j(jdir, &o, &s);
	append_n(j, 0, 3, T0, TL_NS_PER_S, 100);
	cr_assert(eq(int, tl_journal_close(j), 0));
	/* a crash after sealing segment 1 and before creating segment 2 */
	(void)snprintf(path, sizeof(path), "%s/0000000000000002.tlj", jdir);
	cr_assert(eq(int, unlink(path), 0));
	j = open_j(jdir, &o, &s);
	append_n(j, 3, 4, T0, TL_NS_PER_S, 100);
	cr_assert(eq(int, tl_journal_close(j), 0));
	read_all(jdir, &s);
	cr_assert(eq(sz, s.n_damage, 0));
	cr_assert(eq(sz, s.n, 3));
	cr_assert(eq(i64, s.time[2], T0 + 3 * TL_NS_PER_S));
	seen_fini(&s);
}

Test(journal, a_newest_segment_with_a_bad_header_is_an_error_naming_it)
{
	struct tl_journal *j = NULL;
	struct seen s = { 0 };
	char path[512], err[512] = "", want[600];

	j = open_j(jdir, NULL, &s);
	append_n(j, 0, 1, T0, TL_NS_PER_S, 10);
	cr_assert(eq(int, tl_journal_close(j), 0));
	(void)snprintf(path, sizeof(path), "%s/0000000000000001.tlj", jdir);
	flip(path, 3);
	cr_assert(eq(int, tl_journal_open(jdir, NULL, err, sizeof(err), &j), -EBADMSG));
	(void)snprintf(want, sizeof(want), "%s: offset 0: not a journal segment (bad header)",
		       path);
	cr_assert(eq(str, err, want));
	read_all(jdir, &s);
	cr_assert(eq(sz, s.n, 0));
	cr_assert(eq(sz, s.n_damage, 1));
	cr_assert(eq(u64, s.d_offset[0], 0));
}

Test(journal, reading_a_missing_journal_says_so)
{
	char err[512] = "", missing[300];

	(void)snprintf(missing, sizeof(missing), "%s/nothing", dir);
	cr_assert(
	    eq(int, tl_journal_read(missing, on_record, NULL, NULL, err, sizeof(err)), -ENOENT));
	cr_assert(ne(ptr, strstr(err, missing), NULL));
}
