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
struct tl_report_item;
struct tl_report_out;

struct tl_report {
	struct tl_report_ops ops;
	struct tl_alerts *alerts; /* the sinks after the journal (tools/alerts.h); may be NULL */
	const struct tl_symtab *syms;
	int fd;
	int err;
	uint64_t events;
	uint64_t suppressed; /* events ops.seen() said were told already */
	int64_t end;
	struct tl_buf buf;            /* lines of the events not yet handed over or written */
	struct tl_report_item *items; /* their triggers, for the journal and the sinks */
	size_t n_items, cap_items;
	struct tl_report_out *out; /* the output thread (tl_report_start()); NULL: none */
	uint64_t jobs;             /* handed to the output thread so far */
	struct tl_rule_summary rules[TL_RULE_COUNT];
	struct tl_open_incident *open;
	size_t n_open, cap_open;
};

void tl_report_init(struct tl_report *r, const struct tl_symtab *syms, int fd);
/** tl_report_fini() - tl_report_stop(), then free what @r holds. */
void tl_report_fini(struct tl_report *r);

/**
 * tl_report_start() - from now on trigger events are written on an output thread of their
 * own. tl_report_triggers() still sorts, counts, annotates (ops.annotate, on the caller's
 * thread, in the caller's order) and formats each step's events; the output thread then
 * journals them, gives them to the sinks, makes both durable and writes them to the fd, in
 * the same order and with the same bytes as without it. Steps that queue up meanwhile are
 * written together, with one journal sync for all. At most 256 steps (or 16 MiB of events)
 * wait for it: beyond that tl_report_triggers() waits too, so a stdout nobody reads holds the
 * caller, not memory. Return: 0 or -errno.
 */
int tl_report_start(struct tl_report *r);

/**
 * tl_report_wait() - return once every event handed over so far is journaled, synced and
 * written (or dropped after an error). Return: 0 or the error that stopped the writing.
 */
int tl_report_wait(struct tl_report *r);

/** tl_report_stop() - tl_report_wait(), then end the output thread (a no-op without one). */
void tl_report_stop(struct tl_report *r);

/** tl_report_pending() - steps handed to the output thread and not yet written. Thread: the
 * caller of tl_report_triggers(). */
uint64_t tl_report_pending(const struct tl_report *r);

/** tl_report_error() - the first error of the journal, the sinks or the fd so far, or 0. */
int tl_report_error(const struct tl_report *r);

/**
 * tl_report_written() - the next step handed to the output thread that is now written:
 * its number (@r->jobs just after it was handed over, 1 for the first) and the monotonic
 * time (tl_now_ns()) it was written at; false when there is none new. Steps never taken
 * are forgotten past the 4096 newest.
 */
bool tl_report_written(struct tl_report *r, uint64_t *ret_job, int64_t *ret_ns);

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
