/*
 * tests/fuzz/regression_driver.c - replay fuzz corpora without libFuzzer, so normal CI runs
 * them (zstd's tests/fuzz/regression_driver.c is the model).
 *
 * Usage: regression_driver PATH...  Each PATH is a file, or a directory whose regular files
 * (not hidden, not recursive) are each one input. Every input is read into a buffer of
 * exactly its size, so reads past the end show under ASan, and given to
 * LLVMFuzzerTestOneInput() once. A failed invariant traps (the process dies); the exit
 * status is 0 when every input ran, 1 when a path could not be read or none was found.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f) {
		(void)fprintf(stderr, "regression_driver: '%s': %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, ncap);

			if (!nb) {
				(void)fprintf(stderr, "regression_driver: '%s': out of memory\n",
					      path);
				free(buf);
				(void)fclose(f);
				return -1;
			}
			buf = nb;
			cap = ncap;
		}
		size_t n = fread(buf + len, 1, cap - len, f);

		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		(void)fprintf(stderr, "regression_driver: '%s': read error\n", path);
		free(buf);
		(void)fclose(f);
		return -1;
	}
	(void)fclose(f);

	/* an exact-size copy: the slack of the growing buffer would hide overreads */
	uint8_t *exact = malloc(len ? len : 1);

	if (!exact) {
		free(buf);
		return -1;
	}
	if (len)
		memcpy(exact, buf, len);
	free(buf);
	(void)fprintf(stderr, "regression_driver: %s (%zu bytes)\n", path, len);
	(void)LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of @dir, in name order (so logs compare between runs). */
static int run_dir(const char *dir, size_t *ret_n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	if (!d) {
		(void)fprintf(stderr, "regression_driver: '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn) {
				r = -1;
				goto out_free;
			}
			names = nn;
			cap = ncap;
		}
		size_t len = strlen(dir) + 1 + strlen(de->d_name) + 1;

		names[n] = malloc(len);
		if (!names[n]) {
			r = -1;
			goto out_free;
		}
		(void)snprintf(names[n], len, "%s/%s", dir, de->d_name);
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(names[i]) < 0)
			r = -1;
		else
			(*ret_n)++;
	}
out_free:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	(void)closedir(d);
	return r;
}

int main(int argc, char **argv)
{
	size_t n_run = 0;
	int failed = 0;

	if (argc < 2) {
		(void)fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			(void)fprintf(stderr, "regression_driver: '%s': %s\n", argv[i],
				      strerror(errno));
			failed = 1;
		} else if (S_ISDIR(st.st_mode)) {
			failed |= run_dir(argv[i], &n_run) < 0;
		} else if (run_file(argv[i]) < 0) {
			failed = 1;
		} else {
			n_run++;
		}
	}
	(void)fprintf(stderr, "regression_driver: %zu inputs ran\n", n_run);
	if (n_run == 0)
		failed = 1;
	return failed;
}
