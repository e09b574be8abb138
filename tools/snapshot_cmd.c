/*
 * tools/snapshot_cmd.c - `tripline snapshot show|extract FILE`: read one evidence snapshot
 * (tripline/snapshot.h, written by tools/evidence.c) without re-running it.
 *
 * A snapshot is: line 1 the header ("type":"tripline.snapshot"), then the writer's own lines
 * (the "tripline.changes" line), then the raw records exactly as received, then the trailer
 * ("tripline.snapshot.end"). Both subcommands walk it the same way (walk() below), so they
 * agree on what a record is: every line after the leading "tripline.*" lines, except a last
 * line that is the trailer. `show` summarizes the header for a person; `extract` writes the
 * records as they are stored, for `tripline replay`, jq or DuckDB.
 *
 * Nothing in the file is trusted: the reader bounds every line (TL_SNAPSHOT_LINE_MAX), the
 * JSON is parsed by ingest/json.h, and text from the file is printed with control characters
 * replaced and its length bounded. No clock is read: the same file gives the same output.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/buf.h>
#include <tripline/snapshot.h>

#include "cli.h"
#include "json.h"

#define HEADER_TYPE  "{\"type\":\"tripline.snapshot\""
#define CHANGES_TYPE "{\"type\":\"tripline.changes\""
#define OWN_TYPE     "{\"type\":\"tripline."
#define TEXT_MAX     400  /* bytes of one string from the file that `show` prints */
#define REASON_MAX   2000 /* ... of a reason, which is a sentence or two */

static const char snapshot_usage[] =
    "usage: tripline snapshot show FILE\n"
    "       tripline snapshot extract FILE\n"
    "\n"
    "Reads an evidence snapshot, one of the DIR/snapshots/ID.ndjson.zst files that\n"
    "'tripline replay --out DIR' writes per trigger.\n"
    "  show FILE      a summary: incident, rule and settings, the trigger, recent changes\n"
    "                 and the action, what is retained, the series' last minutes, and the\n"
    "                 trailer's counts\n"
    "  extract FILE   the raw records, exactly as stored, one per line\n"
    "\n"
    "Run 'tripline snapshot show --help' or 'tripline snapshot extract --help' for details.\n"
    "'tripline replay FILE' re-runs a snapshot.\n";

static const char show_usage[] =
    "usage: tripline snapshot show FILE\n"
    "\n"
    "Prints a summary of the evidence snapshot FILE (.ndjson.zst, or the same text\n"
    "uncompressed) to stdout:\n"
    "  incident, file     the incident id, the file and its format version\n"
    "  series, rule       resource/deployment, model; the rule that fired and its settings\n"
    "  trigger            fired_at and severity, the detection window, observed against\n"
    "                     baseline and threshold, the recommended action with its target\n"
    "                     and reason\n"
    "  recent changes     the changes before the trigger (the snapshot's changes line)\n"
    "  retained           the records kept, the first and last record's time, where a\n"
    "                     re-run starts, whether it is reproducible and, if not, why\n"
    "  minutes            the series' minutes before the trigger as the header has them\n"
    "                     (at most 60): latency_ms, refusal_rate, spend_usd, in_baseline\n"
    "  file               the records and other lines in the file, the trailer's counts,\n"
    "                     and whether the file is complete (ends with the trailer)\n"
    "The replay state the header carries is not printed. The whole file is read, so a\n"
    "damaged file is found; the output depends on the file alone.\n"
    "\n"
    "options:\n"
    "  --help    this text\n"
    "\n"
    "Exit status: 0 when the summary was printed (an incomplete file says so); 1 when FILE\n"
    "cannot be read, is not a tripline snapshot, or is damaged (the message names the\n"
    "file and the byte offset); 2 for usage errors.\n";

static const char extract_usage[] =
    "usage: tripline snapshot extract FILE\n"
    "\n"
    "Writes the raw records of the evidence snapshot FILE to stdout, one per line, exactly\n"
    "as stored: without the header, the changes line or the trailer. So\n"
    "  tripline snapshot extract FILE > records.ndjson && tripline replay records.ndjson\n"
    "replays them as ordinary input, and jq or DuckDB read them. (A record that held\n"
    "newlines was stored with them turned into spaces; the trailer counts those.)\n"
    "\n"
    "options:\n"
    "  --help    this text\n"
    "\n"
    "Exit status: 0 when every record was written; 1 when FILE cannot be read, is not a\n"
    "tripline snapshot, is damaged (the message names the file and the byte offset) or\n"
    "ends without its trailer, or stdout fails; 2 for usage errors. The records are\n"
    "written as they are read, so those before the damage or the end are on stdout\n"
    "even then.\n";

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
	const size_t k = strlen(prefix);

	return n >= k && memcmp(s, prefix, k) == 0;
}

