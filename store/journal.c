/*
 * store/journal.c - the incident journal (format and guarantees in tripline/journal.h).
 *
 * Invariants: only the newest segment (j->fd) is written, always at its end; j->segs lists
 * every segment oldest first, the newest last, with its size (bytes on disk plus buffered)
 * and newest event time; retention deletes from the front of that list only, never the
 * newest. Non-logging: damage goes to the caller's callback, errors to j->errmsg.
 * Thread: the owner of the journal (one writer; a lock file keeps other processes out).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <tripline/fs.h>
#include <tripline/journal.h>
#include <tripline/le.h>
#include <tripline/time.h>

#define SEG_MAGIC    "\x89TLJRNL\n"
#define SEG_VERSION  1
#define REC_MAGIC    "\xffTLR"
#define SEAL_MAGIC   "\xffTLS"
#define SEAL_LEN     (TL_JOURNAL_FRAME_LEN + 8)
#define NAME_LEN     (16 + 4) /* 16 hex digits and ".tlj" */
#define FLUSH_AT     (1u << 20)
#define PATH_MAX_LEN 4096

struct seg {
	uint64_t seq;
	uint64_t size;
	int64_t max_time; /* INT64_MIN: no records; INT64_MAX: unknown (never old by age) */
};

struct tl_journal {
	struct tl_journal_opts o;
	char *dir;
	int dirfd, lockfd, fd;
	struct seg *segs; /* oldest first; the last is the one written */
	size_t n_segs, cap_segs;
	uint64_t seg_records; /* records in the newest segment */
	uint64_t total_bytes;
	int64_t newest; /* newest event time in the journal, INT64_MIN if none */
	uint8_t *buf;   /* frames not yet written */
	size_t n, cap;
	uint64_t count;
	int err;
	char errmsg[PATH_MAX_LEN + 128];
};

/* ---- the format ------------------------------------------------------------------------- */

static uint32_t crc(uint32_t c, const uint8_t *p, size_t n)
{
	/* zlib takes uInt lengths; payloads are at most TL_JOURNAL_RECORD_MAX */
	return (uint32_t)crc32(c, p, (uInt)n);
}

static void header_make(uint8_t *h, uint64_t seq)
{
	memset(h, 0, TL_JOURNAL_HEADER_LEN);
	memcpy(h, SEG_MAGIC, 8);
	tl_put32(h + 8, SEG_VERSION);
	tl_put64(h + 16, seq);
	tl_put32(h + 28, crc(0, h, 28));
}

static bool header_ok(const uint8_t *h)
{
	return memcmp(h, SEG_MAGIC, 8) == 0 && tl_get32(h + 8) == SEG_VERSION &&
	       tl_get32(h + 28) == crc(0, h, 28);
}

/* Write a frame header for @len payload bytes at @f; the payload must follow at f + 20. */
static void frame_make(uint8_t *f, const char *magic, int64_t time_ns, size_t len)
{
	memcpy(f, magic, 4);
	tl_put32(f + 4, (uint32_t)len);
	tl_put64(f + 8, (uint64_t)time_ns);
	tl_put32(f + 16, crc(crc(0, f, 16), f + TL_JOURNAL_FRAME_LEN, len));
}

enum { FRAME_RECORD = 1, FRAME_SEAL };

/*
 * Check the frame at @pos of @buf (@len bytes). Return: NULL for a good frame (its kind and
 * total length in *@ret_kind, *@ret_flen), else why it is not one.
 */
