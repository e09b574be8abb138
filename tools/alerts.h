/*
 * tools/alerts.h - trigger events to the configured sinks (config `sinks:`, issue 6), the
 * part of the report after the journal (tools/alerts.c).
 *
 * For every event told (in the journal already), tl_alerts_event() appends its line to each
 * file sink that wants it and queues it in the durable outbox for each webhook and kafka
 * sink that wants it; tl_alerts_sync(), once per watermark step before stdout is written,
 * makes those durable (fdatasync) and wakes the delivery thread. So an event is in the
 * journal before the outbox, and in the outbox before anyone is sent it.
 */
#ifndef TL_TOOLS_ALERTS_H
#define TL_TOOLS_ALERTS_H
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tripline/buf.h>
#include <tripline/symtab.h>
#include <tripline/trigger.h>

struct tl_alerts;

/**
 * tl_alerts_open() - the sinks of @cfg: file sinks opened for append, the outbox under
 * @out_dir/outbox for the queued ones and the delivery thread started (its dead letters in
 * @out_dir/alerts-dead-letter.ndjson). Events pending in the outbox from an earlier run are
 * delivered first. *@ret is NULL when @cfg has no sinks besides stdout.
 * @err: what failed, naming the sink or file (never a URL or a secret).
 * Return: 0, -errno, TL_ECONFIG, TL_ECORRUPT. Thread: any.
 */
int tl_alerts_open(const struct tl_config *cfg, const char *out_dir, struct tl_alerts **ret,
		   char *err, size_t errlen);

/** tl_alerts_event() - @t, whose JSON line (with its newline) is @line, to the sinks that
 * want it. Return: 0 or -errno (the sink named in tl_alerts_errmsg()). Thread: the writer. */
int tl_alerts_event(struct tl_alerts *a, const struct tl_trigger *t, const struct tl_symtab *syms,
		    const char *line, size_t len);

/** tl_alerts_sync() - make the events given so far durable. Return: 0 or -errno. */
int tl_alerts_sync(struct tl_alerts *a);

/** tl_alerts_kick() - wake the delivery thread: the events are in the journal too. */
void tl_alerts_kick(struct tl_alerts *a);

/** tl_alerts_errmsg() - what the last failure was. */
const char *tl_alerts_errmsg(const struct tl_alerts *a);

/**
 * tl_alerts_drain() - wait until the outbox is empty (every event delivered or given up
 * on), saying on stderr every 10 s what is still pending and why (unless quiet).
 * Return: true when drained; false when @timeout_ns (0: none) passed first.
 */
bool tl_alerts_drain(struct tl_alerts *a, int64_t timeout_ns);

/** tl_alerts_metrics() - per-sink Prometheus samples (tools/http.h) into @b. */
void tl_alerts_metrics(struct tl_alerts *a, struct tl_buf *b);

/** tl_alerts_stats_json() - ',"alerts":[...]' with each sink's counts, for --stats. */
void tl_alerts_stats_json(struct tl_alerts *a, struct tl_buf *b);

/** tl_alerts_close() - stop the delivery (pending events stay in the outbox), close the
 * files. Return: 0 or -errno of closing a file sink. NULL is a no-op. */
int tl_alerts_close(struct tl_alerts *a);

#endif /* TL_TOOLS_ALERTS_H */
