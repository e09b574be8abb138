/*
 * tests/fuzz/fuzz_time.c - fuzz tl_time_parse() (detect/time.c): timestamps are read from
 * every record. The input bytes are the text. Invariant: whatever parses formats (with
 * tl_time_format(), millisecond precision) to text that parses back to the same time, cut to
 * the millisecond; the text is TL_TIME_TEXT_LEN bytes and the parse never reads past @size
 * (the input is passed in a buffer of exactly its size).
 */
#include <stdint.h>
#include <string.h>

#include <tripline/time.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TL_TIME_TEXT_LEN + 1];
	int64_t ns, back;

	if (tl_time_parse((const char *)data, size, &ns) != 0)
		return 0;
	memset(text, 'x', sizeof(text));
	FUZZ_CHECK(tl_time_format(ns, text) == text);
	FUZZ_CHECK(strlen(text) == TL_TIME_TEXT_LEN);
	FUZZ_CHECK(tl_time_parse(text, TL_TIME_TEXT_LEN, &back) == 0);
	FUZZ_CHECK(back == tl_floor_div(ns, TL_NS_PER_MS) * TL_NS_PER_MS);
	return 0;
}
