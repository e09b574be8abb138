/*
 * tools/incidents.c - `tripline incidents list|show`, and the journal reader it shares with
 * `tripline postmortem`: every journal record parsed as a trigger event.
 *
 * The journal holds trigger events exactly as they went to stdout, so `show` prints them as
 * they are, and `list` folds each incident's events into one row. Nothing here reads a
 * clock: the output is a function of the journal alone.
 */
#include "incidents.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tripline/buf.h>
#include <tripline/journal.h>
#include <tripline/time.h>

#include "cli.h"
#include "json.h"

/* ---- reading the journal ---------------------------------------------------------------- */

enum {
	S_TYPE,
	S_ID,
	S_RULE,
	S_SEVERITY,
	S_RESOURCE,
	S_DEPLOYMENT,
	S_MODEL,
	S_MODEL_VERSION,
	S_FIRED,
	S_UPDATED,
	S_WSTART,
	S_WEND,
	S_OBSERVED,
	S_BASELINE,
	S_THRESHOLD,
	S_UNIT,
	S_RESOLVED,
	S_CHANGES,
	S_CHANGES_OMITTED,
	S_OWNER,
	S_COMMANDER,
	S_COMMS,
	S_SNAPSHOT,
	S_ACTION,
	S_A_KIND,
	S_A_REASON,
	S_A_TARGET,
	S_T_MODEL_VERSION,
	S_T_PROMPT_VERSION,
	S_T_DEPLOYMENT,
	S_IMPACT,
	S_I_FIRST, /* TL_IMPACT_N slots, in enum tl_inc_impact order */
	N_SLOTS = S_I_FIRST + TL_IMPACT_N,
};

enum { C_TIME, C_KIND, C_FROM, C_TO, C_OPERATION, C_SCOPE, C_MODEL, C_MODEL_VERSION, C_RAI, N_C };
enum { P_PATH, P_FILE, N_P };

static const char *const impact_names[TL_IMPACT_N] = {
	"requests", "errors_5xx", "guardrail_failed", "refusals", "cost_usd", "throttled_429",
};

struct keys {
	struct tl_jkeys target, action, impact, event, change, snap;
};

static int keys_init(struct keys *k)
{
	const struct tl_jkey_spec target[] = {
		{ "model_version", S_T_MODEL_VERSION, 0, NULL },
		{ "prompt_version", S_T_PROMPT_VERSION, 0, NULL },
		{ "deployment", S_T_DEPLOYMENT, 0, NULL },
	};
	const struct tl_jkey_spec action[] = {
		{ "kind", S_A_KIND, 0, NULL },
		{ "reason", S_A_REASON, 0, NULL },
		{ "target", S_A_TARGET, 0, &k->target },
	};
	struct tl_jkey_spec impact[TL_IMPACT_N];
	const struct tl_jkey_spec event[] = {
		{ "type", S_TYPE, 0, NULL },
		{ "incident_id", S_ID, 0, NULL },
		{ "rule", S_RULE, 0, NULL },
		{ "severity", S_SEVERITY, 0, NULL },
		{ "resource", S_RESOURCE, 0, NULL },
		{ "deployment", S_DEPLOYMENT, 0, NULL },
		{ "model", S_MODEL, 0, NULL },
		{ "model_version", S_MODEL_VERSION, 0, NULL },
		{ "fired_at", S_FIRED, 0, NULL },
		{ "updated_at", S_UPDATED, 0, NULL },
		{ "window_start", S_WSTART, 0, NULL },
		{ "window_end", S_WEND, 0, NULL },
		{ "observed", S_OBSERVED, 0, NULL },
		{ "baseline", S_BASELINE, 0, NULL },
		{ "threshold", S_THRESHOLD, 0, NULL },
		{ "unit", S_UNIT, 0, NULL },
		{ "resolved_at", S_RESOLVED, 0, NULL },
		{ "recent_changes", S_CHANGES, 0, NULL },
		{ "recent_changes_omitted", S_CHANGES_OMITTED, 0, NULL },
		{ "owner", S_OWNER, 0, NULL },
		{ "incident_commander", S_COMMANDER, 0, NULL },
		{ "comms_owner", S_COMMS, 0, NULL },
		{ "snapshot", S_SNAPSHOT, 0, NULL },
		{ "action", S_ACTION, 0, &k->action },
		{ "impact", S_IMPACT, 0, &k->impact },
	};
	const struct tl_jkey_spec change[] = {
		{ "time", C_TIME, 0, NULL },
		{ "kind", C_KIND, 0, NULL },
		{ "from", C_FROM, 0, NULL },
		{ "to", C_TO, 0, NULL },
		{ "operation", C_OPERATION, 0, NULL },
		{ "scope", C_SCOPE, 0, NULL },
		{ "model", C_MODEL, 0, NULL },
		{ "model_version", C_MODEL_VERSION, 0, NULL },
		{ "rai_policy", C_RAI, 0, NULL },
	};
	const struct tl_jkey_spec snap[] = {
		{ "path", P_PATH, 0, NULL },
		{ "file", P_FILE, 0, NULL },
	};

	for (int i = 0; i < TL_IMPACT_N; i++)
		impact[i] =
		    (struct tl_jkey_spec){ impact_names[i], (uint16_t)(S_I_FIRST + i), 0, NULL };
#define N(a) (sizeof(a) / sizeof((a)[0]))
	if (tl_jkeys_init(&k->target, target, N(target)) < 0 ||
	    tl_jkeys_init(&k->action, action, N(action)) < 0 ||
	    tl_jkeys_init(&k->impact, impact, N(impact)) < 0 ||
	    tl_jkeys_init(&k->event, event, N(event)) < 0 ||
	    tl_jkeys_init(&k->change, change, N(change)) < 0 ||
	    tl_jkeys_init(&k->snap, snap, N(snap)) < 0)
		return -1;
#undef N
	return 0;
}

