/*
 * tests/fuzz/fuzz_frame.c - fuzz input reading and framing (ingest/source.c): sniffing of
 * gzip and zstd, decompression, the choice between lines and document framing, the line
 * framer and the streaming document framer.
 *
 * Input: the first byte picks the chunk size (1 + byte % 64, so chunk boundaries fall
 * everywhere); the rest is the content of a file that tl_input_open() reads. The file is a
 * temporary file, created once per process and rewritten for each input.
 *
 * Invariants (a failure traps):
 *  - every frame's unit lies inside the batch the input handed out, its padding included;
 *  - frames come in order and do not overlap; no frame is longer than TL_MAX_RECORD;
 *  - for a file that is not compressed: every frame lies inside the file, its bytes are the
 *    file's bytes at its offset, its line is the line of that offset, and at a clean end all
 *    the file has been read;
 *  - after an error the input stays at its end (the next call returns 1);
 *  - framing does not depend on the chunk size: a second read with 1 MiB chunks yields the
 *    same framing, the same end, and the same (offset, len, line, error, truncated, bytes)
 *    frames, units taken without the whitespace around them (see push_trimmed()). When a
 *    read ends in an error (corrupt compressed data), only the frames that end before the
 *    shorter read's last byte are compared, and only if both chose the same framing: how
 *    much of a corrupt stream decompresses may depend on buffer sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tripline/source.h>

#include "fuzz.h"

#define BIG_CHUNK ((size_t)1 << 20)

struct rec {
	uint64_t offset;
	uint64_t line;
	size_t len;
	const char *error;
	bool truncated;
	uint64_t hash; /* FNV-1a of the unit's bytes */
	uint64_t end;  /* offset + len of the frame before trimming */
};

struct run {
	struct rec *r;
	size_t n, cap;
	int end; /* 1, or the error that ended the input */
	enum tl_framing framing;
	uint64_t out_bytes; /* decompressed bytes read */
};

static char path[64];
static struct run small, big;
static struct tl_frames frames;

static void remove_file(void)
{
	if (path[0])
		(void)unlink(path);
}

static bool write_file(const uint8_t *data, size_t size)
{
	int fd;

	if (!path[0]) {
		(void)snprintf(path, sizeof(path), "/tmp/tl-fuzz-frame-%ld", (long)getpid());
		(void)atexit(remove_file);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	while (size > 0) {
		ssize_t n = write(fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)close(fd);
			return false;
		}
		data += n;
		size -= (size_t)n;
	}
	return close(fd) == 0;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
	return h;
}

