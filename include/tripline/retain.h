/*
 * tripline/retain.h - raw-record retention per series, the evidence a snapshot is made of.
 *
 * The reader adds every decoded record's bytes with its series and event time. Per series the
 * records are appended to a staging buffer, which is sealed into a block (no copy) when it
 * reaches block_bytes; a block remembers its records' oldest and newest event time and count.
 * Sealed blocks are compressed with zstd only when memory asks for it: when the uncompressed
 * sealed bytes of all series pass max_raw_bytes, or a series passes max_series_bytes (before
 * any of its blocks is dropped); the newest are compressed first, as they stay longest, so
 * the fewest compressions keep a bound. Compressing every record costs more than the reader's
 * whole budget (bench/bench_retain.c measures both ways), while most records are never read:
 * they age out unread unless a rule fires.
 *
 * The compression itself runs on a compressor thread of the retention's own (opts.threads):
 * a block to compress counts for an estimate of its compressed size (from the ratio of those
 * compressed before) until its result is taken, which is when 32 more blocks have been given
 * to compress (at most max_series_bytes / block_bytes / 4), waiting for it if need be. Which
 * blocks are compressed, dropped and counted thus depends on the calls alone, never on how
 * fast the compressor runs, and is the same with threads -1 (the adder compresses).
 *
 * Blocks are dropped oldest first: by event time (tl_retain_expire() drops a block whose newest
 * record is older than watermark - keep_ns, and staged records all older than it without
 * sealing them), by bytes held per series (max_series_bytes, compressed or not) and, if set, by
 * bytes held in all (max_total_bytes). No clock is read: the same input and calls give the same
 * retention.
 *
 * A series remembers the newest event time of any record it dropped (tl_retain_dropped_until()):
 * every record added since with a later time is still retained, so a replay of the retained
 * records is complete from that time on.
 *
 * A pin (tl_retain_pin(), at trigger time) holds the series' blocks existing then, seals its
 * staged records into a block it holds too, and keeps collecting the series' later blocks until
 * it is closed or unpinned, whatever the retention bounds drop meanwhile; max_pin_bytes bounds it.
 * Blocks are shared by reference, never copied; one a pin holds is not compressed (nor
 * swapped for its compressed bytes). A closed
 * pin no longer changes, and can be read and unpinned on another thread.
 *
 * Thread: one thread (the adder) makes every call on a struct tl_retain and its open pins; it
 * is not thread-safe. tl_retain_pin_each() and tl_retain_pin_stats() on a closed pin may run on
 * any thread, one at a time, once the close happens-before them (tools/evidence.c reads on the
 * reader while its keeper thread adds), and tl_retain_unpin() likewise, also after
 * tl_retain_free(); unpinning on the adder keeps which blocks get compressed independent of
 * timing.
 */
#ifndef TL_RETAIN_H
#define TL_RETAIN_H
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

/* A zero field takes its default. */
struct tl_retain_opts {
	size_t block_bytes;      /* staged bytes that seal a block; default 64 KiB */
	int64_t keep_ns;         /* event time a record is kept; default 15 min */
	int64_t stage_ns;        /* expire seals staging whose oldest record is older than
				  * watermark - stage_ns, so that a quiet series' records can be
				  * compressed; default 60 s */
	size_t max_raw_bytes;    /* uncompressed sealed bytes in all before the newest are
				  * compressed; default 64 MiB; 1 compresses each block as it is
				  * sealed, SIZE_MAX never */
	size_t max_series_bytes; /* bytes held per series, compressed or not; default 8 MiB */
	size_t max_total_bytes;  /* bytes held in all; default 0 = no bound */
	size_t max_pin_bytes;    /* bytes one pin holds; default 64 MiB */
	uint32_t max_series;     /* series tracked at once; default 1 M */
	int level;               /* zstd level; default 1 */
	int window_log;          /* zstd window log; default 0 = zstd's default for the level */
	int threads;             /* compressor threads: default 0 = 1; -1 = none, the adder
				  * compresses (the retention is the same either way) */
};

