/*
 * tools/tripline.c - the tripline command: git-style subcommands, logging, options.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

bool tl_quiet;

static const char usage[] =
    "usage: tripline <command> [options]\n"
    "\n"
    "Watches Azure OpenAI telemetry and tells responders when a deployment needs the\n"
    "incident runbook.\n"
    "\n"
    "commands:\n"
    "  replay [options] PATH...    read captured logs (files, .gz/.zst, directories, - for\n"
    "                              stdin) as one stream merged by event time; trigger\n"
    "                              events to stdout\n"
    "  run [options]               stream from Kafka / Event Hubs (with nothing configured:\n"
    "                              the embedded hub, fed a generated day); trigger events\n"
    "                              to stdout, restarts resume from a checkpoint\n"
    "  gen --out PATH [options]    write synthetic telemetry with labelled incidents\n"
    "  config --example|--check F  print the documented configuration, or check one\n"
    "  incidents list|show ID      the incidents in the journal (--out DIR), or one's\n"
    "                              whole timeline as JSON\n"
    "  postmortem ID               a Markdown draft of an incident's postmortem\n"
    "  snapshot show|extract FILE  summarize an evidence snapshot, or write its raw\n"
    "                              records as stored\n"
    "  hub [options]               a Kafka-protocol hub on loopback for tests and demos;\n"
    "                              prints its bootstrap address, --feed FILE produces to it\n"
    "\n"
    "Run 'tripline <command> --help' for the options of a command.\n";

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

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? TL_EXIT_USAGE : TL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		puts("tripline " TL_VERSION);
		return TL_EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return tl_cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "replay") == 0)
		return tl_cmd_replay(argc - 1, argv + 1);
	if (strcmp(argv[1], "gen") == 0)
		return tl_cmd_gen(argc - 1, argv + 1);
	if (strcmp(argv[1], "config") == 0)
		return tl_cmd_config(argc - 1, argv + 1);
	if (strcmp(argv[1], "incidents") == 0)
		return tl_cmd_incidents(argc - 1, argv + 1);
	if (strcmp(argv[1], "postmortem") == 0)
		return tl_cmd_postmortem(argc - 1, argv + 1);
	if (strcmp(argv[1], "snapshot") == 0)
		return tl_cmd_snapshot(argc - 1, argv + 1);
	if (strcmp(argv[1], "hub") == 0)
		return tl_cmd_hub(argc - 1, argv + 1);
	tl_err("unknown command '%s' (see 'tripline --help')", argv[1]);
	return TL_EXIT_USAGE;
}
