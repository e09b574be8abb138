/*
 * tests/fuzz/fuzz_time.c - fuzz tl_time_parse() (detect/time.c): timestamps are read from
 * every record. The input bytes are the text. Invariant: whatever parses formats (with
 * tl_time_format(), millisecond precision) to text that parses back to the same time, cut to
 * the millisecond; the text is TL_TIME_TEXT_LEN bytes and the parse never reads past @size
 * (the input is passed in a buffer of exactly its size). And tl_time_parse_memo(), given the
 * input's lines in turn with one memo, gives what tl_time_parse() gives for each.
 */
#include <stdint.h>
#include <string.h>

#include <tripline/time.h>

#include "fuzz.h"

/* Each line of @data through one memo, as the decoder reads a batch's times. */
static void memo_lines(const uint8_t *data, size_t size)
{
	struct tl_time_memo memo = { 0 };
	const char *p = (const char *)data, *e = p + size;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const size_t n = (size_t)((nl ? nl : e) - p);
		int64_t want = -1, got = -1;
		const int rw = tl_time_parse(p, n, &want),
			  rg = tl_time_parse_memo(&memo, p, n, &got);

		FUZZ_CHECK(rg == rw);
		FUZZ_CHECK(got == want);
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TL_TIME_TEXT_LEN + 1];
	int64_t ns, back;

	memo_lines(data, size);
	if (tl_time_parse((const char *)data, size, &ns) != 0)
		return 0;
	memset(text, 'x', sizeof(text));
	FUZZ_CHECK(tl_time_format(ns, text) == text);
	FUZZ_CHECK(strlen(text) == TL_TIME_TEXT_LEN);
	FUZZ_CHECK(tl_time_parse(text, TL_TIME_TEXT_LEN, &back) == 0);
	FUZZ_CHECK(back == tl_floor_div(ns, TL_NS_PER_MS) * TL_NS_PER_MS);
	return 0;
}
