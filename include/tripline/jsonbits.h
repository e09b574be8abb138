/*
 * tripline/jsonbits.h - bit tricks for reading JSON 64 bytes at a time, where bit i of a mask
 * stands for byte i of a block: which bytes a backslash escapes, which lie inside strings.
 * Shared by the flat-record fast path (ingest/flat.c) and the hub's record counter
 * (tools/hub.c).
 */
#ifndef TL_JSONBITS_H
#define TL_JSONBITS_H
#include <stdint.h>

/*
 * tl_json_escaped() - the bytes of a block escaped by a backslash: those after an odd run of
 * backslashes (@bslash: the block's backslashes). @carry: 1 when the previous block ended in
 * such a run (the next block's first byte is escaped); updated for the next block.
 */
static inline uint64_t tl_json_escaped(uint64_t bslash, uint64_t *carry)
{
	const uint64_t even = UINT64_C(0x5555555555555555);
	uint64_t sum;

	bslash &= ~*carry; /* an escaped backslash starts no run */
	const uint64_t follows = bslash << 1 | *carry;
	const uint64_t odd_starts = bslash & ~even & ~follows;

	sum = odd_starts + bslash;
	*carry = sum < bslash; /* the run goes on past the block */
	return (even ^ (sum << 1)) & follows;
}

/* tl_prefix_xor() - bit i set when an odd number of bits at or below i are set in @x: with
 * the unescaped quotes of a block, the bytes inside strings (opening quote included). */
static inline uint64_t tl_prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

#endif /* TL_JSONBITS_H */
