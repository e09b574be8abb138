/*
 * tests/test_decode.c - the decoders on the sample files of ../shared/formats/samples (copied
 * to tests/data) and on hand-written records for every quirk the formats README lists.
 */
#include <math.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <tripline/decode.h>
#include <tripline/time.h>

#include "helpers.h"

static struct th_dec t;

static void setup(void)
{
	th_dec_init(&t);
}

static void teardown(void)
{
	th_dec_fini(&t);
}

TestSuite(decode, .init = setup, .fini = teardown, .timeout = 30);

static int64_t ts(const char *s)
{
	int64_t ns = 0;

	cr_assert(eq(int, tl_time_parse(s, strlen(s), &ns), 0), "bad test time %s", s);
	return ns;
}

static bool has(const struct tl_event *e, unsigned flag)
{
	return (e->flags & flag) != 0;
}

static const struct tl_event *ev(size_t i)
{
	cr_assert(lt(sz, i, t.out.n), "event %zu of %zu", i, t.out.n);
	return &t.out.ev[i];
}

/* ---- samples ---------------------------------------------------------------------------- */

Test(decode, request_response_sample_decodes_every_line)
{
	size_t len;
	char *buf = th_read("aoai-requestresponse.ndjson", &len);
	int status[6] = { 0 };

	th_lines(&t, buf, len);
	cr_assert(eq(sz, t.out.n, 20));
	cr_assert(eq(sz, t.bad.n, 0));
	for (size_t i = 0; i < t.out.n; i++) {
		cr_assert(eq(int, ev(i)->kind, TL_EV_REQUEST));
		cr_assert(eq(str, th_sym(&t, ev(i)->resource), "AOAI-CONTOSO-EUS2"));
		cr_assert(has(ev(i), TL_EVF_LATENCY));
		cr_assert(ne(u64, ev(i)->fingerprint, 0));
		status[tl_status_class(ev(i)->status) == 29 ? 3 : tl_status_class(ev(i)->status)]++;
	}
	/* 200 x12, 429 x4, 400 x3, 500 x1 (the README of the samples) */
	cr_assert(eq(int, status[2], 12));
	cr_assert(eq(int, status[3], 4));
	cr_assert(eq(int, status[4], 3));
	cr_assert(eq(int, status[5], 1));

	const struct tl_event *e0 = ev(0);

	cr_assert(eq(str, th_sym(&t, e0->deployment), "chat-gpt4o"));
	cr_assert(eq(str, th_sym(&t, e0->model), "gpt-4o"));
	cr_assert(eq(str, th_sym(&t, e0->model_version), "2024-11-20"));
	cr_assert(eq(str, th_sym(&t, e0->operation), "ChatCompletions_Create"));
	cr_assert(eq(i64, e0->time_ns, ts("2025-11-04T14:00:04.3600000Z")));
	cr_assert(eq(flt, e0->u.req.latency_ms, 1840.0f));
	cr_assert(eq(u16, e0->status, 200));
	cr_assert(eq(int, e0->flags &TL_EVF_STREAMING, 0));
	cr_assert(has(ev(1), TL_EVF_STREAMING), "line 2 is a streaming call");
	cr_assert(eq(u64, e0->raw.offset, 0));
	cr_assert(eq(u64, ev(1)->raw.offset, (uint64_t)(strchr(buf, '\n') - buf + 1)));
	free(buf);
}

Test(decode, properties_as_object_decodes_like_the_string_form)
{
	size_t len;
	char *buf = th_read("aoai-requestresponse.ndjson", &len);

	th_lines(&t, buf, len);
	/* line 17 carries properties as an object */
	const struct tl_event *e = ev(16);

	cr_assert(eq(str, th_sym(&t, e->deployment), "chat-gpt4o-mini"));
	cr_assert(eq(str, th_sym(&t, e->model_version), "2024-07-18"));
	cr_assert(eq(flt, e->u.req.latency_ms, 742.0f));
	cr_assert(eq(u64, e->series, ev(3)->series), "same series as line 4 (string form)");
	free(buf);
}

Test(decode, negative_duration_is_recomputed_from_ticks)
{
	size_t len;
	char *buf = th_read("aoai-requestresponse.ndjson", &len);

	th_lines(&t, buf, len);
	/* line 18: durationMs -1377, ticks 638978618625000036 .. 638978618638779805 */
	const struct tl_event *e = ev(17);

	cr_assert(has(e, TL_EVF_LATENCY_FIXED));
	cr_assert(ieee_ulp_eq(flt, e->u.req.latency_ms, (float)(13779769 / 10000.0), 4));
	free(buf);
}

