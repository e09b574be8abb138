/*
 * tools/report.h - trigger events to stdout and the backtest summary (tools/report.c).
 */
#ifndef TL_TOOLS_REPORT_H
#define TL_TOOLS_REPORT_H
#include <stdbool.h>
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

/*
 * What the evidence does with each trigger event (tools/evidence.c); every member may be NULL.
 * The events of a step go to stdout only once journal() has taken each and sync() made them
 * durable: an alert is in the journal before anyone is told.
 */
struct tl_report_ops {
	void *ud;
	/* @t's extra JSON members, valid until the next call; may take t->seed (NULL it) */
	void (*annotate)(void *ud, struct tl_trigger *t, struct tl_trigger_extra *x);
	/* one event's JSON line (with its newline) */
	int (*journal)(void *ud, const struct tl_trigger *t, const char *line, size_t len);
	int (*sync)(void *ud);
	/* an event already told before a restart (the journal has it): annotated, then neither
	 * journaled nor written again */
	bool (*seen)(void *ud, const struct tl_trigger *t);
	void *seen_ud;
};

struct tl_alerts;

struct tl_report {
	struct tl_report_ops ops;
	struct tl_alerts *alerts; /* the sinks after the journal (tools/alerts.h); may be NULL */
	const struct tl_symtab *syms;
	int fd;
	int err;
	uint64_t events;
	uint64_t suppressed; /* events ops.seen() said were told already */
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
 * them; their seeds are freed (or taken by ops.annotate). Return: 0, -errno of the write or
 * the journal.
 */
int tl_report_triggers(struct tl_report *r, struct tl_trigger *t, size_t n);

/** tl_report_end() - the input ended at @end: incidents still firing count up to there. */
void tl_report_end(struct tl_report *r, int64_t end);

void tl_report_summary_text(const struct tl_report *r, FILE *f);
void tl_report_summary_json(const struct tl_report *r, struct tl_buf *b);

#endif /* TL_TOOLS_REPORT_H */
