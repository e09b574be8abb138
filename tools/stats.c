/*
 * tools/stats.c - the `--stats` JSON shared by replay and run (tools/stats.h).
 */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tripline/engine.h>
#include <tripline/fs.h>

struct named_series {
	const struct tl_series_stats *s;
	const char *resource, *deployment;
};

static int cmp_series(const void *a, const void *b)
{
	const struct named_series *x = a, *y = b;
	int c = strcmp(x->resource, y->resource);

	return c ? c : strcmp(x->deployment, y->deployment);
}

void tl_stats_head(struct tl_buf *b, const struct tl_decode_stats *ds,
		   const struct tl_shards *shards)
{
	struct tl_engine_counts cs, *c = &cs;

	tl_shards_counts(shards, &cs);
	tl_buf_printf(b,
		      "{\"records\":{\"read\":%llu,\"decoded\":%llu,\"duplicate\":%llu,"
		      "\"malformed\":%llu,\"skipped\":%llu,\"late\":%llu},",
		      (unsigned long long)ds->records, (unsigned long long)c->decoded,
		      (unsigned long long)c->duplicate, (unsigned long long)ds->malformed,
		      (unsigned long long)ds->skipped, (unsigned long long)c->late);
	tl_buf_printf(
	    b,
	    "\"notes\":{\"dedup_unchecked\":%llu,\"ahead\":%llu,\"series_dropped\":%llu,"
	    "\"tokens_unpriced\":%llu,\"tokens_repeated\":%llu,\"bodies_unreadable\":%llu},",
	    (unsigned long long)c->dedup_unchecked, (unsigned long long)c->ahead,
	    (unsigned long long)c->series_dropped, (unsigned long long)c->tokens_unpriced,
	    (unsigned long long)c->tokens_repeated, (unsigned long long)ds->bodies_unreadable);
	tl_buf_printf(b, "\"engine\":{\"series\":%zu,\"bytes_per_series\":%zu,\"bytes\":%zu},",
		      tl_shards_series_count(shards), tl_shards_series_bytes(shards),
		      tl_shards_memory(shards));
}

void tl_stats_series(struct tl_buf *b, const struct tl_shards *shards, const struct tl_symtab *syms)
{
	const size_t n = tl_shards_series_count(shards);
	struct named_series *ns = calloc(n ? n : 1, sizeof(*ns));

	tl_buf_puts(b, "\"series\":[");
	for (size_t i = 0; ns && i < n; i++) {
		const struct tl_series_stats *s = tl_shards_series_at(shards, i);

		ns[i] = (struct named_series){ s, tl_symtab_str(syms, s->resource, NULL),
					       tl_symtab_str(syms, s->deployment, NULL) };
	}
	if (ns)
		qsort(ns, n, sizeof(*ns), cmp_series);
	for (size_t i = 0; ns && i < n; i++) {
		const struct tl_series_stats *s = ns[i].s;

		tl_buf_puts(b, i ? ",{\"resource\":" : "{\"resource\":");
		tl_buf_json_str(b, ns[i].resource, strlen(ns[i].resource));
		tl_buf_puts(b, ",\"deployment\":");
		tl_buf_json_str(b, ns[i].deployment, strlen(ns[i].deployment));
		tl_buf_printf(
		    b,
		    ",\"requests\":%llu,\"status\":{\"2xx\":%llu,\"4xx\":%llu,\"429\":%llu,"
		    "\"5xx\":%llu,\"other\":%llu},\"tokens_in\":%llu,\"tokens_out\":%llu,"
		    "\"tokens_cached\":%llu,\"cost_usd\":",
		    (unsigned long long)s->requests, (unsigned long long)s->status_2xx,
		    (unsigned long long)s->status_4xx, (unsigned long long)s->status_429,
		    (unsigned long long)s->status_5xx, (unsigned long long)s->status_other,
		    (unsigned long long)s->tokens_in, (unsigned long long)s->tokens_out,
		    (unsigned long long)s->tokens_cached);
		tl_buf_json_num(b, s->cost_usd);
		tl_buf_printf(b,
			      ",\"guardrail\":{\"checked\":%llu,\"failed\":%llu},\"refusals\":%llu,"
			      "\"metric_rows\":%llu,\"changes\":%llu}",
			      (unsigned long long)s->guardrail_checked,
			      (unsigned long long)s->guardrail_failed,
			      (unsigned long long)s->refusals, (unsigned long long)s->metric_rows,
			      (unsigned long long)s->changes);
	}
	tl_buf_puts(b, "]");
	free(ns);
}

int tl_stats_write(const char *path, const struct tl_buf *b)
{
	char tmp[4096];
	int fd, r;

	if (strcmp(path, "-") == 0) {
		r = tl_write_all(STDOUT_FILENO, b->p, b->n);
		return r;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = tl_write_all(fd, b->p, b->n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}