static const char *frame_check(const uint8_t *buf, size_t len, size_t pos, int *ret_kind,
			       size_t *ret_flen)
{
	const uint8_t *f = buf + pos;
	int kind;

	if (len - pos < TL_JOURNAL_FRAME_LEN)
		return "torn record (shorter than a record header)";
	if (memcmp(f, REC_MAGIC, 4) == 0)
		kind = FRAME_RECORD;
	else if (memcmp(f, SEAL_MAGIC, 4) == 0)
		kind = FRAME_SEAL;
	else
		return "bad record magic";
	uint32_t n = tl_get32(f + 4);

	if (n > TL_JOURNAL_RECORD_MAX || (kind == FRAME_SEAL && n != 8))
		return "bad record length";
	if (len - pos - TL_JOURNAL_FRAME_LEN < n)
		return "torn record (shorter than its length)";
	if (tl_get32(f + 16) != crc(crc(0, f, 16), f + TL_JOURNAL_FRAME_LEN, n))
		return "bad checksum";
	*ret_kind = kind;
	*ret_flen = TL_JOURNAL_FRAME_LEN + n;
	return NULL;
}

/* Whether a frame at @pos ends where another frame (or the data) ends: cheap to tell, so
 * a checksum is computed for few candidates. */
static bool plausible(const uint8_t *buf, size_t len, size_t pos)
{
	const uint32_t n = tl_get32(buf + pos + 4);

	if (n > TL_JOURNAL_RECORD_MAX || len - pos - TL_JOURNAL_FRAME_LEN < n)
		return false;
	const size_t end = pos + TL_JOURNAL_FRAME_LEN + n;

	return end == len || (len - end >= 3 && memcmp(buf + end, REC_MAGIC, 3) == 0);
}

/*
 * The next good frame at or after @pos, or @len. Candidates are the bytes that start a magic;
 * those whose length points at another frame or the end are checked first, the others only
 * if none of those is good. Checksums cover at most RESYNC_BUDGET bytes in all (a segment's
 * worth), after which the rest counts as damaged: a crafted file full of magic numbers costs
 * bounded time, not quadratic.
 */
#define RESYNC_BUDGET ((uint64_t)64 << 20)
static size_t resync(const uint8_t *buf, size_t len, size_t pos)
{
	uint64_t budget = RESYNC_BUDGET;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t at = pos; at + TL_JOURNAL_FRAME_LEN <= len; at++) {
			const uint8_t *p =
			    memchr(buf + at, 0xff, len - at - TL_JOURNAL_FRAME_LEN + 1);
			size_t flen;
			int kind;

			if (!p)
				break;
			at = (size_t)(p - buf);
			if (memcmp(p, REC_MAGIC, 3) != 0 || plausible(buf, len, at) != (pass == 0))
				continue;
			const uint64_t n = tl_get32(p + 4);

			if (n > budget)
				return len;
			budget -= n;
			if (!frame_check(buf, len, at, &kind, &flen))
				return at;
		}
	}
	return len;
}

static void damage(tl_journal_damage_fn fn, void *ud, const char *file, uint64_t off, uint64_t len,
		   const char *why, bool at_end)
{
	struct tl_journal_damage d = { file, off, len, why, at_end };

	if (fn)
		fn(ud, &d);
}

int tl_journal_scan(const uint8_t *buf, size_t len, const char *file,
		    tl_journal_record_fn on_record, tl_journal_damage_fn on_damage, void *ud,
		    struct tl_journal_scan_info *ret_info)
{
	struct tl_journal_scan_info info = { .max_time_ns = INT64_MIN };
	size_t pos = TL_JOURNAL_HEADER_LEN;
	int r = 0;

	if (len < TL_JOURNAL_HEADER_LEN || !header_ok(buf)) {
		damage(on_damage, ud, file, 0, len,
		       len < TL_JOURNAL_HEADER_LEN ? "shorter than a segment header"
						   : "not a journal segment (bad header)",
		       true);
		*ret_info = info;
		return 0;
	}
	info.header_ok = true;
	info.sequence = tl_get64(buf + 16);
	info.good_end = pos;
	while (pos < len) {
		size_t flen;
		int kind;
		const char *why = frame_check(buf, len, pos, &kind, &flen);

		if (why) {
			size_t next = resync(buf, len, pos + 1);

			damage(on_damage, ud, file, pos, next - pos, why, next == len);
			pos = next;
			continue;
		}
		int64_t t = (int64_t)tl_get64(buf + pos + 8);

		info.sealed = kind == FRAME_SEAL;
		if (kind == FRAME_RECORD) {
			struct tl_journal_record rec = { file, pos, t,
							 (const char *)buf + pos +
							     TL_JOURNAL_FRAME_LEN,
							 flen - TL_JOURNAL_FRAME_LEN };

			info.n_records++;
			if (t > info.max_time_ns)
				info.max_time_ns = t;
			if (on_record)
				r = on_record(ud, &rec);
		}
		pos += flen;
		info.good_end = pos;
		if (r)
			break;
	}
	*ret_info = info;
	return r;
}