Test(decode, eventhub_batch_mixes_logs_and_metrics)
{
	size_t len;
	char *buf = th_read("eventhub-batch.json", &len);
	int rr = 0, metric = 0;

	struct tl_unit u = { .data = buf, .len = len, .line = 1 };

	cr_assert(eq(int, tl_decoder_unit(t.dec, &u, &t.out), 0));
	cr_assert(eq(sz, t.bad.n, 0));
	for (size_t i = 0; i < t.out.n; i++) {
		rr += ev(i)->origin == TL_ORIGIN_AOAI_REQUEST;
		metric += ev(i)->origin == TL_ORIGIN_AOAI_METRIC;
	}
	cr_assert(eq(int, rr, 7));
	cr_assert(eq(int, metric, 3));
	/* each record's raw text is its own object inside the envelope */
	cr_assert(eq(chr, (char)ev(0)->raw.ptr[0], '{'));
	cr_assert(eq(chr, (char)ev(0)->raw.ptr[ev(0)->raw.len - 1], '}'));
	cr_assert(eq(u64, ev(0)->raw.offset, (uint64_t)((const char *)ev(0)->raw.ptr - buf)));
	free(buf);
}

Test(decode, allmetrics_rows_are_account_level_series)
{
	size_t len;
	char *buf = th_read("allmetrics.ndjson", &len);
	double requests = 0;

	th_lines(&t, buf, len);
	/* 21 rows; AzureOpenAITokenPerSecond is not a metric tripline reads */
	cr_assert(eq(sz, t.out.n, 20));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->skipped, 1));
	cr_assert(eq(sz, t.bad.n, 0));
	for (size_t i = 0; i < t.out.n; i++) {
		cr_assert(eq(int, ev(i)->kind, TL_EV_METRIC));
		cr_assert(eq(str, th_sym(&t, ev(i)->deployment), "*"));
		if (ev(i)->u.metric.metric == TL_METRIC_REQUESTS)
			requests += ev(i)->u.metric.total;
	}
	cr_assert(eq(dbl, requests, 20.0), "AzureOpenAIRequests sum to the 20 logged requests");
	free(buf);
}

Test(decode, apim_gateway_and_llm_logs)
{
	size_t len;
	char *buf = th_read("apim-llm.ndjson", &len);

	th_lines(&t, buf, len);
	cr_assert(eq(sz, t.out.n, 7));
	cr_assert(eq(sz, t.bad.n, 0));
	const struct tl_event *gw = ev(0), *llm = ev(1);

	cr_assert(eq(int, gw->kind, TL_EV_REQUEST));
	cr_assert(eq(str, th_sym(&t, gw->resource), "APIM-CONTOSO-AIGW"));
	cr_assert(eq(str, th_sym(&t, gw->deployment), "chat-gpt4o"));
	cr_assert(eq(u16, gw->status, 200));
	cr_assert(eq(flt, gw->u.req.latency_ms, 1871.0f));
	cr_assert(eq(int, llm->kind, TL_EV_USAGE));
	cr_assert(eq(u64, llm->series, gw->series));
	cr_assert(eq(u32, llm->u.req.tokens_in, 1016));
	cr_assert(eq(u32, llm->u.req.tokens_out, 402));
	cr_assert(eq(u32, llm->u.req.tokens_cached, 768));
	cr_assert(eq(str, th_sym(&t, llm->model), "gpt-4o"), "date suffix split off");
	cr_assert(eq(str, th_sym(&t, llm->model_version), "2024-11-20"));
	cr_assert(eq(u16, ev(4)->status, 429));
	cr_assert(eq(u16, ev(5)->status, 400));
	cr_assert(eq(str, th_sym(&t, ev(5)->deployment), "chat-gpt4o-mini"));
	free(buf);
}