struct reader {
	struct keys keys;
	struct tl_json *js;
	char *doc; /* the record, padded for the parser */
	size_t doc_cap;
	struct tl_jval vals[N_SLOTS], cvals[N_C], pvals[N_P];
	const struct tl_journal_record *rec;
	struct tl_inc_event ev;
	bool seen; /* the record's object was delivered */
	tl_inc_fn fn;
	void *ud;
	int stop;
	int oom;
};

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* The string in @v (NULL if it is not one); sets *@oom when out of memory. */
static char *str_of(const struct tl_jval *v, int *oom)
{
	char *p;

	if (v->type != TL_JT_STRING)
		return NULL;
	p = dup_n(v->s, v->n);
	if (!p)
		*oom = 1;
	return p;
}

static int64_t time_of(const struct tl_jval *v)
{
	int64_t ns;

	if (v->type != TL_JT_STRING || tl_time_parse(v->s, v->n, &ns) != 0)
		return TL_INC_NO_TIME;
	return ns;
}

static double num_of(const struct tl_jval *v)
{
	if (v->type == TL_JT_INT)
		return (double)v->i;
	if (v->type == TL_JT_DOUBLE)
		return v->d;
	return NAN;
}

static char *buf_take(struct tl_buf *b, int *oom)
{
	char *p;

	tl_buf_put(b, "", 1);
	if (!tl_buf_ok(b)) {
		tl_buf_fini(b);
		*oom = 1;
		return NULL;
	}
	p = b->p;
	*b = (struct tl_buf){ 0 };
	return p;
}

static void put_val(struct tl_buf *b, const char *pre, const struct tl_jval *v)
{
	if (v->type != TL_JT_STRING)
		return;
	tl_buf_puts(b, pre);
	tl_buf_put(b, v->s, v->n);
}

