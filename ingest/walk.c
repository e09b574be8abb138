/*
 * ingest/walk.c - expand replay paths: files as given, directories into the log files below
 * them in name order (storage-account trees are zero-padded, so name order is time order
 * within one resource), each with the hour its y=/m=/d=/h= path names.
 * Thread: any.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/source.h>
#include <tripline/time.h>

#define TL_WALK_MAX_DEPTH 32

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool is_log_name(const char *name)
{
	size_t n = strlen(name);

	if (ends_with(name, n, ".gz"))
		n -= 3;
	else if (ends_with(name, n, ".zst"))
		n -= 4;
	return ends_with(name, n, ".json") || ends_with(name, n, ".ndjson") ||
	       ends_with(name, n, ".jsonl") || ends_with(name, n, ".log");
}

/* Append @path, which @ps then owns (it is freed if it cannot be added). */
static int add(struct tl_paths *ps, char *path)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct tl_path *p = realloc(ps->p, cap * sizeof(*p));

		if (!p) {
			free(path);
			return -ENOMEM;
		}
		ps->p = p;
		ps->cap = cap;
	}
	ps->p[ps->n++] = (struct tl_path){ .path = path, .hint_ns = tl_path_hint(path) };
	return 0;
}

/* Append a copy of @path. */
static int add_copy(struct tl_paths *ps, const char *path)
{
	char *p = strdup(path);

	return p ? add(ps, p) : -ENOMEM;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct tl_paths *ps, const char *dir, int depth, const char **ret_bad)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (depth > TL_WALK_MAX_DEPTH)
		return 0;
	d = opendir(dir);
	if (!d) {
		*ret_bad = dir;
		return -errno;
	}
	while ((e = readdir(d)) != NULL) { /* NOLINT(concurrency-mt-unsafe): one DIR per call */
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));

			if (!nn) {
				r = -ENOMEM;
				goto out_free;
			}
			names = nn;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out_free;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t len = strlen(dir) + strlen(names[i]) + 2;
		char *path = malloc(len);
		struct stat st;
		bool link;

		if (!path) {
			r = -ENOMEM;
			break;
		}
		(void)snprintf(path, len, "%s/%s", dir, names[i]);
		/* a link is followed to a file, never into a directory (no cycles) */
		if (lstat(path, &st) < 0 || ((link = S_ISLNK(st.st_mode)) && stat(path, &st) < 0)) {
			free(path); /* vanished or a dangling link: nothing to read */
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (!link)
				r = walk(ps, path, depth + 1, ret_bad);
			free(path);
		} else if (S_ISREG(st.st_mode) && is_log_name(names[i])) {
			r = add(ps, path);
		} else {
			ps->ignored++;
			free(path);
		}
	}
out_free:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

int tl_paths_add(struct tl_paths *ps, const char *path, const char **ret_bad)
{
	struct stat st;
	int r;

	if (strcmp(path, "-") == 0)
		return add_copy(ps, path);
	if (stat(path, &st) < 0) {
		*ret_bad = path;
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		size_t n = strlen(path);
		char *dir = strdup(path);

		if (!dir)
			return -ENOMEM;
		while (n > 1 && dir[n - 1] == '/')
			dir[--n] = '\0';
		r = walk(ps, dir, 0, ret_bad);
		if (r < 0 && *ret_bad == dir)
			*ret_bad = path; /* name the path as the user gave it */
		free(dir);
		return r;
	}
	if (access(path, R_OK) < 0) {
		*ret_bad = path;
		return -errno;
	}
	return add_copy(ps, path);
}

void tl_paths_fini(struct tl_paths *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i].path);
	free(ps->p);
	*ps = (struct tl_paths){ 0 };
}

/*
 * The @ndigits digits of the last "/<key>=" in @path that starts before @end (NULL: anywhere)
 * and is followed by exactly those digits and '/' or the end; -1 if none.
 */
static int component(const char *path, const char *key, int ndigits, const char *end)
{
	char pat[8];
	const char *p = path;
	int v = -1;

	(void)snprintf(pat, sizeof(pat), "/%s=", key);
	while ((p = strstr(p, pat)) != NULL && (!end || p < end)) {
		const char *q = p + strlen(pat);
		int x = 0, i;

		for (i = 0; i < ndigits && q[i] >= '0' && q[i] <= '9'; i++)
			x = x * 10 + (q[i] - '0');
		if (i == ndigits && (q[i] == '/' || q[i] == '\0'))
			v = x;
		p = q;
	}
	return v;
}

int64_t tl_path_hint(const char *path)
{
	char text[32];
	int64_t ns;
	const char *y = strstr(path, "/y=");
	int year, month, day, hour;

	if (!y)
		return INT64_MIN;
	year = component(path, "y", 4, NULL);
	day = component(path, "d", 2, NULL);
	hour = component(path, "h", 2, NULL);
	/* the month is the m= between y= and d= (an m= after h= is the minute) */
	const char *d = strstr(y, "/d=");

	month = d ? component(y, "m", 2, d) : -1;
	if (year < 0 || month < 0 || day < 0 || hour < 0)
		return INT64_MIN;
	(void)snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:00:00Z", year, month, day, hour);
	if (tl_time_parse(text, strlen(text), &ns) < 0)
		return INT64_MIN;
	return ns;
}
