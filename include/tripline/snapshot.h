/*
 * tripline/snapshot.h - the evidence snapshot file: one zstd-compressed JSON-lines file per
 * trigger, which `zstdcat FILE | jq .` reads.
 *
 *   line 1    the header, a JSON object the caller builds; it must contain
 *             "type":"tripline.snapshot" (rule, thresholds, baseline, window statistics, ...)
 *   then      the caller's other lines (change events, ...), each one JSON object
 *   then      the raw records exactly as received, one per line
 *   last      {"type":"tripline.snapshot.end","records":N,"omitted":M,"lines":L,
 *              "lines_omitted":K,"newlines_replaced":R}
 *
 * The header is written first, before anyone knows how many records the size bound will
 * omit, so the writer ends the file with that trailer line: "records" and "lines" were
 * written, "omitted" records and "lines_omitted" lines were not, past max_bytes. A file
 * without the trailer is incomplete. tl_snapshot_finish() also reports the figures, for a
 * trigger event to quote.
 *
 * A record holding a raw newline (a pretty-printed input document) would break the line
 * structure, so each newline byte in it is written as a space: in valid JSON a raw newline
 * can only be whitespace between tokens (inside strings it is escaped), so the line is the
 * same JSON value. "newlines_replaced" counts the records changed so. Other bytes are not
 * touched.
 *
 * The file is written as DIR/.NAME.tmp, one zstd frame with a checksum, then fsync'd, renamed
 * to DIR/NAME and the directory fsync'd: a reader never sees a partial snapshot under NAME.
 * Non-logging. Thread: each writer and each reader is used by one thread at a time.
 */
#ifndef TL_SNAPSHOT_H
#define TL_SNAPSHOT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

#define TL_SNAPSHOT_LEVEL     1
#define TL_SNAPSHOT_MAX_BYTES ((size_t)32 << 20)
#define TL_SNAPSHOT_LINE_MAX  ((size_t)64 << 20) /* longest line the reader takes */

/* A zero field takes its default. */
struct tl_snapshot_opts {
	int level;        /* zstd level; default 1 */
	size_t max_bytes; /* bound on the compressed file; default 32 MiB. The header and the
			   * trailer are always written; a line or record that might pass the
			   * bound is omitted with everything after it. */
};

struct tl_snapshot_stats {
	uint64_t lines, lines_omitted;     /* caller lines (not the header or trailer) */
	uint64_t records, records_omitted; /* raw records */
	uint64_t newlines_replaced;        /* records whose newline bytes became spaces */
	uint64_t bytes;                    /* compressed bytes written so far */
};

struct tl_snapshot;
struct tl_snapshot_reader;

/**
 * tl_snapshot_create() - start DIR/NAME (as DIR/.NAME.tmp) and write its header line.
 * @dir:    an existing directory.
 * @name:   the final file name, e.g. "20251104T071500Z-latency-1a2b.ndjson.zst"; no '/', not
 *          starting with '.'.
 * @opts:   NULL for the defaults.
 * @header: one JSON object containing "type":"tripline.snapshot", without a newline.
 * Return: 0; TL_EVALUE for a bad @name or @header, TL_ECONFIG for a level zstd refuses,
 * -errno. Thread: any (the output thread).
 */
TL_MUST_CHECK int tl_snapshot_create(const char *dir, const char *name,
				     const struct tl_snapshot_opts *opts, const char *header,
				     size_t header_len, struct tl_snapshot **ret_w);

/**
 * tl_snapshot_add_line() - append one caller line (a change event, ...): one JSON value,
 * without a newline (any is replaced by a space). Lines should come before the records.
 * Return: 0, 1 if it was omitted for the size bound, or the writer's first error (-errno,
 * TL_ECOMPRESS); after an error every call returns it.
 */
TL_MUST_CHECK int tl_snapshot_add_line(struct tl_snapshot *w, const char *json, size_t len);

/**
 * tl_snapshot_add_record() - append one raw record as received (newlines become spaces).
 * Return: as tl_snapshot_add_line().
 */
TL_MUST_CHECK int tl_snapshot_add_record(struct tl_snapshot *w, const void *raw, size_t len);

/** tl_snapshot_stats() - the figures so far. */
void tl_snapshot_stats(const struct tl_snapshot *w, struct tl_snapshot_stats *ret_st);

/**
 * tl_snapshot_finish() - write the trailer, end the frame, fsync, rename to the final name,
 * fsync the directory, and free @w. On failure the temporary file is removed.
 * @ret_st: the final figures, or NULL.
 * Return: 0, -errno or TL_ECOMPRESS. @w is freed either way.
 */
TL_MUST_CHECK int tl_snapshot_finish(struct tl_snapshot *w, struct tl_snapshot_stats *ret_st);

/** tl_snapshot_abort() - remove the temporary file and free @w; NULL is a no-op. */
void tl_snapshot_abort(struct tl_snapshot *w);

/**
 * tl_snapshot_open() - read a snapshot: zstd-compressed (one or more frames) or, when the file
 * does not start with the zstd magic number, plain text.
 * Return: 0, -errno. Thread: any.
 */
TL_MUST_CHECK int tl_snapshot_open(const char *path, struct tl_snapshot_reader **ret_rd);

/**
 * tl_snapshot_next() - the next line, without its newline (a last line without one counts).
 * @ret_line: valid until the next call on @rd; followed by a NUL byte.
 * Return: 1 and a line, 0 at the end, or an error: TL_ECOMPRESS for corrupt or truncated
 * compressed data (a .zst that ends inside a frame is truncated), TL_ETOOBIG for a line over
 * TL_SNAPSHOT_LINE_MAX, -errno. tl_snapshot_errmsg() says where. Errors are final.
 */
TL_MUST_CHECK int tl_snapshot_next(struct tl_snapshot_reader *rd, const char **ret_line,
				   size_t *ret_len);

/**
 * tl_snapshot_errmsg() - after an error: "FILE: byte N of the file (line L): what", naming the
 * byte offset in the file (compressed) where reading stopped; "" before any error.
 */
const char *tl_snapshot_errmsg(const struct tl_snapshot_reader *rd);

/**
 * tl_snapshot_is_complete() - whether the last line read was the writer's trailer, i.e. after
 * tl_snapshot_next() returned 0, whether the file ended as the writer ends it.
 */
bool tl_snapshot_is_complete(const struct tl_snapshot_reader *rd);

/** tl_snapshot_close() - free @rd; NULL is a no-op. */
void tl_snapshot_close(struct tl_snapshot_reader *rd);

#endif /* TL_SNAPSHOT_H */