Test(decode, activity_log_deployment_write_and_rai_policy)
{
	size_t len;
	char *buf = th_read("activity-deployment-write.json", &len);

	th_unit(&t, buf, len);
	cr_assert(eq(sz, t.bad.n, 0));
	cr_assert(eq(sz, t.out.n, 3));
	const struct tl_event *start = ev(0), *ok = ev(1), *rai = ev(2);

	cr_assert(eq(int, start->kind, TL_EV_CHANGE));
	cr_assert(eq(int, start->u.change.op, TL_CHANGE_DEPLOYMENT_WRITE));
	cr_assert(eq(int, start->u.change.phase, TL_PHASE_START));
	cr_assert(eq(int, ok->u.change.phase, TL_PHASE_SUCCESS));
	cr_assert(eq(u64, start->u.change.correlation, ok->u.change.correlation));
	cr_assert(eq(str, th_sym(&t, start->resource), "AOAI-CONTOSO-EUS2"));
	cr_assert(eq(str, th_sym(&t, start->deployment), "chat-gpt4o"),
		  "the case of properties.entity, not the upper-case resourceId");
	cr_assert(eq(str, th_sym(&t, start->model), "gpt-4o"));
	cr_assert(eq(str, th_sym(&t, start->model_version), "2024-11-20"));
	cr_assert(eq(str, th_sym(&t, start->u.change.detail), "strict-guardrails-v3"));
	cr_assert(eq(int, rai->u.change.op, TL_CHANGE_RAI_POLICY_WRITE));
	cr_assert(eq(str, th_sym(&t, rai->deployment), "*"));
	free(buf);
}

Test(decode, series_key_ignores_case_of_resource_and_deployment)
{
	size_t len;
	char *buf = th_read("activity-deployment-write.json", &len);

	th_unit(&t, buf, len);
	th_str(&t, "{\"category\":\"tripline\",\"time\":\"2025-11-04T14:00:00Z\","
		   "\"resource\":\"aoai-contoso-eus2\",\"deployment\":\"CHAT-GPT4O\"}");
	cr_assert(eq(sz, t.out.n, 4));
	cr_assert(eq(u64, ev(3)->series, ev(0)->series));
	cr_assert(eq(u32, ev(3)->resource, ev(0)->resource));
	free(buf);
}

/* ---- quirks ----------------------------------------------------------------------------- */

#define RR_HEAD                                                                                 \
	"{\"category\":\"RequestResponse\",\"resourceId\":\"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/" \
	"PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/acct-one\",\"correlationId\":\"c1\","

Test(decode, numbers_as_strings_are_numbers)
{
	th_str(&t,
	       RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"durationMs\":\"16\","
		       "\"resultSignature\":200,\"properties\":{\"modelDeploymentName\":\"d\"}}");
	cr_assert(eq(sz, t.bad.n, 0));
	cr_assert(eq(flt, ev(0)->u.req.latency_ms, 16.0f));
	cr_assert(eq(u16, ev(0)->status, 200));
	cr_assert(eq(str, th_sym(&t, ev(0)->resource), "ACCT-ONE"));
}

Test(decode, numeric_strings_are_plain_decimals)
{
	static const char *const bad[] = { "\"resultSignature\":\"0x1F4\"",
					   "\"durationMs\":\"-inf\"", "\"durationMs\":\"1e999\"",
					   "\"durationMs\":\"5.\"", "\"durationMs\":\" 5\"" };
	char rec[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(rec, sizeof(rec),
			       RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",%s,\"properties\":{"
				       "\"modelDeploymentName\":\"d\"}}",
			       bad[i]);
		th_str(&t, rec);
	}
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"durationMs\":\"-1.5E+2\","
			   "\"resultSignature\":\"2.0e2\",\"properties\":{\"modelDeploymentName\":"
			   "\"d\"}}");
	cr_assert(eq(sz, t.out.n, 1));
	cr_assert(eq(u16, ev(0)->status, 200));
	cr_assert(eq(int, ev(0)->flags &TL_EVF_LATENCY, 0), "-150 ms: unknown");
	cr_assert(eq(sz, t.bad.n, 5));
	cr_assert(eq(str, t.bad.reason[0], "field 'resultSignature': not a number: \"0x1F4\""));
	cr_assert(eq(str, t.bad.reason[1], "field 'durationMs': not a number: \"-inf\""));
	cr_assert(eq(str, t.bad.reason[2], "field 'durationMs': not a number: \"1e999\""));
	cr_assert(eq(str, t.bad.reason[3], "field 'durationMs': not a number: \"5.\""));
	cr_assert(eq(str, t.bad.reason[4], "field 'durationMs': not a number: \" 5\""));
}

Test(decode, timestamps_with_any_fraction_and_no_zone)
{
	th_str(
	    &t, RR_HEAD
	    "\"time\":\"2025-11-04T14:00:04.3\",\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:04.3000000Z\",\"properties\":{"
			   "\"modelDeploymentName\":\"d\"}}");
	th_str(&t, RR_HEAD
	       "\"time\":\"2025-11-04T14:00:04Z\",\"properties\":{\"modelDeploymentName\":\"d\"}}");
	cr_assert(eq(sz, t.bad.n, 0));
	cr_assert(eq(i64, ev(0)->time_ns, ev(1)->time_ns));
	cr_assert(eq(i64, ev(0)->time_ns - ev(2)->time_ns, 300 * TL_NS_PER_MS));
}