/* ---- walking a snapshot ----------------------------------------------------------------- */

typedef int (*record_fn)(void *ud, const char *line, size_t len);

struct walk {
	const char *path;
	struct tl_snapshot_reader *rd;
	struct tl_buf header;  /* line 1 */
	struct tl_buf changes; /* the first "tripline.changes" line; n == 0 if none */
	struct tl_buf trailer; /* the last line if it is the trailer (complete) */
	bool complete;
	bool leading; /* still in the writer's lines after the header */
	uint64_t records, other_lines;
	record_fn record; /* NULL: count only */
	void *ud;
};

static void walk_fini(struct walk *w)
{
	tl_snapshot_close(w->rd);
	tl_buf_fini(&w->header);
	tl_buf_fini(&w->changes);
	tl_buf_fini(&w->trailer);
}

/* @b = the @n bytes at @line, followed by a NUL (not counted in b->n). */
static bool copy_line(struct tl_buf *b, const char *line, size_t n)
{
	tl_buf_reset(b);
	tl_buf_put(b, line, n);
	tl_buf_put(b, "", 1);
	if (!tl_buf_ok(b)) {
		tl_err("out of memory");
		return false;
	}
	b->n--;
	return true;
}

/* Open @w->path and read its header. Return: 0, or the exit status after a message. */
static int walk_open(struct walk *w)
{
	const char *line;
	size_t n;
	int r;

	if ((r = tl_snapshot_open(w->path, &w->rd)) < 0) {
		tl_err("%s: %s", w->path, tl_strerror(r));
		return TL_EXIT_IO;
	}
	r = tl_snapshot_next(w->rd, &line, &n);
	if (r < 0) {
		tl_err("%s", tl_snapshot_errmsg(w->rd));
		return TL_EXIT_IO;
	}
	if (r == 0 || !has_prefix(line, n, HEADER_TYPE)) {
		tl_err("%s: not a tripline snapshot (its first line is not a "
		       "\"type\":\"tripline.snapshot\" object)",
		       w->path);
		return TL_EXIT_IO;
	}
	if (!copy_line(&w->header, line, n))
		return TL_EXIT_IO;
	w->leading = true;
	return 0;
}

/* One line after the header that is not the trailer. */
static int walk_line(struct walk *w, const char *line, size_t n)
{
	if (w->leading && has_prefix(line, n, OWN_TYPE)) {
		if (w->changes.n == 0 && has_prefix(line, n, CHANGES_TYPE)) {
			if (!copy_line(&w->changes, line, n))
				return TL_EXIT_IO;
		} else {
			w->other_lines++;
		}
		return 0;
	}
	w->leading = false;
	w->records++;
	return w->record ? w->record(w->ud, line, n) : 0;
}

/*
 * The rest of the file after walk_open(). A line that looks like the trailer is held until
 * the next: only the last line of the file is the trailer.
 * Return: 0, or the exit status after a message.
 */
static int walk_rest(struct walk *w)
{
	const char *line;
	size_t n;
	bool held = false;
	int r;

	while ((r = tl_snapshot_next(w->rd, &line, &n)) == 1) {
		if (held) {
			held = false;
			if ((r = walk_line(w, w->trailer.p, w->trailer.n)) != 0)
				return r;
		}
		if (!tl_snapshot_is_complete(w->rd)) {
			if ((r = walk_line(w, line, n)) != 0)
				return r;
			continue;
		}
		if (!copy_line(&w->trailer, line, n))
			return TL_EXIT_IO;
		held = true;
	}
	if (r < 0) {
		tl_err("%s", tl_snapshot_errmsg(w->rd));
		return TL_EXIT_IO;
	}
	w->complete = held;
	if (!held)
		tl_buf_reset(&w->trailer);
	return 0;
}

/* ---- the JSON of the header, the changes line and the trailer ------------------------- */

