/*
 * tools/yamltree.c - a YAML document as a tree with line numbers (see tools/yamltree.h).
 *
 * parse_node() recurses once per level of nesting and libyaml (0.2.5) sets no bound of its
 * own, so a loader of input it does not trust sets max_depth.
 */
#include "yamltree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void tl_yt_free(struct tl_yt_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		tl_yt_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

int tl_yt_fail(struct tl_yt_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return TL_ECONFIG;
	n = snprintf(c->err, c->errlen, "%s:%d: ", c->path, line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		(void)vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	c->failed = true;
	return TL_ECONFIG;
}

static int yaml_fail(struct tl_yt_ctx *c, const yaml_parser_t *yp)
{
	return tl_yt_fail(c, (int)yp->problem_mark.line + 1, "%s",
			  yp->problem ? yp->problem : "invalid YAML");
}

static int node_add(struct tl_yt_node *p, struct tl_yt_node *k)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct tl_yt_node **kids = realloc(p->kids, cap * sizeof(*kids));

		if (!kids)
			return -ENOMEM;
		p->kids = kids;
		p->cap = cap;
	}
	p->kids[p->n++] = k;
	return 0;
}

/* Build the node that starts with @ev (already parsed), @depth levels down. */
static int parse_node(struct tl_yt_ctx *c, const struct tl_yt_limits *lim, yaml_parser_t *yp,
		      const yaml_event_t *ev, int depth, struct tl_yt_node **ret)
{
	const int line = (int)ev->start_mark.line + 1;
	struct tl_yt_node *n;
	int r = 0;

	if (lim->max_nodes && ++c->n_nodes > lim->max_nodes)
		return tl_yt_fail(c, line, "more than %zu values", lim->max_nodes);
	if (lim->max_depth && depth > lim->max_depth)
		return tl_yt_fail(c, line, "nested deeper than %d levels", lim->max_depth);
	if (!(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	n->line = line;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n->t = TL_YT_SCALAR;
		if (lim->strict && memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
			r = tl_yt_fail(c, line, "a NUL character in a value");
			break;
		}
		n->text = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!n->text)
			r = -ENOMEM;
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		const bool map = ev->type == YAML_MAPPING_START_EVENT;
		const yaml_event_type_t end =
		    map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;

		n->t = map ? TL_YT_MAP : TL_YT_SEQ;
		for (;;) {
			yaml_event_t kid;
			struct tl_yt_node *k = NULL;

			if (!yaml_parser_parse(yp, &kid)) {
				r = yaml_fail(c, yp);
				break;
			}
			if (kid.type == end) {
				yaml_event_delete(&kid);
				break;
			}
			r = parse_node(c, lim, yp, &kid, depth + 1, &k);
			yaml_event_delete(&kid);
			if (r == 0)
				r = node_add(n, k);
			if (r < 0) {
				tl_yt_free(k);
				break;
			}
		}
		break;
	}
	case YAML_ALIAS_EVENT:
		r = tl_yt_fail(c, line, "aliases (*name) are not supported");
		break;
	default:
		r = tl_yt_fail(c, line, "unexpected YAML content");
		break;
	}
	if (r < 0) {
		tl_yt_free(n);
		return r;
	}
	*ret = n;
	return 0;
}

/* The document of the parser @yp (its input set), which this deletes. */
static int parse_stream(struct tl_yt_ctx *c, const struct tl_yt_limits *lim, yaml_parser_t *yp,
			struct tl_yt_node **ret_root)
{
	yaml_event_t ev;
	struct tl_yt_node *root = NULL;
	int r = 0;

	c->n_nodes = 0;
	for (;;) {
		if (!yaml_parser_parse(yp, &ev)) {
			r = yaml_fail(c, yp);
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		/* not strict: an alias as the document is passed over (the config reads none) */
		if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_SCALAR_EVENT || (lim->strict && ev.type == YAML_ALIAS_EVENT)) {
			if (root)
				r = tl_yt_fail(c, (int)ev.start_mark.line + 1,
					       "only one YAML document is read");
			else
				r = parse_node(c, lim, yp, &ev, 0, &root);
		}
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}
	yaml_parser_delete(yp);
	if (r < 0) {
		tl_yt_free(root);
		return r;
	}
	*ret_root = root;
	return 0;
}

int tl_yt_parse_text(struct tl_yt_ctx *c, const char *text, size_t len,
		     const struct tl_yt_limits *lim, struct tl_yt_node **ret_root)
{
	yaml_parser_t yp;

	*ret_root = NULL;
	if (lim->max_bytes && len > lim->max_bytes)
		return tl_yt_fail(c, 1, "larger than %zu bytes", lim->max_bytes);
	if (!yaml_parser_initialize(&yp))
		return -ENOMEM;
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	return parse_stream(c, lim, &yp, ret_root);
}

int tl_yt_parse_file(struct tl_yt_ctx *c, FILE *f, const struct tl_yt_limits *lim,
		     struct tl_yt_node **ret_root)
{
	yaml_parser_t yp;

	*ret_root = NULL;
	if (!yaml_parser_initialize(&yp))
		return -ENOMEM;
	yaml_parser_set_input_file(&yp, f);
	return parse_stream(c, lim, &yp, ret_root);
}

int tl_yt_check_map(struct tl_yt_ctx *c, const struct tl_yt_node *m, const char *what)
{
	if (m->t != TL_YT_MAP)
		return tl_yt_fail(c, m->line, "%s: expected a map of keys", what);
	for (size_t i = 0; i < m->n; i += 2) {
		if (m->kids[i]->t != TL_YT_SCALAR)
			return tl_yt_fail(c, m->kids[i]->line, "%s: keys must be plain words",
					  what);
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(m->kids[i]->text, m->kids[j]->text) == 0)
				return tl_yt_fail(c, m->kids[i]->line, "key '%s': given twice",
						  m->kids[i]->text);
	}
	return 0;
}