Test(decode, duration_absent_uses_ticks_and_unknown_stays_unknown)
{
	th_str(&t, RR_HEAD
	       "\"time\":\"2025-11-04T14:00:00Z\",\"properties\":\"{\\\"modelDeploymentName\\\":"
	       "\\\"d\\\",\\\"requestTime\\\":638978616021001314,\\\"responseTime\\\":"
	       "638978616039405588}\"}");
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"durationMs\":-5,"
			   "\"properties\":{\"modelDeploymentName\":\"d\"}}");
	cr_assert(eq(sz, t.bad.n, 0));
	cr_assert(has(ev(0), TL_EVF_LATENCY_FIXED));
	cr_assert(ieee_ulp_eq(flt, ev(0)->u.req.latency_ms, 1840.4274f, 4));
	cr_assert(eq(int, ev(1)->flags &TL_EVF_LATENCY, 0), "negative and no ticks: unknown");
}

Test(decode, escaped_properties_string_takes_the_full_parser)
{
	/* a value with an escaped quote and a \u escape: outside the fast path's subset */
	th_str(
	    &t, RR_HEAD
	    "\"time\":\"2025-11-04T14:00:00Z\",\"durationMs\":5,\"properties\":"
	    "\"{\\\"apiName\\\":\\\"a \\\\\\\"q\\\\\\\" \\\\u00e9\\\",\\\"modelDeploymentName\\\":"
	    "\\\"dep\\\\u002d1\\\",\\\"modelVersion\\\":\\\"v\\\",\\\"x\\\":[1,2]}\"}");
	cr_assert(eq(sz, t.bad.n, 0), "%s", t.bad.reason[0]);
	cr_assert(eq(str, th_sym(&t, ev(0)->deployment), "dep-1"));
	cr_assert(eq(str, th_sym(&t, ev(0)->model_version), "v"));
}

Test(decode, missing_time_or_deployment_is_malformed)
{
	th_str(&t, RR_HEAD "\"durationMs\":5,\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t,
	       RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"properties\":{\"modelName\":\"m\"}}");
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\"}");
	cr_assert(eq(sz, t.out.n, 0));
	cr_assert(eq(sz, t.bad.n, 3));
	cr_assert(eq(str, t.bad.reason[0], "missing field 'time'"));
	cr_assert(eq(str, t.bad.reason[1], "missing field 'properties.modelDeploymentName'"));
	cr_assert(eq(str, t.bad.reason[2], "missing field 'properties'"));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->malformed, 3));
}

Test(decode, wrong_types_are_malformed_with_the_field_named)
{
	th_str(&t, RR_HEAD "\"time\":12345,\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"durationMs\":true,"
			   "\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"durationMs\":\"fast\","
			   "\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t, RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"resultSignature\":\"OK\","
			   "\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t,
	       RR_HEAD "\"time\":\"yesterday\",\"properties\":{\"modelDeploymentName\":\"d\"}}");
	th_str(&t, RR_HEAD
	       "\"time\":\"2025-11-04T14:00:00Z\",\"properties\":{\"modelDeploymentName\":7}}");
	cr_assert(eq(sz, t.out.n, 0));
	cr_assert(eq(sz, t.bad.n, 6));
	cr_assert(eq(str, t.bad.reason[0], "field 'time': expected a string, got a number"));
	cr_assert(eq(str, t.bad.reason[1], "field 'durationMs': expected a number, got a boolean"));
	cr_assert(eq(str, t.bad.reason[2], "field 'durationMs': not a number: \"fast\""));
	cr_assert(eq(str, t.bad.reason[3], "field 'resultSignature': not a number: \"OK\""));
	cr_assert(eq(str, t.bad.reason[4], "field 'time': not a timestamp: \"yesterday\""));
	cr_assert(eq(str, t.bad.reason[5],
		     "field 'properties.modelDeploymentName': expected a string, got a number"));
}

