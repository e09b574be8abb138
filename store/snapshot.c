/*
 * store/snapshot.c - the evidence snapshot file (see tripline/snapshot.h): a streaming zstd
 * writer with a size bound, and a reader of its lines.
 *
 * The size bound is kept without knowing how well the bytes still inside the compressor will
 * compress: before a line goes in, the writer adds up the compressed bytes produced so far,
 * the zstd bound of the raw bytes fed since the last flush and of the line, and a reserve for
 * the trailer. Only when that estimate passes max_bytes does it flush the frame's block to
 * learn the true size and decide; far from the bound nothing is flushed, so compression is
 * that of one plain stream. The file therefore never passes max_bytes (unless the header alone
 * does), and a record is omitted only if even uncompressed it might not fit.
 *
 * Thread: a writer or a reader belongs to one thread at a time. Non-logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

#include <tripline/fs.h>
#include <tripline/snapshot.h>

#define TRAILER_RESERVE 512u
#define READ_CHUNK      (128u * 1024)

static const char header_type[] = "\"type\":\"tripline.snapshot\"";
static const char trailer_type[] = "{\"type\":\"tripline.snapshot.end\"";

struct tl_snapshot {
	int dirfd, fd;
	char *tmp, *name;
	ZSTD_CCtx *cctx;
	unsigned char *out;
	size_t out_len, out_cap;
	size_t max_bytes;
	uint64_t produced; /* compressed bytes written or waiting in out[] */
	uint64_t pending;  /* raw bytes fed since the last flush */
	bool full;         /* something was omitted: so is everything after it */
	int err;           /* first error, final */
	struct tl_snapshot_stats st;
};

static bool contains(const char *s, size_t n, const char *what)
{
	size_t m = strlen(what);

	for (size_t i = 0; i + m <= n; i++)
		if (s[i] == what[0] && memcmp(s + i, what, m) == 0)
			return true;
	return false;
}

static int zstd_err(size_t z)
{
	return ZSTD_getErrorCode(z) == ZSTD_error_memory_allocation ? -ENOMEM : TL_ECOMPRESS;
}

/* Feed @n bytes with @op; write out[] whenever it fills. Return: 0 or the (sticky) error. */
static int feed(struct tl_snapshot *w, const void *p, size_t n, ZSTD_EndDirective op)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;

	if (w->err)
		return w->err;
	do {
		ZSTD_outBuffer ob = { w->out, w->out_cap, w->out_len };

		left = ZSTD_compressStream2(w->cctx, &ob, &in, op);
		if (ZSTD_isError(left)) {
			w->err = zstd_err(left);
			return w->err;
		}
		w->produced += ob.pos - w->out_len;
		w->out_len = ob.pos;
		if (w->out_len == w->out_cap || (op != ZSTD_e_continue && left == 0)) {
			w->err = tl_write_all(w->fd, w->out, w->out_len);
			if (w->err)
				return w->err;
			w->out_len = 0;
		}
	} while (in.pos < in.size || (op != ZSTD_e_continue && left > 0));
	w->pending += n;
	if (op != ZSTD_e_continue)
		w->pending = 0;
	return 0;
}

/* Feed one line: newline bytes in it become spaces; a newline ends it. */
static int feed_line(struct tl_snapshot *w, const char *s, size_t n, bool *ret_replaced)
{
	const char *nl;
	int r;

	*ret_replaced = false;
	while ((nl = memchr(s, '\n', n)) != NULL) {
		size_t k = (size_t)(nl - s);

		r = feed(w, s, k, ZSTD_e_continue);
		if (r == 0)
			r = feed(w, " ", 1, ZSTD_e_continue);
		if (r)
			return r;
		*ret_replaced = true;
		s += k + 1;
		n -= k + 1;
	}
	r = feed(w, s, n, ZSTD_e_continue);
	return r ? r : feed(w, "\n", 1, ZSTD_e_continue);
}