static bool val_is(const struct tl_jval *v, const char *s)
{
	return v->type == TL_JT_STRING && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

/* One element of recent_changes, in words. */
static int on_change(void *ud, const struct tl_jrec *jr)
{
	struct reader *rd = ud;
	struct tl_inc_event *ev = &rd->ev;
	const struct tl_jval *c = rd->cvals;
	struct tl_buf b = { 0 };
	struct tl_inc_change *nc;

	if (jr->not_object)
		return 0;
	nc = realloc(ev->changes, (ev->n_changes + 1) * sizeof(*nc));
	if (!nc) {
		rd->oom = 1;
		return 1;
	}
	ev->changes = nc;
	if (c[C_KIND].type == TL_JT_STRING)
		tl_buf_put(&b, c[C_KIND].s, c[C_KIND].n);
	else
		tl_buf_puts(&b, "change");
	if (val_is(&c[C_KIND], "model_version") || val_is(&c[C_KIND], "prompt_version")) {
		put_val(&b, " changed from ", &c[C_FROM]);
		put_val(&b, " to ", &c[C_TO]);
	} else {
		put_val(&b, " (", &c[C_OPERATION]);
		if (c[C_OPERATION].type == TL_JT_STRING)
			tl_buf_puts(&b, ")");
		if (val_is(&c[C_SCOPE], "account"))
			tl_buf_puts(&b, ", account-wide");
		put_val(&b, ", model ", &c[C_MODEL]);
		put_val(&b, " version ", &c[C_MODEL_VERSION]);
		put_val(&b, ", RAI policy ", &c[C_RAI]);
	}
	nc[ev->n_changes].time_ns = time_of(&c[C_TIME]);
	nc[ev->n_changes].text = buf_take(&b, &rd->oom);
	if (nc[ev->n_changes].text)
		ev->n_changes++;
	return rd->oom;
}

static void fill_action(struct reader *rd)
{
	const struct tl_jval *v = rd->vals;
	struct tl_inc_event *ev = &rd->ev;
	struct tl_buf b = { 0 };

	if (v[S_ACTION].type != TL_JT_OBJECT)
		return;
	ev->action_kind = str_of(&v[S_A_KIND], &rd->oom);
	ev->action_reason = str_of(&v[S_A_REASON], &rd->oom);
	if (v[S_A_TARGET].type != TL_JT_OBJECT)
		return;
	put_val(&b, "deployment ", &v[S_T_DEPLOYMENT]);
	put_val(&b, b.n ? ", model_version " : "model_version ", &v[S_T_MODEL_VERSION]);
	put_val(&b, b.n ? ", prompt_version " : "prompt_version ", &v[S_T_PROMPT_VERSION]);
	if (b.n)
		ev->action_target = buf_take(&b, &rd->oom);
	tl_buf_fini(&b);
}

static void fill_snapshot(struct reader *rd)
{
	const struct tl_jval *v = &rd->vals[S_SNAPSHOT];

	if (v->type == TL_JT_STRING) {
		rd->ev.snapshot = str_of(v, &rd->oom);
		return;
	}
	/* an object naming the file: {"path":...} (or "file") */
	if (v->type != TL_JT_OBJECT ||
	    tl_json_extract(rd->js, 1, v->s, v->n, false, &rd->keys.snap, rd->pvals) != 0)
		return;
	rd->ev.snapshot = str_of(&rd->pvals[P_PATH], &rd->oom);
	if (!rd->ev.snapshot)
		rd->ev.snapshot = str_of(&rd->pvals[P_FILE], &rd->oom);
}

static int on_object(void *ud, const struct tl_jrec *jr)
{
	static const char *const types[] = { "trigger", "update", "resolved" };
	struct reader *rd = ud;
	const struct tl_jval *v = rd->vals;
	struct tl_inc_event *ev = &rd->ev;

	if (jr->not_object || rd->seen)
		return 0;
	rd->seen = true;
	if (v[S_ID].type != TL_JT_STRING || v[S_ID].n == 0)
		return 0;
	*ev = (struct tl_inc_event){ .severity = -1 };
	ev->raw = dup_n(rd->rec->data, rd->rec->len);
	ev->raw_len = rd->rec->len;
	ev->time_ns = rd->rec->time_ns;
	for (int i = 0; i < 3; i++)
		if (val_is(&v[S_TYPE], types[i]))
			ev->type = (uint8_t)(TL_INC_TRIGGER + i);
	ev->id = str_of(&v[S_ID], &rd->oom);
	ev->rule = str_of(&v[S_RULE], &rd->oom);
	ev->resource = str_of(&v[S_RESOURCE], &rd->oom);
	ev->deployment = str_of(&v[S_DEPLOYMENT], &rd->oom);
	ev->model = str_of(&v[S_MODEL], &rd->oom);
	ev->model_version = str_of(&v[S_MODEL_VERSION], &rd->oom);
	ev->unit = str_of(&v[S_UNIT], &rd->oom);
	ev->owner = str_of(&v[S_OWNER], &rd->oom);
	ev->incident_commander = str_of(&v[S_COMMANDER], &rd->oom);
	ev->comms_owner = str_of(&v[S_COMMS], &rd->oom);
	if (v[S_SEVERITY].type == TL_JT_STRING && v[S_SEVERITY].n == 4 &&
	    memcmp(v[S_SEVERITY].s, "Sev", 3) == 0 && v[S_SEVERITY].s[3] >= '0' &&
	    v[S_SEVERITY].s[3] <= '4')
		ev->severity = v[S_SEVERITY].s[3] - '0';
	ev->fired_at = time_of(&v[S_FIRED]);
	ev->updated_at = time_of(&v[S_UPDATED]);
	ev->window_start = time_of(&v[S_WSTART]);
	ev->window_end = time_of(&v[S_WEND]);
	ev->resolved_at = time_of(&v[S_RESOLVED]);
	ev->observed = num_of(&v[S_OBSERVED]);
	ev->baseline = num_of(&v[S_BASELINE]);
	ev->threshold = num_of(&v[S_THRESHOLD]);
	ev->changes_omitted = v[S_CHANGES_OMITTED].type == TL_JT_INT ? v[S_CHANGES_OMITTED].i : 0;
	fill_action(rd);
	if (v[S_IMPACT].type == TL_JT_OBJECT) {
		ev->has_impact = true;
		for (int i = 0; i < TL_IMPACT_N; i++)
			ev->impact[i] = num_of(&v[S_I_FIRST + i]);
	}
	/* level 1 parses below: the level 0 strings above stay valid, but are copied already */
	fill_snapshot(rd);
	if (v[S_CHANGES].type == TL_JT_ARRAY)
		(void)tl_json_each(rd->js, 1, v[S_CHANGES].s, v[S_CHANGES].n, &rd->keys.change,
				   rd->cvals, on_change, rd);
	if (!ev->raw)
		rd->oom = 1;
	return 0;
}

static void warn_record(const struct tl_journal_record *rec, const char *why)
{
	tl_err("warning: '%s': offset %llu: %s; record skipped", rec->file,
	       (unsigned long long)rec->offset, why);
}

static int on_record(void *ud, const struct tl_journal_record *rec)
{
	struct reader *rd = ud;
	struct tl_json_error jerr;
	int r;

	if (rec->len + TL_JSON_PADDING > rd->doc_cap) {
		size_t cap = rec->len + TL_JSON_PADDING;
		char *d = realloc(rd->doc, cap);

		if (!d) {
			rd->oom = 1;
			return -ENOMEM;
		}
		rd->doc = d;
		rd->doc_cap = cap;
	}
	memcpy(rd->doc, rec->data, rec->len);
	memset(rd->doc + rec->len, ' ', TL_JSON_PADDING);
	rd->rec = rec;
	rd->seen = false;
	memset(&rd->ev, 0, sizeof(rd->ev));
	r = tl_json_visit(rd->js, rd->doc, rec->len, &rd->keys.event, rd->vals, on_object, rd,
			  &jerr);
	if (r == TL_EJSON) {
		char why[256];

		(void)snprintf(why, sizeof(why), "not JSON (%s at byte %zu)", jerr.message,
			       jerr.offset);
		warn_record(rec, why);
	} else if (!rd->ev.id && !rd->oom) {
		warn_record(rec, "not a trigger event (no incident_id)");
	}
	if (rd->oom) {
		tl_inc_event_fini(&rd->ev);
		return -ENOMEM;
	}
	if (rd->ev.id && r == 0)
		rd->stop = rd->fn(rd->ud, &rd->ev);
	tl_inc_event_fini(&rd->ev);
	return rd->stop;
}

static void on_damage(void *ud, const struct tl_journal_damage *d)
{
	(void)ud;
	tl_err("warning: '%s': offset %llu: %s; %llu bytes skipped", d->file,
	       (unsigned long long)d->offset, d->reason, (unsigned long long)d->len);
}

int tl_incidents_read(const char *out_dir, tl_inc_fn fn, void *ud)
{
	struct reader *rd = calloc(1, sizeof(*rd));
	char jdir[4096], err[4200];
	bool cpu_ok;
	int r;

	if (!rd) {
		tl_err("out of memory");
		return -ENOMEM;
	}
	(void)snprintf(jdir, sizeof(jdir), "%s/%s", out_dir, TL_JOURNAL_SUBDIR);
	rd->fn = fn;
	rd->ud = ud;
	if (keys_init(&rd->keys) < 0)
		abort(); /* a bug: the key sets above do not fit */
	rd->js = tl_json_new(TL_JOURNAL_RECORD_MAX, &cpu_ok);
	if (!rd->js) {
		if (!cpu_ok)
			tl_err("%s (AVX2); rebuild with 'meson configure build -Dsimd=generic'",
			       tl_strerror(TL_ECPU));
		else
			tl_err("out of memory");
		free(rd);
		return cpu_ok ? -ENOMEM : TL_ECPU;
	}
	r = tl_journal_read(jdir, on_record, on_damage, rd, err, sizeof(err));
	if (r == -ENOMEM || rd->oom)
		tl_err("out of memory");
	else if (r < 0 && r != -ENOENT && r != rd->stop)
		tl_err("%s", err);
	tl_json_free(rd->js);
	free(rd->doc);
	free(rd);
	return r;
}

void tl_inc_event_fini(struct tl_inc_event *ev)
{
	char **strs[] = { &ev->raw,           &ev->id,
			  &ev->rule,          &ev->resource,
			  &ev->deployment,    &ev->model,
			  &ev->model_version, &ev->unit,
			  &ev->owner,         &ev->action_kind,
			  &ev->action_reason, &ev->action_target,
			  &ev->snapshot,      &ev->incident_commander,
			  &ev->comms_owner };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < ev->n_changes; i++)
		free(ev->changes[i].text);
	free(ev->changes);
	ev->changes = NULL;
	ev->n_changes = 0;
}