/* ---- files ------------------------------------------------------------------------------ */

static void seg_name(uint64_t seq, char *name)
{
	(void)snprintf(name, NAME_LEN + 1, "%016llx.tlj", (unsigned long long)seq);
}

static bool parse_seg_name(const char *name, uint64_t *ret_seq)
{
	uint64_t v = 0;

	if (strlen(name) != NAME_LEN || strcmp(name + 16, ".tlj") != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*ret_seq = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The segment numbers in the directory @dirfd, ascending. */
static int list_segments(int dirfd, uint64_t **ret_seqs, size_t *ret_n)
{
	int fd = dup(dirfd);
	uint64_t *seqs = NULL, seq;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;

		close(fd);
		return r;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!parse_seg_name(de->d_name, &seq))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *ns = realloc(seqs, ncap * sizeof(*ns));

			if (!ns) {
				free(seqs);
				closedir(d);
				return -ENOMEM;
			}
			seqs = ns;
			cap = ncap;
		}
		seqs[n++] = seq;
	}
	closedir(d);
	if (n > 1)
		qsort(seqs, n, sizeof(*seqs), cmp_u64);
	*ret_seqs = seqs;
	*ret_n = n;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, size_t *ret_done)
{
	size_t off = 0;
	int r = 0;

	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (ret_done)
		*ret_done = off;
	return r;
}

