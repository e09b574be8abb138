/*
 * tools/postmortem.c - `tripline postmortem ID`: a Markdown draft of an incident's
 * postmortem from its journal events: summary, impact, timeline, evidence, owners and
 * remediation items. Every fact comes from the journal (and the config for owners); what
 * only people know is left as TBD. No clock is read: the same journal gives the same draft.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tripline/journal.h>
#include <tripline/time.h>

#include "cli.h"
#include "incidents.h"

static const char postmortem_usage[] =
    "usage: tripline postmortem ID [--out DIR] [--config F]\n"
    "\n"
    "Writes a Markdown draft of the postmortem of incident ID to stdout, from its events in\n"
    "the journal DIR/journal:\n"
    "  summary       rule, resource, deployment, model, severity, fired and resolved times,\n"
    "                time to detect (fired - window start) and to recover (resolved - fired)\n"
    "  impact        observed against baseline and threshold, the peak; requests, 5xx\n"
    "                errors, guardrail failures, refusals, cost and 429s when the events\n"
    "                carry an impact object, else 'not recorded'\n"
    "  timeline      recent changes, the detection window, trigger, recommended action,\n"
    "                updates and resolution, in event time (UTC)\n"
    "  evidence      the evidence snapshot and the command that replays it\n"
    "  owners and    the owner, incident commander and comms owner named by the events\n"
    "  remediation   and, with --config, the deployment's; checklist items, with TBD\n"
    "                where nobody is named\n"
    "The draft depends only on the journal and the config, never on the clock.\n"
    "\n"
    "options:\n"
    "  --out DIR     the output directory of 'tripline replay' (default ./tripline-out)\n"
    "  --config F    the configuration (YAML) to take the deployment's owners from\n"
    "  --help        this text\n"
    "\n"
    "Exit status: 0 when the draft was written; 1 when the journal has no incident ID, or\n"
    "there is no journal or it cannot be read; 2 for usage or configuration errors.\n";

/* Text for a Markdown table cell or list item: no line breaks, '|' escaped. */
static void md(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

static const char *or_q(const char *s)
{
	return s && *s ? s : "?";
}

static char *fmt_time(int64_t ns, char *buf)
{
	if (ns == TL_INC_NO_TIME) {
		(void)snprintf(buf, TL_TIME_TEXT_LEN + 1, "?");
		return buf;
	}
	return tl_time_format(ns, buf);
}

/* @v in the event's unit: "2310 ms", "4.20%", "$123.45". */
static char *fmt_value(double v, const char *unit, char *buf, size_t len)
{
	if (isnan(v))
		(void)snprintf(buf, len, "none");
	else if (unit && strcmp(unit, "ms") == 0)
		(void)snprintf(buf, len, "%.0f ms", v);
	else if (unit && strcmp(unit, "ratio") == 0)
		(void)snprintf(buf, len, "%.2f%%", v * 100);
	else if (unit && strcmp(unit, "usd") == 0)
		(void)snprintf(buf, len, "$%.2f", v);
	else
		(void)snprintf(buf, len, "%g", v);
	return buf;
}

static const char *signal_name(const char *rule)
{
	static const char *const names[][2] = {
		{ "latency", "request latency" },        { "guardrail", "guardrail failure rate" },
		{ "refusal", "refusal rate" },           { "errors", "5xx error rate" },
		{ "throttling", "429 throttling rate" }, { "cost", "spend" },
	};

	for (size_t i = 0; rule && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(rule, names[i][0]) == 0)
			return names[i][1];
	return "the rule's signal";
}

/* ---- the timeline ----------------------------------------------------------------------- */

struct line {
	int64_t time; /* TL_INC_NO_TIME sorts first */
	size_t order;
	char text[1024];
};

struct timeline {
	struct line *lines;
	size_t n, cap;
};

static void add(struct timeline *tl, int64_t time, const char *fmt, ...) TL_PRINTF(3, 4);

static void add(struct timeline *tl, int64_t time, const char *fmt, ...)
{
	va_list ap;

	if (tl->n == tl->cap) {
		size_t cap = tl->cap ? tl->cap * 2 : 32;
		struct line *l = realloc(tl->lines, cap * sizeof(*l));

		if (!l)
			return; /* the caller checks tl->n against what it added */
		tl->lines = l;
		tl->cap = cap;
	}
	struct line *l = &tl->lines[tl->n];

	l->time = time;
	l->order = tl->n;
	va_start(ap, fmt);
	(void)vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	tl->n++;
}

static int cmp_lines(const void *a, const void *b)
{
	const struct line *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

static const char *type_name(uint8_t type)
{
	static const char *const names[] = { "Event", "Trigger", "Update", "Resolved" };

	return names[type <= TL_INC_RESOLVED ? type : 0];
}

/* The action of @ev in words: "rollback (model_version 2024-08-06): reason". */
static void action_text(const struct tl_inc_event *ev, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s%s%s%s%s%s", or_q(ev->action_kind),
		       ev->action_target ? " to " : "", ev->action_target ? ev->action_target : "",
		       ev->action_reason ? " (" : "", ev->action_reason ? ev->action_reason : "",
		       ev->action_reason ? ")" : "");
}

static void build_timeline(const struct tl_inc_event *evs, size_t n, struct timeline *tl)
{
	char a[TL_INC_DURATION_LEN + 1], o[64], b[64], t[64], act[700];
	const char *last_action = NULL;
	bool window = false;

	/* recent changes: every event of an incident lists the same ones; take each once */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < evs[i].n_changes; k++) {
			bool dup = false;

			for (size_t p = 0; p < i && !dup; p++)
				for (size_t q = 0; q < evs[p].n_changes && !dup; q++)
					dup = evs[p].changes[q].time_ns ==
						  evs[i].changes[k].time_ns &&
					      strcmp(evs[p].changes[q].text,
						     evs[i].changes[k].text) == 0;
			if (!dup)
				add(tl, evs[i].changes[k].time_ns, "Change: %s",
				    evs[i].changes[k].text);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct tl_inc_event *ev = &evs[i];
		char sev[16] = "";
		int64_t at = ev->time_ns;

		if (ev->severity >= 0)
			(void)snprintf(sev, sizeof(sev), "Sev%d", ev->severity);
		fmt_value(ev->observed, ev->unit, o, sizeof(o));
		fmt_value(ev->baseline, ev->unit, b, sizeof(b));
		fmt_value(ev->threshold, ev->unit, t, sizeof(t));
		if (ev->type == TL_INC_TRIGGER) {
			at = ev->fired_at != TL_INC_NO_TIME ? ev->fired_at : at;
			if (!window && ev->window_start != TL_INC_NO_TIME) {
				add(tl, ev->window_start,
				    "Detection window starts (the observation that fired covers "
				    "from here to %s)",
				    ev->window_end != TL_INC_NO_TIME ? fmt_time(ev->window_end, act)
								     : "?");
				window = true;
			}
			add(tl, at, "**Trigger** %s%s%s: observed %s, baseline %s, threshold %s",
			    sev, sev[0] ? " " : "", or_q(ev->rule), o, b, t);
		} else if (ev->type == TL_INC_UPDATE) {
			at = ev->updated_at != TL_INC_NO_TIME ? ev->updated_at : at;
			add(tl, at, "Update%s%s: still firing, observed %s, baseline %s",
			    sev[0] ? " " : "", sev, o, b);
		} else if (ev->type == TL_INC_RESOLVED) {
			/* at its journal time, when it was announced: after the hold period
			 * that confirmed the recovery, so updates sent meanwhile come first */
			int64_t rec = ev->resolved_at != TL_INC_NO_TIME ? ev->resolved_at : at;
			char when[TL_TIME_TEXT_LEN + 32] = "";

			if (rec != at)
				(void)snprintf(when, sizeof(when), " (recovered at %s)",
					       fmt_time(rec, act));
			add(tl, at, "**Resolved**%s%s%s: observed %s, baseline %s", when,
			    ev->fired_at != TL_INC_NO_TIME ? " after " : "",
			    ev->fired_at != TL_INC_NO_TIME ? tl_inc_duration(rec - ev->fired_at, a)
							   : "",
			    o, b);
		} else {
			add(tl, at, "Event: %s", ev->raw);
		}
		/* the recommended action, when the trigger gives one or it changes */
		if (ev->action_kind && ev->type != TL_INC_RESOLVED &&
		    (!last_action || strcmp(last_action, ev->action_kind) != 0)) {
			action_text(ev, act, sizeof(act));
			add(tl, at, "Recommended action: %s", act);
			last_action = ev->action_kind;
		}
	}
	if (tl->n > 1)
		qsort(tl->lines, tl->n, sizeof(*tl->lines), cmp_lines);
}

