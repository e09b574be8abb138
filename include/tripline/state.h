/*
 * tripline/state.h - what re-running a snapshot needs, as one self-contained text: the engine
 * settings, the series' rules, the price table and the series' seed (tripline/engine.h). It
 * goes into a snapshot's header as "replay_state" (base64 of a versioned little-endian binary
 * record), and `tripline replay SNAPSHOT` decodes it. Decoding checks every length and value
 * range: a snapshot file is input like any other.
 */
#ifndef TL_STATE_H
#define TL_STATE_H
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/engine.h>
#include <tripline/rules.h>

/* 2 adds the rules' incident_commander and comms_owner; a state without either is still
 * written as version 1, byte for byte as before, and both versions decode. */
#define TL_STATE_VERSION 2

struct tl_replay_state {
	int64_t lateness_ns, bucket_ns, horizon_ns, min_history_ns, hold_ns, update_every_ns;
	struct tl_rules rules;   /* the series' */
	struct tl_price *prices; /* owned (decode) or borrowed (encode) */
	size_t n_prices;
	char resource[256]; /* the series' names */
	char deployment[256];
	int64_t from; /* the minute boundary the records are re-run from */
	struct tl_series_seed *seed;
	char *names; /* decode: storage of the price names */
};

/** tl_state_encode() - append @st to @b as base64 text (no quotes). */
void tl_state_encode(const struct tl_replay_state *st, struct tl_buf *b);

/**
 * tl_state_decode() - decode @n bytes of base64 text into @st (tl_state_fini() frees it).
 * @err: on failure, what is wrong.
 * Return: 0, TL_EVALUE for bad or unsupported text, -ENOMEM.
 */
int tl_state_decode(const char *text, size_t n, struct tl_replay_state *st, char *err,
		    size_t errlen);

/** tl_state_fini() - free what tl_state_decode() allocated. */
void tl_state_fini(struct tl_replay_state *st);

#endif /* TL_STATE_H */
