/*
 * tests/fuzz/fuzz.h - the one declaration every fuzz target shares: libFuzzer's entry point.
 * Declared here because -Wmissing-prototypes wants a prototype before each definition, and
 * because regression_driver.c calls it without libFuzzer.
 */
#ifndef TL_FUZZ_H
#define TL_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test does not hold: stop here, in any build. */
#define FUZZ_CHECK(cond)                  \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

#endif /* TL_FUZZ_H */