/* ---- the draft -------------------------------------------------------------------------- */

struct facts {
	const char *id, *out_dir, *config_path;
	const struct tl_inc_event *first; /* the trigger event, or the first event */
	const struct tl_inc_event *resolved;
	const struct tl_inc_event *impact; /* the latest event with an impact object */
	const struct tl_inc_event *peak;   /* the event with the highest observation */
	int64_t fired, last;
	int highest;
	const char *rule, *resource, *deployment, *model, *model_version, *unit;
	const char *owner;                     /* from the events */
	const char *cfg_owner;                 /* from the config's deployment */
	const char *commander, *cfg_commander; /* incident_commander: the same */
	const char *comms, *cfg_comms;         /* comms_owner: the same */
};

static const char *first_str(const struct tl_inc_event *evs, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = *(char *const *)((const char *)&evs[i] + off);

		if (s)
			return s;
	}
	return NULL;
}

static void gather(const struct tl_inc_event *evs, size_t n, struct facts *f)
{
	f->first = &evs[0];
	for (size_t i = 0; i < n; i++)
		if (evs[i].type == TL_INC_TRIGGER) {
			f->first = &evs[i];
			break;
		}
	f->fired = TL_INC_NO_TIME;
	f->last = TL_INC_NO_TIME;
	f->highest = -1;
	for (size_t i = 0; i < n; i++) {
		const struct tl_inc_event *ev = &evs[i];

		if (ev->fired_at != TL_INC_NO_TIME &&
		    (f->fired == TL_INC_NO_TIME || ev->fired_at < f->fired))
			f->fired = ev->fired_at;
		if (ev->time_ns > f->last)
			f->last = ev->time_ns;
		if (ev->severity >= 0 && (f->highest < 0 || ev->severity < f->highest))
			f->highest = ev->severity;
		/* the latest event decides whether it is resolved */
		f->resolved = ev->type == TL_INC_RESOLVED ? ev : NULL;
		if (ev->has_impact)
			f->impact = ev;
		if (!isnan(ev->observed) && (!f->peak || ev->observed > f->peak->observed))
			f->peak = ev;
		if (ev->owner)
			f->owner = ev->owner;
		if (ev->incident_commander)
			f->commander = ev->incident_commander;
		if (ev->comms_owner)
			f->comms = ev->comms_owner;
	}
#define FIRST(field) first_str(evs, n, offsetof(struct tl_inc_event, field))
	f->rule = f->first->rule ? f->first->rule : FIRST(rule);
	f->resource = f->first->resource ? f->first->resource : FIRST(resource);
	f->deployment = f->first->deployment ? f->first->deployment : FIRST(deployment);
	f->model = f->first->model ? f->first->model : FIRST(model);
	f->model_version = f->first->model_version ? f->first->model_version : FIRST(model_version);
	f->unit = f->first->unit ? f->first->unit : FIRST(unit);
#undef FIRST
}