Test(decode, bad_json_is_malformed_and_keeps_the_text)
{
	th_str(&t, "{\"category\":\"RequestResponse\",\"time\":\"2025-11-04T14:00:00Z\"");
	th_str(&t, "not json at all");
	th_str(&t, "{\"category\":\"RequestResponse\"} trailing");
	th_str(&t, "{\"a\":1 \"b\":2}");
	th_str(&t, "{\"time\":\"2025-11-04T14:00:03Z\",\"category\":\"RequestResp");
	th_str(&t, "{\"a\":\"\xff\xfe\"}");
	cr_assert(eq(sz, t.out.n, 0));
	cr_assert(eq(sz, t.bad.n, 6));
	for (size_t i = 0; i < 6; i++)
		cr_assert(eq(int, strncmp(t.bad.reason[i], "bad JSON: ", 10), 0), "%s",
			  t.bad.reason[i]);
	cr_assert(eq(sz, t.bad.raw_len[1], strlen("not json at all")));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->records, 6));
}

Test(decode, other_categories_are_skipped_not_malformed)
{
	th_str(&t, "{\"category\":\"Audit\",\"time\":\"2025-11-04T14:00:00Z\",\"operationName\":"
		   "\"ListKey\"}");
	th_str(&t, "{\"category\":\"Administrative\",\"time\":\"2025-11-04T14:00:00Z\","
		   "\"operationName\":\"Microsoft.Storage/storageAccounts/"
		   "write\",\"resultType\":\"Success\"}");
	th_str(&t, "{\"time\":\"2025-11-04T14:00:00Z\",\"metricName\":\"CpuTime\",\"total\":1,"
		   "\"resourceId\":\"/X/Y\"}");
	th_str(&t, "{\"time\":\"2025-11-04T14:00:00Z\",\"hello\":1}");
	cr_assert(eq(sz, t.out.n, 0));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->skipped, 3));
	cr_assert(eq(sz, t.bad.n, 1));
	cr_assert(eq(str, t.bad.reason[0],
		     "not a record of a known category: no 'category' or 'metricName'"));
}

Test(decode, envelope_keeps_good_records_around_a_bad_one)
{
	th_str(&t, "{\"records\":[" RR_HEAD "\"time\":\"2025-11-04T14:00:00Z\",\"properties\":"
		   "{\"modelDeploymentName\":\"a\"}}, 42, " RR_HEAD "\"properties\":"
		   "{\"modelDeploymentName\":\"b\"}}, " RR_HEAD "\"time\":\"2025-11-04T14:00:01Z\","
		   "\"properties\":{\"modelDeploymentName\":\"c\"}}]}");
	cr_assert(eq(sz, t.out.n, 2));
	cr_assert(eq(str, th_sym(&t, ev(1)->deployment), "c"));
	cr_assert(eq(sz, t.bad.n, 2));
	cr_assert(eq(str, t.bad.reason[0], "a record must be a JSON object"));
	cr_assert(eq(str, t.bad.reason[1], "missing field 'time'"));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->records, 4));
}

Test(decode, array_of_envelopes)
{
	th_str(&t, "[{\"records\":[{\"category\":\"tripline\",\"time\":\"2025-11-04T14:00:00Z\","
		   "\"deployment\":\"a\"}]},{\"records\":[{\"category\":\"tripline\",\"time\":"
		   "\"2025-11-04T14:00:01Z\",\"deployment\":\"b\"},{\"category\":\"tripline\","
		   "\"time\":\"2025-11-04T14:00:02Z\",\"deployment\":\"c\"}]}]");
	cr_assert(eq(sz, t.out.n, 3));
	cr_assert(eq(sz, t.bad.n, 0));
	cr_assert(eq(str, th_sym(&t, ev(2)->deployment), "c"));
}

Test(decode, broken_envelope_keeps_records_before_the_break)
{
	th_str(&t, "{\"records\":[{\"category\":\"tripline\",\"time\":\"2025-11-04T14:00:00Z\","
		   "\"deployment\":\"a\"},{\"category\":\"tripline\",\"time\" 1}]}");
	cr_assert(eq(sz, t.out.n, 1));
	cr_assert(eq(sz, t.bad.n, 1));
	cr_assert(eq(int, strncmp(t.bad.reason[0], "bad JSON", 8), 0));
}

Test(decode, oversize_record_is_malformed)
{
	size_t n = TL_MAX_RECORD + 100;
	char *big = malloc(n + 1);

	memset(big, ' ', n);
	memcpy(big, "{\"category\":\"tripline\",\"x\":\"", 28);
	big[n - 2] = '"';
	big[n - 1] = '}';
	big[n] = '\0';
	th_unit(&t, big, n);
	cr_assert(eq(sz, t.out.n, 0));
	cr_assert(eq(sz, t.bad.n, 1));
	cr_assert(eq(str, t.bad.reason[0], "record larger than 1 MiB"));
	cr_assert(eq(sz, t.bad.raw_len[0], TL_MAX_RECORD));
	free(big);
}

