/*
 * tripline/source.h - read captured logs: files, .gz and .zst (streamed, never whole in
 * memory), stdin, and directories walked recursively (storage-account PT1H.json trees).
 *
 * An input yields framed units (struct tl_unit, see tripline/decode.h) one chunk at a time.
 * Framing is chosen per input from its first value:
 *  - lines: the first value ends on its first line (NDJSON, PT1H.json, one envelope per
 *    line). Each line is a unit; a line over TL_MAX_RECORD is reported, not read.
 *  - document: the first value spans lines (a pretty-printed {"records":[...]} or an array
 *    of envelopes). A streaming framer cuts out each record, descending into "records"
 *    arrays, so an envelope of any size is read with bounded memory; a record over
 *    TL_MAX_RECORD is reported. After a structural error it resumes at the next line that
 *    starts with '{' or '['.
 * Compression is recognized by content (gzip and zstd magic numbers), not by name.
 * Thread: an input belongs to one thread.
 */
#ifndef TL_SOURCE_H
#define TL_SOURCE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/decode.h>
#include <tripline/error.h>
#include <tripline/event.h>

/* One framed unit, or a piece of input that could not be framed (error set). */
struct tl_frame {
	struct tl_unit u;
	const char *error; /* static text; NULL for a unit to decode */
	bool truncated;    /* error: u holds only the first TL_MAX_RECORD bytes */
};

struct tl_frames {
	struct tl_frame *f;
	size_t n, cap;
};

enum tl_framing {
	TL_FRAMING_UNKNOWN = 0,
	TL_FRAMING_LINES,
	TL_FRAMING_DOCUMENT,
};

struct tl_input;

/**
 * tl_input_open() - open @path ("-" is stdin) as input number @index.
 * @chunk: bytes read per step (0: 256 KiB).
 * Return: 0, or -errno (the file cannot be opened). Thread: any.
 */
TL_MUST_CHECK int tl_input_open(const char *path, uint32_t index, size_t chunk,
				struct tl_input **ret_in);

/** tl_input_close() - close @in and drop its reference to its batch. NULL is a no-op. */
void tl_input_close(struct tl_input *in);

/**
 * tl_input_next() - read the next chunk of @in and frame it into @out (cleared first).
 * The units point into a batch the input holds until the next call; an event that keeps a
 * unit's raw bytes longer takes its own reference (tl_batch_ref()).
 * Return: 0 with units (possibly none), 1 at the end of the input, or an error: -errno
 * (read failed) or TL_ECOMPRESS (corrupt or truncated compressed data). With an error, @out
 * still holds the units framed from what was read before it (decode them), and the next
 * call returns 1. Thread: the owner of @in.
 */
TL_MUST_CHECK int tl_input_next(struct tl_input *in, struct tl_frames *out);

/** tl_input_name() - the path as given ("-" for stdin). */
const char *tl_input_name(const struct tl_input *in);

/** tl_input_framing() - how the input is framed, once the first chunk has been read. */
enum tl_framing tl_input_framing(const struct tl_input *in);

/** tl_input_offset() - decompressed bytes read so far (the position for error messages). */
uint64_t tl_input_offset(const struct tl_input *in);

/** tl_input_compressed_offset() - bytes read from the file itself so far. */
uint64_t tl_input_compressed_offset(const struct tl_input *in);

/** tl_frames_fini() - free the storage of @f. */
void tl_frames_fini(struct tl_frames *f);

/**
 * tl_decode_frames() - decode each unit of @fr with @d into @out, and report each frame that
 * carries an error as a malformed record. Return: 0, or -ENOMEM. Thread: the owner of @d.
 */
TL_MUST_CHECK int tl_decode_frames(struct tl_decoder *d, const struct tl_frames *fr,
				   struct tl_evbuf *out);

/* ---- batches ------------------------------------------------------------------------------ */

/** tl_batch_new() - a batch with @cap bytes of data plus padding, one reference. */
struct tl_batch *tl_batch_new(size_t cap);
/** tl_batch_ref() - take a reference. Thread: any holder. */
struct tl_batch *tl_batch_ref(struct tl_batch *b);
/** tl_batch_unref() - drop a reference; frees on the last. NULL is a no-op. */
void tl_batch_unref(struct tl_batch *b);

/* ---- directories ------------------------------------------------------------------------ */

struct tl_path {
	char *path;
	int64_t hint_ns; /* the hour a storage-account path names (y=/m=/d=/h=/m=), or INT64_MIN */
};

struct tl_paths {
	struct tl_path *p;
	size_t n, cap;
	size_t ignored; /* files seen in directories that are not log files */
};

/**
 * tl_paths_add() - add @path: a file (or "-") as is, a directory as the log files below it
 * (.json, .ndjson, .jsonl, .log, each optionally .gz or .zst; hidden entries skipped;
 * symbolic links to directories not followed), in name order.
 * Return: 0, -errno for a path that cannot be read (@ret_bad names it). Thread: any.
 */
TL_MUST_CHECK int tl_paths_add(struct tl_paths *ps, const char *path, const char **ret_bad);

/** tl_paths_fini() - free @ps. */
void tl_paths_fini(struct tl_paths *ps);

/** tl_path_hint() - the hour named by y=YYYY/m=MM/d=DD/h=HH[/m=MM] in @path, or INT64_MIN. */
int64_t tl_path_hint(const char *path);

#endif /* TL_SOURCE_H */