static void print_summary(FILE *o, const struct facts *f)
{
	const struct tl_inc_event *t = f->first;
	char a[TL_TIME_TEXT_LEN + 1], d[TL_INC_DURATION_LEN + 1];

	fprintf(o, "# Postmortem (draft): %s on ", or_q(f->rule));
	md(o, or_q(f->resource));
	fputc('/', o);
	md(o, or_q(f->deployment));
	fprintf(o,
		"\n\n> Draft written by `tripline postmortem` from the incident journal in "
		"`%s/%s`.\n> Times are event times in UTC. Replace every TBD before the "
		"review.\n\n",
		f->out_dir, TL_JOURNAL_SUBDIR);
	fputs("## Summary\n\n| | |\n|---|---|\n", o);
	fprintf(o, "| Incident | `%s` |\n", f->id);
	fprintf(o, "| Rule | %s (%s) |\n", or_q(f->rule), signal_name(f->rule));
	fputs("| Resource | ", o);
	md(o, or_q(f->resource));
	fputs(" |\n| Deployment | ", o);
	md(o, or_q(f->deployment));
	fputs(" |\n", o);
	if (f->model) {
		fputs("| Model | ", o);
		md(o, f->model);
		if (f->model_version) {
			fputs(" version ", o);
			md(o, f->model_version);
		}
		fputs(" |\n", o);
	}
	if (t->severity >= 0 && f->highest >= 0 && f->highest != t->severity)
		fprintf(o, "| Severity | Sev%d at the trigger, Sev%d at its highest |\n",
			t->severity, f->highest);
	else if (f->highest >= 0)
		fprintf(o, "| Severity | Sev%d |\n", f->highest);
	else
		fputs("| Severity | not recorded |\n", o);
	fprintf(o, "| Fired | %s |\n", fmt_time(f->fired, a));
	if (f->resolved) {
		int64_t r = f->resolved->resolved_at != TL_INC_NO_TIME ? f->resolved->resolved_at
								       : f->resolved->time_ns;

		fprintf(o, "| Resolved | %s |\n", fmt_time(r, a));
		if (f->fired != TL_INC_NO_TIME)
			fprintf(o, "| Duration | %s |\n", tl_inc_duration(r - f->fired, d));
	} else {
		fprintf(o,
			"| Resolved | not resolved: still firing at its latest journal event, "
			"%s |\n",
			fmt_time(f->last, a));
		if (f->fired != TL_INC_NO_TIME && f->last != TL_INC_NO_TIME)
			fprintf(o, "| Duration | at least %s |\n",
				tl_inc_duration(f->last - f->fired, d));
	}
	if (f->owner || f->cfg_owner) {
		fputs("| Owner | ", o);
		md(o, f->owner ? f->owner : f->cfg_owner);
		fputs(" |\n", o);
	}
	fputs("\nWhat happened, in two or three sentences: TBD.\n\n", o);
}

