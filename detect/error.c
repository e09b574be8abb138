/*
 * detect/error.c - tl_strerror(). Lives in detect/, the bottom layer, because every layer
 * returns these codes.
 */
#include <string.h>

#include <tripline/error.h>

const char *tl_strerror(int r)
{
	switch (r) {
	case 0:
		return "success";
#define TL_ERROR_CASE(name, value, msg) \
	case value:                     \
		return msg;
		TL_ERRORS(TL_ERROR_CASE)
#undef TL_ERROR_CASE
	default:
		break;
	}
	if (r < 0 && r > -1000)
		return strerror(-r); /* NOLINT(concurrency-mt-unsafe): glibc's table is static */
	return "unknown error";
}
