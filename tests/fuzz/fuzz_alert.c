/*
 * tests/fuzz/fuzz_alert.c - fuzz the trigger event reader and the webhook formats
 * (tools/alert_format.c). The input bytes are one event line. Invariants: a line that reads
 * renders in every format; every body is exactly one valid JSON value (tests/json_check.h,
 * strict RFC 8259 with UTF-8), with no trailing newline; rendering is deterministic (the
 * same event twice gives the same bytes); a failure leaves a message and the request as
 * it was.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../json_check.h"
#include "alert_format.h"
#include "fuzz.h"

static struct tl_alert_format *af;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct tl_alert_event *ev;
	struct tl_alert_request req = { 0 }, again = { 0 };
	char err[256] = "";
	bool cpu_ok;

	if (!af) {
		af = tl_alert_format_new(&cpu_ok);
		FUZZ_CHECK(af);
	}
	if (tl_alert_format_read(af, (const char *)data, size, &ev, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0]);
		return 0;
	}
	for (int f = 0; f < TL_ALERT_FMT_COUNT; f++) {
		const struct tl_alert_sink sink = { (enum tl_alert_fmt)f, "fuzz-routing-key" };

		FUZZ_CHECK(tl_alert_format_render(af, ev, &sink, &req, err, sizeof(err)) == 0);
		FUZZ_CHECK(req.body.p && req.body.n == strlen(req.body.p));
		FUZZ_CHECK(json_valid(req.body.p, req.body.n));
		FUZZ_CHECK(req.body.p[req.body.n - 1] != '\n');
		FUZZ_CHECK(req.method && req.path && req.content_type);
		FUZZ_CHECK(tl_alert_format_render(af, ev, &sink, &again, err, sizeof(err)) == 0);
		FUZZ_CHECK(again.body.n == req.body.n &&
			   memcmp(again.body.p, req.body.p, req.body.n) == 0);
	}
	/* pagerduty without a key fails, and leaves the request alone */
	const struct tl_alert_sink nokey = { TL_ALERT_FMT_PAGERDUTY, NULL };
	const size_t n = req.body.n;

	err[0] = '\0';
	FUZZ_CHECK(tl_alert_format_render(af, ev, &nokey, &req, err, sizeof(err)) == TL_EVALUE);
	FUZZ_CHECK(err[0] && req.body.n == n);
	tl_alert_request_fini(&req);
	tl_alert_request_fini(&again);
	return 0;
}