static void print_impact(FILE *o, const struct facts *f)
{
	static const char *const labels[TL_IMPACT_N] = {
		"Requests", "5xx errors", "Guardrail failures", "Refusals", "Cost", "429 throttled",
	};
	const struct tl_inc_event *t = f->first;
	char v[3][64], a[TL_TIME_TEXT_LEN + 1];

	fputs("## Impact\n\n", o);
	fprintf(o, "- Observed %s: %s at the trigger, against a baseline of %s (threshold %s)",
		signal_name(f->rule), fmt_value(t->observed, f->unit, v[0], sizeof(v[0])),
		fmt_value(t->baseline, f->unit, v[1], sizeof(v[1])),
		fmt_value(t->threshold, f->unit, v[2], sizeof(v[2])));
	if (f->peak && f->peak != t && f->peak->observed > t->observed)
		fprintf(o, "; peak %s at %s",
			fmt_value(f->peak->observed, f->unit, v[0], sizeof(v[0])),
			fmt_time(f->peak->time_ns, a));
	fputs(".\n", o);
	for (int i = 0; i < TL_IMPACT_N; i++) {
		double x = f->impact ? f->impact->impact[i] : NAN;

		if (isnan(x))
			fprintf(o, "- %s: not recorded\n", labels[i]);
		else if (i == TL_IMPACT_COST_USD)
			fprintf(o, "- %s: $%.2f\n", labels[i], x);
		else
			fprintf(o, "- %s: %.0f\n", labels[i], x);
	}
	if (f->impact)
		fprintf(o,
			"\nCounts since the incident fired, from the `impact` of the %s event at "
			"%s.\n",
			type_name(f->impact->type), fmt_time(f->impact->time_ns, a));
	else
		fputs("\nThe journal's events of this incident carry no `impact` object.\n", o);
	fputs("\nUsers and customers affected: TBD.\n\n", o);
}

