/*
 * tripline/rules.h - the trigger rules and their settings (the runbook's numbers by default;
 * every one can be set per deployment, see tripline.example.yaml).
 */
#ifndef TL_RULES_H
#define TL_RULES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tl_rule {
	TL_RULE_LATENCY = 0,
	TL_RULE_GUARDRAIL,
	TL_RULE_REFUSAL,
	TL_RULE_ERRORS,
	TL_RULE_THROTTLING,
	TL_RULE_COST,
	TL_RULE_COUNT
};

/** tl_rule_name() - "latency", "guardrail", ... */
const char *tl_rule_name(enum tl_rule r);

/* latency: the statistic of each 1-minute window above factor x baseline for `for`. */
struct tl_rule_latency {
	bool enabled;
	double statistic;      /* the quantile: 0.95 for p95 */
	double factor;         /* 2.0 */
	int64_t for_ns;        /* 5 min of consecutive breaching minutes */
	uint32_t min_requests; /* per minute: 20 */
	double severe_factor;  /* Sev1 at this multiple of the baseline: 4.0 */
};

/* guardrail, errors (5xx), throttling (429): a share of requests over a window. */
struct tl_rule_rate {
	bool enabled;
	double rate;           /* 0.01, 0.05, 0.10 */
	int64_t window_ns;     /* 5 min */
	uint32_t min_requests; /* 200, 100, 100 */
	double severe_rate;    /* Sev1: 0.05, 0.20, 0.50 */
};

/* refusal: refusals / requests above max(rate, factor x baseline rate). */
struct tl_rule_refusal {
	bool enabled;
	double rate;           /* 0.02 */
	double factor;         /* 3.0 */
	int64_t window_ns;     /* 5 min */
	uint32_t min_requests; /* 100 */
	double severe_rate;    /* Sev1: 0.10 */
};

#define TL_COST_MAX_WARN 8

/* cost: spend from tokens x pricing against the daily budget (UTC days of event time). */
struct tl_rule_cost {
	bool enabled;
	double daily_budget_usd;          /* 500 */
	double warn_at[TL_COST_MAX_WARN]; /* 0.5, 0.8, 1.0 of the budget; each above the last */
	uint32_t n_warn;
	double hourly_factor;   /* an hour's spend above 3 x the median hour */
	int64_t rate_window_ns; /* the spend rate used to project the day: 15 min */
};

/* Everything one deployment is judged by. */
struct tl_rules {
	struct tl_rule_latency latency;
	struct tl_rule_rate guardrail, errors, throttling;
	struct tl_rule_refusal refusal;
	struct tl_rule_cost cost;
	char fallback[80];           /* deployment to fail over to (Sev0/Sev1), "" for none */
	char owner[80];              /* who is paged, "" for none */
	char incident_commander[80]; /* who runs the incident, "" for none */
	char comms_owner[80];        /* who tells the affected teams, "" for none */
};

/** tl_rules_defaults() - the runbook's numbers. */
void tl_rules_defaults(struct tl_rules *r);

/* A deployment's own settings; `name` compares case-insensitively. */
struct tl_deployment_rules {
	char name[80];
	struct tl_rules rules;
};

#endif /* TL_RULES_H */