enum {
	H_TYPE,
	H_FORMAT,
	H_ID,
	H_TRIGGER,
	T_SEVERITY,
	T_RESOURCE,
	T_DEPLOYMENT,
	T_MODEL,
	T_MODEL_VERSION,
	T_FIRED,
	T_WSTART,
	T_WEND,
	T_OBSERVED,
	T_BASELINE,
	T_THRESHOLD,
	T_UNIT,
	T_ACTION,
	A_KIND,
	A_REASON,
	A_TARGET,
	AT_MODEL_VERSION,
	AT_PROMPT_VERSION,
	AT_DEPLOYMENT,
	H_RULE,
	R_NAME,
	R_FIRST_SETTING, /* the settings, in settings[] order */
	H_SERIES = R_FIRST_SETTING + 11,
	S_RESOURCE,
	S_DEPLOYMENT,
	H_MINUTES,
	H_RETAINED,
	RT_RECORDS,
	RT_OMITTED,
	RT_SINCE,
	RT_FIRST,
	RT_LAST,
	RT_COMPLETE_AFTER,
	H_REPLAY,
	RP_FROM,
	RP_REPRODUCIBLE,
	RP_WHY_NOT,
	RP_NOT_COUNTED,
	N_H,
};

/* A rule's settings as tools/evidence.c writes them, in the order they are printed. */
static const char *const settings[H_SERIES - R_FIRST_SETTING] = {
	"statistic",     "factor",        "for",          "window",           "rate",
	"severe_rate",   "severe_factor", "min_requests", "daily_budget_usd", "warn_at",
	"hourly_factor",
};

enum { C_TYPE, C_CHANGES, C_OMITTED, N_C };
enum {
	G_TIME,
	G_KIND,
	G_FROM,
	G_TO,
	G_OPERATION,
	G_STATUS,
	G_SCOPE,
	G_MODEL,
	G_MODEL_VERSION,
	G_RAI,
	N_G
};
enum { M_MINUTE, M_LATENCY, M_REFUSAL, M_SPEND, M_IN_BASELINE, N_M };
enum { E_RECORDS, E_OMITTED, E_LINES, E_LINES_OMITTED, E_NEWLINES, N_E };

struct keys {
	struct tl_jkeys target, action, trigger, rule, series, retained, replay, header;
	struct tl_jkeys changes, change, minute, trailer;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int keys_init(struct keys *k)
{
	const struct tl_jkey_spec target[] = {
		{ "model_version", AT_MODEL_VERSION, 0, NULL },
		{ "prompt_version", AT_PROMPT_VERSION, 0, NULL },
		{ "deployment", AT_DEPLOYMENT, 0, NULL },
	};
	const struct tl_jkey_spec action[] = {
		{ "kind", A_KIND, 0, NULL },
		{ "reason", A_REASON, 0, NULL },
		{ "target", A_TARGET, 0, &k->target },
	};
	const struct tl_jkey_spec trigger[] = {
		{ "severity", T_SEVERITY, 0, NULL },           { "resource", T_RESOURCE, 0, NULL },
		{ "deployment", T_DEPLOYMENT, 0, NULL },       { "model", T_MODEL, 0, NULL },
		{ "model_version", T_MODEL_VERSION, 0, NULL }, { "fired_at", T_FIRED, 0, NULL },
		{ "window_start", T_WSTART, 0, NULL },         { "window_end", T_WEND, 0, NULL },
		{ "observed", T_OBSERVED, 0, NULL },           { "baseline", T_BASELINE, 0, NULL },
		{ "threshold", T_THRESHOLD, 0, NULL },         { "unit", T_UNIT, 0, NULL },
		{ "action", T_ACTION, 0, &k->action },
	};
	struct tl_jkey_spec rule[N(settings) + 1];
	const struct tl_jkey_spec series[] = {
		{ "resource", S_RESOURCE, 0, NULL },
		{ "deployment", S_DEPLOYMENT, 0, NULL },
	};
	const struct tl_jkey_spec retained[] = {
		{ "records", RT_RECORDS, 0, NULL },
		{ "omitted", RT_OMITTED, 0, NULL },
		{ "since", RT_SINCE, 0, NULL },
		{ "first", RT_FIRST, 0, NULL },
		{ "last", RT_LAST, 0, NULL },
		{ "complete_after", RT_COMPLETE_AFTER, 0, NULL },
	};
	const struct tl_jkey_spec replay[] = {
		{ "from", RP_FROM, 0, NULL },
		{ "reproducible", RP_REPRODUCIBLE, 0, NULL },
		{ "why_not", RP_WHY_NOT, 0, NULL },
		{ "not_counted", RP_NOT_COUNTED, 0, NULL },
	};
	const struct tl_jkey_spec header[] = {
		{ "type", H_TYPE, 0, NULL },           { "format", H_FORMAT, 0, NULL },
		{ "incident_id", H_ID, 0, NULL },      { "trigger", H_TRIGGER, 0, &k->trigger },
		{ "rule", H_RULE, 0, &k->rule },       { "series", H_SERIES, 0, &k->series },
		{ "minutes", H_MINUTES, 0, NULL },     { "retained", H_RETAINED, 0, &k->retained },
		{ "replay", H_REPLAY, 0, &k->replay },
	};
	const struct tl_jkey_spec changes[] = {
		{ "type", C_TYPE, 0, NULL },
		{ "recent_changes", C_CHANGES, 0, NULL },
		{ "recent_changes_omitted", C_OMITTED, 0, NULL },
	};
	const struct tl_jkey_spec change[] = {
		{ "time", G_TIME, 0, NULL },
		{ "kind", G_KIND, 0, NULL },
		{ "from", G_FROM, 0, NULL },
		{ "to", G_TO, 0, NULL },
		{ "operation", G_OPERATION, 0, NULL },
		{ "status", G_STATUS, 0, NULL },
		{ "scope", G_SCOPE, 0, NULL },
		{ "model", G_MODEL, 0, NULL },
		{ "model_version", G_MODEL_VERSION, 0, NULL },
		{ "rai_policy", G_RAI, 0, NULL },
	};
	const struct tl_jkey_spec minute[] = {
		{ "minute", M_MINUTE, 0, NULL },           { "latency_ms", M_LATENCY, 0, NULL },
		{ "refusal_rate", M_REFUSAL, 0, NULL },    { "spend_usd", M_SPEND, 0, NULL },
		{ "in_baseline", M_IN_BASELINE, 0, NULL },
	};
	const struct tl_jkey_spec trailer[] = {
		{ "records", E_RECORDS, 0, NULL },
		{ "omitted", E_OMITTED, 0, NULL },
		{ "lines", E_LINES, 0, NULL },
		{ "lines_omitted", E_LINES_OMITTED, 0, NULL },
		{ "newlines_replaced", E_NEWLINES, 0, NULL },
	};

