/*
 * tools/cli.c - what every command shares: messages on stderr, --quiet, the option parser
 * (tools/cli.h). A library of its own so the config loader and its fuzz target link it.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool tl_quiet;

void tl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tripline: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tl_info(const char *fmt, ...)
{
	va_list ap;

	if (tl_quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int64_t tl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tl_opts_parse(int argc, char **argv, const struct tl_opt *opts, size_t n_opts, const char *cmd,
		  int *ret_npos)
{
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (strncmp(a, "--", 2) != 0 || strcmp(a, "--") == 0) {
			if (strcmp(a, "--") == 0) {
				while (++i < argc)
					argv[npos++] = argv[i];
				break;
			}
			argv[npos++] = a;
			continue;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct tl_opt *o = NULL;

		for (size_t k = 0; k < n_opts; k++)
			if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
				o = &opts[k];
		if (!o) {
			tl_err("%s: unknown option '--%.*s' (see 'tripline %s --help')", cmd,
			       (int)nlen, name, cmd);
			return TL_EUSAGE;
		}
		if (!o->takes_value) {
			if (eq) {
				tl_err("%s: option '--%s' takes no value", cmd, o->name);
				return TL_EUSAGE;
			}
			*o->flag = true;
			continue;
		}
		if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			tl_err("%s: option '--%s' needs a value", cmd, o->name);
			return TL_EUSAGE;
		}
	}
	*ret_npos = npos;
	return 0;
}