void tl_incident_free(struct tl_inc_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tl_inc_event_fini(&evs[i]);
	free(evs);
}

struct load {
	const char *id;
	struct tl_inc_event *evs;
	size_t n, cap;
};

static int on_load(void *ud, struct tl_inc_event *ev)
{
	struct load *l = ud;

	if (strcmp(ev->id, l->id) != 0)
		return 0;
	/* the same event journaled again (the same logs replayed into the same DIR) is one */
	for (size_t i = 0; i < l->n; i++)
		if (l->evs[i].raw_len == ev->raw_len &&
		    memcmp(l->evs[i].raw, ev->raw, ev->raw_len) == 0)
			return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct tl_inc_event *e = realloc(l->evs, cap * sizeof(*e));

		if (!e) {
			tl_err("out of memory");
			return -ENOMEM;
		}
		l->evs = e;
		l->cap = cap;
	}
	l->evs[l->n++] = *ev; /* taken */
	memset(ev, 0, sizeof(*ev));
	return 0;
}

int tl_incident_load(const char *out_dir, const char *id, struct tl_inc_event **ret_evs,
		     size_t *ret_n)
{
	struct load l = { id, NULL, 0, 0 };
	int r = tl_incidents_read(out_dir, on_load, &l);

	if (r != 0) {
		tl_incident_free(l.evs, l.n);
		return r;
	}
	*ret_evs = l.evs;
	*ret_n = l.n;
	return 0;
}

