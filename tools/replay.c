/*
 * tools/replay.c - `tripline replay`: read captured logs as one stream merged by event time,
 * decode, deduplicate and detect, then write the stats.
 *
 * Merge: every input decodes a chunk at a time into its own queue of events; a heap hands
 * the engine the input whose next event is oldest, so several inputs given together (an
 * archive tree and a .zst of gateway batches) interleave as if they had arrived together.
 * The watermark is the minimum, over inputs still open, of the latest event time each has
 * delivered, minus the lateness; an input that has ended stops holding it back. Storage-
 * account files (y=/m=/d=/h= paths) are opened when event time nears their hour, so a month
 * of hourly blobs never holds a month of files open.
 *
 * Everything here is a function of the inputs and the options, never of timing: the same
 * inputs give the same results at any read size.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tripline/buf.h>
#include <tripline/deadletter.h>
#include <tripline/decode.h>
#include <tripline/engine.h>
#include <tripline/fs.h>
#include <tripline/source.h>
#include <tripline/time.h>

#include "alerts.h"
#include "cli.h"
#include "evidence.h"
#include "report.h"
#include "shards.h"
#include "stats.h"

#define TL_LOOKAHEAD_NS (TL_NS_PER_HOUR)
#define TL_MAX_OPEN     256

static const char replay_usage[] =
    "usage: tripline replay [options] PATH...\n"
    "\n"
    "Replays captured Azure OpenAI logs: files (.json .ndjson .jsonl .log PT1H.json, also\n"
    ".gz and .zst), directories (walked recursively, e.g. a storage-account\n"
    "insights-logs-* tree) and - for stdin. All paths are one replay, merged by event time.\n"
    "Trigger events (trigger, update, resolved) go to stdout as NDJSON; progress, the\n"
    "backtest summary and errors go to stderr.\n"
    "Every trigger event is also appended to the incident journal (DIR/journal, see\n"
    "'tripline incidents'), and each trigger writes an evidence snapshot of its series'\n"
    "records (DIR/snapshots/ID.ndjson.zst; 'zstdcat FILE | jq' reads it).\n"
    "\n"
    "tripline replay SNAPSHOT re-runs one snapshot from its own header (baselines, rules,\n"
    "prices) and prints the trigger events it gives: the snapshot's trigger among them\n"
    "(exit status 3 when it is not).\n"
    "\n"
    "options:\n"
    "  --config F         rules, baselines and prices (YAML, see tripline.example.yaml);\n"
    "                     without it, the runbook's defaults\n"
    "  --out DIR          output directory: journal, snapshots, dead letters\n"
    "                     (default ./tripline-out)\n"
    "  --no-evidence      no journal and no snapshots (a quick backtest)\n"
    "  --deliver          send the trigger events to the config's sinks too (webhooks,\n"
    "                     Kafka, files), and wait until each is delivered or given up on\n"
    "                     (without it, a backtest pages no one)\n"
    "  --dead-letter F    malformed records, one JSON line each with input, offset, line\n"
    "                     and reason (default DIR/dead-letter.ndjson, replaced each run)\n"
    "  --stats F|-        write the record and series counts as JSON to F (- for stdout)\n"
    "  --summary F        write the backtest summary (incidents per rule) as JSON to F\n"
    "  --threads N        detector threads; series are shared out among them (default 1);\n"
    "                     the output is the same for every N\n"
    "  --chunk BYTES      bytes read per step (default 262144)\n"
    "  --quiet            no progress or summary on stderr\n"
    "  --help             this text\n"
    "\n"
    "Exit status: 0 when the input was processed (malformed records do not change it),\n"
    "1 when an input could not be read, 2 for usage or configuration errors, 3 when a\n"
    "snapshot does not give its own trigger.\n";

struct in_state {
	struct tl_path *path;
	uint32_t index;
	struct tl_input *in;
	struct tl_frames frames;
	struct tl_evbuf ev;
	size_t head;    /* next event of ev to deliver */
	int64_t latest; /* latest event time delivered, INT64_MIN before any */
	bool opened, ended;
	int error;
	uint64_t records, malformed;
	int heap_pos, wm_pos; /* positions in the heaps, -1 when out */
};

