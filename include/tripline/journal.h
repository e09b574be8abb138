/*
 * tripline/journal.h - the incident journal: every trigger event (trigger, update, resolved),
 * appended, checksummed and fsync'd before anyone is told about it, and read back by
 * `tripline incidents` and `tripline postmortem`.
 *
 * A journal is a directory (conventionally <out>/journal) of segment files named by a
 * sequence number, 0000000000000001.tlj, 0000000000000002.tlj, ... Only the newest segment is
 * appended to; it rolls when the next record would take it past opts.segment_bytes. A record
 * is one payload (one trigger event's JSON text) and its event time, which the caller gives:
 * retention compares event times only, so replaying the same input keeps the same segments.
 *
 * On-disk format (all integers little-endian):
 *
 *   segment header, 32 bytes:
 *     0  magic     8  "\x89TLJRNL\n"
 *     8  version   4  1
 *    12  reserved  4  0
 *    16  sequence  8  the number in the file name
 *    24  reserved  4  0
 *    28  crc       4  zlib crc32 of bytes 0..27
 *   records, back to back:
 *     0  magic     4  "\xffTLR" (a record) or "\xffTLS" (the seal, see below)
 *     4  length    4  payload bytes, at most TL_JOURNAL_RECORD_MAX
 *     8  time_ns   8  the record's event time (int64_t ns since the epoch)
 *    16  crc       4  zlib crc32 of bytes 0..15 and of the payload
 *    20  payload   length bytes
 *
 * When a segment rolls it ends with a seal: a record with the seal magic whose time is the
 * newest event time in the segment and whose 8-byte payload is its record count, so opening
 * a journal reads one small trailer per sealed segment instead of the whole file. The 0xff
 * byte never occurs in UTF-8 text, so after damage the reader finds the next record by its
 * magic and checksum.
 *
 * Crash safety: a segment is created as "<name>.tmp" holding its header, fsync'd, renamed
 * and the directory fsync'd, so a segment with its final name always has a good header. A
 * crash while appending leaves at most a torn tail: tl_journal_open() finds it (a short
 * record, a bad length or checksum with no good record after it), reports it and truncates
 * the segment back to the end of the last good record before appending. Damage with good
 * records after it (a flipped bit) is reported and skipped, never truncated. Nothing but the
 * torn record is lost, and nothing deletes segments but retention.
 */
#ifndef TL_JOURNAL_H
#define TL_JOURNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

#define TL_JOURNAL_SUBDIR     "journal" /* the journal's directory under --out */
#define TL_JOURNAL_RECORD_MAX (1u << 20)
#define TL_JOURNAL_HEADER_LEN 32
#define TL_JOURNAL_FRAME_LEN  20 /* record header bytes before the payload */

struct tl_journal;

/* Where the journal found damage, and what it skipped. */
struct tl_journal_damage {
	const char *file;   /* the segment's path */
	uint64_t offset;    /* byte offset of the first bad byte */
	uint64_t len;       /* bytes skipped */
	const char *reason; /* static text, e.g. "bad checksum" */
	bool at_end;        /* no good record follows in this segment: a torn tail */
};

typedef void (*tl_journal_damage_fn)(void *ud, const struct tl_journal_damage *d);

/*
 * Retention runs when a segment is sealed (the journal rolls) and deletes whole segments from
 * the oldest on, never the newest: while the sealed segments hold more than max_bytes, or
 * while the oldest one's newest event is more than max_age_ns older than the newest event in
 * the journal (the record that made it roll included). It stops at the first segment kept.
 * Only event times and sizes count, so the same records give the same segments and deletions,
 * however often the journal was closed and reopened in between.
 */
struct tl_journal_opts {
	uint64_t segment_bytes; /* roll after this many bytes (default 64 MiB; at least 64) */
	int64_t max_age_ns;     /* default 90 days; 0: no age limit */
	uint64_t max_bytes;     /* bound on the sealed segments (default 1 GiB; 0: no limit);
				   the journal holds at most this plus one segment */
	tl_journal_damage_fn on_damage; /* damage found by open (may be NULL) */
	void *ud;
};

/** tl_journal_opts_defaults() - the defaults above, no damage callback. */
void tl_journal_opts_defaults(struct tl_journal_opts *o);

