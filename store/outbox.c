/*
 * store/outbox.c - the durable outbox of alert delivery (format and guarantees in
 * tripline/outbox.h).
 *
 * Per sink: the log, opened O_APPEND; an index of its pending entries (seq, offset, length)
 * in a ring, oldest first; the seq of the next append; the size of the log (where the next
 * frame lands). An append is one writev(2) of the frame header and the payload, so no frame
 * is ever interleaved with another and no buffer is needed; a peek is one pread(2) of the
 * frame, checked again (the file may have been damaged since open).
 *
 * Invariants: entries in the index have consecutive seqs, every one >= the acked seq and <
 * next_seq; the log holds whole frames only, with consecutive seqs, up to size; a log that
 * was opened is never read past size.
 *
 * Locks: one mutex, o->mu, guards every sink's index, size, next_seq, ack, dirty and err.
 * It is held across the writev of an append (a log started afresh must not lose a frame
 * being written) and across the ftruncate that starts a log afresh, never across a pread or
 * an fsync: peek reads without it (only done(), on the same thread, ever truncates a log,
 * and an indexed frame is never rewritten), done() writes and fsyncs the ack file without
 * it (only the delivery thread writes acks), sync fdatasyncs without it.
 *
 * At open a log is read as a stream, one frame at a time through a buffer of at most one
 * frame plus 64 KiB; the first frame that is short, has a length of 0 or over
 * TL_OUTBOX_MAX_ENTRY, a bad checksum or a seq that does not follow its predecessor ends the
 * valid part, and the rest is cut (ftruncate, fsync) and said in the note.
 *
 * Notes are lines, separated by '\n'. Non-logging. Thread: see each function.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include <tripline/fs.h>
#include <tripline/le.h>
#include <tripline/outbox.h>

#define FRAME_LEN     24 /* u32 len, u32 crc, u64 seq, i64 time */
#define ACK_LEN       16
#define NAME_MAX_LEN  64
#define AFRESH_BYTES  (1u << 20) /* a log all done and bigger than this is started afresh */
#define READ_CHUNK    ((size_t)64 * 1024)
#define RING_KEEP     1024 /* an empty index bigger than this gives its memory back */
#define PATH_MAX_LEN  4096
#define ACK_SUFFIX    ".ack"
#define ACK_TMP       ".ack.tmp"
#define LOG_SUFFIX    ".log"
#define LOCK_FILENAME "lock"

/* One pending entry: 24 bytes. */
struct ent {
	uint64_t seq;
	uint64_t off;
	uint32_t len;
};

struct sink {
	char name[NAME_MAX_LEN + 1];
	int fd;            /* NAME.log, O_RDWR | O_APPEND */
	uint64_t size;     /* end of the last whole frame */
	uint64_t next_seq; /* the seq of the next append */
	uint64_t ack;      /* the next seq not yet done, as NAME.ack says */
	struct ent *ring;  /* pending entries, oldest at head; cap is a power of two */
	size_t cap, head, count;
	bool dirty; /* appended to since the last sync */
	int err;    /* a failed append left a partial frame that could not be cut: sticky */
};

struct tl_outbox {
	pthread_mutex_t mu;
	char dir[PATH_MAX_LEN]; /* DIR/outbox */
	int dirfd, lockfd;
	size_t n;
	struct sink *sinks;
	uint8_t *rbuf; /* peek's buffer; the delivery thread's */
	size_t rcap;
};

/* ---- the format ------------------------------------------------------------------------- */

/* The checksum of a frame: seq and time (bytes 8..23 of the header), then the payload. */
static uint32_t frame_crc(const uint8_t *h, const void *payload, size_t len)
{
	/* zlib takes uInt lengths; payloads are at most TL_OUTBOX_MAX_ENTRY */
	uLong c = crc32(0L, h + 8, FRAME_LEN - 8);

	return (uint32_t)crc32(c, payload, (uInt)len);
}

