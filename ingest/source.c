/*
 * ingest/source.c - inputs: read plain, gzip or zstd bytes in chunks and frame them into units
 * (see tripline/source.h).
 *
 * Each chunk becomes a refcounted batch; the bytes of a unit that does not end in the chunk
 * (at most TL_MAX_RECORD of them) are copied to the start of the next batch, so every unit is
 * contiguous and followed by TL_UNIT_PADDING readable bytes. Memory per input is bounded by
 * one batch of TL_MAX_RECORD + chunk bytes and the decompressor's window.
 *
 * Document framing is a byte-wise scanner that tracks strings, nesting and, inside each
 * top-level object, whether its "records" key holds an array; it never validates beyond
 * structure: each unit it cuts is then parsed by the decoder.
 * Thread: the owner of the input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include <tripline/source.h>

#define TL_DEFAULT_CHUNK (256u * 1024)
#define TL_CBUF          (128u * 1024)
#define TL_MAX_DEPTH     256

enum codec { CODEC_UNKNOWN, CODEC_RAW, CODEC_GZIP, CODEC_ZSTD };

/* Document framer. Offsets are absolute (decompressed input offsets). */
struct docstate {
	int depth;
	bool in_str, esc;
	unsigned char kinds[TL_MAX_DEPTH + 1]; /* '{' or '[' for each open depth */

	/* the unit being cut: a record (or a top-level value that is not an envelope) */
	bool in_unit;
	uint64_t unit_start;
	uint64_t unit_line;
	int unit_depth;     /* depth outside the unit's value: it ends when depth returns */
	bool unit_scalar;   /* a scalar element: ends at ',' or the closing bracket */
	bool unit_oversize; /* reported already; skip to its end */

	/* the top-level object that may turn out to be an envelope */
	int cand_depth;  /* depth inside its braces, 0 = none */
	bool expect_key; /* next string at cand_depth is a key */
	bool in_key;
	char key[8];
	int key_len;
	bool key_records;  /* the last key at cand_depth was "records" */
	bool want_value;   /* after ':' of a key at cand_depth */
	int records_depth; /* depth inside the records array, 0 = none */
	int array_depth;   /* depth inside a top-level array of envelopes/records, 0 = none */

	/* after a structural error: skip to a line that starts with '{' or '[' */
	bool resync;
	uint64_t err_start;
	uint64_t err_line;
	const char *err_what;
	bool err_reported; /* its first TL_MAX_RECORD bytes went out already */
	bool prev_newline;

	uint64_t line;    /* line of the next byte */
	uint64_t scanned; /* input offset of the next byte to scan */
};

struct tl_input {
	char *name;
	uint32_t index;
	int fd;
	enum codec codec;
	size_t chunk;

	unsigned char *cbuf; /* compressed bytes (also the first raw bytes, for sniffing) */
	size_t cbuf_len, cbuf_pos;
	bool file_eof;
	uint64_t in_bytes;  /* read from the file */
	uint64_t out_bytes; /* produced after decompression */

	z_stream z; /* initialised when codec is CODEC_GZIP */
	bool z_member_open;
	ZSTD_DCtx *zd;
	size_t zstd_last; /* last ZSTD_decompressStream result: 0 at a frame end */

	enum tl_framing framing;
	struct tl_batch *batch;
	uint64_t batch_offset; /* input offset of batch->data[0] */
	size_t carry_from;     /* bytes of batch->data from here on go to the next batch */
	bool eof;              /* no more bytes will be produced */
	bool done;             /* framing finished */

	/* lines framing */
	uint64_t line; /* line of batch->data[0] ... updated as lines are cut */
	bool skipping_line;

	struct docstate ds;
};

/* ---- batches ---------------------------------------------------------------------------- */

struct tl_batch *tl_batch_new(size_t cap)
{
	struct tl_batch *b = malloc(sizeof(*b) + cap + TL_UNIT_PADDING);

	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->input = 0;
	b->len = 0;
	b->cap = cap;
	return b;
}