char *tl_inc_duration(int64_t ns, char *buf)
{
	int64_t s = ns / TL_NS_PER_S;
	const char *sign = "";

	if (s < 0) {
		sign = "-";
		s = -s;
	}
	long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

	if (d)
		(void)snprintf(buf, TL_INC_DURATION_LEN, "%s%lldd%02lldh%02lldm%02llds", sign, d, h,
			       m, sec);
	else if (h)
		(void)snprintf(buf, TL_INC_DURATION_LEN, "%s%lldh%02lldm%02llds", sign, h, m, sec);
	else if (m)
		(void)snprintf(buf, TL_INC_DURATION_LEN, "%s%lldm%02llds", sign, m, sec);
	else
		(void)snprintf(buf, TL_INC_DURATION_LEN, "%s%llds", sign, sec);
	return buf;
}

void tl_inc_journal_missing(const char *cmd, const char *out_dir)
{
	tl_err("%s: no journal in '%s/%s' ('tripline replay --out %s' writes one)", cmd, out_dir,
	       TL_JOURNAL_SUBDIR, out_dir);
}

/* ---- incidents list --------------------------------------------------------------------- */

static const char list_usage[] =
    "usage: tripline incidents list [--out DIR]\n"
    "\n"
    "Lists the incidents in the journal DIR/journal, one row each, oldest first:\n"
    "  id         the incident id (for 'incidents show' and 'postmortem')\n"
    "  rule       the rule that fired\n"
    "  series     resource/deployment\n"
    "  severity   the highest severity any of its events had (Sev0 is the highest)\n"
    "  fired      when the rule started firing (event time, UTC)\n"
    "  resolved   when it recovered, or 'firing' if the journal has no resolved event\n"
    "  duration   resolved - fired; for an incident still firing, the time up to its\n"
    "             latest event, marked with a '+'\n"
    "Damaged journal records are skipped with a warning on stderr.\n"
    "\n"
    "options:\n"
    "  --out DIR   the output directory of 'tripline replay' (default ./tripline-out)\n"
    "  --help      this text\n"
    "\n"
    "Exit status: 0 when the journal was read, 1 when there is none or it cannot be\n"
    "read, 2 for usage errors.\n";