static void on_truncated(void *ud, const struct tl_malformed *m)
{
	*(int *)ud = m->raw_truncated;
}

Test(decode, oversize_record_is_reported_truncated)
{
	struct tl_symtab *syms = tl_symtab_new(16);
	int err = 0, truncated = -1;
	struct tl_decoder *dec = tl_decoder_new(syms, on_truncated, &truncated, &err);
	const size_t n = TL_MAX_RECORD + 100;
	char *big = malloc(n + TL_UNIT_PADDING);
	const struct tl_unit u = { .data = big, .len = n, .line = 1 };

	cr_assert(ne(ptr, dec, NULL));
	memset(big, ' ', n + TL_UNIT_PADDING);
	memcpy(big, "{\"x\":\"", 6);
	memcpy(big + n - 2, "\"}", 2);
	cr_assert(eq(int, tl_decoder_unit(dec, &u, &t.out), 0));
	cr_assert(eq(int, truncated, 1), "only the first TL_MAX_RECORD bytes are passed on");
	tl_decoder_free(dec);
	tl_symtab_free(syms);
	free(big);
}

/* ---- APIM bodies ------------------------------------------------------------------------ */

#define GW_HEAD                                                                                    \
	"{\"category\":\"GatewayLogs\",\"time\":\"2025-11-04T14:00:00Z\",\"correlationId\":\"g\"," \
	"\"resourceId\":\"/S/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APIM-X\",\"durationMs\":9,"

Test(decode, content_filter_error_body_is_a_guardrail_failure)
{
	th_str(&t, GW_HEAD
	       "\"properties\":{\"responseCode\":400,\"backendUrl\":\"https://a/openai/"
	       "deployments/dep/chat/completions\",\"backendResponseBody\":\"{\\\"error\\\":"
	       "{\\\"code\\\":\\\"content_filter\\\",\\\"status\\\":400}}\"}}");
	cr_assert(eq(sz, t.bad.n, 0), "%s", t.bad.reason[0]);
	cr_assert(has(ev(0), TL_EVF_GUARDRAIL_CHECKED));
	cr_assert(has(ev(0), TL_EVF_GUARDRAIL_FAILED));
	cr_assert(eq(str, th_sym(&t, ev(0)->deployment), "dep"));
}

Test(decode, finish_reason_refusal_and_usage_from_body)
{
	th_str(&t, GW_HEAD
	       "\"properties\":{\"responseCode\":200,\"url\":\"https://g/openai/"
	       "deployments/dep/chat?x=1\",\"backendResponseBody\":\"{\\\"model\\\":"
	       "\\\"gpt-4o-2024-08-06\\\",\\\"choices\\\":[{\\\"finish_reason\\\":\\\"stop\\\","
	       "\\\"message\\\":{\\\"refusal\\\":null}},{\\\"finish_reason\\\":"
	       "\\\"content_filter\\\",\\\"message\\\":{\\\"refusal\\\":\\\"I can't\\\"}}],"
	       "\\\"usage\\\":{\\\"prompt_tokens\\\":10,\\\"completion_tokens\\\":3,"
	       "\\\"prompt_tokens_details\\\":{\\\"cached_tokens\\\":4}}}\"}}");
	cr_assert(eq(sz, t.bad.n, 0), "%s", t.bad.reason[0]);
	const struct tl_event *e = ev(0);

	cr_assert(has(e, TL_EVF_GUARDRAIL_FAILED));
	cr_assert(has(e, TL_EVF_REFUSAL));
	cr_assert(has(e, TL_EVF_TOKENS));
	cr_assert(eq(u32, e->u.req.tokens_in, 10));
	cr_assert(eq(u32, e->u.req.tokens_out, 3));
	cr_assert(eq(u32, e->u.req.tokens_cached, 4));
	cr_assert(eq(str, th_sym(&t, e->model_version), "2024-08-06"));
}

Test(decode, clean_body_is_checked_and_passes)
{
	th_str(&t, GW_HEAD
	       "\"properties\":{\"responseCode\":200,\"url\":\"/openai/deployments/dep/x\","
	       "\"backendResponseBody\":\"{\\\"choices\\\":[{\\\"finish_reason\\\":\\\"stop\\\","
	       "\\\"message\\\":{\\\"refusal\\\":null}}]}\"}}");
	cr_assert(has(ev(0), TL_EVF_GUARDRAIL_CHECKED));
	cr_assert(eq(int, ev(0)->flags &(TL_EVF_GUARDRAIL_FAILED | TL_EVF_REFUSAL), 0));
}