struct tl_batch *tl_batch_ref(struct tl_batch *b)
{
	/* relaxed: a new reference is taken from one already held */
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

void tl_batch_unref(struct tl_batch *b)
{
	if (!b)
		return;
	/* acq_rel: the last holder must see every other holder's reads done before freeing */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}

/* ---- reading and decompression ----------------------------------------------------------- */

static int read_file(struct tl_input *in, unsigned char *dst, size_t cap, size_t *ret_n)
{
	for (;;) {
		ssize_t n = read(in->fd, dst, cap);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		*ret_n = (size_t)n;
		in->in_bytes += (uint64_t)n;
		return 0;
	}
}

static int fill_cbuf(struct tl_input *in)
{
	size_t n = 0;
	int r;

	if (in->cbuf_pos < in->cbuf_len || in->file_eof)
		return 0;
	if ((r = read_file(in, in->cbuf, TL_CBUF, &n)) < 0)
		return r;
	in->cbuf_pos = 0;
	in->cbuf_len = n;
	if (n == 0)
		in->file_eof = true;
	return 0;
}

static int sniff(struct tl_input *in)
{
	int r;

	/* the magic numbers may straddle short reads of a pipe */
	while (in->cbuf_len < 4 && !in->file_eof) {
		size_t n = 0;

		if ((r = read_file(in, in->cbuf + in->cbuf_len, TL_CBUF - in->cbuf_len, &n)) < 0)
			return r;
		if (n == 0)
			in->file_eof = true;
		in->cbuf_len += n;
	}
	const unsigned char *m = in->cbuf;

	if (in->cbuf_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
		memset(&in->z, 0, sizeof(in->z));
		if (inflateInit2(&in->z, 15 + 32) != Z_OK)
			return -ENOMEM;
		in->codec = CODEC_GZIP;
	} else if (in->cbuf_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f &&
		   m[3] == 0xfd) {
		in->zd = ZSTD_createDCtx();
		if (!in->zd)
			return -ENOMEM;
		in->codec = CODEC_ZSTD;
	} else {
		in->codec = CODEC_RAW;
	}
	return 0;
}

/* Produce up to @cap decompressed bytes at @dst; 0 bytes means the end of the input. */
static int produce(struct tl_input *in, unsigned char *dst, size_t cap, size_t *ret_n)
{
	int r;

	if (in->codec == CODEC_UNKNOWN && (r = sniff(in)) < 0)
		return r;
	if (in->codec == CODEC_RAW) {
		if (in->cbuf_pos < in->cbuf_len) {
			size_t n =
			    in->cbuf_len - in->cbuf_pos < cap ? in->cbuf_len - in->cbuf_pos : cap;

			memcpy(dst, in->cbuf + in->cbuf_pos, n);
			in->cbuf_pos += n;
			*ret_n = n;
			return 0;
		}
		if (in->file_eof) {
			*ret_n = 0;
			return 0;
		}
		return read_file(in, dst, cap, ret_n);
	}
	for (;;) {
		if ((r = fill_cbuf(in)) < 0)
			return r;
		if (in->cbuf_pos == in->cbuf_len) {
			/* end of the file: a stream cut short is an error, not an end */
			if (in->codec == CODEC_GZIP && in->z_member_open)
				return TL_ECOMPRESS;
			if (in->codec == CODEC_ZSTD && in->zstd_last != 0)
				return TL_ECOMPRESS;
			*ret_n = 0;
			return 0;
		}
		if (in->codec == CODEC_GZIP) {
			in->z.next_in = in->cbuf + in->cbuf_pos;
			in->z.avail_in = (uInt)(in->cbuf_len - in->cbuf_pos);
			in->z.next_out = dst;
			in->z.avail_out = (uInt)cap;
			in->z_member_open = true;
			int zr = inflate(&in->z, Z_NO_FLUSH);

			in->cbuf_pos = in->cbuf_len - in->z.avail_in;
			if (zr == Z_STREAM_END) {
				/* concatenated members (gzip -c a b > c) go on */
				in->z_member_open = false;
				if (inflateReset(&in->z) != Z_OK)
					return TL_ECOMPRESS;
			} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
				return TL_ECOMPRESS;
			}
			*ret_n = cap - in->z.avail_out;
		} else {
			ZSTD_inBuffer ib = { in->cbuf, in->cbuf_len, in->cbuf_pos };
			ZSTD_outBuffer ob = { dst, cap, 0 };
			size_t zr = ZSTD_decompressStream(in->zd, &ob, &ib);

			if (ZSTD_isError(zr))
				return TL_ECOMPRESS;
			in->zstd_last = zr;
			in->cbuf_pos = ib.pos;
			*ret_n = ob.pos;
		}
		if (*ret_n > 0)
			return 0;
	}
}