struct row {
	char *id, *rule, *series;
	int severity;
	int64_t fired, resolved, last; /* resolved: TL_INC_NO_TIME while firing */
	uint64_t first_seq;
};

struct list {
	struct row *rows;
	size_t n, cap;
	/* rows by id, for the fold: an open-addressing table of row indices + 1 */
	uint32_t *index;
	size_t index_cap;
	uint64_t seq;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static int index_grow(struct list *l)
{
	size_t cap = l->index_cap ? l->index_cap * 2 : 1024;
	uint32_t *ix = calloc(cap, sizeof(*ix));

	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		size_t k = hash_str(l->rows[i].id) & (cap - 1);

		while (ix[k])
			k = (k + 1) & (cap - 1);
		ix[k] = (uint32_t)(i + 1);
	}
	free(l->index);
	l->index = ix;
	l->index_cap = cap;
	return 0;
}

static int on_list(void *ud, struct tl_inc_event *ev)
{
	struct list *l = ud;
	struct row *row = NULL;
	size_t k;

	if ((l->n + 1) * 2 > l->index_cap && index_grow(l) < 0)
		goto out_oom;
	k = hash_str(ev->id) & (l->index_cap - 1);
	while (l->index[k] && strcmp(l->rows[l->index[k] - 1].id, ev->id) != 0)
		k = (k + 1) & (l->index_cap - 1);
	if (l->index[k]) {
		row = &l->rows[l->index[k] - 1];
	} else {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct row *nr = realloc(l->rows, cap * sizeof(*nr));

			if (!nr)
				goto out_oom;
			l->rows = nr;
			l->cap = cap;
		}
		struct tl_buf b = { 0 };
		int oom = 0;

		tl_buf_printf(&b, "%s/%s", ev->resource ? ev->resource : "?",
			      ev->deployment ? ev->deployment : "?");
		row = &l->rows[l->n];
		*row = (struct row){ .id = ev->id,
				     .rule = ev->rule,
				     .series = buf_take(&b, &oom),
				     .severity = -1,
				     .fired = TL_INC_NO_TIME,
				     .resolved = TL_INC_NO_TIME,
				     .last = TL_INC_NO_TIME,
				     .first_seq = l->seq };
		ev->id = ev->rule = NULL; /* taken */
		if (oom)
			goto out_oom;
		l->index[k] = (uint32_t)++l->n;
	}
	l->seq++;
	if (ev->severity >= 0 && (row->severity < 0 || ev->severity < row->severity))
		row->severity = ev->severity;
	if (ev->fired_at != TL_INC_NO_TIME &&
	    (row->fired == TL_INC_NO_TIME || ev->fired_at < row->fired))
		row->fired = ev->fired_at;
	if (ev->time_ns > row->last)
		row->last = ev->time_ns;
	/* the latest event decides: a trigger after a resolution (the same input replayed
	 * into the journal again) fires again */
	row->resolved = ev->type == TL_INC_RESOLVED ? ev->resolved_at : TL_INC_NO_TIME;
	if (ev->type == TL_INC_RESOLVED && ev->resolved_at == TL_INC_NO_TIME)
		row->resolved = ev->time_ns;
	return 0;

