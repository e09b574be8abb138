/*
 * tools/scenario.h - the scenario `tripline gen` plays (`--scenario FILE`, YAML): the
 * deployments that send traffic, the incidents injected into it at given times of each day
 * (and the rule each must or must not fire), and the model version changes.
 *
 *   deployments:
 *     - {name: support-gpt4o, model: gpt-4o, version: "2024-08-06", peak_rate: 1.0}
 *     - {name: quiet, replicas: 1000, peak_rate: 0.002}      # quiet-00001 .. quiet-01000
 *   incidents:
 *     - {rule: latency, deployment: support-gpt4o, start: "14:00", end: "14:45",
 *        effect: latency, amount: 3, expect: fire}
 *   changes:
 *     - {deployment: support-gpt4o, at: "13:52:10", version: "2024-11-20"}
 *
 * Unknown keys and bad values are errors naming the file and line; every count and number
 * is bounded (TL_SCN_MAX_*), so a scenario cannot make gen run out of memory.
 */
#ifndef TL_TOOLS_SCENARIO_H
#define TL_TOOLS_SCENARIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/error.h>

#define TL_SCN_NAME_MAX        64      /* deployment, model and version names, with the NUL */
#define TL_SCN_MAX_DEPLOYMENTS 4096    /* entries under deployments: */
#define TL_SCN_MAX_INCIDENTS   4096    /* entries under incidents: */
#define TL_SCN_MAX_CHANGES     4096    /* entries under changes: */
#define TL_SCN_MAX_SERIES      1000000 /* deployments times their replicas */
#define TL_SCN_MAX_RATE        1e6     /* requests/s of all series at their peak */
#define TL_SCN_MAX_BYTES       (4 << 20)
#define TL_SCN_CHANGE_TAKES_S  48 /* a version change's Start to its Success */

enum tl_scn_via {
	TL_SCN_AOAI, /* RequestResponse logs of the AOAI account */
	TL_SCN_APIM  /* GatewayLogs and GatewayLlmLogs of the APIM gateway in front of it */
};

enum tl_scn_effect {
	TL_SCN_LATENCY,   /* latency x amount */
	TL_SCN_DRIFT,     /* latency rises by amount x itself over the window, then stays */
	TL_SCN_5XX,       /* this share of calls fails with 500 */
	TL_SCN_429,       /* this share is throttled */
	TL_SCN_GUARDRAIL, /* this share is stopped by the content filter */
	TL_SCN_REFUSAL,   /* this share is refused by the model */
	TL_SCN_TOKENS     /* completions amount x longer */
};

struct tl_scn_deployment {
	char name[TL_SCN_NAME_MAX], model[TL_SCN_NAME_MAX], version[TL_SCN_NAME_MAX];
	enum tl_scn_via via;
	bool embedding;
	double peak_rate;    /* requests/s of each replica at the daily peak */
	double stream_share; /* share of streamed calls */
	double latency_ms, latency_sigma, ttfb_ms; /* log-normal median and sigma; streams: ttfb */
	double prompt_tokens, completion_tokens;   /* log-normal medians */
	uint32_t replicas;                         /* > 1: series NAME-00001 .. NAME-<replicas> */
	int line;
};

struct tl_scn_incident {
	char rule[TL_SCN_NAME_MAX]; /* the rule expected to fire, or the one that must not */
	uint32_t deployment;
	int32_t replica;        /* -1: every replica; else 0-based */
	int32_t start_s, end_s; /* seconds from the start of each day, start < end <= 86400 */
	enum tl_scn_effect effect;
	double amount;
	bool fire; /* expect: fire (true) or none */
};

struct tl_scn_change {
	uint32_t deployment;
	int32_t replica; /* -1: the deployment has one series */
	int32_t at_s;    /* the Activity Log Start; the version serves from its Success */
	char version[TL_SCN_NAME_MAX];
};

struct tl_scenario {
	struct tl_scn_deployment *deployments;
	size_t n_deployments;
	struct tl_scn_incident *incidents;
	size_t n_incidents;
	struct tl_scn_change *changes;
	size_t n_changes;
	uint64_t n_series;
};

/**
 * tl_scenario_parse() - a scenario from the YAML text @text of @len bytes.
 * @name: the file name errors start with.
 * @err: on failure, "NAME:LINE: cause".
 * Return: 0, TL_ECONFIG (the text is not a valid scenario) or -ENOMEM. On failure @s is
 * left empty (tl_scenario_fini() is harmless).
 */
TL_MUST_CHECK int tl_scenario_parse(const char *name, const char *text, size_t len,
				    struct tl_scenario *s, char *err, size_t errlen);

/**
 * tl_scenario_load() - tl_scenario_parse() of the file at @path.
 * Return: as tl_scenario_parse(), or -errno when the file cannot be read, -EFBIG when it is
 * over TL_SCN_MAX_BYTES.
 */
TL_MUST_CHECK int tl_scenario_load(const char *path, struct tl_scenario *s, char *err,
				   size_t errlen);

void tl_scenario_fini(struct tl_scenario *s);

/** tl_scenario_effect_name() - "latency", "5xx", ... as a scenario writes it. */
const char *tl_scenario_effect_name(enum tl_scn_effect e);

#endif /* TL_TOOLS_SCENARIO_H */
