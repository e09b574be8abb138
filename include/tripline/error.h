/*
 * tripline/error.h - the one failure convention of the project.
 *
 * Fallible functions return int: 0 on success, -errno for system errors, and a TL_E* code
 * (at or below -1000) for the project's own errors. The codes are an X-macro so the enum and
 * the messages cannot drift apart.
 */
#ifndef TL_ERROR_H
#define TL_ERROR_H

#if defined(__GNUC__) || defined(__clang__)
#define TL_MUST_CHECK   __attribute__((warn_unused_result))
#define TL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TL_LIKELY(x)    __builtin_expect(!!(x), 1)
#define TL_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define TL_FALLTHROUGH  __attribute__((fallthrough))
#else
#define TL_FALLTHROUGH
#define TL_MUST_CHECK
#define TL_PRINTF(f, a)
#define TL_LIKELY(x)   (x)
#define TL_UNLIKELY(x) (x)
#endif

/* X(name, value, message) */
#define TL_ERRORS(X)                                                                \
	X(TL_EJSON, -1000, "invalid JSON")                                          \
	X(TL_EMISSING, -1001, "required field missing")                             \
	X(TL_ETYPE, -1002, "field of the wrong type")                               \
	X(TL_ETOOBIG, -1003, "size limit exceeded")                                 \
	X(TL_ETIME, -1004, "invalid timestamp")                                     \
	X(TL_EVALUE, -1005, "invalid value")                                        \
	X(TL_ECOMPRESS, -1006, "corrupt or truncated compressed data")              \
	X(TL_ECONFIG, -1007, "invalid configuration")                               \
	X(TL_ECPU, -1008, "this CPU lacks the instructions tripline was built for") \
	X(TL_EFULL, -1009, "table full")                                            \
	X(TL_ECATEGORY, -1010, "not a record of a known category")                  \
	X(TL_EUSAGE, -1011, "usage error")                                          \
	X(TL_ECORRUPT, -1012, "corrupt or truncated saved state")                   \
	X(TL_EMISMATCH, -1013, "saved state was taken with different settings")

enum tl_error {
#define TL_ERROR_ENUM(name, value, msg) name = (value),
	TL_ERRORS(TL_ERROR_ENUM)
#undef TL_ERROR_ENUM
};

/**
 * tl_strerror() - text for a return code of any tripline function.
 * @r: 0, -errno or a TL_E* code.
 * Return: a static string. Thread: any.
 */
const char *tl_strerror(int r);

#endif /* TL_ERROR_H */