out_oom:
	tl_err("out of memory");
	return -ENOMEM;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->fired != y->fired)
		return x->fired < y->fired ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void list_print(const struct list *l)
{
	char fired[TL_TIME_TEXT_LEN + 1], resolved[TL_TIME_TEXT_LEN + 1], sev[16],
	    dur[TL_INC_DURATION_LEN + 1];
	int w_id = 2, w_rule = 4, w_series = 6;

	for (size_t i = 0; i < l->n; i++) {
		const struct row *r = &l->rows[i];
		int n;

		if ((n = (int)strlen(r->id)) > w_id)
			w_id = n;
		if (r->rule && (n = (int)strlen(r->rule)) > w_rule)
			w_rule = n;
		if ((n = (int)strlen(r->series)) > w_series)
			w_series = n;
	}
	printf("%-*s  %-*s  %-*s  %-8s  %-24s  %-24s  %s\n", w_id, "id", w_rule, "rule", w_series,
	       "series", "severity", "fired", "resolved", "duration");
	for (size_t i = 0; i < l->n; i++) {
		const struct row *r = &l->rows[i];
		bool firing = r->resolved == TL_INC_NO_TIME;

		if (r->severity >= 0)
			(void)snprintf(sev, sizeof(sev), "Sev%d", r->severity);
		else
			(void)snprintf(sev, sizeof(sev), "?");
		if (r->fired == TL_INC_NO_TIME)
			(void)snprintf(fired, sizeof(fired), "?");
		else
			tl_time_format(r->fired, fired);
		if (firing)
			(void)snprintf(resolved, sizeof(resolved), "firing");
		else
			tl_time_format(r->resolved, resolved);
		if (r->fired == TL_INC_NO_TIME)
			(void)snprintf(dur, sizeof(dur), "?");
		else if (firing)
			strcat(tl_inc_duration(r->last > r->fired ? r->last - r->fired : 0, dur),
			       "+");
		else
			tl_inc_duration(r->resolved - r->fired, dur);
		printf("%-*s  %-*s  %-*s  %-8s  %-24s  %-24s  %s\n", w_id, r->id, w_rule,
		       r->rule ? r->rule : "?", w_series, r->series, sev, fired, resolved, dur);
	}
}

static int cmd_list(int argc, char **argv)
{
	const char *out_dir = "tripline-out";
	bool help = false;
	const struct tl_opt opts[] = {
		{ "out", true, &out_dir, NULL },
		{ "help", false, NULL, &help },
	};
	struct list l = { 0 };
	int npos, r, status = TL_EXIT_OK;

	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "incidents list",
			  &npos) < 0)
		return TL_EXIT_USAGE;
	if (help) {
		fputs(list_usage, stdout);
		return TL_EXIT_OK;
	}
	if (npos > 0) {
		tl_err("incidents list: unexpected argument '%s' (see 'tripline incidents list "
		       "--help')",
		       argv[0]);
		return TL_EXIT_USAGE;
	}
	r = tl_incidents_read(out_dir, on_list, &l);
	if (r == -ENOENT) {
		tl_inc_journal_missing("incidents list", out_dir);
		status = TL_EXIT_IO;
	} else if (r != 0) {
		status = TL_EXIT_IO;
	} else {
		if (l.n > 1)
			qsort(l.rows, l.n, sizeof(*l.rows), cmp_rows);
		list_print(&l);
		if (fflush(stdout) != 0) {
			tl_err("incidents list: cannot write to stdout");
			status = TL_EXIT_IO;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		free(l.rows[i].id);
		free(l.rows[i].rule);
		free(l.rows[i].series);
	}
	free(l.rows);
	free(l.index);
	return status;
}