/**
 * tl_journal_open() - open the journal in @dir for appending, creating @dir (and its parent)
 * and the first segment if needed. Scans the newest segment, reports damage through
 * @opts->on_damage and cuts a torn tail. Retention runs when a segment rolls, not here.
 * @opts: NULL for the defaults.
 * @err: on failure, "file: offset N: reason" or "file: reason" (may be NULL).
 * Return: 0; -errno (-EBUSY: another process has the journal open for appending;
 * -EBADMSG: the newest segment's header is not a journal header); TL_EVALUE (bad @opts).
 * Thread: any; the journal then belongs to one thread.
 */
TL_MUST_CHECK int tl_journal_open(const char *dir, const struct tl_journal_opts *opts, char *err,
				  size_t err_len, struct tl_journal **ret_j);

/**
 * tl_journal_append() - add one record to the buffer; it is written by tl_journal_sync() (or
 * earlier, when the buffer grows past 1 MiB, but then without fsync).
 * @time_ns: the record's event time (a trigger's fired_at, updated_at or resolved_at).
 * @data: the payload, copied; a trailing newline is dropped, so records read back are the
 * JSON text without it. A tl_trigger_json() line can be passed as it is.
 * Return: 0; TL_ETOOBIG (@len over TL_JOURNAL_RECORD_MAX: the record is refused, the
 * journal goes on); -errno of a write, roll or retention, which sticks: every later call
 * returns it. tl_journal_errmsg() says what failed.
 * Thread: the owner.
 */
TL_MUST_CHECK int tl_journal_append(struct tl_journal *j, int64_t time_ns, const void *data,
				    size_t len);

/**
 * tl_journal_sync() - write what is buffered and fsync it: call before telling anyone
 * (before the trigger events go to stdout or a sink).
 * Return: 0 or the error (sticky, as tl_journal_append()). Thread: the owner.
 */
TL_MUST_CHECK int tl_journal_sync(struct tl_journal *j);

/**
 * tl_journal_errmsg() - "file: offset N: reason" of the first sticky error (or of the latest
 * refused record), "" if none.
 */
const char *tl_journal_errmsg(const struct tl_journal *j);

/** tl_journal_count() - records appended through @j since it was opened. */
uint64_t tl_journal_count(const struct tl_journal *j);

/**
 * tl_journal_close() - sync, close and free; NULL is a no-op. The newest segment is not
 * sealed: the next open appends to it.
 * Return: 0 or the first error of @j (call tl_journal_sync() first for its message).
 */
int tl_journal_close(struct tl_journal *j);

/* One record, as the reader hands it over. */
struct tl_journal_record {
	const char *file; /* the segment's path */
	uint64_t offset;  /* byte offset of the record's frame in it */
	int64_t time_ns;
	const char *data; /* the payload, borrowed for the duration of the call */
	size_t len;
};

/* Return 0 to go on, anything else to stop (tl_journal_read() returns it). */
typedef int (*tl_journal_record_fn)(void *ud, const struct tl_journal_record *rec);

/**
 * tl_journal_read() - call @on_record for every good record of every segment of the journal
 * in @dir, oldest segment first, in the order they were appended; @on_damage (may be NULL)
 * for every stretch of bad bytes skipped. A segment whose header is bad is reported as damage
 * and skipped whole. Reads one segment at a time into memory. Does not take the writer's
 * lock: a record being appended at that moment shows as a torn tail.
 * @err: on an I/O failure, "file: reason" (may be NULL).
 * Return: 0; the nonzero value @on_record returned; -errno (-ENOENT: no such directory).
 * Thread: any.
 */
TL_MUST_CHECK int tl_journal_read(const char *dir, tl_journal_record_fn on_record,
				  tl_journal_damage_fn on_damage, void *ud, char *err,
				  size_t err_len);

/* What tl_journal_scan() found in one segment. */
struct tl_journal_scan_info {
	bool header_ok;
	uint64_t sequence;
	uint64_t good_end; /* end of the last good frame (or the header): a torn tail's start */
	uint64_t n_records;
	int64_t max_time_ns; /* INT64_MIN without records */
	bool sealed;         /* ends with a good seal */
};

/**
 * tl_journal_scan() - the records of one segment held in memory (@buf, @len bytes), as
 * tl_journal_read() sees them; @file only names it in the reports. @on_record may be NULL.
 * Return: 0 or the nonzero value @on_record returned (@ret_info then describes the part
 * scanned). Thread: any.
 */
int tl_journal_scan(const uint8_t *buf, size_t len, const char *file,
		    tl_journal_record_fn on_record, tl_journal_damage_fn on_damage, void *ud,
		    struct tl_journal_scan_info *ret_info);

#endif /* TL_JOURNAL_H */