/* ---- open / close ----------------------------------------------------------------------- */

int tl_input_open(const char *path, uint32_t index, size_t chunk, struct tl_input **ret_in)
{
	struct tl_input *in = calloc(1, sizeof(*in));
	int r;

	if (!in)
		return -ENOMEM;
	in->index = index;
	in->chunk = chunk ? chunk : TL_DEFAULT_CHUNK;
	in->name = strdup(path);
	in->cbuf = malloc(TL_CBUF);
	in->line = 1;
	in->ds.line = 1;
	in->ds.prev_newline = true;
	if (!in->name || !in->cbuf) {
		r = -ENOMEM;
		goto out_free;
	}
	if (strcmp(path, "-") == 0) {
		in->fd = STDIN_FILENO;
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0) {
			r = -errno;
			goto out_free;
		}
	}
	*ret_in = in;
	return 0;

out_free:
	free(in->cbuf);
	free(in->name);
	free(in);
	return r;
}

void tl_input_close(struct tl_input *in)
{
	if (!in)
		return;
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	if (in->codec == CODEC_GZIP)
		inflateEnd(&in->z);
	ZSTD_freeDCtx(in->zd);
	tl_batch_unref(in->batch);
	free(in->cbuf);
	free(in->name);
	free(in);
}

const char *tl_input_name(const struct tl_input *in)
{
	return in->name;
}

enum tl_framing tl_input_framing(const struct tl_input *in)
{
	return in->framing;
}

uint64_t tl_input_offset(const struct tl_input *in)
{
	return in->out_bytes;
}

uint64_t tl_input_compressed_offset(const struct tl_input *in)
{
	return in->in_bytes;
}

void tl_frames_fini(struct tl_frames *f)
{
	free(f->f);
	*f = (struct tl_frames){ 0 };
}

int tl_decode_frames(struct tl_decoder *d, const struct tl_frames *fr, struct tl_evbuf *out)
{
	for (size_t i = 0; i < fr->n; i++) {
		const struct tl_frame *f = &fr->f[i];
		int r;

		if (f->error)
			tl_decoder_report(d, &f->u, f->error, f->truncated);
		else if ((r = tl_decoder_unit(d, &f->u, out)) < 0)
			return r;
	}
	return 0;
}

static int push_frame(struct tl_input *in, struct tl_frames *out, uint64_t offset, size_t len,
		      uint64_t line, const char *error, bool truncated)
{
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 1024;
		struct tl_frame *f = realloc(out->f, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		out->f = f;
		out->cap = cap;
	}
	out->f[out->n++] = (struct tl_frame){
		.u = { .data = (const char *)in->batch->data + (offset - in->batch_offset),
		       .len = len,
		       .batch = in->batch,
		       .input = in->index,
		       .offset = offset,
		       .line = line },
		.error = error,
		.truncated = truncated,
	};
	return 0;
}

/* ---- lines framing ---------------------------------------------------------------------- */

/* The line of @n bytes at @p in the batch: a unit, or past TL_MAX_RECORD its head, reported. */
static int push_line(struct tl_input *in, struct tl_frames *out, size_t p, size_t n)
{
	const bool big = n > TL_MAX_RECORD;

	return push_frame(in, out, in->batch_offset + p, big ? TL_MAX_RECORD : n, in->line,
			  big ? "line larger than 1 MiB" : NULL, big);
}