/* Whether a line of @n bytes fits the bound; flushes to find out when close to it. */
static int fits(struct tl_snapshot *w, size_t n)
{
	uint64_t need = ZSTD_compressBound(n + 1) + TRAILER_RESERVE;
	int r;

	if (w->full)
		return 0;
	if (w->produced + ZSTD_compressBound(w->pending) + need <= w->max_bytes)
		return 1;
	if (w->pending) {
		r = feed(w, NULL, 0, ZSTD_e_flush);
		if (r)
			return r;
	}
	if (w->produced + need <= w->max_bytes)
		return 1;
	w->full = true;
	return 0;
}

void tl_snapshot_abort(struct tl_snapshot *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		(void)close(w->fd);
		(void)unlinkat(w->dirfd, w->tmp, 0);
	}
	if (w->dirfd >= 0)
		(void)close(w->dirfd);
	ZSTD_freeCCtx(w->cctx);
	free(w->out);
	free(w->tmp);
	free(w->name);
	free(w);
}

int tl_snapshot_create(const char *dir, const char *name, const struct tl_snapshot_opts *opts,
		       const char *header, size_t header_len, struct tl_snapshot **ret_w)
{
	size_t nlen = strlen(name), z;
	struct tl_snapshot *w;
	bool replaced;
	int level = opts && opts->level ? opts->level : TL_SNAPSHOT_LEVEL;
	int r;

	if (nlen == 0 || nlen > 200 || name[0] == '.' || strchr(name, '/'))
		return TL_EVALUE;
	if (!contains(header, header_len, header_type))
		return TL_EVALUE;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->dirfd = -1;
	w->max_bytes = opts && opts->max_bytes ? opts->max_bytes : TL_SNAPSHOT_MAX_BYTES;
	w->name = strdup(name);
	w->tmp = malloc(nlen + sizeof(".") + sizeof(".tmp"));
	w->cctx = ZSTD_createCCtx();
	w->out_cap = ZSTD_CStreamOutSize();
	w->out = malloc(w->out_cap);
	if (!w->name || !w->tmp || !w->cctx || !w->out) {
		r = -ENOMEM;
		goto out_abort;
	}
	(void)snprintf(w->tmp, nlen + sizeof(".") + sizeof(".tmp"), ".%s.tmp", name);
	z = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(z))
		z = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(z)) {
		r = TL_ECONFIG;
		goto out_abort;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		r = -errno;
		goto out_abort;
	}
	w->fd = openat(w->dirfd, w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (w->fd < 0) {
		r = -errno;
		goto out_abort;
	}
	r = feed_line(w, header, header_len, &replaced);
	if (r)
		goto out_abort;
	*ret_w = w;
	return 0;

out_abort:
	tl_snapshot_abort(w);
	return r;
}

/* One line within the bound, counted in @done (and a replaced newline in @replaced_n), or
 * counted in @omitted past it. Return: as tl_snapshot_add_line(). */
static int add(struct tl_snapshot *w, const void *data, size_t len, uint64_t *done,
	       uint64_t *omitted, uint64_t *replaced_n)
{
	bool replaced;
	int r;

	if (w->err)
		return w->err;
	r = fits(w, len);
	if (r <= 0) {
		if (r == 0)
			(*omitted)++;
		return r < 0 ? r : 1;
	}
	r = feed_line(w, data, len, &replaced);
	if (r)
		return r;
	(*done)++;
	if (replaced_n)
		*replaced_n += replaced;
	return 0;
}

int tl_snapshot_add_line(struct tl_snapshot *w, const char *json, size_t len)
{
	return add(w, json, len, &w->st.lines, &w->st.lines_omitted, NULL);
}

int tl_snapshot_add_record(struct tl_snapshot *w, const void *raw, size_t len)
{
	return add(w, raw, len, &w->st.records, &w->st.records_omitted, &w->st.newlines_replaced);
}

void tl_snapshot_stats(const struct tl_snapshot *w, struct tl_snapshot_stats *ret_st)
{
	*ret_st = w->st;
	ret_st->bytes = w->produced;
}

