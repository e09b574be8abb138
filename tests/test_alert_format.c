/*
 * tests/test_alert_format.c - trigger events as webhook bodies (tools/alert_format.c): for
 * real trigger, update and resolved lines (from `tripline gen --out day --seed 7` replayed,
 * the latency ones with tripline.example.yaml for the owner), every format's body is valid
 * JSON and carries the fields each receiver reads, with the right values. Bodies are read
 * back with the tree's JSON parser (ingest/json.h) through jget(); validity is checked by
 * the strict recognizer in json_check.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "alert_format.h"
#include "json.h"
#include "json_check.h"
#include "json_get.h"

static const char LAT_TRIGGER[] =
    "{\"type\":\"trigger\",\"incident_id\":\"tl-7ddc56d885b80a96\",\"rule\":\"latency\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"fired_at\":\"2025-11-04T14:05:00.000Z\","
    "\"window_start\":\"2025-11-04T14:00:00.000Z\","
    "\"window_end\":\"2025-11-04T14:05:00.000Z\",\"observed\":11808.273129,"
    "\"baseline\":3313.584611,\"threshold\":8283.961527,\"unit\":\"ms\","
    "\"recent_changes\":[{\"time\":\"2025-11-04T13:52:58.441Z\","
    "\"kind\":\"deployment_write\",\"operation\":\"Microsoft.CognitiveServices/accounts/"
    "deployments/write\",\"status\":\"Succeeded\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"rai_policy\":\"Microsoft.DefaultV2\"},"
    "{\"time\":\"2025-11-04T13:53:02.025Z\",\"kind\":\"model_version\","
    "\"from\":\"2024-08-06\",\"to\":\"2024-11-20\"}],\"action\":{\"kind\":\"rollback\","
    "\"target\":{\"model_version\":\"2024-08-06\"},\"reason\":\"latency "
    "regression began 6 min after model_version 2024-08-06 -> 2024-11-20; "
    "2024-08-06 ran 13h52m without incident\"},\"owner\":\"assist-oncall\","
    "\"snapshot\":\"snapshots/tl-7ddc56d885b80a96.ndjson.zst\"}\n";

static const char LAT_UPDATE[] =
    "{\"type\":\"update\",\"incident_id\":\"tl-7ddc56d885b80a96\",\"rule\":\"latency\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"fired_at\":\"2025-11-04T14:05:00.000Z\","
    "\"updated_at\":\"2025-11-04T14:35:00.000Z\","
    "\"window_start\":\"2025-11-04T14:30:00.000Z\","
    "\"window_end\":\"2025-11-04T14:35:00.000Z\",\"observed\":10932.981486,"
    "\"baseline\":3313.584611,\"threshold\":8283.961527,\"unit\":\"ms\","
    "\"impact\":{\"since\":\"fired_at\",\"requests\":1735,\"errors_5xx\":8,"
    "\"throttled_429\":25,\"guardrail_failed\":0,\"refusals\":0,\"cost_usd\":0.0},"
    "\"recent_changes\":[{\"time\":\"2025-11-04T13:52:58.441Z\","
    "\"kind\":\"deployment_write\",\"operation\":\"Microsoft.CognitiveServices/accounts/"
    "deployments/write\",\"status\":\"Succeeded\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"rai_policy\":\"Microsoft.DefaultV2\"},"
    "{\"time\":\"2025-11-04T13:53:02.025Z\",\"kind\":\"model_version\","
    "\"from\":\"2024-08-06\",\"to\":\"2024-11-20\"}],\"action\":{\"kind\":\"rollback\","
    "\"target\":{\"model_version\":\"2024-08-06\"},\"reason\":\"latency "
    "regression began 6 min after model_version 2024-08-06 -> 2024-11-20; "
    "2024-08-06 ran 13h52m without incident\"},\"owner\":\"assist-oncall\"}\n";

static const char LAT_RESOLVED[] =
    "{\"type\":\"resolved\",\"incident_id\":\"tl-7ddc56d885b80a96\",\"rule\":\"latency\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"support-gpt4o\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"fired_at\":\"2025-11-04T14:05:00.000Z\","
    "\"window_start\":\"2025-11-04T14:46:00.000Z\","
    "\"window_end\":\"2025-11-04T14:51:00.000Z\",\"observed\":3313.584611,"
    "\"baseline\":3313.584611,\"threshold\":8283.961527,\"unit\":\"ms\","
    "\"resolved_at\":\"2025-11-04T14:46:00.000Z\",\"duration_s\":2460,"
    "\"impact\":{\"since\":\"fired_at\",\"requests\":2694,\"errors_5xx\":12,"
    "\"throttled_429\":39,\"guardrail_failed\":0,\"refusals\":0,\"cost_usd\":0.0},"
    "\"recent_changes\":[{\"time\":\"2025-11-04T13:52:58.441Z\","
    "\"kind\":\"deployment_write\",\"operation\":\"Microsoft.CognitiveServices/accounts/"
    "deployments/write\",\"status\":\"Succeeded\",\"model\":\"gpt-4o\","
    "\"model_version\":\"2024-11-20\",\"rai_policy\":\"Microsoft.DefaultV2\"},"
    "{\"time\":\"2025-11-04T13:53:02.025Z\",\"kind\":\"model_version\","
    "\"from\":\"2024-08-06\",\"to\":\"2024-11-20\"}],\"action\":{\"kind\":\"rollback\","
    "\"target\":{\"model_version\":\"2024-08-06\"},\"reason\":\"latency "
    "regression began 6 min after model_version 2024-08-06 -> 2024-11-20; "
    "2024-08-06 ran 13h52m without incident\"},\"owner\":\"assist-oncall\"}\n";

static const char ERR_TRIGGER[] =
    "{\"type\":\"trigger\",\"incident_id\":\"tl-9528288db4f8e53a\",\"rule\":\"errors\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"embed-3-large\",\"model\":\"text-embedding-3-large\","
    "\"model_version\":\"1\",\"fired_at\":\"2025-11-04T09:11:00.000Z\","
    "\"window_start\":\"2025-11-04T09:06:00.000Z\","
    "\"window_end\":\"2025-11-04T09:11:00.000Z\",\"observed\":0.057416,\"baseline\":null,"
    "\"threshold\":0.05,\"unit\":\"ratio\",\"recent_changes\":[],"
    "\"action\":{\"kind\":\"investigate\",\"reason\":\"5xx responses in "
    "5.7 % of 209 requests over 5 min (threshold 5.0 %)\"},\"snapshot\":\"snapshots/"
    "tl-9528288db4f8e53a.ndjson.zst\"}\n";

static const char ERR_UPDATE[] =
    "{\"type\":\"update\",\"incident_id\":\"tl-9528288db4f8e53a\",\"rule\":\"errors\","
    "\"severity\":\"Sev1\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"embed-3-large\",\"model\":\"text-embedding-3-large\","
    "\"model_version\":\"1\",\"fired_at\":\"2025-11-04T09:11:00.000Z\","
    "\"updated_at\":\"2025-11-04T09:14:10.000Z\","
    "\"window_start\":\"2025-11-04T09:09:10.000Z\","
    "\"window_end\":\"2025-11-04T09:14:10.000Z\",\"observed\":0.20398,\"baseline\":null,"
    "\"threshold\":0.05,\"unit\":\"ratio\",\"impact\":{\"since\":\"fired_at\","
    "\"requests\":123,\"errors_5xx\":29,\"throttled_429\":0,\"guardrail_failed\":0,"
    "\"refusals\":0,\"cost_usd\":0.0},\"recent_changes\":[],"
    "\"action\":{\"kind\":\"investigate\",\"reason\":\"5xx responses in "
    "20.4 % of 201 requests over 5 min (threshold 5.0 %)\"}}\n";

static const char ERR_RESOLVED[] =
    "{\"type\":\"resolved\",\"incident_id\":\"tl-9528288db4f8e53a\",\"rule\":\"errors\","
    "\"severity\":\"Sev2\",\"resource\":\"AOAI-CONTOSO-EUS2\","
    "\"deployment\":\"embed-3-large\",\"model\":\"text-embedding-3-large\","
    "\"model_version\":\"1\",\"fired_at\":\"2025-11-04T09:11:00.000Z\","
    "\"window_start\":\"2025-11-04T09:34:10.000Z\","
    "\"window_end\":\"2025-11-04T09:39:10.000Z\",\"observed\":0.0,\"baseline\":null,"
    "\"threshold\":0.05,\"unit\":\"ratio\",\"resolved_at\":\"2025-11-04T09:34:10.000Z\","
    "\"duration_s\":1390,\"impact\":{\"since\":\"fired_at\",\"requests\":1181,"
    "\"errors_5xx\":228,\"throttled_429\":15,\"guardrail_failed\":0,\"refusals\":0,"
    "\"cost_usd\":0.0},\"recent_changes\":[],\"action\":{\"kind\":\"investigate\","
    "\"reason\":\"5xx responses in 0.0 % of 210 requests over 5 min (threshold "
    "5.0 %)\"}}\n";

static const char COST_TRIGGER[] =
    "{\"type\":\"trigger\",\"incident_id\":\"tl-19bb9e8a332497f2\",\"rule\":\"cost\","
    "\"severity\":\"Sev3\",\"resource\":\"APIM-CONTOSO-AIGW\","
    "\"deployment\":\"chat-gpt4o\",\"model\":\"gpt-4o\",\"model_version\":\"2024-11-20\","
    "\"fired_at\":\"2025-11-04T22:07:00.000Z\","
    "\"window_start\":\"2025-11-04T00:00:00.000Z\","
    "\"window_end\":\"2025-11-04T22:07:00.000Z\",\"observed\":196.433905,"
    "\"baseline\":516.370452,\"threshold\":500.0,\"unit\":\"usd\",\"recent_changes\":[],"
    "\"action\":{\"kind\":\"throttle\",\"reason\":\"on course for 516.37 "
    "USD today at the last 15 minutes' rate (budget 500.00 USD)\"},"
    "\"snapshot\":\"snapshots/tl-19bb9e8a332497f2.ndjson.zst\"}\n";

static const char COST_RESOLVED[] =
    "{\"type\":\"resolved\",\"incident_id\":\"tl-19bb9e8a332497f2\",\"rule\":\"cost\","
    "\"severity\":\"Sev4\",\"resource\":\"APIM-CONTOSO-AIGW\","
    "\"deployment\":\"chat-gpt4o\",\"model\":\"gpt-4o\",\"model_version\":\"2024-11-20\","
    "\"fired_at\":\"2025-11-04T22:07:00.000Z\","
    "\"window_start\":\"2025-11-04T00:00:00.000Z\","
    "\"window_end\":\"2025-11-04T22:53:30.000Z\",\"observed\":351.187742,"
    "\"baseline\":391.870741,\"threshold\":500.0,\"unit\":\"usd\","
    "\"resolved_at\":\"2025-11-04T22:48:30.000Z\",\"duration_s\":2490,"
    "\"impact\":{\"since\":\"fired_at\",\"requests\":956,\"errors_5xx\":5,"
    "\"throttled_429\":13,\"guardrail_failed\":0,\"refusals\":0,\"cost_usd\":154.753837},"
    "\"recent_changes\":[],\"action\":{\"kind\":\"throttle\",\"reason\":\"spend "
    "back under every threshold\"}}\n";

/* ---- reading bodies back ------------------------------------------------------------------ */