/* The frame header of @len payload bytes at @p. */
static void frame_make(uint8_t *h, uint64_t seq, int64_t now_ns, const void *p, size_t len)
{
	tl_put32(h, (uint32_t)len);
	tl_put64(h + 8, seq);
	tl_put64(h + 16, (uint64_t)now_ns);
	tl_put32(h + 4, frame_crc(h, p, len));
}

static void ack_make(uint8_t *a, uint64_t seq)
{
	tl_put64(a, seq);
	tl_put32(a + 8, (uint32_t)crc32(0L, a, 8));
	tl_put32(a + 12, 0);
}

static bool name_ok(const char *s)
{
	size_t n = strnlen(s, NAME_MAX_LEN + 1);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* ---- text ------------------------------------------------------------------------------- */

static void fmt_err(char *err, size_t errlen, const char *fmt, ...) TL_PRINTF(3, 4);

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Add a line to @note (truncated when it is full). */
static void note_add(char *note, size_t notelen, const char *fmt, ...) TL_PRINTF(3, 4);

static void note_add(char *note, size_t notelen, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (!note || !notelen)
		return;
	used = strnlen(note, notelen - 1);
	if (used && used + 1 < notelen) {
		note[used++] = '\n';
		note[used] = '\0';
	}
	va_start(ap, fmt);
	(void)vsnprintf(note + used, notelen - used, fmt, ap);
	va_end(ap);
}

/* ---- files ------------------------------------------------------------------------------ */

/* @n bytes at @off of @fd into @p; *@ret_got is less than @n only at the end of the file. */
static int pread_full(int fd, void *p, size_t n, uint64_t off, size_t *ret_got)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)p + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*ret_got = got;
	return 0;
}

/*
 * Read NAME.ack of @dirfd into *@ret_ack: 1 if there is none. Return: 0; -errno; TL_ECORRUPT
 * (*@ret_why says how).
 */
static int ack_read(int dirfd, const char *name, uint64_t *ret_ack, const char **ret_why)
{
	char fname[NAME_MAX_LEN + sizeof(ACK_SUFFIX)];
	uint8_t a[ACK_LEN + 1];
	size_t got = 0;
	int fd, r;

	(void)snprintf(fname, sizeof(fname), "%s" ACK_SUFFIX, name);
	fd = openat(dirfd, fname, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		*ret_ack = 1;
		return 0;
	}
	if (fd < 0)
		return -errno;
	r = pread_full(fd, a, sizeof(a), 0, &got);
	close(fd);
	if (r < 0)
		return r;
	if (got != ACK_LEN)
		*ret_why = got < ACK_LEN ? "shorter than 16 bytes" : "longer than 16 bytes";
	else if (tl_get32(a + 8) != (uint32_t)crc32(0L, a, 8))
		*ret_why = "bad checksum";
	else if (tl_get32(a + 12) != 0 || tl_get64(a) == 0)
		*ret_why = "bad seq or padding";
	else {
		*ret_ack = tl_get64(a);
		return 0;
	}
	return TL_ECORRUPT;
}

/* Replace NAME.ack with @ack, durably: temp file, fsync, rename, fsync of the directory. */
static int ack_write(int dirfd, const char *name, uint64_t ack)
{
	char fname[NAME_MAX_LEN + sizeof(ACK_SUFFIX)], tmp[NAME_MAX_LEN + sizeof(ACK_TMP)];
	uint8_t a[ACK_LEN];
	ssize_t w;
	int fd, r = 0;

	(void)snprintf(fname, sizeof(fname), "%s" ACK_SUFFIX, name);
	(void)snprintf(tmp, sizeof(tmp), "%s" ACK_TMP, name);
	ack_make(a, ack);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	do
		w = write(fd, a, sizeof(a));
	while (w < 0 && errno == EINTR);
	if (w < 0)
		r = -errno;
	else if (w != (ssize_t)sizeof(a))
		r = -EIO; /* 16 bytes to a new file: short only when something is badly wrong */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, fname) < 0)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}