/* The whole file @name of @dirfd in a new buffer. */
static int read_whole(int dirfd, const char *name, uint8_t **ret_buf, size_t *ret_len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = NULL;
	size_t n = 0, cap;
	struct stat st;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t got = read(fd, buf + n, cap - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto out_free;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n == cap) { /* the file grew since fstat */
			uint8_t *nb = realloc(buf, cap * 2);

			if (!nb) {
				r = -ENOMEM;
				goto out_free;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	*ret_buf = buf;
	*ret_len = n;
	return 0;

out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

static void fmt_err(char *err, size_t err_len, const char *fmt, ...) TL_PRINTF(3, 4);

static void fmt_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_len)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* ---- the writer ------------------------------------------------------------------------- */

void tl_journal_opts_defaults(struct tl_journal_opts *o)
{
	*o = (struct tl_journal_opts){
		.segment_bytes = 64u << 20,
		.max_age_ns = 90 * TL_NS_PER_DAY,
		.max_bytes = UINT64_C(1) << 30,
	};
}

/* Record the first error of @j: "dir/name: offset N: reason". */
static int fail(struct tl_journal *j, int r, uint64_t seq, uint64_t off, const char *what)
{
	char name[NAME_LEN + 1];

	if (j->err)
		return j->err;
	seg_name(seq, name);
	j->err = r;
	if (off == UINT64_MAX)
		fmt_err(j->errmsg, sizeof(j->errmsg), "%s/%s: %s: %s", j->dir, name, what,
			tl_strerror(r));
	else
		fmt_err(j->errmsg, sizeof(j->errmsg), "%s/%s: offset %llu: %s: %s", j->dir, name,
			(unsigned long long)off, what, tl_strerror(r));
	return r;
}

static struct seg *newest_seg(struct tl_journal *j)
{
	return &j->segs[j->n_segs - 1];
}

static int push_seg(struct tl_journal *j, uint64_t seq, uint64_t size, int64_t max_time)
{
	if (j->n_segs == j->cap_segs) {
		size_t ncap = j->cap_segs ? j->cap_segs * 2 : 16;
		struct seg *ns = realloc(j->segs, ncap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		j->segs = ns;
		j->cap_segs = ncap;
	}
	j->segs[j->n_segs++] = (struct seg){ seq, size, max_time };
	j->total_bytes += size;
	if (max_time != INT64_MAX && max_time > j->newest)
		j->newest = max_time;
	return 0;
}

/* Create segment @seq (header only) atomically and open it as the one written. */
static int create_segment(struct tl_journal *j, uint64_t seq)
{
	char name[NAME_LEN + 1], tmp[NAME_LEN + 5];
	uint8_t h[TL_JOURNAL_HEADER_LEN];
	int fd, r;

	seg_name(seq, name);
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	header_make(h, seq);
	fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return fail(j, -errno, seq, UINT64_MAX, "cannot create the segment");
	r = write_all(fd, h, sizeof(h), NULL);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(j->dirfd, tmp, j->dirfd, name) < 0)
		r = -errno;
	if (r == 0 && fsync(j->dirfd) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(j->dirfd, tmp, 0);
		return fail(j, r, seq, UINT64_MAX, "cannot create the segment");
	}
	j->fd = openat(j->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (j->fd < 0)
		return fail(j, -errno, seq, UINT64_MAX, "cannot open the segment");
	r = push_seg(j, seq, TL_JOURNAL_HEADER_LEN, INT64_MIN);
	if (r < 0)
		return fail(j, r, seq, UINT64_MAX, "cannot create the segment");
	j->seg_records = 0;
	return 0;
}

/* Write the buffered frames to the newest segment (no fsync). */
static int write_out(struct tl_journal *j)
{
	size_t done = 0;
	int r;

	if (j->err)
		return j->err;
	if (j->n == 0)
		return 0;
	r = write_all(j->fd, j->buf, j->n, &done);
	if (r < 0)
		return fail(j, r, newest_seg(j)->seq, newest_seg(j)->size - j->n + done,
			    "cannot write");
	j->n = 0;
	return 0;
}

/* Bytes @len more in the buffer; @j->err on failure. */
static uint8_t *reserve(struct tl_journal *j, size_t len)
{
	if (j->cap - j->n < len) {
		size_t ncap = j->cap ? j->cap : 64 * 1024;

		while (ncap - j->n < len)
			ncap *= 2;
		uint8_t *nb = realloc(j->buf, ncap);

		if (!nb) {
			fail(j, -ENOMEM, newest_seg(j)->seq, UINT64_MAX, "cannot buffer a record");
			return NULL;
		}
		j->buf = nb;
		j->cap = ncap;
	}
	return j->buf + j->n;
}

/*
 * Whether the sealed segment @s is past retention, @sealed_bytes being what the sealed
 * segments from @s on hold. Judged by sealed segments and event times only, so the same
 * records give the same deletions however often the journal was reopened.
 */
static bool expired(const struct tl_journal *j, const struct seg *s, uint64_t sealed_bytes)
{
	if (j->o.max_bytes && sealed_bytes > j->o.max_bytes)
		return true;
	if (!j->o.max_age_ns || s->max_time == INT64_MAX)
		return false;
	if (s->max_time == INT64_MIN)
		return j->newest != INT64_MIN; /* holds nothing */
	/* newest - max_time > max_age, without overflow */
	return s->max_time < j->newest &&
	       (uint64_t)j->newest - (uint64_t)s->max_time > (uint64_t)j->o.max_age_ns;
}

/* Delete the oldest sealed segments that are past retention (when a segment is sealed). */
static int retain(struct tl_journal *j)
{
	uint64_t sealed_bytes = j->total_bytes - newest_seg(j)->size;
	size_t gone = 0;
	char name[NAME_LEN + 1];

	while (gone + 1 < j->n_segs && expired(j, &j->segs[gone], sealed_bytes)) {
		seg_name(j->segs[gone].seq, name);
		if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT)
			return fail(j, -errno, j->segs[gone].seq, UINT64_MAX,
				    "cannot delete the segment (retention)");
		j->total_bytes -= j->segs[gone].size;
		sealed_bytes -= j->segs[gone].size;
		gone++;
	}
	if (gone == 0)
		return 0;
	memmove(j->segs, j->segs + gone, (j->n_segs - gone) * sizeof(*j->segs));
	j->n_segs -= gone;
	if (fsync(j->dirfd) < 0)
		return fail(j, -errno, j->segs[0].seq, UINT64_MAX, "cannot sync the directory");
	return 0;
}

/* Seal the newest segment and start the next one. */
static int roll(struct tl_journal *j)
{
	struct seg *s = newest_seg(j);
	uint8_t *f = reserve(j, SEAL_LEN);
	int r;

	if (!f)
		return j->err;
	tl_put64(f + TL_JOURNAL_FRAME_LEN, j->seg_records);
	frame_make(f, SEAL_MAGIC, s->max_time, 8);
	j->n += SEAL_LEN;
	s->size += SEAL_LEN;
	j->total_bytes += SEAL_LEN;
	if ((r = write_out(j)) < 0)
		return r;
	if (fsync(j->fd) < 0)
		return fail(j, -errno, s->seq, UINT64_MAX, "cannot sync");
	if (close(j->fd) < 0) {
		j->fd = -1;
		return fail(j, -errno, s->seq, UINT64_MAX, "cannot close");
	}
	j->fd = -1;
	if ((r = create_segment(j, s->seq + 1)) < 0)
		return r;
	return retain(j);
}

int tl_journal_append(struct tl_journal *j, int64_t time_ns, const void *data, size_t len)
{
	if (j->err)
		return j->err;
	if (len > 0 && ((const char *)data)[len - 1] == '\n')
		len--;
	if (len > TL_JOURNAL_RECORD_MAX) { /* refused, but the journal goes on */
		fmt_err(j->errmsg, sizeof(j->errmsg), "%s: a record of %zu bytes: %s", j->dir, len,
			tl_strerror(TL_ETOOBIG));
		return TL_ETOOBIG;
	}

	size_t flen = TL_JOURNAL_FRAME_LEN + len;
	int r;

	if (time_ns > j->newest) /* retention at this roll judges by this record too */
		j->newest = time_ns;
	if (j->seg_records > 0 && newest_seg(j)->size + flen + SEAL_LEN > j->o.segment_bytes &&
	    (r = roll(j)) < 0)
		return r;

	uint8_t *f = reserve(j, flen);
	struct seg *s = newest_seg(j);

	if (!f)
		return j->err;
	if (len)
		memcpy(f + TL_JOURNAL_FRAME_LEN, data, len);
	frame_make(f, REC_MAGIC, time_ns, len);
	j->n += flen;
	s->size += flen;
	j->total_bytes += flen;
	if (time_ns > s->max_time)
		s->max_time = time_ns;
	j->seg_records++;
	j->count++;
	if (j->n >= FLUSH_AT)
		return write_out(j);
	return 0;
}

int tl_journal_sync(struct tl_journal *j)
{
	int r = write_out(j);

	if (r < 0)
		return r;
	if (fsync(j->fd) < 0)
		return fail(j, -errno, newest_seg(j)->seq, UINT64_MAX, "cannot sync");
	return 0;
}

const char *tl_journal_errmsg(const struct tl_journal *j)
{
	return j->errmsg;
}

uint64_t tl_journal_count(const struct tl_journal *j)
{
	return j->count;
}

static void journal_free(struct tl_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->lockfd >= 0)
		close(j->lockfd); /* releases the lock */
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->segs);
	free(j->buf);
	free(j->dir);
	free(j);
}

