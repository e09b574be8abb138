/*
 * tripline/decode.h - turn raw Azure log records into struct tl_event.
 *
 * A decoder takes one framed unit of input at a time (a line, a Kafka message, a record cut
 * out of a pretty-printed document) and appends one event per usable record to an event
 * buffer. Records of categories tripline does not use are counted as skipped; records that
 * are not valid records of a known category are reported to the malformed callback, with
 * their position and the reason, and counted. Nothing is dropped silently and bad input never
 * stops the decoder.
 *
 * Categories read (see ../shared/formats/README.md for the shapes):
 *   RequestResponse (AOAI), AllMetrics rows (AOAI platform metrics, account level: deployment
 *   "*"), GatewayLogs and GatewayLlmLogs (APIM), Activity Log writes of deployments, RAI
 *   policies and accounts, and native "category":"tripline" events.
 * Thread: a decoder belongs to one thread; the symbol table it interns into is shared.
 */
#ifndef TL_DECODE_H
#define TL_DECODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>
#include <tripline/event.h>
#include <tripline/symtab.h>

/* Event Hubs' maximum event size: a larger record or line is malformed. */
#define TL_MAX_RECORD (1u << 20)

/* Bytes that must be readable after every unit (the JSON parser reads ahead). */
#define TL_UNIT_PADDING 64 /* = TL_JSON_PADDING, asserted in ingest/decode.c */

/* Deployment name of account-level series (platform metrics, account-wide changes). */
#define TL_ACCOUNT_DEPLOYMENT "*"

struct tl_unit {
	const char *data; /* TL_UNIT_PADDING readable bytes must follow data + len */
	size_t len;
	struct tl_batch *batch; /* owner of data, for events' raw references; may be NULL */
	uint32_t input;         /* index of the input */
	uint64_t offset;        /* byte offset of data in the input (decompressed) */
	uint64_t line;          /* 1-based line number of data, 0 if not line-based */
};

/* A malformed record, as the decoder reports it. Pointers are valid during the callback. */
struct tl_malformed {
	uint32_t input;
	uint64_t offset; /* of the record's first byte in the input */
	uint64_t line;   /* line of the record's first byte, 0 if unknown */
	const char *reason;
	const char *raw; /* the record's bytes (at most TL_MAX_RECORD of them) */
	size_t raw_len;
	bool raw_truncated; /* the record was longer than raw_len */
};

typedef void (*tl_malformed_fn)(void *ud, const struct tl_malformed *m);

/* A growable array of events; the decoder appends, the caller consumes and resets n. */
struct tl_evbuf {
	struct tl_event *ev;
	size_t n, cap;
};

struct tl_decode_stats {
	uint64_t records; /* records (or lines that were not records) seen */
	uint64_t events;  /* events produced */
	uint64_t malformed;
	uint64_t skipped; /* valid records of categories or operations not used */
	uint64_t
	    bodies_unreadable; /* APIM response bodies that could not be read (truncated,
				* not JSON): the record counts, its guardrail state is unknown */
	uint64_t by_origin[TL_ORIGIN_COUNT_]; /* events per enum tl_origin */
};

struct tl_decoder;

/**
 * tl_decoder_new() - a decoder interning names into @syms, reporting malformed records to
 * @on_malformed(@ud, ...).
 * @ret_err: on failure, TL_ECPU (the CPU cannot run this build) or -ENOMEM.
 * Return: the decoder or NULL. Thread: any.
 */
struct tl_decoder *tl_decoder_new(struct tl_symtab *syms, tl_malformed_fn on_malformed, void *ud,
				  int *ret_err);
/** tl_decoder_free() - NULL is a no-op. */
void tl_decoder_free(struct tl_decoder *d);

/**
 * tl_decoder_unit() - decode every record of @u and append their events to @out.
 * A unit is one JSON document: a record, a {"records":[...]} envelope, or an array of
 * either. Blank units are ignored.
 * Return: 0, or -ENOMEM (@out could not grow). Bad input is never an error here.
 * Thread: the owner of @d.
 */
TL_MUST_CHECK int tl_decoder_unit(struct tl_decoder *d, const struct tl_unit *u,
				  struct tl_evbuf *out);

/**
 * tl_decoder_report() - report a unit that cannot be decoded at all (e.g. a line over
 * TL_MAX_RECORD) as one malformed record with @reason; counts it. Thread: the owner of @d.
 */
void tl_decoder_report(struct tl_decoder *d, const struct tl_unit *u, const char *reason,
		       bool truncated);

/** tl_decoder_stats() - counters since tl_decoder_new(). */
const struct tl_decode_stats *tl_decoder_stats(const struct tl_decoder *d);

/** tl_evbuf_fini() - free the storage of @b. */
void tl_evbuf_fini(struct tl_evbuf *b);

/** tl_evbuf_reserve() - make room for @n more events. Return: 0 or -ENOMEM. */
TL_MUST_CHECK int tl_evbuf_reserve(struct tl_evbuf *b, size_t n);

#endif /* TL_DECODE_H */