	rule[0] = (struct tl_jkey_spec){ "name", R_NAME, 0, NULL };
	for (size_t i = 0; i < N(settings); i++)
		rule[i + 1] =
		    (struct tl_jkey_spec){ settings[i], (uint16_t)(R_FIRST_SETTING + i), 0, NULL };
	if (tl_jkeys_init(&k->target, target, N(target)) < 0 ||
	    tl_jkeys_init(&k->action, action, N(action)) < 0 ||
	    tl_jkeys_init(&k->trigger, trigger, N(trigger)) < 0 ||
	    tl_jkeys_init(&k->rule, rule, N(rule)) < 0 ||
	    tl_jkeys_init(&k->series, series, N(series)) < 0 ||
	    tl_jkeys_init(&k->retained, retained, N(retained)) < 0 ||
	    tl_jkeys_init(&k->replay, replay, N(replay)) < 0 ||
	    tl_jkeys_init(&k->header, header, N(header)) < 0 ||
	    tl_jkeys_init(&k->changes, changes, N(changes)) < 0 ||
	    tl_jkeys_init(&k->change, change, N(change)) < 0 ||
	    tl_jkeys_init(&k->minute, minute, N(minute)) < 0 ||
	    tl_jkeys_init(&k->trailer, trailer, N(trailer)) < 0)
		return -1;
	return 0;
}

/* ---- printing what the file says ------------------------------------------------------- */

/* @n bytes of text from the file: control characters as '?', at most @max bytes (cut at a
 * UTF-8 boundary, then "..."). */
static void put_text(const char *s, size_t n, size_t max)
{
	bool cut = n > max;

	if (cut) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char c = (unsigned char)s[i];

		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
	if (cut)
		(void)fputs("...", stdout);
}

/* A value as the file has it; "?" when absent. */
static void put_val(const struct tl_jval *v)
{
	switch (v->type) {
	case TL_JT_STRING:
	case TL_JT_ARRAY:
	case TL_JT_OBJECT:
		if (v->s)
			put_text(v->s, v->n, TEXT_MAX);
		else
			(void)fputs("{...}", stdout);
		break;
	case TL_JT_INT:
		printf("%lld", (long long)v->i);
		break;
	case TL_JT_DOUBLE:
		printf("%g", v->d);
		break;
	case TL_JT_BOOL:
		(void)fputs(v->b ? "true" : "false", stdout);
		break;
	case TL_JT_NULL:
		(void)fputs("null", stdout);
		break;
	default:
		(void)fputs("?", stdout);
		break;
	}
}

static bool is_str(const struct tl_jval *v)
{
	return v->type == TL_JT_STRING;
}

static bool str_is(const struct tl_jval *v, const char *s)
{
	return is_str(v) && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

static double num_of(const struct tl_jval *v)
{
	if (v->type == TL_JT_INT)
		return (double)v->i;
	if (v->type == TL_JT_DOUBLE)
		return v->d;
	return NAN;
}

/* A trigger's value in its unit, as postmortem writes it: "2310 ms", "4.20%", "$123.45". */
static void put_amount(const struct tl_jval *v, const struct tl_jval *unit)
{
	const double d = num_of(v);

	if (isnan(d))
		(void)fputs(v->type == TL_JT_NULL ? "none" : "?", stdout);
	else if (str_is(unit, "ms"))
		printf("%.0f ms", d);
	else if (str_is(unit, "ratio"))
		printf("%.2f%%", d * 100);
	else if (str_is(unit, "usd"))
		printf("$%.2f", d);
	else
		printf("%g", d);
}

/* "label  value" with the value a string of the file, or "?" */
static void row(const char *label, const struct tl_jval *v)
{
	printf("  %-13s", label);
	put_val(v);
	putchar('\n');
}

struct show {
	struct keys keys;
	struct tl_json *js;
	struct tl_jval h[N_H], c[N_C], g[N_G], m[N_M], e[N_E];
	size_t n_changes, n_minutes, n_not_counted;
};

static int on_change(void *ud, const struct tl_jrec *jr)
{
	struct show *s = ud;
	const struct tl_jval *g = s->g;

	if (jr->not_object)
		return 0;
	s->n_changes++;
	(void)fputs("  ", stdout);
	put_val(&g[G_TIME]);
	(void)fputs("  ", stdout);
	put_val(&g[G_KIND]);
	if (str_is(&g[G_KIND], "model_version") || str_is(&g[G_KIND], "prompt_version")) {
		putchar(' ');
		put_val(&g[G_FROM]);
		(void)fputs(" -> ", stdout);
		put_val(&g[G_TO]);
		putchar('\n');
		return 0;
	}
	static const struct {
		int slot;
		const char *label;
	} parts[] = {
		{ G_OPERATION, ": " },
		{ G_STATUS, " " },
		{ G_SCOPE, ", scope " },
		{ G_MODEL, ", model " },
		{ G_MODEL_VERSION, " version " },
		{ G_RAI, ", RAI policy " },
	};

	for (size_t i = 0; i < N(parts); i++) {
		if (g[parts[i].slot].type == TL_JT_ABSENT)
			continue;
		(void)fputs(parts[i].label, stdout);
		put_val(&g[parts[i].slot]);
	}
	putchar('\n');
	return 0;
}

/* A number in a table cell of @width, or "-" when the file has none. */
static void put_cell(const struct tl_jval *v, int width, int prec)
{
	const double d = num_of(v);

	if (isnan(d))
		printf("  %*s", width, "-");
	else
		printf("  %*.*f", width, prec, d);
}

static int on_minute(void *ud, const struct tl_jrec *jr)
{
	struct show *s = ud;
	const struct tl_jval *m = s->m;

	if (jr->not_object)
		return 0;
	s->n_minutes++;
	(void)fputs("  ", stdout);
	if (is_str(&m[M_MINUTE])) {
		put_text(m[M_MINUTE].s, m[M_MINUTE].n, 64);
		if (m[M_MINUTE].n < 24)
			printf("%*s", (int)(24 - m[M_MINUTE].n), "");
	} else {
		printf("%-24s", "?");
	}
	put_cell(&m[M_LATENCY], 10, 0);
	put_cell(&m[M_REFUSAL], 12, 4);
	put_cell(&m[M_SPEND], 9, 4);
	printf("  %s\n", m[M_IN_BASELINE].type != TL_JT_BOOL ? "-"
			 : m[M_IN_BASELINE].b                ? "yes"
							     : "no");
	return 0;
}

static int on_count(void *ud, const struct tl_jrec *jr)
{
	struct show *s = ud;

	(void)jr;
	s->n_not_counted++;
	return 0;
}

static void print_rule(const struct tl_jval *h)
{
	bool first = true;

	printf("%-15s", "rule");
	put_val(h[H_RULE].type == TL_JT_OBJECT ? &h[R_NAME] : &h[H_RULE]);
	for (int i = R_FIRST_SETTING; i < H_SERIES; i++) {
		if (h[i].type == TL_JT_ABSENT)
			continue;
		printf("%s%s ", first ? ": " : ", ", settings[i - R_FIRST_SETTING]);
		put_val(&h[i]);
		first = false;
	}
	putchar('\n');
}

static void print_trigger(const struct tl_jval *h)
{
	puts("\ntrigger");
	row("fired_at", &h[T_FIRED]);
	row("severity", &h[T_SEVERITY]);
	printf("  %-13s", "window");
	put_val(&h[T_WSTART]);
	(void)fputs(" to ", stdout);
	put_val(&h[T_WEND]);
	putchar('\n');
	printf("  %-13s", "observed");
	put_amount(&h[T_OBSERVED], &h[T_UNIT]);
	printf("\n  %-13s", "baseline");
	put_amount(&h[T_BASELINE], &h[T_UNIT]);
	printf("\n  %-13s", "threshold");
	put_amount(&h[T_THRESHOLD], &h[T_UNIT]);
	putchar('\n');
	if (h[T_ACTION].type != TL_JT_OBJECT) {
		row("action", &h[T_ACTION]);
		return;
	}
	row("action", &h[A_KIND]);
	if (h[A_TARGET].type == TL_JT_OBJECT) {
		static const struct {
			int slot;
			const char *name;
		} t[] = { { AT_DEPLOYMENT, "deployment" },
			  { AT_MODEL_VERSION, "model_version" },
			  { AT_PROMPT_VERSION, "prompt_version" } };
		bool any = false;

		printf("  %-13s", "target");
		for (size_t i = 0; i < N(t); i++) {
			if (h[t[i].slot].type == TL_JT_ABSENT)
				continue;
			printf("%s%s ", any ? ", " : "", t[i].name);
			put_val(&h[t[i].slot]);
			any = true;
		}
		puts(any ? "" : "none");
	}
	if (is_str(&h[A_REASON])) {
		printf("  %-13s", "reason");
		put_text(h[A_REASON].s, h[A_REASON].n, REASON_MAX);
		putchar('\n');
	}
}

/* The changes line; strings at levels 2 and 3. */
static int print_changes(struct show *s, const struct walk *w)
{
	const struct tl_jval *c = s->c;
	int r;

	puts("\nrecent changes");
	if (w->changes.n == 0) {
		puts("  none recorded (the snapshot has no changes line)");
		return 0;
	}
	s->n_changes = 0;
	r = tl_json_extract(s->js, 2, w->changes.p, w->changes.n, false, &s->keys.changes, s->c);
	if (r == 0 && c[C_CHANGES].type == TL_JT_ARRAY)
		r = tl_json_each(s->js, 3, c[C_CHANGES].s, c[C_CHANGES].n, &s->keys.change, s->g,
				 on_change, s);
	if (r == 0 && s->n_changes == 0)
		puts("  none");
	if (r < 0) {
		(void)fflush(stdout);
		tl_err("%s: line 2: the changes line is not a JSON object of changes: %s", w->path,
		       tl_strerror(r));
		return TL_EXIT_IO;
	}
	if (c[C_OMITTED].type == TL_JT_INT && c[C_OMITTED].i > 0)
		printf("  and %lld older ones not listed\n", (long long)c[C_OMITTED].i);
	return 0;
}

static void print_retained(struct show *s)
{
	const struct tl_jval *h = s->h;

	puts("\nretained");
	printf("  %-13s", "records");
	put_val(&h[RT_RECORDS]);
	if (h[RT_OMITTED].type != TL_JT_ABSENT) {
		(void)fputs(" (", stdout);
		put_val(&h[RT_OMITTED]);
		(void)fputs(" omitted by the size bound)", stdout);
	}
	putchar('\n');
	row("since", &h[RT_SINCE]);
	if (h[RT_FIRST].type != TL_JT_ABSENT || h[RT_RECORDS].type != TL_JT_INT ||
	    h[RT_RECORDS].i != 0) {
		row("first", &h[RT_FIRST]);
		row("last", &h[RT_LAST]);
	}
	if (h[RT_COMPLETE_AFTER].type != TL_JT_ABSENT)
		row("whole after", &h[RT_COMPLETE_AFTER]);
	row("re-run from", &h[RP_FROM]);
	printf("  %-13s", "reproducible");
	if (h[RP_REPRODUCIBLE].type == TL_JT_BOOL && h[RP_REPRODUCIBLE].b) {
		puts("yes");
	} else {
		(void)fputs(h[RP_REPRODUCIBLE].type == TL_JT_BOOL ? "no" : "?", stdout);
		if (is_str(&h[RP_WHY_NOT])) {
			(void)fputs(": ", stdout);
			put_text(h[RP_WHY_NOT].s, h[RP_WHY_NOT].n, REASON_MAX);
		}
		putchar('\n');
	}
	s->n_not_counted = 0;
	if (h[RP_NOT_COUNTED].type == TL_JT_ARRAY &&
	    tl_json_each(s->js, 2, h[RP_NOT_COUNTED].s, h[RP_NOT_COUNTED].n, &s->keys.minute, s->m,
			 on_count, s) == 0)
		printf("  %-13s%zu records (judged late or too far ahead by the original run; a "
		       "re-run skips them too)\n",
		       "not counted", s->n_not_counted);
}

static void print_minutes(struct show *s)
{
	const struct tl_jval *h = s->h;

	puts("\nthe series' last minutes before the trigger, as its baseline saw them");
	printf("  %-24s  %10s  %12s  %9s  %s\n", "minute", "latency_ms", "refusal_rate",
	       "spend_usd", "in_baseline");
	s->n_minutes = 0;
	if (h[H_MINUTES].type == TL_JT_ARRAY)
		(void)tl_json_each(s->js, 2, h[H_MINUTES].s, h[H_MINUTES].n, &s->keys.minute, s->m,
				   on_minute, s);
	if (s->n_minutes == 0)
		puts("  none");
}

static void print_file(struct show *s, const struct walk *w)
{
	const struct tl_jval *e = s->e;
	const uint64_t lines = (w->changes.n ? 1 : 0) + w->other_lines;

	puts("\nfile");
	printf("  %-13s%llu\n", "records", (unsigned long long)w->records);
	printf("  %-13s%llu besides the header and the trailer (%s)\n", "other lines",
	       (unsigned long long)lines, w->changes.n ? "the changes line" : "no changes line");
	if (!w->complete || tl_json_extract(s->js, 2, w->trailer.p, w->trailer.n, false,
					    &s->keys.trailer, s->e) < 0) {
		printf("  %-13s%s\n", "trailer", w->complete ? "not JSON" : "none");
	} else {
		static const char *const names[N_E] = { "records", "omitted", "lines",
							"lines_omitted", "newlines_replaced" };

		printf("  %-13s", "trailer");
		for (int i = 0; i < N_E; i++) {
			printf("%s%s ", i ? ", " : "", names[i]);
			put_val(&e[i]);
		}
		putchar('\n');
		if (e[E_RECORDS].type == TL_JT_INT && (uint64_t)e[E_RECORDS].i != w->records)
			printf("  %-13sthe trailer counts %lld records, the file has %llu\n",
			       "mismatch", (long long)e[E_RECORDS].i,
			       (unsigned long long)w->records);
		if (e[E_LINES].type == TL_JT_INT && (uint64_t)e[E_LINES].i != lines)
			printf("  %-13sthe trailer counts %lld other lines, the file has %llu\n",
			       "mismatch", (long long)e[E_LINES].i, (unsigned long long)lines);
	}
	printf("  %-13s%s\n", "complete",
	       w->complete ? "yes (the file ends with the writer's trailer)"
			   : "no: the file ends without the writer's trailer (cut short)");
}

static int show(struct walk *w)
{
	struct show *s = calloc(1, sizeof(*s));
	const struct tl_jval *h;
	size_t max = w->header.n;
	bool cpu_ok = true;
	int r, status = TL_EXIT_IO;

	if (!s) {
		tl_err("out of memory");
		return TL_EXIT_IO;
	}
	h = s->h;
	if (keys_init(&s->keys) < 0)
		abort(); /* a bug: the key sets above do not fit */
	if (w->changes.n > max)
		max = w->changes.n;
	if (w->trailer.n > max)
		max = w->trailer.n;
	if (!(s->js = tl_json_new(max, &cpu_ok))) {
		if (!cpu_ok)
			tl_err("%s (AVX2); rebuild with 'meson configure build -Dsimd=generic'",
			       tl_strerror(TL_ECPU));
		else
			tl_err("out of memory");
		goto out;
	}
	r = tl_json_extract(s->js, 1, w->header.p, w->header.n, false, &s->keys.header, s->h);
	if (r < 0) {
		tl_err("%s: line 1: the snapshot's header is not a JSON object: %s", w->path,
		       tl_strerror(r));
		goto out;
	}
	/* the changes line is read again when printed: a bad one stops us before any output */
	if (w->changes.n && (r = tl_json_extract(s->js, 2, w->changes.p, w->changes.n, false,
						 &s->keys.changes, s->c)) < 0) {
		tl_err("%s: line 2: the changes line is not a JSON object: %s", w->path,
		       tl_strerror(r));
		goto out;
	}
	printf("%-15s", "incident");
	put_val(&h[H_ID]);
	printf("\n%-15s", "file");
	put_text(w->path, strlen(w->path), 4096);
	(void)fputs(" (format ", stdout);
	put_val(&h[H_FORMAT]);
	printf(")\n%-15s", "series");
	put_val(&h[S_RESOURCE]);
	putchar('/');
	put_val(&h[S_DEPLOYMENT]);
	if (h[T_MODEL].type != TL_JT_ABSENT) {
		(void)fputs(", model ", stdout);
		put_val(&h[T_MODEL]);
		if (h[T_MODEL_VERSION].type != TL_JT_ABSENT) {
			putchar(' ');
			put_val(&h[T_MODEL_VERSION]);
		}
	}
	putchar('\n');
	print_rule(h);
	print_trigger(h);
	if ((r = print_changes(s, w)) != 0) {
		status = r;
		goto out;
	}
	print_retained(s);
	print_minutes(s);
	print_file(s, w);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		tl_err("snapshot show: cannot write to stdout");
		goto out;
	}
	status = TL_EXIT_OK;
out:
	tl_json_free(s->js);
	free(s);
	return status;
}

/* ---- the commands ------------------------------------------------------------------------ */

/* The FILE argument of `snapshot @cmd`. Return: 0, or the exit status. */
static int parse_args(int argc, char **argv, const char *cmd, const char *usage,
		      const char **ret_path)
{
	bool help = false;
	const struct tl_opt opts[] = { { "help", false, NULL, &help } };
	char name[32];
	int npos;

	(void)snprintf(name, sizeof(name), "snapshot %s", cmd);
	if (tl_opts_parse(argc, argv, opts, 1, name, &npos) < 0)
		return TL_EXIT_USAGE;
	if (help) {
		(void)fputs(usage, stdout);
		return -1;
	}
	if (npos != 1) {
		tl_err("%s: %s (see 'tripline %s --help')", name,
		       npos ? "one FILE, please" : "no FILE given", name);
		return TL_EXIT_USAGE;
	}
	*ret_path = argv[0];
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	struct walk w = { 0 };
	int r;

	if ((r = parse_args(argc, argv, "show", show_usage, &w.path)) != 0)
		return r < 0 ? TL_EXIT_OK : r;
	if ((r = walk_open(&w)) == 0 && (r = walk_rest(&w)) == 0)
		r = show(&w);
	walk_fini(&w);
	return r;
}

static int write_record(void *ud, const char *line, size_t n)
{
	(void)ud;
	if (fwrite(line, 1, n, stdout) != n || putchar('\n') == EOF) {
		tl_err("snapshot extract: cannot write to stdout: %s", tl_strerror(-errno));
		return TL_EXIT_IO;
	}
	return 0;
}

/* The trailer's "records":N, or -1 (the writer's own line: digits, no escapes). */
static long long trailer_records(const struct walk *w)
{
	static const char key[] = "\"records\":";
	const char *p;
	char *end;
	long long v;

	if (!w->complete || !(p = strstr(w->trailer.p, key)))
		return -1;
	p += sizeof(key) - 1;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoll(p, &end, 10);
	return errno ? -1 : v;
}

static int cmd_extract(int argc, char **argv)
{
	struct walk w = { .record = write_record };
	long long want;
	int r;

	if ((r = parse_args(argc, argv, "extract", extract_usage, &w.path)) != 0)
		return r < 0 ? TL_EXIT_OK : r;
	if ((r = walk_open(&w)) == 0)
		r = walk_rest(&w);
	if (fflush(stdout) != 0 && r == 0) {
		tl_err("snapshot extract: cannot write to stdout: %s", tl_strerror(-errno));
		r = TL_EXIT_IO;
	}
	if (r == 0 && !w.complete) {
		tl_err("%s: ends without the snapshot's trailer: the file is incomplete (%llu "
		       "records up to its end written)",
		       w.path, (unsigned long long)w.records);
		r = TL_EXIT_IO;
	}
	if (r == 0 && (want = trailer_records(&w)) >= 0 && (unsigned long long)want != w.records)
		tl_err("warning: %s: the trailer counts %lld records, %llu were written", w.path,
		       want, (unsigned long long)w.records);
	walk_fini(&w);
	return r;
}

int tl_cmd_snapshot(int argc, char **argv)
{
	if (argc < 2) {
		(void)fputs(snapshot_usage, stderr);
		return TL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		(void)fputs(snapshot_usage, stdout);
		return TL_EXIT_OK;
	}
	if (strcmp(argv[1], "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "extract") == 0)
		return cmd_extract(argc - 1, argv + 1);
	tl_err("snapshot: unknown subcommand '%s' (see 'tripline snapshot --help')", argv[1]);
	return TL_EXIT_USAGE;
}
