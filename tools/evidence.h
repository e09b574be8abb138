/*
 * tools/evidence.h - the evidence half of the runbook, driven by the reader thread of replay
 * (and run): raw-record retention, change correlation and the rollback target, one snapshot
 * per trigger, and the incident journal every trigger event goes to before stdout.
 *
 * The reader calls tl_evidence_event() for every event it hands to the shards, in that order,
 * and tl_evidence_watermark() after every tl_shards_advance(); the report calls the ops
 * (tl_evidence_report_ops()) for each trigger event in output order. A trigger starts a
 * snapshot: its series' retained records are pinned, and the records that follow join them
 * until the watermark passes the trigger by the post window; then the file is written.
 * Everything is decided by event time and input order, never a clock.
 */
#ifndef TL_TOOLS_EVIDENCE_H
#define TL_TOOLS_EVIDENCE_H
#include "config.h"

#include <stdbool.h>
#include <stdint.h>

#include <tripline/changes.h>
#include <tripline/journal.h>
#include <tripline/retain.h>
#include <tripline/snapshot.h>

#include "report.h"
#include "shards.h"

struct tl_evidence_opts {
	const char *out_dir;
	bool snapshots;  /* one snapshot per trigger */
	bool journal;    /* every trigger event to out_dir/journal */
	int64_t post_ns; /* event time after a trigger its snapshot waits for; default 5 min */
	struct tl_retain_opts retain;
	struct tl_snapshot_opts snapshot;
	struct tl_changes_opts changes;
	struct tl_journal_opts journal_opts;
	const struct tl_config *cfg; /* what a snapshot's replay state holds */
};

struct tl_evidence_counts {
	uint64_t snapshots, snapshot_failures, snapshot_records, snapshot_omitted;
	uint64_t retain_errors; /* records not retained (memory, bounds) */
};

struct tl_evidence;

/** tl_evidence_opts_from_config() - @cfg's evidence settings, files under @out_dir. */
void tl_evidence_opts_from_config(const struct tl_config *cfg, const char *out_dir,
				  struct tl_evidence_opts *o);

/**
 * tl_evidence_new() - @o's evidence for the shards @p (names through @syms).
 * @err: on failure, what (file and cause).
 * Return: 0, -errno, TL_ECONFIG. Thread: the reader.
 */
int tl_evidence_new(const struct tl_evidence_opts *o, struct tl_symtab *syms, struct tl_shards *p,
		    char *err, size_t errlen, struct tl_evidence **ret);

/** tl_evidence_report_ops() - the ops the report calls for each trigger event. */
void tl_evidence_report_ops(struct tl_evidence *ev, struct tl_report_ops *ops);

/** tl_evidence_event() - @e goes to the shards next. */
void tl_evidence_event(struct tl_evidence *ev, const struct tl_event *e);

/** tl_evidence_watermark() - the shards were advanced to @watermark_ns. */
void tl_evidence_watermark(struct tl_evidence *ev, int64_t watermark_ns);

/**
 * tl_evidence_missing_until() - a run restored from a checkpoint: records up to @t (event
 * time) were read before the restart and are not retained. A snapshot whose window reaches
 * back before @t says so and is not reproducible. Called before the first event.
 */
void tl_evidence_missing_until(struct tl_evidence *ev, int64_t t);

/**
 * tl_evidence_snapshots_pending() - triggers whose snapshot waits for its post window: a
 * checkpoint taken now would outlive them (a restart from it does not fire them again).
 */
size_t tl_evidence_snapshots_pending(const struct tl_evidence *ev);

/**
 * tl_evidence_finish() - the input ended and the shards have finished: write the snapshots
 * still waiting for their post window with what there is, close the journal.
 * Return: 0 or the first error (tl_evidence_errmsg() says what).
 */
int tl_evidence_finish(struct tl_evidence *ev);

/** tl_evidence_stats_json() - append `,"evidence":{...}`: retention, snapshots, changes. */
void tl_evidence_stats_json(struct tl_evidence *ev, struct tl_buf *b);

const char *tl_evidence_errmsg(const struct tl_evidence *ev);
const struct tl_evidence_counts *tl_evidence_get_counts(const struct tl_evidence *ev);
/** tl_evidence_changes() - the change tracker (for checkpoints; the reader's thread). */
struct tl_changes *tl_evidence_changes(struct tl_evidence *ev);
void tl_evidence_free(struct tl_evidence *ev);

/** tl_is_snapshot() - whether @path is an evidence snapshot (its first line says so). */
bool tl_is_snapshot(const char *path);

/**
 * tl_snapshot_replay() - `tripline replay SNAPSHOT` (tools/snapreplay.c).
 * Return: the exit status.
 */
int tl_snapshot_replay(const char *path);

#endif /* TL_TOOLS_EVIDENCE_H */
