/*
 * tools/config.h - the YAML configuration (../shared/interfaces.md, "Configuration").
 *
 * Every key has a default (the runbook's numbers), so no file means the defaults; unknown
 * keys are errors that name the file and line, so a typo never silently disables a rule.
 * The keys, their types, bounds and documentation live in one table per section
 * (tools/config.c); `tripline config --example` prints the documented example from them.
 */
#ifndef TL_TOOLS_CONFIG_H
#define TL_TOOLS_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tripline/engine.h>
#include <tripline/rules.h>

#include "sinks.h"

struct tl_config_kafka {
	char *brokers;
	char **topics;
	size_t n_topics;
	char *group;
	char *connection_string_env; /* the name of the variable, never its value */
	char *connection_string_file;
	char **props; /* librdkafka properties passed through: name, value, name, value, ... */
	size_t n_props;
};

/* Evidence: retention, snapshots, change correlation, the journal (tools/evidence.c). */
struct tl_config_evidence {
	bool snapshots;            /* a snapshot per trigger */
	int64_t keep_ns;           /* raw records kept per series: 15 min */
	int64_t post_ns;           /* records after a trigger its snapshot waits for: 5 min */
	uint32_t series_max_mib;   /* compressed records kept per series: 8 */
	uint32_t snapshot_max_mib; /* bound on one snapshot file: 32 */
	uint32_t level;            /* zstd level of retained blocks and snapshots: 3 */
	uint32_t window_log;       /* zstd window of retained blocks, log2 bytes; 0: the level's */
	int64_t stable_after_ns;   /* a version is stable after this long without incident */
	int64_t change_window_ns;  /* a change this long before a trigger may be rolled back */
	int64_t recent_ns;         /* changes this long before a trigger are listed */
	int64_t journal_max_age_ns;
	uint32_t journal_max_mib;
};

struct tl_config {
	int64_t lateness_ns, bucket_ns, horizon_ns, min_history_ns, hold_ns, update_every_ns;
	struct tl_rules rules;
	struct tl_deployment_rules *deployments;
	size_t n_deployments;
	struct tl_price *prices; /* the built-in table, with the file's entries over it */
	size_t n_prices;
	struct tl_config_kafka kafka;
	struct tl_config_evidence evidence;
	struct tl_sink *sinks; /* `sinks:`, in order; none: stdout only */
	size_t n_sinks;
};

/** tl_config_defaults() - the runbook's numbers and the built-in price table. */
void tl_config_defaults(struct tl_config *c);

/**
 * tl_config_load() - defaults, then the file at @path over them.
 * @err: on failure, "path:line: key 'x': reason".
 * Return: 0, -errno (the file cannot be read), or TL_ECONFIG.
 */
int tl_config_load(const char *path, struct tl_config *c, char *err, size_t errlen);

void tl_config_free(struct tl_config *c);

/** tl_config_engine_opts() - the engine options a config gives. */
void tl_config_engine_opts(const struct tl_config *c, struct tl_engine_opts *o);

/** tl_config_example() - write the documented example configuration (every key, default). */
void tl_config_example(FILE *f);

int tl_cmd_config(int argc, char **argv);

#endif /* TL_TOOLS_CONFIG_H */
