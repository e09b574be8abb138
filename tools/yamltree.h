/*
 * tools/yamltree.h - one YAML document as a tree of maps, sequences and scalars with line
 * numbers, for the loaders that check it key by key (tools/config.c, tools/scenario.c).
 *
 * libyaml's event parser builds the tree; anchors and aliases are refused. Each loader
 * passes its own bounds (struct tl_yt_limits), and every error, the loader's own included,
 * is written once as "PATH:LINE: cause" through tl_yt_fail().
 */
#ifndef TL_TOOLS_YAMLTREE_H
#define TL_TOOLS_YAMLTREE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <tripline/error.h>

enum tl_yt_type { TL_YT_SCALAR, TL_YT_MAP, TL_YT_SEQ };

struct tl_yt_node {
	enum tl_yt_type t;
	int line;                 /* 1-based */
	char *text;               /* scalars */
	struct tl_yt_node **kids; /* maps: key, value, key, value, ... */
	size_t n, cap;
};

/* What a loader fills in before parsing; the rest is the parser's. */
struct tl_yt_ctx {
	const char *path; /* errors start with it */
	char *err;        /* the first error, "PATH:LINE: cause" */
	size_t errlen;
	bool failed; /* err is written: later errors are dropped */
	size_t n_nodes;
};

/* Bounds of one document; 0 (or false) leaves that one unchecked. */
struct tl_yt_limits {
	size_t max_bytes; /* text longer than this: "larger than N bytes" */
	size_t max_nodes; /* "more than N values" */
	int max_depth;    /* below the root: "nested deeper than N levels" */
	bool strict;      /* refuse NUL characters in scalars and an alias as the document */
};

/**
 * tl_yt_fail() - write "PATH:LINE: " and the message to @c->err, unless an error is
 * already there.
 * Return: TL_ECONFIG.
 */
int tl_yt_fail(struct tl_yt_ctx *c, int line, const char *fmt, ...) TL_PRINTF(3, 4);

/**
 * tl_yt_parse_text() - the tree of the YAML text @text of @len bytes.
 * @ret_root: the document, or NULL when the text holds none (tl_yt_free() it).
 * Return: 0, TL_ECONFIG (not YAML, more than one document, or over @lim) or -ENOMEM.
 */
TL_MUST_CHECK int tl_yt_parse_text(struct tl_yt_ctx *c, const char *text, size_t len,
				   const struct tl_yt_limits *lim, struct tl_yt_node **ret_root);

/**
 * tl_yt_parse_file() - tl_yt_parse_text() of what is left in @f, read as libyaml goes
 * (@lim->max_bytes is not checked).
 */
TL_MUST_CHECK int tl_yt_parse_file(struct tl_yt_ctx *c, FILE *f, const struct tl_yt_limits *lim,
				   struct tl_yt_node **ret_root);

/** tl_yt_free() - a node and all below it (NULL is fine). */
void tl_yt_free(struct tl_yt_node *n);

/**
 * tl_yt_check_map() - @m is a map whose keys are scalars, each given once.
 * @what: the section, for the error.
 * Return: 0 or TL_ECONFIG.
 */
int tl_yt_check_map(struct tl_yt_ctx *c, const struct tl_yt_node *m, const char *what);

#endif /* TL_TOOLS_YAMLTREE_H */