int tl_journal_close(struct tl_journal *j)
{
	int r;

	if (!j)
		return 0;
	r = j->fd >= 0 ? tl_journal_sync(j) : j->err;
	if (j->fd >= 0 && close(j->fd) < 0 && r == 0)
		r = -errno;
	j->fd = -1;
	journal_free(j);
	return r;
}

/* mkdir @path and its parent, if missing. */
/* Keep other processes from appending at the same time (advisory, released on close). */
static int take_lock(struct tl_journal *j)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (j->lockfd < 0)
		return -errno;
	if (fcntl(j->lockfd, F_SETLK, &fl) < 0)
		return errno == EACCES || errno == EAGAIN ? -EBUSY : -errno;
	return 0;
}

/*
 * A sealed segment's newest event time from its trailer; a segment without a good seal (or
 * with a bad header) is scanned whole, and one that cannot be read is never old by age.
 */
static int64_t sealed_max_time(struct tl_journal *j, const char *name, uint64_t *ret_size)
{
	uint8_t h[TL_JOURNAL_HEADER_LEN], t[SEAL_LEN], *buf;
	struct tl_journal_scan_info info;
	struct stat st;
	size_t len, flen;
	int kind, fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	int64_t max_time = INT64_MAX;

	*ret_size = 0;
	if (fd < 0)
		return INT64_MAX;
	if (fstat(fd, &st) == 0) {
		*ret_size = (uint64_t)st.st_size;
		if (st.st_size >= TL_JOURNAL_HEADER_LEN + SEAL_LEN &&
		    pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && header_ok(h) &&
		    pread(fd, t, sizeof(t), st.st_size - SEAL_LEN) == (ssize_t)sizeof(t) &&
		    !frame_check(t, sizeof(t), 0, &kind, &flen) && kind == FRAME_SEAL)
			max_time = (int64_t)tl_get64(t + 8);
	}
	close(fd);
	if (max_time != INT64_MAX || read_whole(j->dirfd, name, &buf, &len) < 0)
		return max_time;
	(void)tl_journal_scan(buf, len, name, NULL, NULL, NULL, &info);
	free(buf);
	return info.header_ok ? info.max_time_ns : INT64_MAX;
}