struct replay {
	struct tl_symtab *syms;
	struct tl_decoder *dec;
	struct tl_shards *shards;
	struct tl_evidence *evidence; /* NULL with --no-evidence */
	struct tl_alerts *alerts;     /* --deliver with sinks configured */
	struct tl_deadletter *dl;
	const char *dl_path;
	int dl_error;
	struct tl_paths paths;
	struct in_state *ins;
	size_t n_ins;
	size_t next_pending; /* inputs are opened in path order (hinted ones by hint) */
	size_t open_now;
	uint32_t *pending; /* input indices in opening order */
	/* heap of inputs with a next event, by (time, index) */
	uint32_t *heap;
	size_t heap_n;
	/* heap of open or pending-with-hint inputs, by their watermark contribution */
	uint32_t *wm;
	size_t wm_n;
	int64_t frontier; /* time of the latest event delivered */
	struct tl_report report;
	size_t chunk; /* bytes read per step, 0 = default */
	int io_errors;
	uint64_t delivered;
	int64_t started_ns, last_progress_ns;
};

/* ---- heaps ------------------------------------------------------------------------------ */

static int64_t head_time(const struct replay *rp, uint32_t i)
{
	const struct in_state *s = &rp->ins[i];

	return s->ev.ev[s->head].time_ns;
}

static bool heap_less(const struct replay *rp, uint32_t a, uint32_t b)
{
	int64_t ta = head_time(rp, a), tb = head_time(rp, b);

	return ta < tb || (ta == tb && a < b);
}

static void heap_swap(struct replay *rp, size_t i, size_t j)
{
	uint32_t t = rp->heap[i];

	rp->heap[i] = rp->heap[j];
	rp->heap[j] = t;
	rp->ins[rp->heap[i]].heap_pos = (int)i;
	rp->ins[rp->heap[j]].heap_pos = (int)j;
}