/* ---- incidents show --------------------------------------------------------------------- */

static const char show_usage[] =
    "usage: tripline incidents show ID [--out DIR]\n"
    "\n"
    "Prints the whole timeline of incident ID from the journal DIR/journal as one JSON\n"
    "object:\n"
    "  {\"incident_id\":\"ID\",\"events\":[...]}\n"
    "with every event of the incident (trigger, update, resolved), in the order they were\n"
    "journaled, each exactly as tripline wrote it to stdout; an event journaled again (the\n"
    "same logs replayed into the same DIR) is shown once.\n"
    "\n"
    "options:\n"
    "  --out DIR   the output directory of 'tripline replay' (default ./tripline-out)\n"
    "  --help      this text\n"
    "\n"
    "Exit status: 0 when the incident was printed; 1 when the journal has no incident ID,\n"
    "or there is no journal or it cannot be read; 2 for usage errors.\n";

static int cmd_show(int argc, char **argv)
{
	const char *out_dir = "tripline-out";
	bool help = false;
	const struct tl_opt opts[] = {
		{ "out", true, &out_dir, NULL },
		{ "help", false, NULL, &help },
	};
	struct tl_inc_event *evs = NULL;
	struct tl_buf b = { 0 };
	size_t n = 0;
	int npos, r, status = TL_EXIT_OK;

	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "incidents show",
			  &npos) < 0)
		return TL_EXIT_USAGE;
	if (help) {
		fputs(show_usage, stdout);
		return TL_EXIT_OK;
	}
	if (npos != 1) {
		tl_err("incidents show: %s (see 'tripline incidents show --help')",
		       npos ? "one incident ID, please" : "no incident ID given");
		return TL_EXIT_USAGE;
	}
	r = tl_incident_load(out_dir, argv[0], &evs, &n);
	if (r == -ENOENT) {
		tl_inc_journal_missing("incidents show", out_dir);
		return TL_EXIT_IO;
	}
	if (r != 0)
		return TL_EXIT_IO;
	if (n == 0) {
		tl_err("incidents show: no incident '%s' in %s/%s (see 'tripline incidents list')",
		       argv[0], out_dir, TL_JOURNAL_SUBDIR);
		return TL_EXIT_IO;
	}
	tl_buf_puts(&b, "{\"incident_id\":");
	tl_buf_json_str(&b, argv[0], strlen(argv[0]));
	tl_buf_puts(&b, ",\"events\":[\n");
	for (size_t i = 0; i < n; i++) {
		tl_buf_put(&b, evs[i].raw, evs[i].raw_len);
		tl_buf_puts(&b, i + 1 < n ? ",\n" : "\n");
	}
	tl_buf_puts(&b, "]}\n");
	if (!tl_buf_ok(&b)) {
		tl_err("out of memory");
		status = TL_EXIT_IO;
	} else if (fwrite(b.p, 1, b.n, stdout) != b.n || fflush(stdout) != 0) {
		tl_err("incidents show: cannot write to stdout");
		status = TL_EXIT_IO;
	}
	tl_buf_fini(&b);
	tl_incident_free(evs, n);
	return status;
}

/* ---- the command ------------------------------------------------------------------------ */

static const char incidents_usage[] =
    "usage: tripline incidents list [--out DIR]\n"
    "       tripline incidents show ID [--out DIR]\n"
    "\n"
    "Reads the incident journal that 'tripline replay' keeps in DIR/journal (default\n"
    "./tripline-out/journal).\n"
    "  list      one row per incident: id, rule, series, severity, fired, resolved,\n"
    "            duration\n"
    "  show ID   the incident's whole timeline as JSON\n"
    "\n"
    "Run 'tripline incidents list --help' or 'tripline incidents show --help' for details.\n";

int tl_cmd_incidents(int argc, char **argv)
{
	if (argc < 2) {
		fputs(incidents_usage, stderr);
		return TL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(incidents_usage, stdout);
		return TL_EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	tl_err("incidents: unknown subcommand '%s' (see 'tripline incidents --help')", argv[1]);
	return TL_EXIT_USAGE;
}
