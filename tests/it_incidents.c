/*
 * tests/it_incidents.c - `tripline incidents list|show` and `tripline postmortem` as a user
 * runs them, on a journal the test writes with the journal API: three incidents (one with
 * changes, an action, a snapshot, an owner and an impact; one still firing, with an incident
 * commander and a comms owner but no owner; one bare) and a
 * record that is not JSON. What a user checks: ids, times, durations, the timeline's order,
 * owners, and that the same journal gives the same output.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/journal.h>
#include <tripline/time.h>

#include "files.h"

#ifndef TL_TRIPLINE
#error "TL_TRIPLINE must name the tripline binary"
#endif

static char dir[] = "/tmp/tl-it-incidents-XXXXXX";

#define DAY "2026-03-09T"
#define A   "tl-00000000000000a1"
#define B   "tl-00000000000000b2"
#define C   "tl-00000000000000c3"

/* the events, as tl_trigger_json() and the annotations write them */
#define A_SERIES                                                                          \
	"\"rule\":\"latency\",\"severity\":\"Sev%d\",\"resource\":\"AOAI-FABRIKAM-WEU\"," \
	"\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\",\"model_version\":\"2024-11-20\""
#define A_CHANGES                                                                            \
	"\"recent_changes\":[{\"time\":\"" DAY "07:02:00.000Z\",\"kind\":\"model_version\"," \
	"\"from\":\"2024-08-06\",\"to\":\"2024-11-20\"}],\"action\":{\"kind\":\"rollback\"," \
	"\"target\":{\"model_version\":\"2024-08-06\"},\"reason\":\"p95 | 2.8x baseline "    \
	"since the model_version change\"},\"owner\":\"assist-oncall\""

static const char *const ev_a1 =
    "{\"type\":\"trigger\",\"incident_id\":\"" A "\",\"rule\":\"latency\",\"severity\":\"Sev2\","
    "\"resource\":\"AOAI-FABRIKAM-WEU\",\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"fired_at\":\"" DAY "07:15:00.000Z\",\"window_start\":\"" DAY
    "07:10:00.000Z\",\"window_end\":\"" DAY "07:15:00.000Z\",\"observed\":2310,\"baseline\":820,"
    "\"threshold\":1640,\"unit\":\"ms\"," A_CHANGES ",\"snapshot\":\"snapshots/" A ".ndjson.zst\"}";
static const char *const ev_a2 =
    "{\"type\":\"update\",\"incident_id\":\"" A "\",\"rule\":\"latency\",\"severity\":\"Sev1\","
    "\"resource\":\"AOAI-FABRIKAM-WEU\",\"deployment\":\"support-gpt4o\",\"fired_at\":\"" DAY
    "07:15:00.000Z\",\"updated_at\":\"" DAY "07:45:00.000Z\",\"window_start\":\"" DAY
    "07:40:00.000Z\",\"window_end\":\"" DAY "07:45:00.000Z\",\"observed\":3400,\"baseline\":820,"
    "\"threshold\":1640,\"unit\":\"ms\"," A_CHANGES "}";
static const char *const ev_a3 =
    "{\"type\":\"resolved\",\"incident_id\":\"" A "\",\"rule\":\"latency\",\"severity\":\"Sev1\","
    "\"resource\":\"AOAI-FABRIKAM-WEU\",\"deployment\":\"support-gpt4o\",\"fired_at\":\"" DAY
    "07:15:00.000Z\",\"window_start\":\"" DAY "08:15:30.000Z\",\"window_end\":\"" DAY
    "08:20:30.000Z\",\"observed\":900,\"baseline\":820,\"threshold\":1640,\"unit\":\"ms\","
    "\"resolved_at\":\"" DAY "08:20:30.000Z\",\"duration_s\":3930," A_CHANGES
    ",\"impact\":{\"requests\":12000,\"errors_5xx\":42,\"guardrail_failed\":3,\"refusals\":7,"
    "\"cost_usd\":18.5}}";
static const char *const ev_b1 =
    "{\"type\":\"trigger\",\"incident_id\":\"" B "\",\"rule\":\"errors\",\"severity\":\"Sev3\","
    "\"resource\":\"AOAI-CONTOSO-EUS\",\"deployment\":\"chat-mini\",\"fired_at\":\"" DAY
    "07:30:00.000Z\",\"window_start\":\"" DAY "07:25:00.000Z\",\"window_end\":\"" DAY
    "07:30:00.000Z\",\"observed\":0.08,\"baseline\":null,\"threshold\":0.05,\"unit\":\"ratio\","
    "\"recent_changes\":[],\"action\":{\"kind\":\"investigate\",\"reason\":\"5xx above 5%\"},"
    "\"incident_commander\":\"ic-dana\",\"comms_owner\":\"comms-eli\"}";