static int frame_lines(struct tl_input *in, struct tl_frames *out)
{
	const char *data = (const char *)in->batch->data;
	const size_t len = in->batch->len;
	size_t p = 0;
	int r;

	while (p < len) {
		const char *nl = memchr(data + p, '\n', len - p);

		if (!nl)
			break;
		size_t e = (size_t)(nl - data);

		if (in->skipping_line)
			in->skipping_line = false; /* the tail of a line already reported */
		else if (e > p && (r = push_line(in, out, p, e - p)) < 0)
			return r;
		in->line++;
		p = e + 1;
	}
	if (p < len && in->eof && !in->skipping_line) {
		if ((r = push_line(in, out, p, len - p)) < 0)
			return r;
		p = len;
	}
	if (p < len && !in->skipping_line && len - p > TL_MAX_RECORD) {
		/* a line longer than any event: report its head, drop the rest of it */
		if ((r = push_line(in, out, p, len - p)) < 0)
			return r;
		in->skipping_line = true;
		p = len;
	}
	in->carry_from = in->skipping_line ? len : p;
	return 0;
}

/* ---- document framing ------------------------------------------------------------------- */

static void unit_begin(struct docstate *s, uint64_t at, bool scalar)
{
	s->in_unit = true;
	s->unit_start = at;
	s->unit_line = s->line;
	s->unit_depth = s->depth;
	s->unit_scalar = scalar;
	s->unit_oversize = false;
}

static int unit_end(struct tl_input *in, struct tl_frames *out, uint64_t end)
{
	struct docstate *s = &in->ds;

	s->in_unit = false;
	if (s->unit_oversize)
		return 0;
	return push_frame(in, out, s->unit_start, (size_t)(end - s->unit_start), s->unit_line, NULL,
			  false);
}

static void doc_error(struct docstate *s, uint64_t at, const char *what)
{
	s->resync = true;
	s->err_what = what;
	s->err_reported = false;
	if (s->in_unit && !s->unit_oversize) {
		s->err_start = s->unit_start;
		s->err_line = s->unit_line;
	} else {
		s->err_start = at;
		s->err_line = s->line;
	}
	s->in_unit = false;
	s->depth = 0;
	s->in_str = s->esc = false;
	s->cand_depth = s->records_depth = s->array_depth = 0;
	s->in_key = s->want_value = s->key_records = false;
}

/* Report the bytes from the error to @end (where scanning resumes). */
static int resync_end(struct tl_input *in, struct tl_frames *out, uint64_t end)
{
	struct docstate *s = &in->ds;
	uint64_t n = end - s->err_start;
	bool truncated = n > TL_MAX_RECORD;

	s->resync = false;
	if (s->err_reported)
		return 0;
	return push_frame(in, out, s->err_start, truncated ? TL_MAX_RECORD : (size_t)n, s->err_line,
			  s->err_what, truncated);
}

/* Start of a value at the current depth (after whitespace). */
static void value_start(struct docstate *s, uint64_t at, char c)
{
	const bool container = c == '{' || c == '[';

	if (s->depth == 0) {
		if (c == '{')
			unit_begin(s, at, false); /* a candidate: record or envelope */
		return;
	}
	if (s->in_unit)
		return;
	/* an element of a records array, or of a top-level array (its objects are candidates) */
	if ((s->records_depth && s->depth == s->records_depth) ||
	    (s->array_depth && s->depth == s->array_depth))
		unit_begin(s, at, !container);
}

