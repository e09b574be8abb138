/*
 * ingest/ingest_int.h - declarations shared inside ingest/ only.
 */
#ifndef TL_INGEST_INT_H
#define TL_INGEST_INT_H
#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/**
 * tl_embedded_extract() - fast path for a JSON object held in a JSON string, as Azure writes
 * `properties`: @s is the raw string content, e.g. {\"apiName\":\"...\",\"requestTime\":63...}.
 *
 * Handles a strict subset of JSON: a flat object whose keys and string values hold no escape
 * (each backslash is the one before a quote), whose numbers are integers of at most 18
 * digits, whose other values are true, false or null, with spaces as the only whitespace.
 * Everything it accepts is valid JSON and gives the slots tl_json_extract() would give (a
 * differential fuzz target checks this). Anything else, it declines.
 * At least 8 bytes after @s + @n must be readable (key compares load 8 bytes at a time;
 * JSON input always carries TL_JSON_PADDING).
 * Return: true with the slots of @ks filled; false when the caller must use tl_json_extract()
 * (the slots are then in an unspecified state). Thread: any.
 */
bool tl_embedded_extract(const char *s, size_t n, const struct tl_jkeys *ks, struct tl_jval *vals);

#endif /* TL_INGEST_INT_H */