/* ---- reading a log at open -------------------------------------------------------------- */

/* A log read front to back through a buffer that holds at most one frame and a chunk. */
struct reader {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t start, end; /* buf[start..end) is the file from pos on */
	uint64_t pos;
};

/* Make @need bytes from rd->pos on readable at rd->buf + rd->start; *@ret_avail is less
 * only at the end of the file. */
static int fill(struct reader *rd, size_t need, size_t *ret_avail)
{
	size_t have = rd->end - rd->start;

	if (have < need) {
		if (rd->cap - rd->start < need) {
			if (have)
				memmove(rd->buf, rd->buf + rd->start, have);
			rd->start = 0;
			rd->end = have;
		}
		if (rd->cap < need) {
			size_t ncap = need + READ_CHUNK;
			uint8_t *nb = realloc(rd->buf, ncap);

			if (!nb)
				return -ENOMEM;
			rd->buf = nb;
			rd->cap = ncap;
		}
		/* as much as fits: one read serves many small frames */
		const size_t want = rd->cap - rd->end;
		size_t got = 0;
		int r = pread_full(rd->fd, rd->buf + rd->end, want, rd->pos + have, &got);

		if (r < 0)
			return r;
		rd->end += got;
		have += got; /* less than @need only if got < want: the end of the file */
	}
	*ret_avail = have < need ? have : need;
	return 0;
}

/* What scanning a log found. */
struct scan {
	uint64_t valid_end; /* end of the last good frame */
	uint64_t file_size;
	uint64_t last_seq; /* 0: no frame */
	uint64_t pending;  /* frames with seq >= the ack */
	const char *why;   /* why the valid part ended before the end of the file */
};

/* Grow @s's index so one more entry fits. */
static int ring_reserve(struct sink *s)
{
	if (s->count < s->cap)
		return 0;
	size_t ncap = s->cap ? s->cap * 2 : 64;
	struct ent *nr = malloc(ncap * sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	for (size_t i = 0; i < s->count; i++)
		nr[i] = s->ring[(s->head + i) & (s->cap - 1)];
	free(s->ring);
	s->ring = nr;
	s->cap = ncap;
	s->head = 0;
	return 0;
}

static void ring_push(struct sink *s, uint64_t seq, uint64_t off, uint32_t len)
{
	s->ring[(s->head + s->count) & (s->cap - 1)] = (struct ent){ seq, off, len };
	s->count++;
}

/*
 * Read the log @fd frame by frame: frames with seq >= @ack go into @s's index (if @s is not
 * NULL), and *@ret says where the valid part ends and why.
 */
static int scan_log(int fd, uint64_t ack, struct sink *s, struct scan *ret)
{
	struct reader rd = { .fd = fd };
	struct scan sc = { 0 };
	struct stat st;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	sc.file_size = (uint64_t)st.st_size;
	for (;;) {
		size_t avail;
		const uint8_t *h;

		if ((r = fill(&rd, FRAME_LEN, &avail)) < 0)
			break;
		if (avail == 0)
			break;
		if (avail < FRAME_LEN) {
			sc.why = "torn frame (shorter than its header)";
			break;
		}
		const uint32_t len = tl_get32(rd.buf + rd.start);

		if (len == 0 || len > TL_OUTBOX_MAX_ENTRY) {
			sc.why = "bad frame length";
			break;
		}
		if ((r = fill(&rd, FRAME_LEN + len, &avail)) < 0)
			break;
		if (avail < FRAME_LEN + len) {
			sc.why = "torn frame (shorter than its length)";
			break;
		}
		h = rd.buf + rd.start;
		if (tl_get32(h + 4) != frame_crc(h, h + FRAME_LEN, len)) {
			sc.why = "bad checksum";
			break;
		}
		const uint64_t seq = tl_get64(h + 8);

		if (seq == 0 || (sc.last_seq && seq != sc.last_seq + 1)) {
			sc.why = "seq out of order";
			break;
		}
		if (seq >= ack) {
			if (s) {
				if ((r = ring_reserve(s)) < 0)
					break;
				ring_push(s, seq, rd.pos, len);
			}
			sc.pending++;
		}
		sc.last_seq = seq;
		rd.start += FRAME_LEN + len;
		rd.pos += FRAME_LEN + len;
	}
	free(rd.buf);
	if (r < 0)
		return r;
	sc.valid_end = rd.pos;
	if (sc.valid_end == sc.file_size)
		sc.why = NULL;
	*ret = sc;
	return 0;
}

/* ---- open and close --------------------------------------------------------------------- */

static void sink_fini(struct sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->ring);
	s->ring = NULL;
}