static void print_timeline(FILE *o, const struct tl_inc_event *evs, size_t n, const struct facts *f)
{
	struct timeline tl = { 0 };
	char a[TL_TIME_TEXT_LEN + 1], d[TL_INC_DURATION_LEN + 1];
	const struct tl_inc_event *t = f->first;

	build_timeline(evs, n, &tl);
	fputs("## Timeline\n\n| Time (UTC) | Event |\n|---|---|\n", o);
	for (size_t i = 0; i < tl.n; i++) {
		fprintf(o, "| %s | ",
			tl.lines[i].time == TL_INC_NO_TIME ? "?" : fmt_time(tl.lines[i].time, a));
		md(o, tl.lines[i].text);
		fputs(" |\n", o);
	}
	if (t->changes_omitted > 0)
		fprintf(o, "\n%lld older changes in the lookback window are not listed.\n",
			(long long)t->changes_omitted);
	fputc('\n', o);
	if (t->fired_at != TL_INC_NO_TIME && t->window_start != TL_INC_NO_TIME)
		fprintf(o, "- Time to detect: %s (fired_at - window_start of the trigger)\n",
			tl_inc_duration(t->fired_at - t->window_start, d));
	else
		fputs("- Time to detect: not recorded\n", o);
	if (f->resolved && f->resolved->resolved_at != TL_INC_NO_TIME && f->fired != TL_INC_NO_TIME)
		fprintf(o, "- Time to recover: %s (resolved_at - fired_at)\n",
			tl_inc_duration(f->resolved->resolved_at - f->fired, d));
	else
		fputs("- Time to recover: not resolved in the journal\n", o);
	fputs("- When and how responders were engaged: TBD\n\n", o);
	free(tl.lines);
}

static void print_evidence(FILE *o, const struct tl_inc_event *evs, size_t n, const struct facts *f)
{
	size_t dl = strlen(f->out_dir);
	bool any = false;

	fputs("## Evidence\n\n", o);
	for (size_t i = 0; i < n; i++) {
		const char *s = evs[i].snapshot;
		bool dup = false;

		for (size_t p = 0; p < i && s && !dup; p++)
			dup = evs[p].snapshot && strcmp(evs[p].snapshot, s) == 0;
		if (!s || dup)
			continue;
		/* tripline names snapshots relative to the output directory */
		bool rel = s[0] != '/' && !(strncmp(s, f->out_dir, dl) == 0 && s[dl] == '/');

		fprintf(o,
			"- Evidence snapshot (%s event): `%s%s%s`; replay it with\n"
			"  `tripline replay %s%s%s`\n",
			type_name(evs[i].type), rel ? f->out_dir : "", rel ? "/" : "", s,
			rel ? f->out_dir : "", rel ? "/" : "", s);
		any = true;
	}
	if (!any)
		fputs("- No evidence snapshot is recorded for this incident.\n", o);
	fprintf(o, "- The incident's journal events: `tripline incidents show %s --out %s`\n\n",
		f->id, f->out_dir);
}

/* One row of the owners table: who the events name (@ev), else the config (@cfg), else TBD. */
static void print_role(FILE *o, const struct facts *f, const char *role, const char *ev,
		       const char *cfg)
{
	fprintf(o, "| %s | ", role);
	if (ev) {
		md(o, ev);
		fputs(" (from the trigger event)", o);
		if (cfg && strcmp(cfg, ev) != 0) {
			fputs("; the config now names ", o);
			md(o, cfg);
		}
	} else if (cfg) {
		md(o, cfg);
		fprintf(o, " (from %s)", f->config_path);
	} else {
		fputs("TBD", o);
	}
	fputs(" |\n", o);
}

