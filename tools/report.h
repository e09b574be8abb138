/*
 * tools/report.h - trigger events to stdout and the backtest summary (tools/report.c).
 */
#ifndef TL_TOOLS_REPORT_H
#define TL_TOOLS_REPORT_H
#include <stdint.h>
#include <stdio.h>

#include <tripline/buf.h>
#include <tripline/rules.h>
#include <tripline/trigger.h>

struct tl_rule_summary {
	uint64_t incidents, updates, still_firing;
	int64_t firing_ns;
	int64_t first, last; /* fired_at of the first and last incident */
};

struct tl_open_incident {
	uint64_t incident;
	int64_t fired_at;
	uint8_t rule;
};

struct tl_report {
	const struct tl_symtab *syms;
	int fd;
	int err;
	uint64_t events;
	int64_t end;
	struct tl_buf buf;
	struct tl_rule_summary rules[TL_RULE_COUNT];
	struct tl_open_incident *open;
	size_t n_open, cap_open;
};

void tl_report_init(struct tl_report *r, const struct tl_symtab *syms, int fd);
void tl_report_fini(struct tl_report *r);

/**
 * tl_report_triggers() - sort @n triggers of one watermark step into output order and write
 * them. Return: 0 or -errno of the write.
 */
int tl_report_triggers(struct tl_report *r, struct tl_trigger *t, size_t n);

/** tl_report_end() - the input ended at @end: incidents still firing count up to there. */
void tl_report_end(struct tl_report *r, int64_t end);

void tl_report_summary_text(const struct tl_report *r, FILE *f);
void tl_report_summary_json(const struct tl_report *r, struct tl_buf *b);

#endif /* TL_TOOLS_REPORT_H */