int tl_snapshot_finish(struct tl_snapshot *w, struct tl_snapshot_stats *ret_st)
{
	char t[320];
	int n, r;

	n = snprintf(t, sizeof(t),
		     "%s,\"records\":%llu,\"omitted\":%llu,\"lines\":%llu,\"lines_omitted\":%llu,"
		     "\"newlines_replaced\":%llu}\n",
		     trailer_type, (unsigned long long)w->st.records,
		     (unsigned long long)w->st.records_omitted, (unsigned long long)w->st.lines,
		     (unsigned long long)w->st.lines_omitted,
		     (unsigned long long)w->st.newlines_replaced);
	r = feed(w, t, (size_t)n, ZSTD_e_end);
	if (r == 0 && fsync(w->fd) < 0)
		r = -errno;
	if (close(w->fd) < 0 && r == 0)
		r = -errno;
	w->fd = -1;
	if (r == 0 && renameat(w->dirfd, w->tmp, w->dirfd, w->name) < 0)
		r = -errno;
	if (r) {
		(void)unlinkat(w->dirfd, w->tmp, 0);
		goto out_free;
	}
	if (fsync(w->dirfd) < 0)
		r = -errno;
	if (r == 0 && ret_st)
		tl_snapshot_stats(w, ret_st);
out_free:
	tl_snapshot_abort(w);
	return r;
}

/* -- the reader -- */

struct tl_snapshot_reader {
	int fd;
	bool zst, file_eof, done, complete;
	int err;
	ZSTD_DCtx *dctx;
	size_t zlast; /* last ZSTD_decompressStream() result: 0 at a frame's end */
	unsigned char *in;
	size_t in_len, in_pos;
	uint64_t file_off; /* bytes read from the file */
	char *buf;         /* decompressed text: [start, end) not yet returned */
	size_t start, end, scan, cap;
	uint64_t base; /* text offset of buf[0] */
	uint64_t line; /* lines returned */
	char *path;
	char msg[512];
};

static int fail(struct tl_snapshot_reader *rd, int err, const char *what)
{
	uint64_t at = rd->zst ? rd->file_off - (rd->in_len - rd->in_pos) : rd->base + rd->start;

	rd->err = err;
	(void)snprintf(rd->msg, sizeof(rd->msg), "%s: byte %llu of the file (line %llu): %s",
		       rd->path, (unsigned long long)at, (unsigned long long)rd->line + 1, what);
	return err;
}

static int read_in(struct tl_snapshot_reader *rd, void *dst, size_t cap, size_t *ret_n)
{
	ssize_t k;

	do
		k = read(rd->fd, dst, cap);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return fail(rd, -errno, strerror(errno));
	rd->file_off += (uint64_t)k;
	*ret_n = (size_t)k;
	return 0;
}

int tl_snapshot_open(const char *path, struct tl_snapshot_reader **ret_rd)
{
	static const unsigned char magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	struct tl_snapshot_reader *rd = calloc(1, sizeof(*rd));
	size_t n = 0;
	int r;

	if (!rd)
		return -ENOMEM;
	rd->fd = -1;
	rd->path = strdup(path);
	rd->in = malloc(READ_CHUNK);
	rd->cap = 2 * READ_CHUNK;
	rd->buf = malloc(rd->cap);
	if (!rd->path || !rd->in || !rd->buf) {
		r = -ENOMEM;
		goto out_close;
	}
	rd->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0) {
		r = -errno;
		goto out_close;
	}
	/* enough bytes to tell the magic number, short reads notwithstanding */
	while (rd->in_len < sizeof(magic) && !rd->file_eof) {
		r = read_in(rd, rd->in + rd->in_len, READ_CHUNK - rd->in_len, &n);
		if (r)
			goto out_close;
		rd->in_len += n;
		rd->file_eof = n == 0;
	}
	rd->zst = rd->in_len >= sizeof(magic) && memcmp(rd->in, magic, sizeof(magic)) == 0;
	if (rd->zst) {
		rd->dctx = ZSTD_createDCtx();
		if (!rd->dctx) {
			r = -ENOMEM;
			goto out_close;
		}
		rd->zlast = 1;
	} else {
		memcpy(rd->buf, rd->in, rd->in_len);
		rd->end = rd->in_len;
		rd->in_len = 0;
	}
	*ret_rd = rd;
	return 0;