/* Open the newest segment @seq for appending: scan it, cut a torn tail. */
static int open_newest(struct tl_journal *j, uint64_t seq, char *err, size_t err_len)
{
	char name[NAME_LEN + 1], path[PATH_MAX_LEN + NAME_LEN + 2];
	struct tl_journal_scan_info info;
	uint8_t *buf;
	size_t len;
	int r;

	seg_name(seq, name);
	(void)snprintf(path, sizeof(path), "%s/%s", j->dir, name);
	if ((r = read_whole(j->dirfd, name, &buf, &len)) < 0) {
		fmt_err(err, err_len, "%s: cannot read: %s", path, tl_strerror(r));
		return r;
	}
	(void)tl_journal_scan(buf, len, path, NULL, j->o.on_damage, j->o.ud, &info);
	free(buf);
	if (!info.header_ok) {
		fmt_err(err, err_len, "%s: offset 0: not a journal segment (bad header)", path);
		return -EBADMSG;
	}
	j->fd = openat(j->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (j->fd < 0) {
		r = -errno;
		fmt_err(err, err_len, "%s: cannot open: %s", path, tl_strerror(r));
		return r;
	}
	if (info.good_end < len) {
		if (ftruncate(j->fd, (off_t)info.good_end) < 0 || fsync(j->fd) < 0) {
			r = -errno;
			fmt_err(err, err_len, "%s: offset %llu: cannot cut the torn tail: %s", path,
				(unsigned long long)info.good_end, tl_strerror(r));
			return r;
		}
	}
	if ((r = push_seg(j, seq, info.good_end, info.max_time_ns)) < 0)
		return r;
	j->seg_records = info.n_records;
	if (info.sealed) { /* a crash between sealing and creating the next segment */
		close(j->fd);
		j->fd = -1;
		if ((r = create_segment(j, seq + 1)) < 0) {
			fmt_err(err, err_len, "%s", j->errmsg);
			return r;
		}
	}
	return 0;
}

int tl_journal_open(const char *dir, const struct tl_journal_opts *opts, char *err, size_t err_len,
		    struct tl_journal **ret_j)
{
	struct tl_journal *j;
	uint64_t *seqs = NULL;
	size_t n_seqs = 0;
	int r;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dirfd = j->lockfd = j->fd = -1;
	j->newest = INT64_MIN;
	if (opts)
		j->o = *opts;
	else
		tl_journal_opts_defaults(&j->o);
	if (j->o.segment_bytes < 64 || j->o.max_age_ns < 0) {
		fmt_err(err, err_len,
			"%s: bad journal options (segment_bytes under 64 or a "
			"negative max_age)",
			dir);
		r = TL_EVALUE;
		goto out_free;
	}
	j->dir = strdup(dir);
	if (!j->dir) {
		r = -ENOMEM;
		goto out_free;
	}
	if ((r = tl_mkdir_p(dir)) < 0) {
		fmt_err(err, err_len, "%s: cannot create the journal directory: %s", dir,
			tl_strerror(r));
		goto out_free;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		r = -errno;
		fmt_err(err, err_len, "%s: cannot open: %s", dir, tl_strerror(r));
		goto out_free;
	}
	if ((r = take_lock(j)) < 0) {
		fmt_err(err, err_len, "%s/lock: %s", dir,
			r == -EBUSY ? "another process is appending to this journal"
				    : tl_strerror(r));
		goto out_free;
	}
	if ((r = list_segments(j->dirfd, &seqs, &n_seqs)) < 0) {
		fmt_err(err, err_len, "%s: cannot list: %s", dir, tl_strerror(r));
		goto out_free;
	}
	for (size_t i = 0; i + 1 < n_seqs; i++) {
		char name[NAME_LEN + 1];
		uint64_t size;
		int64_t t;

		seg_name(seqs[i], name);
		t = sealed_max_time(j, name, &size);
		if ((r = push_seg(j, seqs[i], size, t)) < 0)
			goto out_free;
	}
	if (n_seqs)
		r = open_newest(j, seqs[n_seqs - 1], err, err_len);
	else if ((r = create_segment(j, 1)) < 0)
		fmt_err(err, err_len, "%s", j->errmsg);
	if (r < 0)
		goto out_free;
	free(seqs);
	*ret_j = j;
	return 0;

out_free:
	free(seqs);
	journal_free(j);
	return r;
}

/* ---- the reader ------------------------------------------------------------------------- */

int tl_journal_read(const char *dir, tl_journal_record_fn on_record, tl_journal_damage_fn on_damage,
		    void *ud, char *err, size_t err_len)
{
	char name[NAME_LEN + 1], path[PATH_MAX_LEN + NAME_LEN + 2];
	struct tl_journal_scan_info info;
	uint64_t *seqs = NULL;
	size_t n_seqs = 0, len;
	uint8_t *buf;
	int dirfd, r;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		fmt_err(err, err_len, "%s: %s", dir, tl_strerror(r));
		return r;
	}
	if ((r = list_segments(dirfd, &seqs, &n_seqs)) < 0) {
		fmt_err(err, err_len, "%s: cannot list: %s", dir, tl_strerror(r));
		goto out_close;
	}
	for (size_t i = 0; i < n_seqs && r == 0; i++) {
		seg_name(seqs[i], name);
		(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
		r = read_whole(dirfd, name, &buf, &len);
		if (r == -ENOENT) { /* deleted by retention since the listing */
			r = 0;
			continue;
		}
		if (r < 0) {
			fmt_err(err, err_len, "%s: cannot read: %s", path, tl_strerror(r));
			break;
		}
		r = tl_journal_scan(buf, len, path, on_record, on_damage, ud, &info);
		free(buf);
	}
	free(seqs);
out_close:
	close(dirfd);
	return r;
}