static void heap_down(struct replay *rp, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < rp->heap_n && heap_less(rp, rp->heap[l], rp->heap[m]))
			m = l;
		if (r < rp->heap_n && heap_less(rp, rp->heap[r], rp->heap[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(rp, i, m);
		i = m;
	}
}

static void heap_up(struct replay *rp, size_t i)
{
	while (i > 0 && heap_less(rp, rp->heap[i], rp->heap[(i - 1) / 2])) {
		heap_swap(rp, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_push(struct replay *rp, uint32_t in)
{
	rp->heap[rp->heap_n] = in;
	rp->ins[in].heap_pos = (int)rp->heap_n;
	heap_up(rp, rp->heap_n++);
}

static void heap_pop(struct replay *rp)
{
	rp->ins[rp->heap[0]].heap_pos = -1;
	if (--rp->heap_n > 0) {
		rp->heap[0] = rp->heap[rp->heap_n];
		rp->ins[rp->heap[0]].heap_pos = 0;
		heap_down(rp, 0);
	}
}

/*
 * What an input holds the watermark at: the latest event time it has shown, delivered or
 * waiting as its next event (an input with a gap must not hold back the others until it
 * delivers again: their events would run past the engine's rings); before it is opened, the
 * hour its path names.
 */
static int64_t wm_key(const struct replay *rp, uint32_t i)
{
	const struct in_state *s = &rp->ins[i];

	if (s->opened && s->head < s->ev.n && s->ev.ev[s->head].time_ns > s->latest)
		return s->ev.ev[s->head].time_ns;
	if (s->latest != INT64_MIN || s->opened)
		return s->latest;
	return s->path->hint_ns;
}

static bool wm_less(const struct replay *rp, uint32_t a, uint32_t b)
{
	int64_t ka = wm_key(rp, a), kb = wm_key(rp, b);

	return ka < kb || (ka == kb && a < b);
}

static void wm_swap(struct replay *rp, size_t i, size_t j)
{
	uint32_t t = rp->wm[i];

	rp->wm[i] = rp->wm[j];
	rp->wm[j] = t;
	rp->ins[rp->wm[i]].wm_pos = (int)i;
	rp->ins[rp->wm[j]].wm_pos = (int)j;
}

static void wm_fix(struct replay *rp, size_t i)
{
	while (i > 0 && wm_less(rp, rp->wm[i], rp->wm[(i - 1) / 2])) {
		wm_swap(rp, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < rp->wm_n && wm_less(rp, rp->wm[l], rp->wm[m]))
			m = l;
		if (r < rp->wm_n && wm_less(rp, rp->wm[r], rp->wm[m]))
			m = r;
		if (m == i)
			return;
		wm_swap(rp, i, m);
		i = m;
	}
}

static void wm_add(struct replay *rp, uint32_t in)
{
	rp->wm[rp->wm_n] = in;
	rp->ins[in].wm_pos = (int)rp->wm_n;
	wm_fix(rp, rp->wm_n++);
}

static void wm_remove(struct replay *rp, uint32_t in)
{
	size_t i = (size_t)rp->ins[in].wm_pos;

	rp->ins[in].wm_pos = -1;
	if (i != --rp->wm_n) {
		rp->wm[i] = rp->wm[rp->wm_n];
		rp->ins[rp->wm[i]].wm_pos = (int)i;
		wm_fix(rp, i);
	}
}

/* ---- inputs ----------------------------------------------------------------------------- */

static void on_malformed(void *ud, const struct tl_malformed *m)
{
	struct replay *rp = ud;
	struct in_state *s = &rp->ins[m->input];
	struct tl_dead_record r = {
		.input = s->path->path,
		.partition = -1,
		.offset = m->offset,
		.line = m->line,
		.reason = m->reason,
		.raw = m->raw,
		.raw_len = m->raw_len,
		.truncated = m->raw_truncated,
	};

	s->malformed++;
	if (rp->dl && !rp->dl_error)
		rp->dl_error = tl_deadletter_write(rp->dl, &r);
}

static void input_failed(struct replay *rp, struct in_state *s, int r)
{
	s->error = r;
	rp->io_errors++;
	if (r == TL_ECOMPRESS)
		tl_err("'%s': corrupt or truncated compressed data at byte %llu (after %llu "
		       "decompressed bytes); the records before it were read",
		       s->path->path, (unsigned long long)tl_input_compressed_offset(s->in),
		       (unsigned long long)tl_input_offset(s->in));
	else
		tl_err("'%s': read failed at byte %llu: %s", s->path->path,
		       (unsigned long long)tl_input_compressed_offset(s->in), tl_strerror(r));
}

/*
 * Decode the next chunks of @s until it has an event or ends.
 * Return: true when an event is ready.
 */
static bool refill(struct replay *rp, struct in_state *s)
{
	s->ev.n = 0;
	s->head = 0;
	while (!s->ended) {
		const uint64_t before = tl_decoder_stats(rp->dec)->records;
		int r = tl_input_next(s->in, &s->frames);

		if (tl_decode_frames(rp->dec, &s->frames, &s->ev) < 0) {
			tl_err("out of memory decoding '%s'", s->path->path);
			exit(TL_EXIT_IO);
		}
		s->records += tl_decoder_stats(rp->dec)->records - before;
		if (r < 0)
			input_failed(rp, s, r);
		if (r != 0)
			s->ended = true;
		if (s->ev.n > 0)
			return true;
	}
	return false;
}

static void close_input(struct replay *rp, struct in_state *s)
{
	tl_input_close(s->in);
	s->in = NULL;
	tl_frames_fini(&s->frames);
	tl_evbuf_fini(&s->ev);
	if (s->wm_pos >= 0)
		wm_remove(rp, s->index);
	rp->open_now--;
}

static void open_input(struct replay *rp, struct in_state *s)
{
	int r = tl_input_open(s->path->path, s->index, rp->chunk, &s->in);

	s->opened = true;
	rp->open_now++;
	if (r < 0) {
		tl_err("'%s': cannot open: %s", s->path->path, tl_strerror(r));
		s->error = r;
		rp->io_errors++;
		s->ended = true;
		if (s->wm_pos >= 0)
			wm_remove(rp, s->index);
		rp->open_now--;
		return;
	}
	if (s->wm_pos < 0)
		wm_add(rp, s->index);
	if (refill(rp, s)) {
		wm_fix(rp, (size_t)s->wm_pos);
		heap_push(rp, s->index);
	} else {
		close_input(rp, s);
	}
}

/* Open pending inputs whose hour is near (or all of them up to the cap, if unhinted). */
static void open_due(struct replay *rp)
{
	while (rp->next_pending < rp->n_ins && rp->open_now < TL_MAX_OPEN) {
		struct in_state *s = &rp->ins[rp->pending[rp->next_pending]];
		const int64_t hint = s->path->hint_ns;
		int64_t now = rp->frontier;

		/* event time has reached the oldest event waiting, if not delivered yet */
		if (rp->heap_n > 0 && head_time(rp, rp->heap[0]) > now)
			now = head_time(rp, rp->heap[0]);
		if (hint != INT64_MIN && rp->heap_n > 0 && hint > now + TL_LOOKAHEAD_NS)
			break;
		rp->next_pending++;
		open_input(rp, s);
	}
}

/* The replay being set up, for qsort (C11 has no qsort_r). */
static const struct replay *sort_ctx;

/* Unhinted inputs first (they open at once), then hinted ones by hour, then path order. */
static int cmp_pending(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int64_t hx = sort_ctx->ins[x].path->hint_ns, hy = sort_ctx->ins[y].path->hint_ns;

	if (hx != hy)
		return hx < hy ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* ---- progress and output ---------------------------------------------------------------- */

static void progress(struct replay *rp, bool final)
{
	const int64_t now = tl_now_ns();
	const double secs = (double)(now - rp->started_ns) / 1e9;
	const struct tl_decode_stats *ds = tl_decoder_stats(rp->dec);
	char t[TL_TIME_TEXT_LEN + 1] = "-";

	if (rp->delivered)
		tl_time_format(rp->frontier, t);
	if (!final) {
		tl_info("tripline replay: %.2f M records (%.2f M/s), %zu of %zu inputs done, event "
			"time %s",
			(double)ds->records / 1e6, secs > 0 ? (double)ds->records / secs / 1e6 : 0,
			rp->next_pending - rp->open_now, rp->n_ins, t);
		return;
	}
	struct tl_engine_counts cs, *c = &cs;

	tl_shards_counts(rp->shards, &cs);
	tl_info("tripline replay: %llu records from %zu inputs in %.2f s (%.2f M/s): %llu decoded, "
		"%llu duplicate, %llu malformed%s%s%s, %llu skipped, %llu late",
		(unsigned long long)ds->records, rp->n_ins, secs,
		secs > 0 ? (double)ds->records / secs / 1e6 : 0, (unsigned long long)c->decoded,
		(unsigned long long)c->duplicate, (unsigned long long)ds->malformed,
		ds->malformed ? " (in " : "", ds->malformed ? rp->dl_path : "",
		ds->malformed ? ")" : "", (unsigned long long)ds->skipped,
		(unsigned long long)c->late);
}

static void stats_json(struct replay *rp, struct tl_buf *b)
{
	tl_stats_head(b, tl_decoder_stats(rp->dec), rp->shards);
	tl_buf_puts(b, "\"inputs\":[");
	for (size_t i = 0; i < rp->n_ins; i++) {
		const struct in_state *s = &rp->ins[i];

		tl_buf_puts(b, i ? ",{\"path\":" : "{\"path\":");
		tl_buf_json_str(b, s->path->path, strlen(s->path->path));
		tl_buf_printf(b, ",\"records\":%llu,\"malformed\":%llu",
			      (unsigned long long)s->records, (unsigned long long)s->malformed);
		if (s->error) {
			const char *e = tl_strerror(s->error);

			tl_buf_puts(b, ",\"error\":");
			tl_buf_json_str(b, e, strlen(e));
		}
		tl_buf_puts(b, "}");
	}
	tl_buf_puts(b, "],");
	tl_stats_series(b, rp->shards, rp->syms);
	if (rp->evidence)
		tl_evidence_stats_json(rp->evidence, b);
	tl_alerts_stats_json(rp->alerts, b);
	tl_buf_puts(b, "}\n");
}

/* ---- the command ------------------------------------------------------------------------ */

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < TL_MAX_OPEN + 64) {
		rl.rlim_cur = rl.rlim_max < TL_MAX_OPEN + 64 ? rl.rlim_max : TL_MAX_OPEN + 64;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int tl_cmd_replay(int argc, char **argv)
{
	const char *out_dir = "tripline-out", *dl_path = NULL, *stats_path = NULL, *chunk_s = NULL,
		   *summary_path = NULL, *config_path = NULL, *threads_s = NULL;
	bool help = false, no_evidence = false, deliver = false;
	const struct tl_opt opts[] = {
		{ "config", true, &config_path, NULL },
		{ "deliver", false, NULL, &deliver },
		{ "out", true, &out_dir, NULL },
		{ "dead-letter", true, &dl_path, NULL },
		{ "stats", true, &stats_path, NULL },
		{ "summary", true, &summary_path, NULL },
		{ "chunk", true, &chunk_s, NULL },
		{ "threads", true, &threads_s, NULL },
		{ "quiet", false, NULL, &tl_quiet },
		{ "help", false, NULL, &help },
		{ "no-evidence", false, NULL, &no_evidence },
	};
	struct replay rp = { 0 };
	struct tl_config cfg;
	char dl_buf[4096], cfg_err[512];
	int npos, r, status = TL_EXIT_OK;

	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "replay", &npos) < 0)
		return TL_EXIT_USAGE;
	if (help) {
		fputs(replay_usage, stdout);
		return TL_EXIT_OK;
	}
	if (npos == 0) {
		tl_err("replay: no PATH given (see 'tripline replay --help')");
		return TL_EXIT_USAGE;
	}
	if (npos == 1 && tl_is_snapshot(argv[0])) {
		if (config_path || threads_s || chunk_s || stats_path || summary_path || dl_path ||
		    no_evidence || deliver) {
			tl_err("replay: '%s' is a snapshot, which carries its own rules and state: "
			       "only --quiet applies to it",
			       argv[0]);
			return TL_EXIT_USAGE;
		}
		return tl_snapshot_replay(argv[0]);
	}
	if (config_path) {
		r = tl_config_load(config_path, &cfg, cfg_err, sizeof(cfg_err));
		if (r < 0) {
			tl_err("%s", cfg_err);
			tl_config_free(&cfg);
			return r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
		}
	} else {
		tl_config_defaults(&cfg);
	}
	if (deliver && no_evidence) {
		tl_err("replay: --deliver sends what the journal holds first: drop --no-evidence");
		tl_config_free(&cfg);
		return TL_EXIT_USAGE;
	}
	if (!deliver && cfg.n_sinks && !tl_quiet)
		tl_info(
		    "tripline replay: the %zu configured sinks stay silent (a backtest pages no "
		    "one; --deliver sends)",
		    cfg.n_sinks);
	unsigned threads = 1;

	if (threads_s) {
		char *end;
		unsigned long v = strtoul(threads_s, &end, 10);

		if (*end || v < 1 || v > 256) {
			tl_err("replay: --threads: expected 1 to 256, got '%s'", threads_s);
			return TL_EXIT_USAGE;
		}
		threads = (unsigned)v;
	}
	if (chunk_s) {
		char *end;
		unsigned long long v = strtoull(chunk_s, &end, 10);

		if (*end || v < 1 || v > (64u << 20)) {
			tl_err(
			    "replay: --chunk: expected a byte count from 1 to 67108864, got '%s'",
			    chunk_s);
			return TL_EXIT_USAGE;
		}
		rp.chunk = (size_t)v;
	}
	for (int i = 0; i < npos; i++) {
		const char *bad = NULL;

		r = tl_paths_add(&rp.paths, argv[i], &bad);
		if (r < 0) {
			tl_err("'%s': %s", bad ? bad : argv[i], tl_strerror(r));
			tl_paths_fini(&rp.paths);
			return TL_EXIT_IO;
		}
	}
	if (rp.paths.n == 0) {
		tl_err(
		    "replay: no log files found under the given paths (looked for .json, .ndjson, "
		    ".jsonl, .log, optionally .gz or .zst)");
		tl_paths_fini(&rp.paths);
		return TL_EXIT_IO;
	}
	if (rp.paths.ignored)
		tl_info("tripline replay: %zu files in the given directories are not log files and "
			"were ignored",
			rp.paths.ignored);
	if (!dl_path || !no_evidence) {
		if ((r = tl_mkdir_p(out_dir)) < 0) {
			tl_err("'%s': cannot create the output directory: %s", out_dir,
			       tl_strerror(r));
			tl_paths_fini(&rp.paths);
			return TL_EXIT_IO;
		}
	}
	if (!dl_path) {
		(void)snprintf(dl_buf, sizeof(dl_buf), "%s/dead-letter.ndjson", out_dir);
		dl_path = dl_buf;
	}
	rp.dl_path = dl_path;
	if ((r = tl_deadletter_open(dl_path, &rp.dl)) < 0) {
		tl_err("'%s': cannot create the dead-letter file: %s", dl_path, tl_strerror(r));
		tl_paths_fini(&rp.paths);
		return TL_EXIT_IO;
	}
	raise_fd_limit();

	struct tl_engine_opts eo;

	tl_config_engine_opts(&cfg, &eo);
	eo.export_seeds = !no_evidence && cfg.evidence.snapshots;

	rp.syms = tl_symtab_new(1u << 22);
	tl_report_init(&rp.report, rp.syms, STDOUT_FILENO);
	if (rp.syms && tl_shards_new(threads, &eo, rp.syms, &rp.report, &rp.shards) < 0)
		rp.shards = NULL;
	if (rp.shards && !no_evidence) {
		struct tl_evidence_opts evo;

		tl_evidence_opts_from_config(&cfg, out_dir, &evo);
		char err[600];

		if ((r = tl_evidence_new(&evo, rp.syms, rp.shards, err, sizeof(err),
					 &rp.evidence)) < 0) {
			tl_err("%s", err);
			status = r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
			goto out_free;
		}
		tl_evidence_report_ops(rp.evidence, &rp.report.ops);
		if (deliver) {
			if ((r = tl_alerts_open(&cfg, out_dir, &rp.alerts, err, sizeof(err))) < 0) {
				tl_err("%s", err);
				status = r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
				goto out_free;
			}
			rp.report.alerts = rp.alerts;
		}
	}
	rp.dec = rp.syms ? tl_decoder_new(rp.syms, on_malformed, &rp, &r) : NULL;
	if (!rp.syms || !rp.shards || !rp.dec) {
		if (rp.syms && rp.shards && r == TL_ECPU)
			tl_err("%s (AVX2); rebuild with 'meson configure build -Dsimd=generic'",
			       tl_strerror(r));
		else
			tl_err("out of memory");
		status = TL_EXIT_IO;
		goto out_free;
	}
	rp.n_ins = rp.paths.n;
	rp.ins = calloc(rp.n_ins, sizeof(*rp.ins));
	rp.pending = calloc(rp.n_ins, sizeof(*rp.pending));
	rp.heap = calloc(rp.n_ins, sizeof(*rp.heap));
	rp.wm = calloc(rp.n_ins, sizeof(*rp.wm));
	if (!rp.ins || !rp.pending || !rp.heap || !rp.wm) {
		tl_err("out of memory");
		status = TL_EXIT_IO;
		goto out_free;
	}
	for (size_t i = 0; i < rp.n_ins; i++) {
		rp.ins[i] = (struct in_state){ .path = &rp.paths.p[i],
					       .index = (uint32_t)i,
					       .latest = INT64_MIN,
					       .heap_pos = -1,
					       .wm_pos = -1 };
		rp.pending[i] = (uint32_t)i;
	}
	sort_ctx = &rp;
	qsort(rp.pending, rp.n_ins, sizeof(*rp.pending), cmp_pending);
	/* pending inputs with an hour hold the watermark at that hour until opened */
	for (size_t i = 0; i < rp.n_ins; i++)
		if (rp.ins[i].path->hint_ns != INT64_MIN)
			wm_add(&rp, (uint32_t)i);
	rp.started_ns = rp.last_progress_ns = tl_now_ns();
	rp.frontier = INT64_MIN;

	const int64_t lateness = cfg.lateness_ns;
	const bool tty = isatty(STDERR_FILENO);

	open_due(&rp);
	while (rp.heap_n > 0 || rp.next_pending < rp.n_ins) {
		if (rp.heap_n == 0) {
			/* nothing open has events: open the next input whatever its hour */
			struct in_state *s = &rp.ins[rp.pending[rp.next_pending++]];

			open_input(&rp, s);
			continue;
		}
		const uint32_t i = rp.heap[0];
		struct in_state *s = &rp.ins[i];
		const struct tl_event *ev = &s->ev.ev[s->head++];

		if (rp.evidence)
			tl_evidence_event(rp.evidence, ev);
		tl_shards_push(rp.shards, ev);
		rp.delivered++;
		if (ev->time_ns > rp.frontier)
			rp.frontier = ev->time_ns;
		if (ev->time_ns > s->latest)
			s->latest = ev->time_ns;
		if (s->head == s->ev.n && !refill(&rp, s)) {
			heap_pop(&rp);
			close_input(&rp, s);
		} else {
			heap_down(&rp, 0);
			wm_fix(&rp, (size_t)s->wm_pos);
		}
		if (rp.wm_n > 0) {
			const int64_t w = wm_key(&rp, rp.wm[0]);

			if (w != INT64_MIN) {
				tl_shards_advance(rp.shards, w - lateness);
				if (rp.evidence)
					tl_evidence_watermark(rp.evidence, w - lateness);
			}
		}
		if (rp.next_pending < rp.n_ins)
			open_due(&rp);
		if ((rp.delivered & 0xffff) == 0) {
			int64_t now = tl_now_ns();

			if (now - rp.last_progress_ns > (tty ? 2 : 10) * TL_NS_PER_S) {
				rp.last_progress_ns = now;
				progress(&rp, false);
			}
		}
	}
	/* every input has ended: the buckets up to the last event close; incidents still firing
	 * stay open (the data ended, not the incident) */
	if (rp.delivered) {
		const int64_t b = cfg.bucket_ns, end = (tl_floor_div(rp.frontier, b) + 1) * b;

		tl_shards_advance(rp.shards, end);
		if (rp.evidence)
			tl_evidence_watermark(rp.evidence, end);
		tl_report_end(&rp.report, end);
	}
	tl_shards_finish(rp.shards);
	if (rp.evidence && tl_evidence_finish(rp.evidence) < 0) {
		tl_err("%s", tl_evidence_errmsg(rp.evidence));
		status = TL_EXIT_IO;
	}
	if (rp.report.err < 0) {
		tl_err("writing trigger events failed: %s", tl_strerror(rp.report.err));
		status = TL_EXIT_IO;
	}
	if (rp.alerts) { /* --deliver: every event delivered or given up on before the end */
		progress(&rp, true); /* detection is done: its figures without the wait */
		if (!tl_quiet)
			tl_info("tripline replay: waiting for the sinks' deliveries");
		(void)tl_alerts_drain(rp.alerts, 0);
	}

	if ((r = tl_deadletter_close(rp.dl)) < 0 || rp.dl_error < 0) {
		tl_err("'%s': writing the dead-letter file failed: %s", dl_path,
		       tl_strerror(r < 0 ? r : rp.dl_error));
		status = TL_EXIT_IO;
	}
	rp.dl = NULL;
	if (stats_path) {
		struct tl_buf b = { 0 };

		stats_json(&rp, &b);
		if (!tl_buf_ok(&b) || (r = tl_stats_write(stats_path, &b)) < 0) {
			tl_err("'%s': cannot write the stats: %s", stats_path,
			       tl_strerror(tl_buf_ok(&b) ? r : -ENOMEM));
			status = TL_EXIT_IO;
		}
		tl_buf_fini(&b);
	}
	if (summary_path) {
		struct tl_buf b = { 0 };

		tl_report_summary_json(&rp.report, &b);
		if (!tl_buf_ok(&b) || (r = tl_stats_write(summary_path, &b)) < 0) {
			tl_err("'%s': cannot write the summary: %s", summary_path,
			       tl_strerror(tl_buf_ok(&b) ? r : -ENOMEM));
			status = TL_EXIT_IO;
		}
		tl_buf_fini(&b);
	}
	if (!rp.alerts)
		progress(&rp, true);
	if (!tl_quiet)
		tl_report_summary_text(&rp.report, stderr);
	if (rp.io_errors && status == TL_EXIT_OK)
		status = TL_EXIT_IO;

out_free:
	for (size_t i = 0; rp.ins && i < rp.n_ins; i++) {
		tl_input_close(rp.ins[i].in);
		tl_frames_fini(&rp.ins[i].frames);
		tl_evbuf_fini(&rp.ins[i].ev);
	}
	(void)tl_deadletter_close(rp.dl);
	free(rp.ins);
	free(rp.pending);
	free(rp.heap);
	free(rp.wm);
	if (tl_alerts_close(rp.alerts) < 0 && status == TL_EXIT_OK)
		status = TL_EXIT_IO;
	tl_evidence_free(rp.evidence);
	tl_shards_free(rp.shards);
	tl_report_fini(&rp.report);
	tl_decoder_free(rp.dec);
	tl_symtab_free(rp.syms);
	tl_paths_fini(&rp.paths);
	tl_config_free(&cfg);
	return status;
}
