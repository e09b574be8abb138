/*
 * tools/tripline.c - the tripline command: git-style subcommands, logging, options.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