out_close:
	tl_snapshot_close(rd);
	return r;
}

/* More text into buf[end..]. Return: bytes added (0 at the end) or an error. */
static int fill(struct tl_snapshot_reader *rd, size_t *ret_n)
{
	size_t room = rd->cap - rd->end - 1; /* one byte for the NUL after a last line */
	int r;

	if (!rd->zst) {
		r = read_in(rd, rd->buf + rd->end, room, ret_n);
		rd->end += *ret_n;
		return r;
	}
	for (;;) {
		ZSTD_outBuffer ob = { rd->buf + rd->end, room, 0 };
		ZSTD_inBuffer ib;
		size_t z;

		if (rd->in_pos == rd->in_len && !rd->file_eof) {
			r = read_in(rd, rd->in, READ_CHUNK, &rd->in_len);
			if (r)
				return r;
			rd->in_pos = 0;
			rd->file_eof = rd->in_len == 0;
		}
		if (rd->in_pos == rd->in_len && rd->zlast == 0) {
			*ret_n = 0; /* the input ended at a frame's end */
			return 0;
		}
		ib = (ZSTD_inBuffer){ rd->in, rd->in_len, rd->in_pos };
		z = ZSTD_decompressStream(rd->dctx, &ob, &ib);
		rd->in_pos = ib.pos;
		if (ZSTD_isError(z))
			return fail(rd, TL_ECOMPRESS, ZSTD_getErrorName(z));
		rd->zlast = z;
		rd->end += ob.pos;
		if (ob.pos > 0) {
			*ret_n = ob.pos;
			return 0;
		}
		if (rd->file_eof && rd->in_pos == rd->in_len && z != 0)
			return fail(rd, TL_ECOMPRESS,
				    "truncated: the file ends inside a zstd frame");
	}
}

int tl_snapshot_next(struct tl_snapshot_reader *rd, const char **ret_line, size_t *ret_len)
{
	char *nl;
	size_t n = 0;
	int r;

	if (rd->err)
		return rd->err;
	if (rd->done)
		return 0;
	for (;;) {
		nl = memchr(rd->buf + rd->scan, '\n', rd->end - rd->scan);
		if (nl)
			break;
		rd->scan = rd->end;
		if (rd->end - rd->start > TL_SNAPSHOT_LINE_MAX)
			return fail(rd, TL_ETOOBIG, "line too long");
		if (rd->start > 0) {
			memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
			rd->base += rd->start;
			rd->end -= rd->start;
			rd->scan -= rd->start;
			rd->start = 0;
		}
		if (rd->cap - rd->end - 1 < READ_CHUNK) {
			char *p = realloc(rd->buf, rd->cap * 2);

			if (!p)
				return fail(rd, -ENOMEM, "out of memory");
			rd->buf = p;
			rd->cap *= 2;
		}
		r = fill(rd, &n);
		if (r)
			return r;
		if (n == 0) {
			rd->done = true;
			if (rd->start == rd->end)
				return 0;
			nl = rd->buf + rd->end; /* a last line without a newline */
			break;
		}
	}
	*nl = '\0';
	*ret_line = rd->buf + rd->start;
	*ret_len = (size_t)(nl - (rd->buf + rd->start));
	rd->complete = *ret_len >= sizeof(trailer_type) - 1 &&
		       memcmp(*ret_line, trailer_type, sizeof(trailer_type) - 1) == 0;
	rd->start = rd->done ? rd->end : (size_t)(nl - rd->buf) + 1;
	rd->scan = rd->start;
	rd->line++;
	return 1;
}

const char *tl_snapshot_errmsg(const struct tl_snapshot_reader *rd)
{
	return rd->msg;
}

bool tl_snapshot_is_complete(const struct tl_snapshot_reader *rd)
{
	return rd->complete;
}

void tl_snapshot_close(struct tl_snapshot_reader *rd)
{
	if (!rd)
		return;
	if (rd->fd >= 0)
		(void)close(rd->fd);
	ZSTD_freeDCtx(rd->dctx);
	free(rd->in);
	free(rd->buf);
	free(rd->path);
	free(rd);
}