void tl_outbox_close(struct tl_outbox *o)
{
	if (!o)
		return;
	for (size_t i = 0; o->sinks && i < o->n; i++)
		sink_fini(&o->sinks[i]);
	free(o->sinks);
	free(o->rbuf);
	if (o->lockfd >= 0)
		close(o->lockfd); /* releases the flock */
	if (o->dirfd >= 0)
		close(o->dirfd);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

/* Open sink @s's log, read its ack and index its pending entries; cut a torn tail. */
static int sink_open(struct tl_outbox *o, struct sink *s, char *note, size_t notelen, char *err,
		     size_t errlen)
{
	char fname[NAME_MAX_LEN + sizeof(LOG_SUFFIX)];
	const char *why = NULL;
	struct scan sc = { 0 };
	int r;

	if ((r = ack_read(o->dirfd, s->name, &s->ack, &why)) < 0) {
		if (r == TL_ECORRUPT)
			fmt_err(err, errlen, "%s/%s" ACK_SUFFIX ": not an outbox ack file (%s)",
				o->dir, s->name, why);
		else
			fmt_err(err, errlen, "%s/%s" ACK_SUFFIX ": cannot read: %s", o->dir,
				s->name, tl_strerror(r));
		return r;
	}
	(void)snprintf(fname, sizeof(fname), "%s" LOG_SUFFIX, s->name);
	s->fd = openat(o->dirfd, fname, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (s->fd < 0) {
		r = -errno;
		fmt_err(err, errlen, "%s/%s: cannot open: %s", o->dir, fname, tl_strerror(r));
		return r;
	}
	if ((r = scan_log(s->fd, s->ack, s, &sc)) < 0) {
		fmt_err(err, errlen, "%s/%s: cannot read: %s", o->dir, fname, tl_strerror(r));
		return r;
	}
	if (sc.why) {
		if (ftruncate(s->fd, (off_t)sc.valid_end) < 0 || fsync(s->fd) < 0) {
			r = -errno;
			fmt_err(err, errlen, "%s/%s: offset %llu: cannot cut the torn tail: %s",
				o->dir, fname, (unsigned long long)sc.valid_end, tl_strerror(r));
			return r;
		}
		note_add(note, notelen, "outbox: %s/%s: offset %llu: %s; cut %llu bytes there",
			 o->dir, fname, (unsigned long long)sc.valid_end, sc.why,
			 (unsigned long long)(sc.file_size - sc.valid_end));
	}
	s->size = sc.valid_end;
	s->next_seq = s->ack;
	if (sc.last_seq && sc.last_seq >= s->next_seq)
		s->next_seq = sc.last_seq == UINT64_MAX ? UINT64_MAX : sc.last_seq + 1;
	/*
	 * All done (the ack file says so: a crash before this is harmless), and more than
	 * 1 MiB, or the ack is past the last frame's seq + 1 (a crash lost appends that were
	 * not synced, but done): started afresh, so the next frame's seq follows its
	 * predecessor's, or there is none.
	 */
	if (s->count == 0 && s->size > 0 &&
	    (s->size > AFRESH_BYTES || s->next_seq > sc.last_seq + 1)) {
		if (ftruncate(s->fd, 0) < 0 || fsync(s->fd) < 0) {
			r = -errno;
			fmt_err(err, errlen, "%s/%s: cannot start afresh: %s", o->dir, fname,
				tl_strerror(r));
			return r;
		}
		s->size = 0;
	}
	return 0;
}

/* Whether @name is one of the @n names. */
static bool named(const char *name, size_t len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return true;
	return false;
}

/* Say which logs in the directory belong to no sink named, and what they hold. */
static void note_orphans(struct tl_outbox *o, const char *const *names, size_t n, char *note,
			 size_t notelen)
{
	int fd = dup(o->dirfd);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) { /* NOLINT(concurrency-mt-unsafe): one DIR per call */
		char sname[NAME_MAX_LEN + 1];
		size_t len = strlen(de->d_name);
		const size_t sl = sizeof(LOG_SUFFIX) - 1;
		const char *why = NULL, *what = "";
		struct scan sc = { 0 };
		uint64_t ack = 1;

		if (len <= sl || len - sl > NAME_MAX_LEN ||
		    strcmp(de->d_name + len - sl, LOG_SUFFIX) != 0)
			continue;
		memcpy(sname, de->d_name, len - sl);
		sname[len - sl] = '\0';
		if (!name_ok(sname) || named(sname, len - sl, names, n))
			continue;
		if (ack_read(o->dirfd, sname, &ack, &why) < 0) {
			ack = 1;
			what = " (its ack file does not check out: all counted)";
		}
		int lfd = openat(o->dirfd, de->d_name, O_RDONLY | O_CLOEXEC);

		if (lfd < 0 || scan_log(lfd, ack, NULL, &sc) < 0) {
			note_add(note, notelen,
				 "outbox: sink '%s' is no longer configured; its events stay in "
				 "%s/%s (unreadable)",
				 sname, o->dir, de->d_name);
		} else {
			note_add(note, notelen,
				 "outbox: sink '%s' is no longer configured; its %llu pending "
				 "event%s stay in %s/%s%s",
				 sname, (unsigned long long)sc.pending, sc.pending == 1 ? "" : "s",
				 o->dir, de->d_name, what);
		}
		if (lfd >= 0)
			close(lfd);
	}
	closedir(d);
}

/* Keep other processes, and other opens in this one, out (released on close). */
static int take_lock(struct tl_outbox *o)
{
	o->lockfd = openat(o->dirfd, LOCK_FILENAME, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (o->lockfd < 0)
		return -errno;
	if (flock(o->lockfd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

int tl_outbox_open(const char *dir, const char *const *names, size_t n, struct tl_outbox **ret,
		   char *note, size_t notelen, char *err, size_t errlen)
{
	struct tl_outbox *o;
	int r;

	if (note && notelen)
		note[0] = '\0';
	if (n > TL_OUTBOX_MAX_SINKS) {
		fmt_err(err, errlen, "outbox: %zu sinks (at most %d)", n, TL_OUTBOX_MAX_SINKS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_ok(names[i]) || named(names[i], strlen(names[i]), names, i)) {
			fmt_err(err, errlen, "outbox: sink name '%.*s' is %s", NAME_MAX_LEN + 1,
				names[i],
				name_ok(names[i]) ? "given twice" : "not [A-Za-z0-9_.-]{1,64}");
			return -EINVAL;
		}
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->dirfd = o->lockfd = -1;
	if ((r = pthread_mutex_init(&o->mu, NULL)) != 0) {
		free(o);
		return -r;
	}
	if (snprintf(o->dir, sizeof(o->dir), "%s/" TL_OUTBOX_SUBDIR, dir) >= (int)sizeof(o->dir)) {
		fmt_err(err, errlen, "%s: %s", dir, tl_strerror(-ENAMETOOLONG));
		r = -ENAMETOOLONG;
		goto out_close;
	}
	o->sinks = calloc(n ? n : 1, sizeof(*o->sinks));
	if (!o->sinks) {
		r = -ENOMEM;
		goto out_close;
	}
	o->n = n;
	for (size_t i = 0; i < n; i++) {
		o->sinks[i].fd = -1;
		memcpy(o->sinks[i].name, names[i], strlen(names[i]) + 1);
	}
	if ((r = tl_mkdir_p(o->dir)) < 0) {
		fmt_err(err, errlen, "%s: cannot create: %s", o->dir, tl_strerror(r));
		goto out_close;
	}
	o->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd < 0) {
		r = -errno;
		fmt_err(err, errlen, "%s: cannot open: %s", o->dir, tl_strerror(r));
		goto out_close;
	}
	if ((r = take_lock(o)) < 0) {
		fmt_err(err, errlen, "%s/" LOCK_FILENAME ": %s", o->dir,
			r == -EBUSY ? "another process has this outbox open" : tl_strerror(r));
		goto out_close;
	}
	for (size_t i = 0; i < n; i++)
		if ((r = sink_open(o, &o->sinks[i], note, notelen, err, errlen)) < 0)
			goto out_close;
	/* the logs just created must survive a crash with what is appended to them */
	if (fsync(o->dirfd) < 0) {
		r = -errno;
		fmt_err(err, errlen, "%s: cannot sync: %s", o->dir, tl_strerror(r));
		goto out_close;
	}
	note_orphans(o, names, n, note, notelen);
	*ret = o;
	return 0;

out_close:
	tl_outbox_close(o);
	return r;
}

/* ---- the writer ------------------------------------------------------------------------- */

/* Cut a partial frame off @s's log; if that fails, every later append fails. */
static void cut_partial(struct sink *s)
{
	if (ftruncate(s->fd, (off_t)s->size) < 0)
		s->err = -errno;
}

int tl_outbox_append(struct tl_outbox *o, size_t sink, const void *p, size_t len, int64_t now_ns)
{
	uint8_t h[FRAME_LEN];
	struct iovec iov[2];
	size_t done = 0;
	struct sink *s;
	int r = 0;

	if (sink >= o->n || len == 0 || len > TL_OUTBOX_MAX_ENTRY)
		return -EINVAL;
	s = &o->sinks[sink];
	pthread_mutex_lock(&o->mu);
	if (s->err) {
		r = s->err;
		goto out_unlock;
	}
	if (s->next_seq == UINT64_MAX) {
		r = -EOVERFLOW;
		goto out_unlock;
	}
	if ((r = ring_reserve(s)) < 0)
		goto out_unlock;
	frame_make(h, s->next_seq, now_ns, p, len);
	while (done < FRAME_LEN + len) {
		/* one writev(2) of the whole frame; more only after a short write */
		int k = 0;

		if (done < FRAME_LEN) {
			iov[k].iov_base = h + done;
			iov[k++].iov_len = FRAME_LEN - done;
		}
		const size_t pdone = done > FRAME_LEN ? done - FRAME_LEN : 0;

		/* writev only reads it; the cast drops the const */
		iov[k].iov_base =
		    (void *)((uintptr_t)p + pdone); /* NOLINT(performance-no-int-to-ptr) */
		iov[k++].iov_len = len - pdone;

		ssize_t w = writev(s->fd, iov, k);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) { /* 0: no progress, and no errno to tell why */
			r = w < 0 ? -errno : -EIO;
			if (done)
				cut_partial(s);
			goto out_unlock;
		}
		done += (size_t)w;
	}
	ring_push(s, s->next_seq, s->size, (uint32_t)len);
	s->next_seq++;
	s->size += FRAME_LEN + len;
	s->dirty = true;
out_unlock:
	pthread_mutex_unlock(&o->mu);
	return r;
}

int tl_outbox_sync(struct tl_outbox *o)
{
	int fds[TL_OUTBOX_MAX_SINKS];
	size_t idx[TL_OUTBOX_MAX_SINKS], k = 0;
	int r = 0;

	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->n; i++) {
		if (!o->sinks[i].dirty)
			continue;
		o->sinks[i].dirty = false;
		idx[k] = i;
		fds[k++] = o->sinks[i].fd;
	}
	pthread_mutex_unlock(&o->mu);
	for (size_t j = 0; j < k; j++) {
		if (fdatasync(fds[j]) == 0)
			continue;
		if (r == 0)
			r = -errno;
		pthread_mutex_lock(&o->mu);
		o->sinks[idx[j]].dirty = true; /* the next sync tries again */
		pthread_mutex_unlock(&o->mu);
	}
	return r;
}

size_t tl_outbox_pending(struct tl_outbox *o, size_t sink)
{
	size_t n;

	if (sink >= o->n)
		return 0;
	pthread_mutex_lock(&o->mu);
	n = o->sinks[sink].count;
	pthread_mutex_unlock(&o->mu);
	return n;
}

/* ---- the delivery thread ---------------------------------------------------------------- */

/*
 * On TL_ECORRUPT, ret->seq is the damaged entry's (for the dead letter and the done() that
 * follows), ret->enqueued_ns 0 and ret->data empty.
 */
int tl_outbox_peek(struct tl_outbox *o, size_t sink, struct tl_outbox_entry *ret)
{
	struct sink *s;
	struct ent e;
	size_t need, got = 0;
	int r;

	if (sink >= o->n)
		return -EINVAL;
	s = &o->sinks[sink];
	pthread_mutex_lock(&o->mu);
	const bool any = s->count != 0;

	if (any)
		e = s->ring[s->head];
	pthread_mutex_unlock(&o->mu);
	if (!any)
		return 0;
	need = FRAME_LEN + e.len;
	if (o->rcap < need) {
		uint8_t *nb = realloc(o->rbuf, need);

		if (!nb)
			return -ENOMEM;
		o->rbuf = nb;
		o->rcap = need;
	}
	if ((r = pread_full(s->fd, o->rbuf, need, e.off, &got)) < 0)
		return r;
	const uint8_t *h = o->rbuf;

	if (got < need || tl_get32(h) != e.len || tl_get64(h + 8) != e.seq ||
	    tl_get32(h + 4) != frame_crc(h, h + FRAME_LEN, e.len)) {
		ret->seq = e.seq;
		ret->enqueued_ns = 0;
		tl_buf_reset(&ret->data);
		return TL_ECORRUPT;
	}
	tl_buf_reset(&ret->data);
	tl_buf_put(&ret->data, h + FRAME_LEN, e.len);
	if (!tl_buf_ok(&ret->data))
		return -ENOMEM;
	ret->seq = e.seq;
	ret->enqueued_ns = (int64_t)tl_get64(h + 16);
	return 1;
}

int tl_outbox_done(struct tl_outbox *o, size_t sink, uint64_t seq)
{
	struct sink *s;
	bool pending;
	int r;

	if (sink >= o->n)
		return -EINVAL;
	s = &o->sinks[sink];
	pthread_mutex_lock(&o->mu);
	pending = s->count && seq >= s->ring[s->head].seq && seq < s->next_seq;
	pthread_mutex_unlock(&o->mu);
	if (!pending)
		return -EINVAL;
	/* without the lock: only this thread writes acks, and the entries stay pending */
	if ((r = ack_write(o->dirfd, s->name, seq + 1)) < 0)
		return r;
	pthread_mutex_lock(&o->mu);
	s->ack = seq + 1;
	while (s->count && s->ring[s->head].seq <= seq) {
		s->head = (s->head + 1) & (s->cap - 1);
		s->count--;
	}
	if (s->count == 0) {
		s->head = 0;
		if (s->cap > RING_KEEP) {
			free(s->ring);
			s->ring = NULL;
			s->cap = 0;
		}
		/* every entry is done (the ack file says so): start the log afresh; if that
		 * fails it is tried again at the next done() */
		if (s->size > AFRESH_BYTES && ftruncate(s->fd, 0) == 0)
			s->size = 0;
	}
	pthread_mutex_unlock(&o->mu);
	return 0;
}