static const char *const ev_b2 =
    "{\"type\":\"update\",\"incident_id\":\"" B "\",\"rule\":\"errors\",\"severity\":\"Sev3\","
    "\"resource\":\"AOAI-CONTOSO-EUS\",\"deployment\":\"chat-mini\",\"fired_at\":\"" DAY
    "07:30:00.000Z\",\"updated_at\":\"" DAY "08:00:00.000Z\",\"window_start\":\"" DAY
    "07:55:00.000Z\",\"window_end\":\"" DAY "08:00:00.000Z\",\"observed\":0.07,"
    "\"baseline\":null,\"threshold\":0.05,\"unit\":\"ratio\",\"recent_changes\":[],"
    "\"action\":{\"kind\":\"investigate\",\"reason\":\"5xx above 5%\"},"
    "\"incident_commander\":\"ic-dana\",\"comms_owner\":\"comms-eli\"}";
static const char *const ev_c1 =
    "{\"type\":\"trigger\",\"incident_id\":\"" C "\",\"rule\":\"guardrail\",\"severity\":\"Sev3\","
    "\"resource\":\"AOAI-FABRIKAM-WEU\",\"deployment\":\"support-gpt4o\",\"fired_at\":\"" DAY
    "06:50:00.000Z\",\"window_start\":\"" DAY "06:45:00.000Z\",\"window_end\":\"" DAY
    "06:50:00.000Z\",\"observed\":0.02,\"baseline\":0.001,\"threshold\":0.01,\"unit\":\"ratio\"}";
static const char *const ev_c2 =
    "{\"type\":\"resolved\",\"incident_id\":\"" C "\",\"rule\":\"guardrail\",\"severity\":\"Sev3\","
    "\"resource\":\"AOAI-FABRIKAM-WEU\",\"deployment\":\"support-gpt4o\",\"fired_at\":\"" DAY
    "06:50:00.000Z\",\"window_start\":\"" DAY "06:50:00.000Z\",\"window_end\":\"" DAY
    "06:55:00.000Z\",\"observed\":0.001,\"baseline\":0.001,\"threshold\":0.01,\"unit\":\"ratio\","
    "\"resolved_at\":\"" DAY "06:55:00.000Z\",\"duration_s\":300}";

static int64_t at(const char *hms)
{
	char text[64];
	int64_t ns;

	(void)snprintf(text, sizeof(text), DAY "%s.000Z", hms);
	cr_assert(eq(int, tl_time_parse(text, strlen(text), &ns), 0));
	return ns;
}

static void add(struct tl_journal *j, const char *hms, const char *json)
{
	char line[4096];
	int n = snprintf(line, sizeof(line), "%s\n", json); /* as replay has it: a line */

	cr_assert(lt(int, n, (int)sizeof(line)));
	cr_assert(eq(int, tl_journal_append(j, at(hms), line, (size_t)n), 0));
}