Test(decode, streamed_body_is_read_chunk_by_chunk)
{
	th_str(&t, GW_HEAD
	       "\"properties\":{\"responseCode\":200,\"url\":\"/openai/deployments/dep/x\","
	       "\"backendResponseBody\":\"data: {\\\"choices\\\":[{\\\"delta\\\":{\\\"content\\\":"
	       "\\\"hi\\\"}}]}\\n\\ndata: {\\\"choices\\\":[{\\\"finish_reason\\\":"
	       "\\\"content_filter\\\",\\\"delta\\\":{}}]}\\n\\ndata: [DONE]\\n\"}}");
	cr_assert(eq(sz, t.bad.n, 0), "%s", t.bad.reason[0]);
	cr_assert(has(ev(0), TL_EVF_GUARDRAIL_FAILED));
}

Test(decode, truncated_body_counts_but_is_not_malformed)
{
	th_str(&t,
	       GW_HEAD "\"properties\":{\"responseCode\":200,\"url\":\"/openai/deployments/dep/x\","
		       "\"backendResponseBody\":\"{\\\"choices\\\":[{\\\"finish_rea\"}}");
	cr_assert(eq(sz, t.bad.n, 0));
	cr_assert(eq(sz, t.out.n, 1));
	cr_assert(eq(int, ev(0)->flags &TL_EVF_GUARDRAIL_CHECKED, 0));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->bodies_unreadable, 1));
}

Test(decode, gateway_call_without_a_deployment_is_skipped)
{
	th_str(&t,
	       GW_HEAD "\"properties\":{\"responseCode\":200,\"url\":\"https://g/status-0123\"}}");
	th_str(&t, GW_HEAD "\"properties\":{\"responseCode\":200}}");
	cr_assert(eq(sz, t.out.n, 0));
	cr_assert(eq(u64, tl_decoder_stats(t.dec)->skipped, 1));
	cr_assert(eq(sz, t.bad.n, 1));
}

Test(decode, llm_log_in_pascal_case)
{
	th_str(&t,
	       "{\"category\":\"GatewayLlmLogs\",\"time\":\"2025-11-04T14:00:00Z\","
	       "\"resourceId\":\"/S/SERVICE/APIM-X\",\"properties\":{\"DeploymentName\":\"dep\","
	       "\"ModelName\":\"gpt-4o-mini\",\"PromptTokens\":\"12\",\"CompletionTokens\":5}}");
	cr_assert(eq(sz, t.bad.n, 0), "%s", t.bad.reason[0]);
	cr_assert(eq(u32, ev(0)->u.req.tokens_in, 12));
	cr_assert(eq(u32, ev(0)->u.req.tokens_out, 5));
	cr_assert(eq(str, th_sym(&t, ev(0)->model), "gpt-4o-mini"));
}

Test(decode, llm_log_sequence_number_is_a_chunk_number)
{
	static const char *const seq[] = { "-1", "1.5", "1e300", "0", "\"2\"" };
	char rec[512];

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		(void)snprintf(rec, sizeof(rec),
			       "{\"category\":\"GatewayLlmLogs\",\"time\":\"2025-11-04T14:00:00Z\","
			       "\"correlationId\":\"c\",\"resourceId\":\"/S/SERVICE/APIM-X\","
			       "\"properties\":{\"deploymentName\":\"dep\",\"sequenceNumber\":%s,"
			       "\"promptTokens\":3}}",
			       seq[i]);
		th_str(&t, rec);
	}
	cr_assert(eq(sz, t.out.n, 2));
	cr_assert(eq(u32, ev(0)->u.req.tokens_in, 3), "chunk 0 carries the tokens");
	cr_assert(eq(int, ev(1)->flags &TL_EVF_TOKENS, 0), "chunk 2 does not");
	cr_assert(ne(u64, ev(0)->fingerprint, ev(1)->fingerprint));
	cr_assert(eq(sz, t.bad.n, 3));
	cr_assert(
	    eq(str, t.bad.reason[0], "field 'properties.sequenceNumber': not a chunk number: -1"));
	cr_assert(
	    eq(str, t.bad.reason[1], "field 'properties.sequenceNumber': not a chunk number: 1.5"));
}