static void print_owners(FILE *o, const struct facts *f)
{
	const char *owner = f->owner ? f->owner : f->cfg_owner;
	const char *comms = f->comms ? f->comms : f->cfg_comms;
	const struct tl_inc_event *t = f->first;
	char act[700];

	fputs("## Owners\n\n| Role | Who |\n|---|---|\n", o);
	print_role(o, f, "Service owner (paged)", f->owner, f->cfg_owner);
	print_role(o, f, "Incident commander", f->commander, f->cfg_commander);
	print_role(o, f, "Communications", f->comms, f->cfg_comms);
	fputc('\n', o);

	fputs("## Remediation\n\n", o);
	if (t->action_kind) {
		action_text(t, act, sizeof(act));
		fputs("- [ ] Confirm the recommended action was taken, or record why not: ", o);
		md(o, act);
		fputs(" (owner: ", o);
		md(o, owner ? owner : "TBD");
		fputs(")\n", o);
	}
	fprintf(o, "- [ ] Find the root cause of the %s regression (owner: ", signal_name(f->rule));
	md(o, owner ? owner : "TBD");
	fputs(")\n", o);
	fprintf(o,
		"- [ ] Check the %s rule's thresholds against this incident: replay the "
		"evidence with other settings (owner: TBD)\n"
		"- [ ] Add a test, a guard or a rollout check that would have prevented it "
		"(owner: TBD)\n"
		"- [ ] Update the runbook with what responders needed and did not have "
		"(owner: TBD)\n"
		"- [ ] Tell the affected teams and customers what happened (owner: ",
		or_q(f->rule));
	md(o, comms ? comms : "TBD");
	fputs(")\n", o);
}

/* The rules the config gives @deployment (its own, else the common ones). */
static const struct tl_rules *config_rules(const struct tl_config *cfg, const char *deployment)
{
	for (size_t i = 0; deployment && i < cfg->n_deployments; i++)
		if (strcasecmp(cfg->deployments[i].name, deployment) == 0)
			return &cfg->deployments[i].rules;
	return &cfg->rules;
}

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

int tl_cmd_postmortem(int argc, char **argv)
{
	const char *out_dir = "tripline-out", *config_path = NULL;
	bool help = false;
	const struct tl_opt opts[] = {
		{ "out", true, &out_dir, NULL },
		{ "config", true, &config_path, NULL },
		{ "help", false, NULL, &help },
	};
	struct tl_inc_event *evs = NULL;
	struct tl_config cfg;
	struct facts f = { 0 };
	char cfg_err[512];
	size_t n = 0;
	int npos, r, status = TL_EXIT_OK;

	if (tl_opts_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), "postmortem", &npos) <
	    0)
		return TL_EXIT_USAGE;
	if (help) {
		fputs(postmortem_usage, stdout);
		return TL_EXIT_OK;
	}
	if (npos != 1) {
		tl_err("postmortem: %s (see 'tripline postmortem --help')",
		       npos ? "one incident ID, please" : "no incident ID given");
		return TL_EXIT_USAGE;
	}
	if (config_path) {
		r = tl_config_load(config_path, &cfg, cfg_err, sizeof(cfg_err));
		if (r < 0) {
			tl_err("%s", cfg_err);
			tl_config_free(&cfg);
			return r == TL_ECONFIG ? TL_EXIT_USAGE : TL_EXIT_IO;
		}
	}
	r = tl_incident_load(out_dir, argv[0], &evs, &n);
	if (r == -ENOENT) {
		tl_inc_journal_missing("postmortem", out_dir);
		status = TL_EXIT_IO;
		goto out_free;
	}
	if (r != 0) {
		status = TL_EXIT_IO;
		goto out_free;
	}
	if (n == 0) {
		tl_err("postmortem: no incident '%s' in %s/%s (see 'tripline incidents list')",
		       argv[0], out_dir, TL_JOURNAL_SUBDIR);
		status = TL_EXIT_IO;
		goto out_free;
	}
	f.id = argv[0];
	f.out_dir = out_dir;
	f.config_path = config_path;
	gather(evs, n, &f);
	if (config_path) {
		const struct tl_rules *cr = config_rules(&cfg, f.deployment);

		f.cfg_owner = or_null(cr->owner);
		f.cfg_commander = or_null(cr->incident_commander);
		f.cfg_comms = or_null(cr->comms_owner);
	}
	print_summary(stdout, &f);
	print_impact(stdout, &f);
	print_timeline(stdout, evs, n, &f);
	print_evidence(stdout, evs, n, &f);
	print_owners(stdout, &f);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		tl_err("postmortem: cannot write to stdout");
		status = TL_EXIT_IO;
	}
out_free:
	tl_incident_free(evs, n);
	if (config_path)
		tl_config_free(&cfg);
	return status;
}