static void push(struct run *run, const struct tl_frame *f, uint64_t end)
{
	if (run->n == run->cap) {
		size_t cap = run->cap ? run->cap * 2 : 256;
		struct rec *r = realloc(run->r, cap * sizeof(*r));

		if (!r)
			abort();
		run->r = r;
		run->cap = cap;
	}
	run->r[run->n++] = (struct rec){
		.offset = f->u.offset,
		.line = f->u.line,
		.len = f->u.len,
		.error = f->error,
		.truncated = f->truncated,
		.hash = fnv1a(f->u.data, f->u.len),
		.end = end,
	};
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Record @f for the cross-chunk comparison. A unit is recorded as the decoder sees it, without
 * the whitespace around it (tl_decoder_unit() trims it), and a whitespace-only unit not at all:
 * whitespace before the first value is dropped when the framing is still undecided at the end
 * of the first chunk, and kept otherwise, so it depends on the chunk size.
 */
static void push_trimmed(struct run *run, const struct tl_frame *f)
{
	struct tl_frame t = *f;
	size_t b = 0, e = t.u.len;

	if (!t.error) {
		while (b < e && space(t.u.data[b]))
			t.u.line += t.u.data[b++] == '\n';
		while (e > b && space(t.u.data[e - 1]))
			e--;
		if (b == e)
			return;
		t.u.data += b;
		t.u.offset += b;
		t.u.len = e - b;
	}
	push(run, &t, f->u.offset + f->u.len);
}

/* Lines of a file counted up to an offset that only grows (frames come in order). */
struct line_counter {
	uint64_t pos, line;
};

/* 1-based line of byte @offset of @file; @offset is at least that of the previous call. */
static uint64_t line_at(struct line_counter *lc, const uint8_t *file, uint64_t offset)
{
	for (; lc->pos < offset; lc->pos++)
		lc->line += file[lc->pos] == '\n';
	return lc->line;
}

/*
 * Read the file with @chunk bytes per step into @run, checking each frame. @file/@size: the
 * file's content when it is not compressed, else NULL.
 */
static void read_all(size_t chunk, struct run *run, const uint8_t *file, size_t size)
{
	struct tl_input *in;
	struct line_counter lc = { 0, 1 };
	uint64_t next = 0, last = 0; /* frames start at or after next, after last */
	bool first = true;
	int r;

	run->n = 0;
	FUZZ_CHECK(tl_input_open(path, 0, chunk, &in) == 0);
	do {
		/* frames come with every result, an error included (tools/replay.c decodes
		 * them too): what arrived before corrupt data is framed */
		r = tl_input_next(in, &frames);
		for (size_t i = 0; i < frames.n; i++) {
			const struct tl_frame *f = &frames.f[i];
			const struct tl_batch *b = f->u.batch;

			FUZZ_CHECK(b != NULL && b->input == 0 && f->u.input == 0);
			const char *d = (const char *)b->data;

			FUZZ_CHECK(f->u.data >= d && f->u.len <= b->len &&
				   (size_t)(f->u.data - d) <= b->len - f->u.len);
			/* the padding after the unit is readable (ASan checks the read) */
			volatile char pad = f->u.data[f->u.len + TL_UNIT_PADDING - 1];
			(void)pad;
			FUZZ_CHECK(f->u.len <= TL_MAX_RECORD);
			FUZZ_CHECK(f->error != NULL || !f->truncated);
			FUZZ_CHECK(f->error == NULL || f->error[0] != '\0');
			FUZZ_CHECK(f->u.line >= 1);
			FUZZ_CHECK(f->u.offset >= next && (f->u.offset > last || first));
			first = false;
			last = f->u.offset;
			next = f->u.offset + f->u.len;
			if (file) {
				FUZZ_CHECK(f->u.offset <= size && f->u.len <= size - f->u.offset);
				FUZZ_CHECK(memcmp(f->u.data, file + f->u.offset, f->u.len) == 0);
				FUZZ_CHECK(f->u.line == line_at(&lc, file, f->u.offset));
			}
			push_trimmed(run, f);
		}
	} while (r == 0);
	run->end = r;
	run->framing = tl_input_framing(in);
	run->out_bytes = tl_input_offset(in);
	if (r < 0)
		FUZZ_CHECK(tl_input_next(in, &frames) == 1 && frames.n == 0);
	else if (file)
		FUZZ_CHECK(run->out_bytes == size);
	FUZZ_CHECK(r != 1 || run->framing != TL_FRAMING_UNKNOWN);
	tl_input_close(in);
}

static bool same(const struct rec *a, const struct rec *b)
{
	return a->offset == b->offset && a->len == b->len && a->line == b->line &&
	       a->error == b->error && a->truncated == b->truncated && a->hash == b->hash;
}

/* The frames of @a and @b that end before @limit are the same. */
static void compare_prefix(const struct run *a, const struct run *b, uint64_t limit)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < a->n && a->r[i].end >= limit)
			i++;
		while (j < b->n && b->r[j].end >= limit)
			j++;
		if (i == a->n || j == b->n)
			break;
		FUZZ_CHECK(same(&a->r[i], &b->r[j]));
		i++;
		j++;
	}
	FUZZ_CHECK(i == a->n && j == b->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const size_t chunk = 1 + data[0] % 64;
	const uint8_t *file = data + 1;
	const size_t n = size - 1;
	const bool gzip = n >= 2 && file[0] == 0x1f && file[1] == 0x8b;
	const bool zstd =
	    n >= 4 && file[0] == 0x28 && file[1] == 0xb5 && file[2] == 0x2f && file[3] == 0xfd;
	const bool raw = !gzip && !zstd;

	if (!write_file(file, n))
		abort();
	read_all(chunk, &small, raw ? file : NULL, n);
	read_all(BIG_CHUNK, &big, raw ? file : NULL, n);
	FUZZ_CHECK(small.end == big.end && (!raw || small.end == 1));
	if (small.end == 1 && big.end == 1) {
		FUZZ_CHECK(small.framing == big.framing);
		FUZZ_CHECK(small.out_bytes == big.out_bytes);
		FUZZ_CHECK(small.n == big.n);
		for (size_t i = 0; i < small.n; i++)
			FUZZ_CHECK(same(&small.r[i], &big.r[i]));
	} else if (small.framing == big.framing) {
		compare_prefix(&small, &big,
			       small.out_bytes < big.out_bytes ? small.out_bytes : big.out_bytes);
	}
	return 0;
}