static int frame_document(struct tl_input *in, struct tl_frames *out)
{
	struct docstate *s = &in->ds;
	const char *data = (const char *)in->batch->data;
	const size_t len = in->batch->len;
	const uint64_t base = in->batch_offset;
	int r;

	/* carried bytes were scanned with the previous batch */
	if (s->scanned < base)
		s->scanned = base;
	for (size_t p = (size_t)(s->scanned - base); p < len; p++) {
		const char c = data[p];
		const uint64_t at = base + p;

		if (s->resync) {
			if (s->prev_newline && (c == '{' || c == '[')) {
				if ((r = resync_end(in, out, at)) < 0)
					return r;
			} else {
				if (c == '\n')
					s->line++;
				s->prev_newline = c == '\n';
				continue;
			}
		}
		s->prev_newline = c == '\n';
		if (s->in_str) {
			if ((unsigned char)c < 0x20) {
				/* raw control characters are invalid in a string, escaped or not */
				doc_error(s, at, "bad JSON: control character in a string");
				if (c == '\n')
					s->line++;
				continue;
			}
			if (s->esc) {
				s->esc = false;
			} else if (c == '\\') {
				s->esc = true;
			} else if (c == '"') {
				s->in_str = false;
				if (s->in_key) {
					s->in_key = false;
					s->key_records =
					    s->key_len == 7 && memcmp(s->key, "records", 7) == 0;
				}
			} else if (s->in_key && s->key_len < (int)sizeof(s->key)) {
				s->key[s->key_len++] = c;
			} else if (s->in_key) {
				s->key_len = (int)sizeof(s->key) + 1;
			}
			goto out_check_size;
		}
		switch (c) {
		case '\n':
			s->line++;
			TL_FALLTHROUGH;
		case ' ':
		case '\t':
		case '\r':
			break;
		case '"':
			if (s->depth == 0) {
				doc_error(s, at,
					  "bad JSON: a top-level value that is not an object or "
					  "array");
				break;
			}
			if (s->cand_depth && s->depth == s->cand_depth && s->expect_key) {
				s->in_key = true;
				s->key_len = 0;
				s->expect_key = false;
			} else {
				value_start(s, at, c);
				s->want_value = false;
			}
			s->in_str = true;
			break;
		case '{':
		case '[':
			if (s->depth == TL_MAX_DEPTH) {
				doc_error(s, at, "bad JSON: nested deeper than 256 levels");
				break;
			}
			value_start(s, at, c);
			if (s->cand_depth && s->depth == s->cand_depth && s->want_value &&
			    s->key_records && c == '[' && !s->records_depth) {
				/* an envelope: its records array holds the units; the envelope's
				 * own bytes are not a unit */
				s->records_depth = s->depth + 1;
				s->in_unit = false;
			}
			s->want_value = false;
			s->depth++;
			s->kinds[s->depth] = (unsigned char)c;
			if (c == '{' && s->in_unit && s->unit_start == at && !s->unit_scalar &&
			    (s->depth == 1 || (s->array_depth && s->depth == s->array_depth + 1))) {
				s->cand_depth = s->depth;
				s->expect_key = true;
				s->records_depth = 0;
			} else if (c == '[' && s->depth == 1) {
				s->array_depth = 1;
			}
			break;
		case '}':
		case ']':
			if (s->depth == 0 || s->kinds[s->depth] != (c == '}' ? '{' : '[')) {
				doc_error(s, at, "bad JSON: unbalanced brackets");
				break;
			}
			if (s->in_unit && s->unit_scalar && s->depth == s->unit_depth) {
				if ((r = unit_end(in, out, at)) < 0)
					return r;
			}
			if (s->records_depth && s->depth == s->records_depth)
				s->records_depth = 0;
			if (s->cand_depth && s->depth == s->cand_depth)
				s->cand_depth = 0;
			if (s->array_depth && s->depth == s->array_depth)
				s->array_depth = 0;
			s->depth--;
			if (s->in_unit && !s->unit_scalar && s->depth == s->unit_depth) {
				if ((r = unit_end(in, out, at + 1)) < 0)
					return r;
			}
			break;
		case ',':
			if (s->depth == 0) {
				doc_error(s, at, "bad JSON: ',' outside any value");
				break;
			}
			if (s->in_unit && s->unit_scalar && s->depth == s->unit_depth) {
				if ((r = unit_end(in, out, at)) < 0)
					return r;
			}
			if (s->cand_depth && s->depth == s->cand_depth) {
				s->expect_key = true;
				s->key_records = false;
			}
			break;
		case ':':
			if (s->cand_depth && s->depth == s->cand_depth)
				s->want_value = true;
			break;
		default:
			if (s->depth == 0) {
				doc_error(s, at,
					  "bad JSON: a top-level value that is not an object or "
					  "array");
				break;
			}
			/* a number, true, false or null */
			value_start(s, at, c);
			s->want_value = false;
			break;
		}
	out_check_size:
		if (s->in_unit && !s->unit_oversize && at + 1 - s->unit_start > TL_MAX_RECORD) {
			if ((r = push_frame(in, out, s->unit_start, TL_MAX_RECORD, s->unit_line,
					    "record larger than 1 MiB", true)) < 0)
				return r;
			s->unit_oversize = true;
		}
	}
	s->scanned = base + len;
	if (in->eof) {
		if (s->resync) {
			if ((r = resync_end(in, out, base + len)) < 0)
				return r;
		} else if (s->in_unit || s->depth > 0) {
			doc_error(s, base + len, "bad JSON: the input ends inside a value");
			if ((r = resync_end(in, out, base + len)) < 0)
				return r;
		}
		in->carry_from = len;
		return 0;
	}
	/* keep what the next batch needs: the unit (or the bytes of an error) in progress */
	in->carry_from = len;
	if (s->resync && !s->err_reported) {
		if (base + len - s->err_start > TL_MAX_RECORD) {
			/* report the head now; what follows up to the resync point is dropped */
			if ((r = push_frame(in, out, s->err_start, TL_MAX_RECORD, s->err_line,
					    s->err_what, true)) < 0)
				return r;
			s->err_reported = true;
		} else {
			in->carry_from = (size_t)(s->err_start - base);
		}
	} else if (!s->resync && s->in_unit && !s->unit_oversize) {
		in->carry_from = (size_t)(s->unit_start - base);
	}
	return 0;
}

