/*
 * tests/files.h - shared by the tests: temporary directories, whole files, running tripline.
 * Plain C and POSIX only, so suites without the tripline include path can use it too.
 */
#ifndef TL_TESTS_FILES_H
#define TL_TESTS_FILES_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Remove @dir and everything below it. */
static inline void th_rmrf(const char *dir)
{
	char cmd[1200];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
}

/*
 * The whole of @dir/@rel in a buffer with @pad zero bytes after it (at least one, so it is a
 * string too), its length in @ret_len if not NULL. Return: NULL if it cannot be read.
 */
static inline char *th_slurp(const char *dir, const char *rel, size_t pad, size_t *ret_len)
{
	char path[1200];
	FILE *f;
	long n;
	char *buf;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		abort();
	buf = calloc(1, (size_t)n + (pad ? pad : 1));
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

/* Run the shell command @cmd in @dir. Return: its exit status, -1 if it did not exit. */
static inline int th_sh(const char *dir, const char *cmd)
{
	char c[9216];
	int st;

	(void)snprintf(c, sizeof(c), "cd '%s' && %s", dir, cmd);
	st = system(c);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run the tripline binary @exe in @dir with @args, a shell fragment that may redirect. */
static inline int th_run(const char *dir, const char *exe, const char *args)
{
	char cmd[8192];

	(void)snprintf(cmd, sizeof(cmd), "'%s' %s", exe, args);
	return th_sh(dir, cmd);
}

/*
 * The string value of "@key" in one JSON line tripline wrote (flat, no escapes) into @out of
 * @cap bytes. Return: false if absent or too long.
 */
/* The lines of @s: its newlines. */
static inline size_t th_count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static inline bool th_field(const char *line, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	(void)snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if (!(p = strstr(line, pat)))
		return false;
	p += strlen(pat);
	e = strchr(p, '"');
	if (!e || (size_t)(e - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

/* A label `tripline gen` writes: an incident a rule should fire on ("fire") or not ("none"). */
struct th_label {
	char rule[16], resource[40], deployment[72], start[32], end[32], expect[8];
	bool fired; /* the caller's */
};

/*
 * The labels of the labels file text @text (cut up in place) into @l, at most @cap.
 * Return: how many; SIZE_MAX when one is cut short, lacks a field, or does not fit.
 */
static inline size_t th_labels(char *text, struct th_label *l, size_t cap)
{
	size_t n = 0;

	for (char *p = text; (p = strstr(p, "{\"rule\"")) != NULL; n++) {
		char *e = strchr(p, '}');

		if (!e || n == cap)
			return SIZE_MAX;
		*e = '\0';
		l[n] = (struct th_label){ 0 };
		if (!th_field(p, "rule", l[n].rule, sizeof(l[n].rule)) ||
		    !th_field(p, "resource", l[n].resource, sizeof(l[n].resource)) ||
		    !th_field(p, "deployment", l[n].deployment, sizeof(l[n].deployment)) ||
		    !th_field(p, "start", l[n].start, sizeof(l[n].start)) ||
		    !th_field(p, "end", l[n].end, sizeof(l[n].end)) ||
		    !th_field(p, "expect", l[n].expect, sizeof(l[n].expect)))
			return SIZE_MAX;
		p = e + 1;
	}
	return n;
}

/* The next line of *@p, NUL-terminated in place (the text is cut up); NULL at the end. */
static inline char *th_next_line(char **p)
{
	char *l = *p, *e;

	if (!*l)
		return NULL;
	e = strchr(l, '\n');
	if (e) {
		*e = '\0';
		*p = e + 1;
	} else {
		*p = l + strlen(l);
	}
	return l;
}

#endif /* TL_TESTS_FILES_H */
