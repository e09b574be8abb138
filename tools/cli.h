/*
 * tools/cli.h - shared by the tripline subcommands: logging to stderr, option parsing,
 * monotonic time for progress.
 */
#ifndef TL_TOOLS_CLI_H
#define TL_TOOLS_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

/* Exit statuses (tripline/interfaces.md): 0 processed, 1 I/O failure, 2 usage or config. */
enum { TL_EXIT_OK = 0, TL_EXIT_IO = 1, TL_EXIT_USAGE = 2, TL_EXIT_NOT_REPRODUCED = 3 };

extern bool tl_quiet; /* --quiet: no progress lines */

/** tl_err() - "tripline: <message>" on stderr. */
void tl_err(const char *fmt, ...) TL_PRINTF(1, 2);
/** tl_info() - a progress or summary line on stderr, unless --quiet. */
void tl_info(const char *fmt, ...) TL_PRINTF(1, 2);

/** tl_now_ns() - the monotonic clock (progress and timeouts only, never event time). */
int64_t tl_now_ns(void);

/*
 * A tiny long-option parser: --name value, --name=value, and flags. Arguments that do not
 * start with "--" (or are "-") are positional.
 */
struct tl_opt {
	const char *name;
	bool takes_value;
	const char **value; /* set for options with a value */
	bool *flag;         /* set for flags */
};

/**
 * tl_opts_parse() - parse @argv[1..@argc) into @opts and the positional arguments
 * (stored back into @argv, their count in *@ret_npos).
 * Return: 0, or TL_EUSAGE after printing what is wrong.
 */
int tl_opts_parse(int argc, char **argv, const struct tl_opt *opts, size_t n_opts, const char *cmd,
		  int *ret_npos);

int tl_cmd_replay(int argc, char **argv);
int tl_cmd_gen(int argc, char **argv);
int tl_cmd_config(int argc, char **argv);
int tl_cmd_incidents(int argc, char **argv);
int tl_cmd_postmortem(int argc, char **argv);
int tl_cmd_snapshot(int argc, char **argv);
int tl_cmd_run(int argc, char **argv);
int tl_cmd_hub(int argc, char **argv);

#endif /* TL_TOOLS_CLI_H */