/* ---- native events ---------------------------------------------------------------------- */

Test(decode, native_event_with_every_field)
{
	th_str(&t,
	       "{\"category\":\"tripline\",\"time\":\"2026-03-09T07:15:00.000Z\",\"resource\":"
	       "\"app-checkout\",\"deployment\":\"chat-main\",\"model\":\"gpt-4o\","
	       "\"model_version\":\"2024-11-20\",\"prompt_version\":\"v12\",\"request_id\":\"r1\","
	       "\"latency_ms\":812,\"status\":200,\"tokens_in\":1016,\"tokens_out\":402,"
	       "\"tokens_cached\":768,\"guardrail\":\"pass\",\"refusal\":false}");
	cr_assert(eq(sz, t.bad.n, 0), "%s", t.bad.reason[0]);
	const struct tl_event *e = ev(0);

	cr_assert(eq(str, th_sym(&t, e->resource), "APP-CHECKOUT"));
	cr_assert(eq(str, th_sym(&t, e->prompt_version), "v12"));
	cr_assert(eq(flt, e->u.req.latency_ms, 812.0f));
	cr_assert(eq(u32, e->u.req.tokens_cached, 768));
	cr_assert(has(e, TL_EVF_GUARDRAIL_CHECKED));
	cr_assert(has(e, TL_EVF_REFUSAL_CHECKED));
	cr_assert(eq(int, e->flags &(TL_EVF_GUARDRAIL_FAILED | TL_EVF_REFUSAL), 0));
	cr_assert(ne(u64, e->fingerprint, 0));
}

Test(decode, native_event_needs_only_time_and_deployment)
{
	th_str(
	    &t,
	    "{\"category\":\"tripline\",\"time\":\"2026-03-09T07:15:00Z\",\"deployment\":\"d\"}");
	th_str(&t,
	       "{\"category\":\"tripline\",\"time\":\"2026-03-09T07:15:00Z\",\"deployment\":\"d\","
	       "\"guardrail\":\"maybe\"}");
	th_str(&t,
	       "{\"category\":\"tripline\",\"time\":\"2026-03-09T07:15:00Z\",\"deployment\":\"d\","
	       "\"refusal\":\"no\"}");
	cr_assert(eq(sz, t.out.n, 1));
	cr_assert(eq(int, ev(0)->flags, 0));
	cr_assert(eq(u64, ev(0)->fingerprint, 0), "no request_id: nothing to deduplicate on");
	cr_assert(eq(sz, t.bad.n, 2));
	cr_assert(eq(str, t.bad.reason[1], "field 'refusal': expected a boolean, got a string"));
}

Test(decode, duplicate_records_share_a_fingerprint)
{
	const char *rec = RR_HEAD
	    "\"time\":\"2025-11-04T14:00:00Z\",\"properties\":{\"modelDeploymentName\":\"d\"}}";

	th_str(&t, rec);
	th_str(&t, rec);
	th_str(&t, RR_HEAD
	       "\"time\":\"2025-11-04T14:00:01Z\",\"properties\":{\"modelDeploymentName\":\"d\"}}");
	cr_assert(eq(sz, t.out.n, 3));
	cr_assert(eq(u64, ev(0)->fingerprint, ev(1)->fingerprint));
	cr_assert(ne(u64, ev(0)->fingerprint, ev(2)->fingerprint));
}

Test(decode, gateway_body_and_llm_log_of_one_request_share_a_usage_key)
{
	th_str(&t,
	       GW_HEAD "\"properties\":{\"responseCode\":200,\"url\":\"/openai/deployments/dep/x\","
		       "\"backendResponseBody\":\"{\\\"usage\\\":{\\\"prompt_tokens\\\":5,"
		       "\\\"completion_tokens\\\":2}}\"}}");
	th_str(
	    &t,
	    "{\"category\":\"GatewayLlmLogs\",\"time\":\"2025-11-04T14:00:01Z\",\"correlationId\":"
	    "\"g\",\"resourceId\":\"/S/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APIM-X\","
	    "\"properties\":{\"deploymentName\":\"dep\",\"promptTokens\":5,\"completionTokens\":2}"
	    "}");
	cr_assert(eq(sz, t.out.n, 2), "%s", t.bad.reason[0]);
	cr_assert(ne(u64, ev(0)->usage_key, 0));
	cr_assert(eq(u64, ev(0)->usage_key, ev(1)->usage_key));
	cr_assert(ne(u64, ev(0)->fingerprint, ev(1)->fingerprint));
}