#define TL_RETAIN_BLOCK_BYTES      (64u * 1024)
#define TL_RETAIN_KEEP_NS          (INT64_C(15) * 60 * 1000000000)
#define TL_RETAIN_STAGE_NS         (INT64_C(60) * 1000000000)
#define TL_RETAIN_MAX_RAW_BYTES    ((size_t)64 << 20)
#define TL_RETAIN_MAX_SERIES_BYTES ((size_t)8 << 20)
#define TL_RETAIN_MAX_PIN_BYTES    ((size_t)64 << 20)
#define TL_RETAIN_MAX_SERIES       (1u << 20)
#define TL_RETAIN_LEVEL            1

/* Counters since tl_retain_new(), and what is held now. Staged bytes count records and their
 * 13-byte headers. */
struct tl_retain_stats {
	uint64_t records_in, bytes_in; /* given to tl_retain_add() and accepted */
	uint64_t records_rejected;     /* refused: max_series reached, or no memory */
	uint64_t records_lost;         /* staged, then lost to a failed seal (no memory) */
	uint64_t blocks_sealed, sealed_bytes;
	uint64_t blocks_compressed;
	uint64_t compressed_in, compressed_out; /* bytes before and after */
	double compression_ratio;               /* compressed_in / compressed_out; 0 if none */
	uint64_t dropped_time_records;          /* by keep_ns, sealed or staged */
	uint64_t dropped_series_records;        /* by max_series_bytes */
	uint64_t dropped_total_records;         /* by max_total_bytes */
	uint64_t series_freed;                  /* series forgotten after keep_ns without records */
	/* now */
	uint64_t series;
	uint64_t blocks, records; /* sealed blocks retained (pins not counted) */
	uint64_t held_bytes;      /* their bytes, compressed or not */
	uint64_t raw_bytes;       /* the part of held_bytes not compressed */
	uint64_t staged_bytes, staged_records;
	uint64_t pins; /* open pins */
};

/* What a pin holds. */
struct tl_retain_pin_stats {
	uint64_t series;
	uint64_t blocks, records;
	uint64_t bytes;            /* held, compressed or not */
	uint64_t raw_bytes;        /* record bytes, no headers */
	uint64_t omitted_records;  /* past max_pin_bytes, or lost to a failed seal */
	int64_t first_ns, last_ns; /* oldest and newest event time held; 0 when empty */
	int64_t dropped_until;     /* tl_retain_dropped_until() when pinned */
};

struct tl_retain;
struct tl_retain_pin;

/**
 * tl_retain_new() - an empty retention.
 * @opts: bounds and compression; NULL for the defaults.
 * Return: 0, -ENOMEM, or TL_ECONFIG for a zstd level or window it refuses. Thread: any.
 */
TL_MUST_CHECK int tl_retain_new(const struct tl_retain_opts *opts, struct tl_retain **ret_r);

/**
 * tl_retain_free() - free @r and its blocks; NULL is a no-op. Pins still open are closed, not
 * freed: they keep their blocks and must still be unpinned.
 */
void tl_retain_free(struct tl_retain *r);

/**
 * tl_retain_add() - retain a copy of one record.
 * @series:  the series key (tl_event.series).
 * @time_ns: the record's event time.
 * @raw:     its bytes; copied, not kept.
 * @len:     their number, may be 0.
 * @flags:   a byte kept with the record for the caller, given back by tl_retain_pin_each().
 *
 * Costs one hash lookup and a copy; compressions when a bound asks for them.
 * Return: 0; TL_EFULL when a new series would pass max_series, -ENOMEM: the record is not
 * retained and counted in records_rejected. A failed seal loses the staged records: they count
 * as dropped (dropped_until moves past them) and the call returns -ENOMEM; a failed compression
 * leaves the block uncompressed and returns -ENOMEM or TL_ECOMPRESS.
 */