static void setup(void)
{
	struct tl_journal *j = NULL;
	char jdir[512], err[512] = "";

	cr_assert(ne(ptr, mkdtemp(dir), NULL));
	(void)snprintf(jdir, sizeof(jdir), "%s/out/%s", dir, TL_JOURNAL_SUBDIR);
	cr_assert(eq(int, tl_journal_open(jdir, NULL, err, sizeof(err), &j), 0), "%s", err);
	add(j, "06:50:00", ev_c1);
	add(j, "06:55:00", ev_c2);
	add(j, "07:15:00", ev_a1);
	add(j, "07:20:00", "this record is not JSON");
	add(j, "07:30:00", ev_b1);
	add(j, "07:45:00", ev_a2);
	add(j, "08:00:00", ev_b2);
	add(j, "08:25:30", ev_a3); /* announced after a 5-minute hold */
	cr_assert(eq(int, tl_journal_close(j), 0));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(incidents, .init = setup, .fini = teardown, .timeout = 120);

/* Run tripline with @args; stdout and stderr land in @name.out and @name.err. */
static int run(const char *name, const char *args)
{
	char a[4096];

	(void)snprintf(a, sizeof(a), "%s 2>%s.err >%s.out", args, name, name);
	return th_run(dir, TL_TRIPLINE, a);
}

static char *slurp(const char *name, const char *ext)
{
	char rel[256];
	char *s;

	(void)snprintf(rel, sizeof(rel), "%s.%s", name, ext);
	s = th_slurp(dir, rel, 1, NULL);
	cr_assert(ne(ptr, s, NULL), "no %s", rel);
	return s;
}

/* The line of @text that contains @what. */
static char *line_with(const char *text, const char *what)
{
	const char *p = strstr(text, what), *b, *e;
	char *line;

	cr_assert(ne(ptr, (void *)p, NULL), "no '%s' in:\n%s", what, text);
	for (b = p; b > text && b[-1] != '\n'; b--)
		;
	e = strchr(p, '\n');
	if (!e)
		e = p + strlen(p);
	line = calloc(1, (size_t)(e - b) + 1);
	memcpy(line, b, (size_t)(e - b));
	return line;
}

static void has(const char *text, const char *what)
{
	cr_assert(ne(ptr, strstr(text, what), NULL), "no '%s' in:\n%s", what, text);
}

/* @what appear in @text in this order; NULL ends the list. */
static void in_order(const char *text, ...)
{
	va_list ap;
	const char *from = text, *what;

	va_start(ap, text);
	while ((what = va_arg(ap, const char *)) != NULL) {
		const char *p = strstr(from, what);

		cr_assert(ne(ptr, (void *)p, NULL), "no '%s' after the earlier ones in:\n%s", what,
			  text);
		from = p + strlen(what);
	}
	va_end(ap);
}

static void row_has(const char *row, const char *const *cells)
{
	for (; *cells; cells++)
		cr_assert(ne(ptr, strstr(row, *cells), NULL), "no '%s' in row:\n%s", *cells, row);
}

Test(incidents, list_has_one_row_per_incident_oldest_first)
{
	cr_assert(eq(int, run("list", "incidents list --out out"), 0));
	char *out = slurp("list", "out"), *err = slurp("list", "err");
	char *ra = line_with(out, A), *rb = line_with(out, B), *rc = line_with(out, C);
	const char *const a[] = { "latency",
				  "AOAI-FABRIKAM-WEU/support-gpt4o",
				  "Sev1",
				  DAY "07:15:00.000Z",
				  DAY "08:20:30.000Z",
				  "1h05m30s",
				  NULL };
	const char *const b[] = { "errors", "AOAI-CONTOSO-EUS/chat-mini",
				  "Sev3",   DAY "07:30:00.000Z",
				  "firing", "30m00s+",
				  NULL };
	const char *const c[] = { "guardrail",         "Sev3",  DAY "06:50:00.000Z",
				  DAY "06:55:00.000Z", "5m00s", NULL };

	in_order(out, "id", "rule", "series", "severity", "fired", "resolved", "duration", C, A, B,
		 NULL);
	row_has(ra, a);
	row_has(rb, b);
	row_has(rc, c);
	/* the header and three rows */
	int lines = 0;

	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	cr_assert(eq(int, lines, 4), "%s", out);
	/* the record that is not JSON is named on stderr, by file and offset */
	has(err, "out/journal/0000000000000001.tlj': offset ");
	has(err, "not JSON");
	free(ra);
	free(rb);
	free(rc);
	free(out);
	free(err);
}

Test(incidents, show_prints_every_event_of_one_incident_in_order)
{
	char want[16384];

	cr_assert(eq(int, run("show", "incidents show " A " --out out"), 0));
	char *out = slurp("show", "out");

	(void)snprintf(want, sizeof(want),
		       "{\"incident_id\":\"%s\",\"events\":[\n%s,\n%s,\n%s\n]}\n", A, ev_a1, ev_a2,
		       ev_a3);
	cr_assert(eq(str, out, want));
	free(out);
}

Test(incidents, show_of_an_unknown_id_is_an_error_naming_the_journal)
{
	cr_assert(eq(int, run("show", "incidents show tl-nope --out out"), 1));
	char *out = slurp("show", "out"), *err = slurp("show", "err");

	cr_assert(eq(str, out, ""));
	has(err, "no incident 'tl-nope' in out/journal");
	free(out);
	free(err);
}

Test(incidents, without_a_journal_list_and_show_say_so)
{
	cr_assert(eq(int, run("list", "incidents list --out elsewhere"), 1));
	char *err = slurp("list", "err");

	has(err, "no journal in 'elsewhere/journal'");
	free(err);
	cr_assert(eq(int, run("show", "incidents show " A " --out elsewhere"), 1));
	cr_assert(eq(int, run("pm", "postmortem " A " --out elsewhere"), 1));
}

Test(incidents, usage_errors_exit_2_and_help_exits_0)
{
	cr_assert(eq(int, run("u", "incidents"), 2));
	cr_assert(eq(int, run("u", "incidents frobnicate"), 2));
	cr_assert(eq(int, run("u", "incidents show"), 2));
	cr_assert(eq(int, run("u", "incidents show a b"), 2));
	cr_assert(eq(int, run("u", "incidents list --bogus"), 2));
	cr_assert(eq(int, run("u", "postmortem"), 2));
	cr_assert(eq(int, run("h", "incidents --help"), 0));
	char *h = slurp("h", "out");

	has(h, "usage: tripline incidents list [--out DIR]");
	free(h);
	cr_assert(eq(int, run("h", "incidents list --help"), 0));
	h = slurp("h", "out");
	has(h, "'firing'");
	free(h);
	cr_assert(eq(int, run("h", "incidents show --help"), 0));
	h = slurp("h", "out");
	has(h, "{\"incident_id\":\"ID\",\"events\":[...]}");
	free(h);
	cr_assert(eq(int, run("h", "postmortem --help"), 0));
	h = slurp("h", "out");
	has(h, "usage: tripline postmortem ID [--out DIR] [--config F]");
	free(h);
	cr_assert(eq(int, run("h", "--help"), 0));
	h = slurp("h", "out");
	has(h, "incidents list|show ID");
	has(h, "postmortem ID");
	free(h);
}

Test(incidents, postmortem_has_summary_impact_timeline_evidence_and_owners)
{
	cr_assert(eq(int, run("pm", "postmortem " A " --out out"), 0));
	char *md = slurp("pm", "out");

	has(md, "# Postmortem (draft): latency on AOAI-FABRIKAM-WEU/support-gpt4o\n");
	has(md, "| Incident | `" A "` |");
	has(md, "| Model | gpt-4o version 2024-11-20 |");
	has(md, "| Severity | Sev2 at the trigger, Sev1 at its highest |");
	has(md, "| Fired | " DAY "07:15:00.000Z |");
	has(md, "| Resolved | " DAY "08:20:30.000Z |");
	has(md, "| Duration | 1h05m30s |");
	/* impact: observed against baseline, the peak, and the impact object's counts */
	has(md, "- Observed request latency: 2310 ms at the trigger, against a baseline of 820 ms "
		"(threshold 1640 ms); peak 3400 ms at " DAY "07:45:00.000Z.");
	has(md, "- Requests: 12000\n- 5xx errors: 42\n- Guardrail failures: 3\n- Refusals: 7\n"
		"- Cost: $18.50\n");
	has(md, "- Cost: $18.50\n- 429 throttled: not recorded\n");
	has(md, "Counts since the incident fired, from the `impact` of the Resolved event at " DAY
		"08:25:30.000Z");
	/* the timeline, in event time: change, window, trigger, action, update, resolution */
	in_order(
	    md, "## Timeline",
	    "| " DAY "07:02:00.000Z | Change: model_version changed from "
	    "2024-08-06 to 2024-11-20 |",
	    "| " DAY "07:10:00.000Z | Detection window starts",
	    "| " DAY "07:15:00.000Z | **Trigger** Sev2 latency: observed 2310 ms, baseline 820 ms, "
	    "threshold 1640 ms |",
	    "| " DAY "07:15:00.000Z | Recommended action: rollback to model_version 2024-08-06 "
	    "(p95 \\| 2.8x baseline since the model_version change) |",
	    "| " DAY "07:45:00.000Z | Update Sev1: still firing, observed 3400 ms",
	    "| " DAY "08:25:30.000Z | **Resolved** (recovered at " DAY
	    "08:20:30.000Z) after 1h05m30s: observed 900 ms",
	    NULL);
	has(md, "- Time to detect: 5m00s (fired_at - window_start of the trigger)");
	has(md, "- Time to recover: 1h05m30s (resolved_at - fired_at)");
	/* the change is listed once though every event carries it */
	cr_assert(eq(ptr, strstr(strstr(md, "Change: model_version") + 1, "Change: model_version"),
		     NULL));
	/* evidence */
	has(md, "`out/snapshots/" A ".ndjson.zst`");
	has(md, "`tripline replay out/snapshots/" A ".ndjson.zst`");
	has(md, "`tripline incidents show " A " --out out`");
	/* owners and remediation */
	has(md, "| Service owner (paged) | assist-oncall (from the trigger event) |");
	has(md, "| Incident commander | TBD |");
	has(md, "| Communications | TBD |");
	has(md, "- [ ] Confirm the recommended action was taken, or record why not: rollback to "
		"model_version 2024-08-06");
	has(md, "(owner: assist-oncall)\n");
	has(md, "(owner: TBD)\n");
	cr_assert(eq(str, md + strlen(md) - 5, "TBD)\n"), "the draft ends with its last item");

	/* deterministic: the same journal gives the same draft */
	cr_assert(eq(int, run("pm2", "postmortem " A " --out out"), 0));
	char *md2 = slurp("pm2", "out");

	cr_assert(eq(str, md, md2));
	free(md);
	free(md2);
}

Test(incidents, postmortem_of_a_bare_incident_takes_owners_from_the_config)
{
	char path[600];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/tripline.yaml", dir);
	f = fopen(path, "w");
	cr_assert(ne(ptr, f, NULL));
	fputs("deployments:\n  Support-GPT4o: {owner: fabrikam-oncall, incident_commander: "
	      "fabrikam-ic, comms_owner: fabrikam-comms}\n",
	      f);
	fclose(f);
	cr_assert(eq(int, run("pm", "postmortem " C " --out out --config tripline.yaml"), 0));
	char *md = slurp("pm", "out");

	has(md, "# Postmortem (draft): guardrail on AOAI-FABRIKAM-WEU/support-gpt4o\n");
	has(md, "| Severity | Sev3 |");
	has(md, "| Duration | 5m00s |");
	has(md, "- Requests: not recorded\n- 5xx errors: not recorded\n");
	has(md, "carry no `impact` object");
	has(md,
	    "- Observed guardrail failure rate: 2.00% at the trigger, against a baseline of 0.10% "
	    "(threshold 1.00%).");
	has(md, "No evidence snapshot is recorded for this incident.");
	has(md, "| Service owner (paged) | fabrikam-oncall (from tripline.yaml) |");
	has(md, "| Incident commander | fabrikam-ic (from tripline.yaml) |");
	has(md, "| Communications | fabrikam-comms (from tripline.yaml) |");
	has(md, "(owner: fabrikam-oncall)\n");
	has(md, "- [ ] Tell the affected teams and customers what happened (owner: "
		"fabrikam-comms)\n");
	free(md);
}

Test(incidents, postmortem_of_an_incident_still_firing_says_so)
{
	cr_assert(eq(int, run("pm", "postmortem " B " --out out"), 0));
	char *md = slurp("pm", "out");

	has(md, "| Resolved | not resolved: still firing at its latest journal event, " DAY
		"08:00:00.000Z |");
	has(md, "| Duration | at least 30m00s |");
	has(md, "- Time to recover: not resolved in the journal");
	has(md, "against a baseline of none");
	has(md, "| Service owner (paged) | TBD |");
	/* the incident commander and comms owner its events name */
	has(md, "| Incident commander | ic-dana (from the trigger event) |");
	has(md, "| Communications | comms-eli (from the trigger event) |");
	has(md, "- [ ] Tell the affected teams and customers what happened (owner: comms-eli)\n");
	has(md, "(owner: TBD)\n");
	free(md);

	/* a config that names someone else now says so */
	char path[600];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/tripline.yaml", dir);
	cr_assert(ne(ptr, f = fopen(path, "w"), NULL));
	fputs("deployments:\n  chat-mini: {incident_commander: ic-frank}\n", f);
	fclose(f);
	cr_assert(eq(int, run("pm", "postmortem " B " --out out --config tripline.yaml"), 0));
	md = slurp("pm", "out");
	has(md, "| Incident commander | ic-dana (from the trigger event); the config now names "
		"ic-frank |");
	has(md, "| Communications | comms-eli (from the trigger event) |");
	free(md);
}

Test(incidents, postmortem_with_a_bad_config_exits_2)
{
	char path[600];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	f = fopen(path, "w");
	cr_assert(ne(ptr, f, NULL));
	fputs("deployments:\n  x: {ownr: y}\n", f);
	fclose(f);
	cr_assert(eq(int, run("pm", "postmortem " A " --out out --config bad.yaml"), 2));
	char *err = slurp("pm", "err");

	has(err, "bad.yaml:2");
	free(err);
	cr_assert(eq(int, run("pm", "postmortem tl-nope --out out"), 1));
	err = slurp("pm", "err");
	has(err, "no incident 'tl-nope' in out/journal");
	free(err);
}
