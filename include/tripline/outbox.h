/*
 * tripline/outbox.h - the durable outbox of alert delivery (store/outbox.c, issue 6).
 *
 * A trigger event is in the journal before it enters the outbox, and in the outbox before
 * the delivery thread sends it anywhere. The outbox keeps one queue per sink, in order, on
 * disk under DIR/outbox/: an event stays there until the sink's receiver has taken it (or
 * it was given up on: dead-lettered), so pending deliveries survive a crash and a restart.
 * Delivery is at least once: an event sent but not yet acknowledged when the process died
 * is sent again after the restart (every format carries a stable dedup key).
 *
 * On disk, per sink NAME:
 *   NAME.log  frames appended in order: u32 length of the payload, u32 crc32 of seq, time
 *             and payload, u64 seq, i64 enqueue time (ns), payload (the event line, no
 *             newline); little-endian. A torn or corrupt tail (crash mid-append) is cut off
 *             at open, and the cut is reported; nothing before it is lost.
 *   NAME.ack  the next seq not yet done (16 bytes: u64 seq, u32 crc32, u32 0), replaced
 *             atomically (temp file, fsync, rename). Entries below it are done.
 * When every entry of a log is done and it holds more than 1 MiB, it is started afresh.
 * Sink names are [A-Za-z0-9_.-]{1,64} (the config checks them); one process at a time
 * (an flock on DIR/outbox/lock; a second opener gets -EBUSY).
 *
 * Threads: one thread appends (the writer: the reader thread, after the journal), another
 * peeks and acknowledges (the delivery thread); a mutex inside makes that safe. Memory:
 * an index of 24 bytes per pending entry; payloads are read back from the file on peek.
 */
#ifndef TL_OUTBOX_H
#define TL_OUTBOX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/error.h>

#define TL_OUTBOX_SUBDIR    "outbox"
#define TL_OUTBOX_MAX_SINKS 64
#define TL_OUTBOX_MAX_ENTRY (1u << 20) /* the longest payload; an event line is ~2 KB */

struct tl_outbox;

/* One pending entry, as peeked. */
struct tl_outbox_entry {
	uint64_t seq;        /* per sink, from 1, never reused */
	int64_t enqueued_ns; /* the caller's clock at append (CLOCK_REALTIME ns) */
	struct tl_buf data;  /* the payload; the caller's buffer, reused across peeks */
};

/**
 * tl_outbox_open() - open or create DIR/outbox for @n sinks named @names (the order gives
 * the sink indexes the other calls take). A sink that has a log from before keeps its
 * pending entries; logs of sinks no longer named are left on disk untouched (and
 * reported in @note, if not NULL: "outbox: sink 'x' is no longer configured; its 3
 * pending events stay in DIR/outbox/x.log").
 * @err: on failure, the file and the cause.
 * Return: 0; -errno (cannot create or read, -EBUSY: another process has it); TL_ECORRUPT
 * (an ack file that does not check out: the file named; nothing is guessed).
 * A torn log tail is not an error: it is cut and said in @note.
 */
TL_MUST_CHECK int tl_outbox_open(const char *dir, const char *const *names, size_t n,
				 struct tl_outbox **ret, char *note, size_t notelen, char *err,
				 size_t errlen);

/**
 * tl_outbox_append() - queue @len bytes at @p for sink @sink, stamped @now_ns. Written to
 * the log at once (write(2)), durable after the next tl_outbox_sync().
 * Return: 0; -EINVAL (@sink out of range, @len 0 or over TL_OUTBOX_MAX_ENTRY); -errno of
 * the write (the entry is then not queued). Thread: the writer.
 */
TL_MUST_CHECK int tl_outbox_append(struct tl_outbox *o, size_t sink, const void *p, size_t len,
				   int64_t now_ns);

/** tl_outbox_sync() - fdatasync every log appended to since the last sync. Return: 0, -errno. */
TL_MUST_CHECK int tl_outbox_sync(struct tl_outbox *o);

/** tl_outbox_pending() - entries of @sink not yet done (appended, synced or not). */
size_t tl_outbox_pending(struct tl_outbox *o, size_t sink);

/**
 * tl_outbox_peek() - the oldest pending entry of @sink, into *@ret (its data buffer is
 * reset and filled).
 * Return: 1 (an entry), 0 (none pending), -errno (reading the log failed), TL_ECORRUPT (the
 * entry no longer checks out on disk: the caller dead-letters it by its seq and goes on).
 * Thread: the delivery thread.
 */
TL_MUST_CHECK int tl_outbox_peek(struct tl_outbox *o, size_t sink, struct tl_outbox_entry *ret);

/**
 * tl_outbox_done() - entries of @sink up to and including @seq are done (delivered or given
 * up on). Persists the ack file before returning.
 * Return: 0; -EINVAL (@seq not pending); -errno (the ack file could not be written: the
 * entries stay pending, and will be delivered again after a restart).
 * Thread: the delivery thread.
 */
TL_MUST_CHECK int tl_outbox_done(struct tl_outbox *o, size_t sink, uint64_t seq);

/** tl_outbox_close() - close the files (no sync: call tl_outbox_sync() first). NULL ok. */
void tl_outbox_close(struct tl_outbox *o);

#endif /* TL_OUTBOX_H */
