/*
 * tools/stats.h - the `--stats` JSON of replay and run (interfaces.md), written when they end
 * (tools/stats.c). Each command opens the object with tl_stats_head(), adds its own members
 * (replay: "inputs"; run: "partitions", "stream"), then tl_stats_series() and the evidence's.
 */
#ifndef TL_TOOLS_STATS_H
#define TL_TOOLS_STATS_H
#include <tripline/buf.h>
#include <tripline/decode.h>
#include <tripline/symtab.h>

#include "shards.h"

/** tl_stats_head() - '{' and the "records", "notes" and "engine" members, each with a ','. */
void tl_stats_head(struct tl_buf *b, const struct tl_decode_stats *ds,
		   const struct tl_shards *shards);

/** tl_stats_series() - "series":[...], sorted by resource then deployment; no ','. */
void tl_stats_series(struct tl_buf *b, const struct tl_shards *shards,
		     const struct tl_symtab *syms);

/**
 * tl_stats_write() - @b to @path atomically (temp file, fsync, rename), or to stdout for "-".
 * Return: 0 or -errno.
 */
int tl_stats_write(const char *path, const struct tl_buf *b);

#endif /* TL_TOOLS_STATS_H */