/* ---- framing choice --------------------------------------------------------------------- */

/*
 * Lines framing when the first value of @data ends before its first newline, document
 * framing when a newline comes inside it; unknown until one of them (or the end, or
 * TL_MAX_RECORD bytes) has been seen.
 */
static enum tl_framing choose_framing(const char *data, size_t len, bool eof)
{
	size_t p = 0;
	int depth = 0;
	bool in_str = false, esc = false;

	while (p < len && (data[p] == ' ' || data[p] == '\t' || data[p] == '\r' || data[p] == '\n'))
		p++;
	if (p == len)
		return eof || len >= TL_MAX_RECORD ? TL_FRAMING_LINES : TL_FRAMING_UNKNOWN;
	if (data[p] != '{' && data[p] != '[')
		return TL_FRAMING_LINES;
	for (; p < len; p++) {
		char c = data[p];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			else if (c == '\n')
				return TL_FRAMING_LINES; /* a broken line: report it as a line */
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (--depth == 0)
				return TL_FRAMING_LINES;
		} else if (c == '\n')
			return TL_FRAMING_DOCUMENT;
	}
	if (eof)
		return TL_FRAMING_LINES; /* one value cut short: one broken line */
	/* a single line this long: the document framer reads it record by record */
	return len >= TL_MAX_RECORD ? TL_FRAMING_DOCUMENT : TL_FRAMING_UNKNOWN;
}

/* ---- next ------------------------------------------------------------------------------- */

int tl_input_next(struct tl_input *in, struct tl_frames *out)
{
	struct tl_batch *prev = in->batch, *b;
	size_t carry = prev ? prev->len - in->carry_from : 0;
	int r = 0;

	out->n = 0;
	if (in->done)
		return 1;
	b = tl_batch_new(carry + in->chunk);
	if (!b)
		return -ENOMEM;
	b->input = in->index;
	if (carry)
		memcpy(b->data, prev->data + in->carry_from, carry);
	b->len = carry;
	in->batch_offset = prev ? in->batch_offset + in->carry_from : 0;
	tl_batch_unref(prev);
	in->batch = b;
	/* fill the chunk (pipes return short reads) */
	while (!in->eof && b->len < b->cap) {
		size_t n = 0;

		r = produce(in, b->data + b->len, b->cap - b->len, &n);
		if (r < 0) {
			in->eof = true; /* frame what arrived, then report the error */
			break;
		}
		if (n == 0)
			in->eof = true;
		b->len += n;
		in->out_bytes += n;
	}
	memset(b->data + b->len, ' ', TL_UNIT_PADDING);
	if (in->framing == TL_FRAMING_UNKNOWN) {
		in->framing = choose_framing((const char *)b->data, b->len, in->eof);
		if (in->framing == TL_FRAMING_UNKNOWN) {
			/* keep everything for the next read: framing must not depend on where a
			 * read happens to end (choose_framing decides by TL_MAX_RECORD) */
			in->carry_from = 0;
			return r < 0 ? r : 0;
		}
	}
	int fr = in->framing == TL_FRAMING_LINES ? frame_lines(in, out) : frame_document(in, out);

	if (fr < 0)
		return fr;
	if (in->eof)
		in->done = true;
	if (r < 0)
		return r;
	return in->done && out->n == 0 ? 1 : 0;
}