TL_MUST_CHECK int tl_retain_add(struct tl_retain *r, uint64_t series, int64_t time_ns,
				const void *raw, uint32_t len, uint8_t flags);

/**
 * tl_retain_expire() - apply the time bound at @watermark_ns (event time; calls should not move
 * it backwards): drop sealed blocks whose newest record is older than watermark_ns - keep_ns,
 * oldest first, and staged records when all are; seal staging older than stage_ns; forget series
 * that have no blocks, no pins and no record newer than watermark_ns - keep_ns. Call it as the
 * watermark advances (each closed bucket, say); it visits every series.
 * Return: 0, or an error of a seal or compression (see tl_retain_add()).
 */
TL_MUST_CHECK int tl_retain_expire(struct tl_retain *r, int64_t watermark_ns);

/**
 * tl_retain_dropped_until() - the newest event time of any record of @series dropped so far by a
 * bound (or lost to a failed seal), INT64_MIN if none. A forgotten series' records are all
 * dropped; a series not tracked, or tracked again after being forgotten, answers the newest time
 * any forgotten series dropped, since what it had before cannot be told apart.
 */
int64_t tl_retain_dropped_until(const struct tl_retain *r, uint64_t series);

/**
 * tl_retain_missing_until() - records up to @t (event time) may never have been given to
 * retention (an earlier run read them before a restart): every series, those held now and
 * those seen later, counts as having dropped records up to @t. Thread: the owner of @r.
 */
void tl_retain_missing_until(struct tl_retain *r, int64_t t);

/** tl_retain_stats() - the counters. */
void tl_retain_stats(const struct tl_retain *r, struct tl_retain_stats *ret_st);

/**
 * tl_retain_pin() - pin @series: its sealed blocks now, its staged records (sealed into a block
 * now) and, until tl_retain_pin_close() or tl_retain_unpin(), every block it seals later. An
 * unknown series is tracked from now on. Several pins of one series may overlap. When the blocks
 * present exceed max_pin_bytes, the newest that fit are held and the older ones omitted; a later
 * block past it is omitted, and so is every one after it, so what is held has no holes.
 * Return: 0, -ENOMEM, TL_EFULL (max_series). Thread: the adder.
 */
TL_MUST_CHECK int tl_retain_pin(struct tl_retain *r, uint64_t series,
				struct tl_retain_pin **ret_pin);

/**
 * tl_retain_pin_close() - stop collecting: seal the series' staged records (they arrived after
 * the pin) into a block the pin holds, then detach. Idempotent.
 * Return: 0 or -ENOMEM (the staged records are omitted from the pin). Thread: the adder, for an
 * open pin.
 */
TL_MUST_CHECK int tl_retain_pin_close(struct tl_retain_pin *pin);

/**
 * tl_retain_pin_each() - call @cb for every record @pin holds, in the order they were added,
 * with exactly the bytes and flags given to tl_retain_add(). An open pin is closed first.
 * @cb: returns 0 to go on, anything else to stop; that value is returned.
 * Return: 0, @cb's value, -ENOMEM, or TL_ECOMPRESS (a block does not decompress: a bug).
 * Thread: the adder for an open pin; for a closed one, any one thread.
 */
TL_MUST_CHECK int tl_retain_pin_each(struct tl_retain_pin *pin,
				     int (*cb)(void *ud, int64_t time_ns, uint8_t flags,
					       const void *raw, uint32_t len),
				     void *ud);

/** tl_retain_pin_stats() - what @pin holds now. */
void tl_retain_pin_stats(const struct tl_retain_pin *pin, struct tl_retain_pin_stats *ret_st);

/**
 * tl_retain_unpin() - close @pin if open (a failure to seal is not reported: use
 * tl_retain_pin_close() first to know), release its blocks and free it; NULL is a no-op.
 * Thread: as tl_retain_pin_each().
 */
void tl_retain_unpin(struct tl_retain_pin *pin);

#endif /* TL_RETAIN_H */