static struct tl_json *js;
static struct tl_alert_format *af;
static const char KEY[] = "R0UTING-KEY-not-for-other-bodies";

static void setup(void)
{
	bool cpu_ok;

	js = tl_json_new(1 << 20, &cpu_ok);
	af = tl_alert_format_new(&cpu_ok);
	cr_assert(js && af);
}

static void teardown(void)
{
	tl_json_free(js);
	tl_alert_format_free(af);
}

TestSuite(alert_format, .init = setup, .fini = teardown, .timeout = 30);

static char *dup_n(const char *s, size_t n)
{
	return th_dup_n(s, n);
}

static char *jget(const char *json, const char *path)
{
	return th_jget(js, json, path);
}

static void expect(const char *body, const char *path, const char *want)
{
	th_expect(js, body, path, want);
}

static void expect_num(const char *body, const char *path, double want)
{
	char *got = jget(body, path);

	cr_assert(got != NULL, "%s: absent in %s", path, body);
	cr_assert(ieee_ulp_eq(dbl, strtod(got, NULL), want, 4), "%s: %s", path, got);
	free(got);
}

static void expect_absent(const char *body, const char *path)
{
	th_expect_absent(js, body, path);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void expect_prefix(const char *body, const char *path, const char *prefix)
{
	char *got = jget(body, path);

	cr_assert(got != NULL, "%s: absent in %s", path, body);
	cr_assert(starts_with(got, prefix), "%s: '%s'", path, got);
	free(got);
}

static void expect_contains(const char *body, const char *path, const char *part)
{
	char *got = jget(body, path);

	cr_assert(got != NULL, "%s: absent in %s", path, body);
	cr_assert(strstr(got, part) != NULL, "%s: '%s'", path, got);
	free(got);
}

/* The body of @line in @fmt, checked: the request's fields, one valid JSON value. */
static char *render(const char *line, enum tl_alert_fmt fmt)
{
	const struct tl_alert_sink sink = { fmt, KEY };
	struct tl_alert_request req = { 0 };
	char err[256] = "";
	int r = tl_alert_format_line(af, line, strlen(line), &sink, &req, err, sizeof(err));

	cr_assert(eq(int, r, 0), "%s: %s", tl_alert_fmt_name(fmt), err);
	cr_assert(eq(str, (char *)req.method, "POST"));
	cr_assert(eq(str, (char *)req.content_type, "application/json"));
	cr_assert(
	    eq(str, (char *)req.path, fmt == TL_ALERT_FMT_ALERTMANAGER ? "/api/v2/alerts" : ""));
	cr_assert(req.body.p && strlen(req.body.p) == req.body.n);
	cr_assert(json_valid(req.body.p, req.body.n), "%s: not JSON: %s", tl_alert_fmt_name(fmt),
		  req.body.p);
	return req.body.p; /* the caller frees it */
}

/* @line with the first @from replaced by @to. */
static char *replace(const char *line, const char *from, const char *to)
{
	const char *at = strstr(line, from);
	size_t a, nf = strlen(from), nt = strlen(to), n = strlen(line);
	char *s;

	cr_assert(at != NULL, "'%s' not in the line", from);
	a = (size_t)(at - line);
	s = malloc(n - nf + nt + 1);
	cr_assert(s != NULL);
	memcpy(s, line, a);
	memcpy(s + a, to, nt);
	memcpy(s + a + nt, at + nf, n - a - nf + 1);
	return s;
}

static const char *const lines[] = {
	LAT_TRIGGER, LAT_UPDATE,   LAT_RESOLVED, ERR_TRIGGER,
	ERR_UPDATE,  ERR_RESOLVED, COST_TRIGGER, COST_RESOLVED,
};
#define N_LINES (sizeof(lines) / sizeof(lines[0]))

/* ---- every format ------------------------------------------------------------------------- */

Test(alert_format, every_format_of_every_event_is_valid_json_and_deterministic)
{
	for (size_t i = 0; i < N_LINES; i++)
		for (int f = 0; f < TL_ALERT_FMT_COUNT; f++) {
			char *a = render(lines[i], (enum tl_alert_fmt)f);
			char *b = render(lines[i], (enum tl_alert_fmt)f);

			cr_assert(eq(str, a, b));
			free(a);
			free(b);
		}
}

Test(alert_format, json_is_the_event_as_tripline_wrote_it)
{
	for (size_t i = 0; i < N_LINES; i++) {
		char *body = render(lines[i], TL_ALERT_FMT_JSON);
		char *want = dup_n(lines[i], strlen(lines[i]) - 1); /* less the newline */

		cr_assert(eq(str, body, want));
		free(body);
		free(want);
	}
}

Test(alert_format, routing_key_is_only_in_the_pagerduty_body)
{
	for (size_t i = 0; i < N_LINES; i++)
		for (int f = 0; f < TL_ALERT_FMT_COUNT; f++) {
			char *body = render(lines[i], (enum tl_alert_fmt)f);
			const char *at = strstr(body, KEY);

			if (f == TL_ALERT_FMT_PAGERDUTY) {
				cr_assert(at && !strstr(at + 1, KEY));
				expect(body, "routing_key", KEY);
			} else {
				cr_assert(at == NULL, "%s",
					  tl_alert_fmt_name((enum tl_alert_fmt)f));
			}
			free(body);
		}
}

Test(alert_format, pagerduty_needs_a_routing_key_and_failure_keeps_the_request)
{
	const struct tl_alert_event *ev;
	struct tl_alert_request req = { 0 };
	struct tl_alert_sink sink = { TL_ALERT_FMT_JSON, NULL };
	char err[256] = "";

	cr_assert(eq(
	    int, tl_alert_format_read(af, LAT_TRIGGER, strlen(LAT_TRIGGER), &ev, err, sizeof(err)),
	    0));
	cr_assert(eq(int, tl_alert_format_render(af, ev, &sink, &req, err, sizeof(err)), 0));
	char *before = dup_n(req.body.p, req.body.n);

	sink.fmt = TL_ALERT_FMT_PAGERDUTY;
	cr_assert(
	    eq(int, tl_alert_format_render(af, ev, &sink, &req, err, sizeof(err)), TL_EVALUE));
	cr_assert(eq(str, err, "pagerduty: no routing_key"));
	sink.routing_key = "";
	cr_assert(
	    eq(int, tl_alert_format_render(af, ev, &sink, &req, err, sizeof(err)), TL_EVALUE));
	cr_assert(eq(str, req.body.p, before));
	sink.fmt = TL_ALERT_FMT_COUNT;
	cr_assert(
	    eq(int, tl_alert_format_render(af, ev, &sink, &req, err, sizeof(err)), TL_EVALUE));
	free(before);
	tl_alert_request_fini(&req);
}

/* ---- pagerduty ---------------------------------------------------------------------------- */

Test(alert_format, pagerduty_trigger_carries_summary_source_severity_and_the_event)
{
	char *body = render(LAT_TRIGGER, TL_ALERT_FMT_PAGERDUTY);
	char *details = jget(body, "payload.custom_details");
	char *want = dup_n(LAT_TRIGGER, strlen(LAT_TRIGGER) - 1);

	expect(body, "event_action", "trigger");
	expect(body, "dedup_key", "tl-7ddc56d885b80a96");
	expect(body, "client", "tripline");
	expect(body, "payload.summary",
	       "[Sev2] latency on AOAI-CONTOSO-EUS2/support-gpt4o: 11808 ms vs threshold 8284 ms "
	       "(baseline 3314 ms); action: rollback to model_version 2024-08-06");
	expect(body, "payload.source", "AOAI-CONTOSO-EUS2/support-gpt4o");
	expect(body, "payload.severity", "error");
	expect(body, "payload.timestamp", "2025-11-04T14:05:00.000Z");
	expect(body, "payload.component", "support-gpt4o");
	expect(body, "payload.group", "AOAI-CONTOSO-EUS2");
	expect(body, "payload.class", "latency");
	expect(body, "payload.custom_details.snapshot", "snapshots/tl-7ddc56d885b80a96.ndjson.zst");
	expect(body, "payload.custom_details.recent_changes.1.from", "2024-08-06");
	cr_assert(eq(str, details, want));
	expect_absent(body, "links");
	free(details);
	free(want);
	free(body);
}

Test(alert_format, pagerduty_update_triggers_again_under_the_same_dedup_key)
{
	char *body = render(LAT_UPDATE, TL_ALERT_FMT_PAGERDUTY);

	expect(body, "event_action", "trigger");
	expect(body, "dedup_key", "tl-7ddc56d885b80a96");
	expect(body, "payload.timestamp", "2025-11-04T14:35:00.000Z");
	expect(body, "payload.custom_details.type", "update");
	expect(body, "payload.custom_details.impact.requests", "1735");
	expect_prefix(body, "payload.summary",
		      "[Sev2] still firing: latency on AOAI-CONTOSO-EUS2/support-gpt4o");
	free(body);
}

Test(alert_format, pagerduty_resolved_is_a_resolve_with_the_same_dedup_key)
{
	char *body = render(LAT_RESOLVED, TL_ALERT_FMT_PAGERDUTY);

	expect(body, "event_action", "resolve");
	expect(body, "dedup_key", "tl-7ddc56d885b80a96");
	expect(body, "payload.timestamp", "2025-11-04T14:46:00.000Z");
	expect(body, "payload.summary",
	       "[Resolved] latency on AOAI-CONTOSO-EUS2/support-gpt4o after 41m00s: 3314 ms vs "
	       "threshold 8284 ms (baseline 3314 ms) (Sev2)");
	free(body);
}

Test(alert_format, pagerduty_severity_maps_sev0_to_sev4)
{
	char *sev0 = replace(ERR_TRIGGER, "\"Sev2\"", "\"Sev0\"");
	const struct {
		const char *line, *want;
	} cases[] = {
		{ sev0, "critical" },      { ERR_UPDATE, "critical" },  /* Sev1 */
		{ ERR_TRIGGER, "error" },  { COST_TRIGGER, "warning" }, /* Sev3 */
		{ COST_RESOLVED, "info" },                              /* Sev4 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = render(cases[i].line, TL_ALERT_FMT_PAGERDUTY);

		expect(body, "payload.severity", cases[i].want);
		free(body);
	}
	free(sev0);
}

/* ---- azure common alert schema ------------------------------------------------------------ */

Test(alert_format, azure_common_alert_trigger_has_essentials_and_the_observation)
{
	char *body = render(LAT_TRIGGER, TL_ALERT_FMT_AZURE);

	expect(body, "schemaId", "azureMonitorCommonAlertSchema");
	expect(body, "data.essentials.alertId", "tl-7ddc56d885b80a96");
	expect(body, "data.essentials.alertRule", "tripline latency");
	expect(body, "data.essentials.severity", "Sev2");
	expect(body, "data.essentials.signalType", "Log");
	expect(body, "data.essentials.monitorCondition", "Fired");
	expect(body, "data.essentials.monitoringService", "tripline");
	expect(body, "data.essentials.alertTargetIDs.0", "AOAI-CONTOSO-EUS2/support-gpt4o");
	expect_absent(body, "data.essentials.alertTargetIDs.1");
	expect(body, "data.essentials.configurationItems.0", "support-gpt4o");
	expect(body, "data.essentials.firedDateTime", "2025-11-04T14:05:00.000Z");
	expect_absent(body, "data.essentials.resolvedDateTime");
	expect_prefix(body, "data.essentials.description",
		      "[Sev2] latency on AOAI-CONTOSO-EUS2/support-gpt4o: 11808 ms");
	expect(body, "data.alertContext.type", "trigger");
	expect_num(body, "data.alertContext.observed", 11808.273129);
	expect_num(body, "data.alertContext.baseline", 3313.584611);
	expect_num(body, "data.alertContext.threshold", 8283.961527);
	expect(body, "data.alertContext.unit", "ms");
	expect(body, "data.alertContext.window_start", "2025-11-04T14:00:00.000Z");
	expect(body, "data.alertContext.window_end", "2025-11-04T14:05:00.000Z");
	expect(body, "data.alertContext.recent_changes.0.kind", "deployment_write");
	expect(body, "data.alertContext.recent_changes.1.to", "2024-11-20");
	expect(body, "data.alertContext.action.kind", "rollback");
	expect(body, "data.alertContext.action.target.model_version", "2024-08-06");
	expect(body, "data.alertContext.owner", "assist-oncall");
	expect(body, "data.alertContext.snapshot", "snapshots/tl-7ddc56d885b80a96.ndjson.zst");
	expect_absent(body, "data.alertContext.impact");
	free(body);
}

Test(alert_format, azure_common_alert_update_fires_and_resolved_resolves)
{
	char *up = render(ERR_UPDATE, TL_ALERT_FMT_AZURE);
	char *res = render(LAT_RESOLVED, TL_ALERT_FMT_AZURE);

	expect(up, "data.essentials.monitorCondition", "Fired");
	expect(up, "data.essentials.severity", "Sev1");
	expect_absent(up, "data.essentials.resolvedDateTime");
	expect(up, "data.alertContext.type", "update");
	expect(up, "data.alertContext.updated_at", "2025-11-04T09:14:10.000Z");
	expect(up, "data.alertContext.baseline", "null");
	expect(up, "data.alertContext.impact.errors_5xx", "29");
	expect(res, "data.essentials.monitorCondition", "Resolved");
	expect(res, "data.essentials.firedDateTime", "2025-11-04T14:05:00.000Z");
	expect(res, "data.essentials.resolvedDateTime", "2025-11-04T14:46:00.000Z");
	expect(res, "data.alertContext.duration_s", "2460");
	expect(res, "data.alertContext.impact.requests", "2694");
	free(up);
	free(res);
}

/* ---- slack and teams ---------------------------------------------------------------------- */

/* The text of the Slack field titled @title, or NULL. */
static char *slack_field(const char *body, const char *title)
{
	char path[64], want[64];

	(void)snprintf(want, sizeof(want), "*%s*\n", title);
	for (int i = 0; i < 10; i++) {
		(void)snprintf(path, sizeof(path), "blocks.2.fields.%d.text", i);
		char *t = jget(body, path);

		if (!t)
			return NULL;
		if (starts_with(t, want))
			return t;
		free(t);
	}
	return NULL;
}

static void expect_field(const char *body, const char *title, const char *want)
{
	char *t = slack_field(body, title);

	cr_assert(t != NULL, "no field '%s' in %s", title, body);
	cr_assert(eq(str, t, (char *)want));
	free(t);
}

Test(alert_format, slack_shows_severity_deployment_observation_action_and_snapshot)
{
	char *body = render(LAT_TRIGGER, TL_ALERT_FMT_SLACK);

	expect(body, "text",
	       "[Sev2] latency on AOAI-CONTOSO-EUS2/support-gpt4o: 11808 ms vs threshold 8284 ms "
	       "(baseline 3314 ms); action: rollback to model_version 2024-08-06");
	expect(body, "blocks.0.type", "header");
	expect(body, "blocks.0.text.type", "plain_text");
	expect(body, "blocks.0.text.text", "[Sev2] latency on AOAI-CONTOSO-EUS2/support-gpt4o");
	/* mrkdwn: & < > are escaped */
	expect(body, "blocks.1.text.text",
	       "*Why:* latency regression began 6 min after model_version 2024-08-06 -&gt; "
	       "2024-11-20; 2024-08-06 ran 13h52m without incident");
	expect(body, "blocks.2.type", "section");
	expect_field(body, "Severity", "*Severity*\nSev2");
	expect_field(body, "Deployment",
		     "*Deployment*\nsupport-gpt4o on AOAI-CONTOSO-EUS2 (gpt-4o 2024-11-20)");
	expect_field(body, "Observed vs baseline",
		     "*Observed vs baseline*\n11808 ms vs 3314 ms (threshold 8284 ms)");
	expect_field(body, "Action", "*Action*\nrollback to model_version 2024-08-06");
	expect_field(body, "Snapshot", "*Snapshot*\nsnapshots/tl-7ddc56d885b80a96.ndjson.zst");
	expect_field(body, "Owner", "*Owner*\nassist-oncall");
	cr_assert_not(slack_field(body, "Duration") != NULL);
	expect(body, "blocks.3.type", "context");
	expect(body, "blocks.3.elements.0.text",
	       "tripline incident tl-7ddc56d885b80a96, fired 2025-11-04T14:05:00.000Z");
	free(body);
}

Test(alert_format, slack_resolved_says_resolved_and_how_long)
{
	char *body = render(ERR_RESOLVED, TL_ALERT_FMT_SLACK);

	expect_prefix(body, "text",
		      "[Resolved] errors on AOAI-CONTOSO-EUS2/embed-3-large after 23m10s");
	expect(body, "blocks.0.text.text",
	       "[Resolved] errors on AOAI-CONTOSO-EUS2/embed-3-large after 23m10s");
	expect_field(body, "Duration", "*Duration*\n23m10s");
	expect_field(body, "Observed vs baseline",
		     "*Observed vs baseline*\n0.00% vs no baseline (threshold 5.00%)");
	expect_field(body, "Impact since firing",
		     "*Impact since firing*\n1181 requests, 228 5xx, 15 429s, 0 guardrail "
		     "failures, 0 refusals, $0.00");
	cr_assert_not(slack_field(body, "Owner") != NULL);
	free(body);
}

Test(alert_format, teams_is_an_adaptive_card_with_the_facts)
{
	char *body = render(LAT_TRIGGER, TL_ALERT_FMT_TEAMS);
	char *res = render(LAT_RESOLVED, TL_ALERT_FMT_TEAMS);
	char *sev1 = render(ERR_UPDATE, TL_ALERT_FMT_TEAMS);

	expect(body, "type", "message");
	expect(body, "attachments.0.contentType", "application/vnd.microsoft.card.adaptive");
	expect(body, "attachments.0.content.type", "AdaptiveCard");
	expect(body, "attachments.0.content.version", "1.4");
	expect(body, "attachments.0.content.body.0.text",
	       "[Sev2] latency on AOAI-CONTOSO-EUS2/support-gpt4o");
	expect(body, "attachments.0.content.body.0.color", "Warning");
	expect_contains(body, "attachments.0.content.body.1.text",
			"\n\nlatency regression began 6 min after");
	expect(body, "attachments.0.content.body.2.type", "FactSet");
	expect(body, "attachments.0.content.body.2.facts.0.title", "Severity");
	expect(body, "attachments.0.content.body.2.facts.0.value", "Sev2");
	expect(body, "attachments.0.content.body.2.facts.2.title", "Observed vs baseline");
	expect(body, "attachments.0.content.body.2.facts.2.value",
	       "11808 ms vs 3314 ms (threshold 8284 ms)");
	expect(body, "attachments.0.content.body.2.facts.3.value",
	       "rollback to model_version 2024-08-06");
	expect(body, "attachments.0.content.body.2.facts.4.value",
	       "snapshots/tl-7ddc56d885b80a96.ndjson.zst");
	expect(res, "attachments.0.content.body.0.text",
	       "[Resolved] latency on AOAI-CONTOSO-EUS2/support-gpt4o after 41m00s");
	expect(res, "attachments.0.content.body.0.color", "Good");
	expect(res, "attachments.0.content.body.2.facts.4.title", "Duration");
	expect(res, "attachments.0.content.body.2.facts.4.value", "41m00s");
	expect(sev1, "attachments.0.content.body.0.color", "Attention");
	free(body);
	free(res);
	free(sev1);
}

/* ---- alertmanager ------------------------------------------------------------------------- */

Test(alert_format, alertmanager_posts_one_alert_with_labels_and_annotations)
{
	char *body = render(LAT_TRIGGER, TL_ALERT_FMT_ALERTMANAGER);
	char *desc;

	cr_assert(body[0] == '[');
	expect_absent(body, "1");
	expect(body, "0.labels.alertname", "tripline_latency");
	expect(body, "0.labels.severity", "Sev2");
	expect(body, "0.labels.rule", "latency");
	expect(body, "0.labels.resource", "AOAI-CONTOSO-EUS2");
	expect(body, "0.labels.deployment", "support-gpt4o");
	expect(body, "0.labels.incident_id", "tl-7ddc56d885b80a96");
	expect(body, "0.labels.owner", "assist-oncall");
	expect_prefix(body, "0.annotations.summary",
		      "[Sev2] latency on AOAI-CONTOSO-EUS2/support-gpt4o: 11808 ms");
	expect(body, "0.annotations.action",
	       "rollback to model_version 2024-08-06: latency regression began 6 min after "
	       "model_version 2024-08-06 -> 2024-11-20; 2024-08-06 ran 13h52m without incident");
	expect(body, "0.annotations.snapshot", "snapshots/tl-7ddc56d885b80a96.ndjson.zst");
	desc = jget(body, "0.annotations.description");
	cr_assert(starts_with(desc, "Severity: Sev2\nDeployment: support-gpt4o on "));
	cr_assert(strstr(desc, "\nWindow: 2025-11-04T14:00:00.000Z to 2025-11-04T14:05:00.000Z") !=
		  NULL);
	cr_assert(strstr(desc, "\nChange: 2025-11-04T13:53:02.025Z model_version 2024-08-06 -> "
			       "2024-11-20") != NULL);
	expect(body, "0.startsAt", "2025-11-04T14:05:00.000Z");
	expect_absent(body, "0.endsAt");
	expect_absent(body, "0.generatorURL");
	free(desc);
	free(body);
}

Test(alert_format, alertmanager_ends_an_alert_only_when_resolved)
{
	char *up = render(ERR_UPDATE, TL_ALERT_FMT_ALERTMANAGER);
	char *res = render(ERR_RESOLVED, TL_ALERT_FMT_ALERTMANAGER);

	expect(up, "0.startsAt", "2025-11-04T09:11:00.000Z");
	expect_absent(up, "0.endsAt");
	expect_absent(up, "0.labels.owner");
	expect_absent(up, "0.annotations.snapshot");
	expect(res, "0.startsAt", "2025-11-04T09:11:00.000Z");
	expect(res, "0.endsAt", "2025-11-04T09:34:10.000Z");
	expect(res, "0.labels.incident_id", "tl-9528288db4f8e53a");
	free(up);
	free(res);
}

/* ---- the people: owner, incident commander, comms owner ------------------------------------ */

#define OWNER  "\"owner\":\"assist-oncall\""
#define PEOPLE OWNER ",\"incident_commander\":\"ic-dana\",\"comms_owner\":\"comms-eli\""

Test(alert_format, the_incident_commander_and_comms_owner_go_where_the_owner_goes)
{
	char *line = replace(LAT_TRIGGER, OWNER, PEOPLE);
	char *want = dup_n(line, strlen(line) - 1), *body, *desc;

	body = render(line, TL_ALERT_FMT_JSON);
	cr_assert(eq(str, body, want), "the event as tripline wrote it, members in order");
	free(body);
	body = render(line, TL_ALERT_FMT_PAGERDUTY);
	expect(body, "payload.custom_details.owner", "assist-oncall");
	expect(body, "payload.custom_details.incident_commander", "ic-dana");
	expect(body, "payload.custom_details.comms_owner", "comms-eli");
	free(body);
	body = render(line, TL_ALERT_FMT_AZURE);
	expect(body, "data.alertContext.owner", "assist-oncall");
	expect(body, "data.alertContext.incident_commander", "ic-dana");
	expect(body, "data.alertContext.comms_owner", "comms-eli");
	free(body);
	body = render(line, TL_ALERT_FMT_SLACK);
	expect_field(body, "Owner", "*Owner*\nassist-oncall");
	expect_field(body, "Incident commander", "*Incident commander*\nic-dana");
	expect_field(body, "Comms owner", "*Comms owner*\ncomms-eli");
	free(body);
	body = render(line, TL_ALERT_FMT_TEAMS);
	expect(body, "attachments.0.content.body.2.facts.5.title", "Owner");
	expect(body, "attachments.0.content.body.2.facts.6.title", "Incident commander");
	expect(body, "attachments.0.content.body.2.facts.6.value", "ic-dana");
	expect(body, "attachments.0.content.body.2.facts.7.title", "Comms owner");
	expect(body, "attachments.0.content.body.2.facts.7.value", "comms-eli");
	expect(body, "attachments.0.content.body.2.facts.8.title", "Incident");
	free(body);
	body = render(line, TL_ALERT_FMT_ALERTMANAGER);
	expect(body, "0.labels.owner", "assist-oncall");
	expect(body, "0.labels.incident_commander", "ic-dana");
	expect(body, "0.labels.comms_owner", "comms-eli");
	desc = jget(body, "0.annotations.description");
	cr_assert(strstr(desc, "\nOwner: assist-oncall\nIncident commander: ic-dana\n"
			       "Comms owner: comms-eli\nIncident: tl-7ddc56d885b80a96") != NULL,
		  "%s", desc);
	free(desc);
	free(body);
	free(want);
	free(line);
}

Test(alert_format, an_event_without_them_renders_none_of_them)
{
	for (size_t i = 0; i < N_LINES; i++)
		for (int f = 0; f < TL_ALERT_FMT_COUNT; f++) {
			char *body = render(lines[i], (enum tl_alert_fmt)f);

			cr_assert(strstr(body, "incident_commander") == NULL, "%s", body);
			cr_assert(strstr(body, "comms_owner") == NULL, "%s", body);
			cr_assert(strstr(body, "Incident commander") == NULL, "%s", body);
			cr_assert(strstr(body, "Comms owner") == NULL, "%s", body);
			free(body);
		}
}

Test(alert_format, a_comms_owner_alone_is_rendered_without_an_owner)
{
	char *line =
	    replace(ERR_TRIGGER, ",\"snapshot\"", ",\"comms_owner\":\"comms-eli\",\"snapshot\"");
	char *body = render(line, TL_ALERT_FMT_ALERTMANAGER);

	expect_absent(body, "0.labels.owner");
	expect_absent(body, "0.labels.incident_commander");
	expect(body, "0.labels.comms_owner", "comms-eli");
	free(body);
	body = render(line, TL_ALERT_FMT_SLACK);
	cr_assert_not(slack_field(body, "Owner") != NULL);
	expect_field(body, "Comms owner", "*Comms owner*\ncomms-eli");
	free(body);
	free(line);
}

Test(alert_format, slack_gets_at_most_ten_fields_with_every_fact_present)
{
	/* a resolved event (duration, impact) with a snapshot and all three people: every
	 * fact at once; the incident goes to the context line, so ten fields, Slack's limit */
	char *line = replace(LAT_RESOLVED, OWNER,
			     PEOPLE ",\"snapshot\":\"snapshots/tl-7ddc56d885b80a96.ndjson.zst\"");
	char *body = render(line, TL_ALERT_FMT_SLACK);

	expect_prefix(body, "blocks.2.fields.0.text", "*Severity*");
	expect(body, "blocks.2.fields.9.text", "*Comms owner*\ncomms-eli");
	expect_absent(body, "blocks.2.fields.10");
	free(body);
	free(line);
}

/* ---- hostile and partial input ------------------------------------------------------------ */

Test(alert_format, quotes_backslashes_and_controls_in_names_are_escaped_everywhere)
{
	/* the deployment, as JSON text: sup"port\gpt<4o>& U+0001 é */
	char *line = replace(LAT_TRIGGER, "\"deployment\":\"support-gpt4o\"",
			     "\"deployment\":\"sup\\\"port\\\\gpt<4o>&\\u0001\\u00e9\"");
	const char *dep = "sup\"port\\gpt<4o>&\x01\xc3\xa9";
	char *body, *t, want[128];

	for (int f = 0; f < TL_ALERT_FMT_COUNT; f++)
		free(render(line, (enum tl_alert_fmt)f));
	body = render(line, TL_ALERT_FMT_JSON);
	expect(body, "deployment", dep);
	cr_assert(strstr(body, "\"deployment\":\"sup\\\"port\\\\gpt<4o>&\\u0001\xc3\xa9\"") !=
		  NULL);
	free(body);
	body = render(line, TL_ALERT_FMT_PAGERDUTY);
	expect(body, "payload.component", dep);
	expect(body, "payload.custom_details.deployment", dep);
	(void)snprintf(want, sizeof(want), "AOAI-CONTOSO-EUS2/%s", dep);
	expect(body, "payload.source", want);
	free(body);
	body = render(line, TL_ALERT_FMT_AZURE);
	expect(body, "data.essentials.configurationItems.0", dep);
	expect(body, "data.essentials.alertTargetIDs.0", want);
	free(body);
	body = render(line, TL_ALERT_FMT_ALERTMANAGER);
	expect(body, "0.labels.deployment", dep);
	free(body);
	body = render(line, TL_ALERT_FMT_SLACK);
	t = slack_field(body, "Deployment");
	cr_assert(t != NULL);
	cr_assert(starts_with(t, "*Deployment*\nsup\"port\\gpt&lt;4o&gt;&amp;\x01\xc3\xa9 on "));
	free(t);
	free(body);
	body = render(line, TL_ALERT_FMT_TEAMS);
	(void)snprintf(want, sizeof(want), "%s on AOAI-CONTOSO-EUS2 (gpt-4o 2024-11-20)", dep);
	expect(body, "attachments.0.content.body.2.facts.1.value", want);
	free(body);
	free(line);
}

Test(alert_format, lines_that_are_not_trigger_events_are_errors_with_a_message)
{
	char *other_type = replace(LAT_TRIGGER, "\"trigger\"", "\"page\"");
	char *no_type = replace(LAT_TRIGGER, "\"type\":\"trigger\",", "");
	char *sev5 = replace(LAT_TRIGGER, "\"Sev2\"", "\"Sev5\"");
	char *rule_num = replace(LAT_TRIGGER, "\"latency\"", "7");
	char *empty_id = replace(LAT_TRIGGER, "\"tl-7ddc56d885b80a96\"", "\"\"");
	char *bad_time = replace(LAT_TRIGGER, "\"2025-11-04T14:05:00.000Z\"", "\"yesterday\"");
	char *unresolved = replace(LAT_RESOLVED, "\"resolved_at\"", "\"resolved\"");
	char *no_deployment = replace(ERR_TRIGGER, "\"deployment\"", "\"deployments\"");
	char *in_array = replace("[X]", "X", LAT_TRIGGER);
	char *envelope = replace("{\"records\":[X]}", "X", LAT_TRIGGER);
	char *twice = replace("XX", "X", ERR_TRIGGER);
	const struct {
		const char *line;
		int r;
	} cases[] = {
		{ "", TL_EJSON },
		{ "not json", TL_EJSON },
		{ "42", TL_EJSON },
		{ "{\"type\":\"trigger\"", TL_EJSON },
		{ "[]", TL_ETYPE },
		{ in_array, TL_ETYPE },
		{ envelope, TL_ETYPE },
		{ twice, TL_EJSON },
		{ "{}", TL_EMISSING },
		{ other_type, TL_EVALUE },
		{ no_type, TL_EMISSING },
		{ sev5, TL_EVALUE },
		{ rule_num, TL_ETYPE },
		{ empty_id, TL_ETYPE },
		{ bad_time, TL_ETIME },
		{ unresolved, TL_EMISSING },
		{ no_deployment, TL_EMISSING },
	};
	const struct tl_alert_event *ev = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";

		cr_assert(eq(int,
			     tl_alert_format_read(af, cases[i].line, strlen(cases[i].line), &ev,
						  err, sizeof(err)),
			     cases[i].r),
			  "case %zu: %s", i, err);
		cr_assert(starts_with(err, "not "), "case %zu: '%s'", i, err);
		cr_assert(ev == NULL);
	}
	free(other_type);
	free(no_type);
	free(sev5);
	free(rule_num);
	free(empty_id);
	free(bad_time);
	free(unresolved);
	free(no_deployment);
	free(in_array);
	free(envelope);
	free(twice);
}

Test(alert_format, missing_optional_members_are_omitted_and_unknown_ones_dropped)
{
	const char *line = "{\"type\":\"update\",\"incident_id\":\"x\",\"rule\":\"cost\","
			   "\"severity\":\"Sev4\",\"extra\":{\"a\":[1,2,{\"b\":null}]},"
			   "\"resource\":\"R\",\"deployment\":\"D\",\"observed\":\"high\","
			   "\"fired_at\":\"2025-11-04T00:00:00Z\"}";
	char *body = render(line, TL_ALERT_FMT_JSON);

	cr_assert(eq(str, body,
		     "{\"type\":\"update\",\"incident_id\":\"x\",\"rule\":\"cost\","
		     "\"severity\":\"Sev4\",\"resource\":\"R\",\"deployment\":\"D\","
		     "\"fired_at\":\"2025-11-04T00:00:00.000Z\"}"));
	free(body);
	body = render(line, TL_ALERT_FMT_PAGERDUTY);
	expect(body, "payload.summary", "[Sev4] still firing: cost on R/D");
	expect(body, "payload.timestamp", "2025-11-04T00:00:00.000Z");
	free(body);
	body = render(line, TL_ALERT_FMT_ALERTMANAGER);
	expect_absent(body, "0.labels.owner");
	expect_absent(body, "0.annotations.action");
	expect_absent(body, "0.annotations.snapshot");
	expect(body, "0.annotations.description",
	       "Severity: Sev4\nDeployment: D on R\nIncident: x");
	free(body);
	body = render(line, TL_ALERT_FMT_AZURE);
	expect_absent(body, "data.alertContext.observed");
	expect_absent(body, "data.alertContext.recent_changes");
	free(body);
	for (int f = 0; f < TL_ALERT_FMT_COUNT; f++)
		free(render(line, (enum tl_alert_fmt)f));
}

Test(alert_format, numbers_of_any_size_stay_valid_json)
{
	char *a = replace(LAT_TRIGGER, "11808.273129", "1e300");
	char *b = replace(a, "3313.584611", "-1.5e200");
	char *c = replace(b, "8283.961527", "123456789012345678");
	char *body;

	for (int f = 0; f < TL_ALERT_FMT_COUNT; f++)
		free(render(c, (enum tl_alert_fmt)f));
	body = render(c, TL_ALERT_FMT_JSON);
	expect_num(body, "observed", 1e300);
	expect_num(body, "baseline", -1.5e200);
	expect(body, "threshold", "123456789012345678");
	free(body);
	free(a);
	free(b);
	free(c);
}

Test(alert_format, long_texts_are_cut_to_the_receivers_limits_on_character_boundaries)
{
	char dep[2 * 700 + 1 + 3 * 1500 + 1];
	char *line, *body, *t, *field;

	/* 700 x "é" then 1500 x "&": 1400 + 1500 bytes, each & five once escaped for Slack */
	for (int i = 0; i < 700; i++)
		memcpy(dep + 2 * i, "\xc3\xa9", 2);
	memset(dep + 1400, '&', 1500);
	dep[2900] = '\0';
	char *quoted = malloc(strlen(dep) + 32);

	(void)snprintf(quoted, strlen(dep) + 32, "\"deployment\":\"%s\"", dep);
	line = replace(LAT_TRIGGER, "\"deployment\":\"support-gpt4o\"", quoted);
	body = render(line, TL_ALERT_FMT_PAGERDUTY);
	t = jget(body, "payload.summary");
	cr_assert(le(sz, strlen(t), 1024));
	cr_assert(ge(sz, strlen(t), 1020));
	cr_assert(eq(str, t + strlen(t) - 3, "..."));
	free(t);
	free(body);
	body = render(line, TL_ALERT_FMT_SLACK);
	t = jget(body, "blocks.0.text.text");
	cr_assert(le(sz, strlen(t), 150));
	cr_assert(starts_with(t, "[Sev2] latency on AOAI-CONTOSO-EUS2/\xc3\xa9"));
	free(t);
	field = slack_field(body, "Deployment");
	cr_assert(field != NULL);
	cr_assert(le(sz, strlen(field), 2000));
	/* every & left is a whole entity */
	for (const char *p = strchr(field, '&'); p; p = strchr(p + 1, '&'))
		cr_assert(starts_with(p, "&amp;"), "%s", p);
	free(field);
	t = jget(body, "text");
	cr_assert(le(sz, strlen(t), 3000));
	free(t);
	free(body);
	free(quoted);
	free(line);
}

Test(alert_format, changes_past_the_cap_are_counted_as_omitted)
{
	const char *one = "{\"time\":\"2025-11-04T13:00:00.000Z\",\"kind\":\"model_version\","
			  "\"from\":\"a\",\"to\":\"b\"}";
	size_t n1 = strlen(one), cap = (n1 + 1) * 70 + 64;
	char *arr = malloc(cap), *line, *body;
	size_t n = 0;

	arr[n++] = '[';
	for (int i = 0; i < 70; i++) {
		if (i)
			arr[n++] = ',';
		memcpy(arr + n, one, n1);
		n += n1;
	}
	memcpy(arr + n, "],\"recent_changes_omitted\":3", 29);
	/* in place of the error trigger's empty list */
	line = replace(ERR_TRIGGER, "\"recent_changes\":[]", "\"recent_changes\":X");
	char *full = replace(line, "X", arr);

	body = render(full, TL_ALERT_FMT_JSON);
	expect(body, "recent_changes.63.to", "b");
	expect_absent(body, "recent_changes.64");
	expect(body, "recent_changes_omitted", "9");
	free(body);
	free(full);
	free(line);
	free(arr);
}

Test(alert_format, format_names_are_the_config_names)
{
	const char *names[] = { "json",  "pagerduty", "azure-common-alert",
				"slack", "teams",     "alertmanager" };
	enum tl_alert_fmt f;

	for (int i = 0; i < TL_ALERT_FMT_COUNT; i++) {
		cr_assert(
		    eq(str, (char *)tl_alert_fmt_name((enum tl_alert_fmt)i), (char *)names[i]));
		cr_assert(eq(int, tl_alert_fmt_from_name(names[i], &f), 0));
		cr_assert(eq(int, (int)f, i));
	}
	cr_assert(eq(int, tl_alert_fmt_from_name("PagerDuty", &f), TL_EVALUE));
	cr_assert(eq(int, tl_alert_fmt_from_name(NULL, &f), TL_EVALUE));
	cr_assert(eq(str, (char *)tl_alert_fmt_name(TL_ALERT_FMT_COUNT), "?"));
}
