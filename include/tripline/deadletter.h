/*
 * tripline/deadletter.h - the dead-letter file: one JSON line per malformed record, with where
 * it came from and why, and its bytes exactly as received:
 *
 *   {"input":"logs/a.ndjson","offset":1234,"line":5,"reason":"missing field 'time'",
 *    "raw":"{...}"}
 *
 * "raw" holds the record as a JSON string when it is UTF-8, else "raw_base64" holds its
 * bytes; "truncated":true marks a record cut at 1 MiB. "partition" replaces "line" for
 * Kafka input. The file is written through a buffer and fsync'd on close.
 * Thread: one writer.
 */
#ifndef TL_DEADLETTER_H
#define TL_DEADLETTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

struct tl_deadletter;

/**
 * tl_deadletter_open() - create (or empty) the file at @path.
 * Return: 0 or -errno. Thread: any.
 */
TL_MUST_CHECK int tl_deadletter_open(const char *path, struct tl_deadletter **ret_dl);

/** tl_deadletter_open_append() - open the file at @path to add to it (streaming keeps its
 * dead letters across restarts). Return: 0 or -errno. */
TL_MUST_CHECK int tl_deadletter_open_append(const char *path, struct tl_deadletter **ret_dl);

/** tl_deadletter_sync() - write what is buffered and fdatasync it (before offsets that
 * cover the records are committed). Return: 0 or the sticky -errno. */
TL_MUST_CHECK int tl_deadletter_sync(struct tl_deadletter *dl);

struct tl_dead_record {
	const char *input; /* file name or topic */
	int32_t partition; /* -1 for files */
	uint64_t offset;   /* byte offset (files) or message offset (Kafka) */
	uint64_t line;     /* 0 if unknown */
	const char *reason;
	const char *raw;
	size_t raw_len;
	bool truncated;
};

/**
 * tl_deadletter_write() - append one record.
 * Return: 0 or -errno (the first write error; later writes keep failing). Thread: the writer.
 */
TL_MUST_CHECK int tl_deadletter_write(struct tl_deadletter *dl, const struct tl_dead_record *r);

/** tl_deadletter_count() - records written. */
uint64_t tl_deadletter_count(const struct tl_deadletter *dl);

/**
 * tl_deadletter_close() - flush, fsync and close; NULL is a no-op.
 * Return: 0, or the first error of any write, flush or fsync.
 */
int tl_deadletter_close(struct tl_deadletter *dl);

#endif /* TL_DEADLETTER_H */
