/*
 * tests/fuzz/fuzz_scenario.c - fuzz the `tripline gen` scenario reader (tools/scenario.c).
 * The input bytes are one scenario file. Invariants: the parse ends; a refusal names the file
 * and a line ("NAME:N: ..."); a scenario that parses is within every bound gen relies on
 * (names it can write unescaped, incidents that end after they start, references that name
 * a deployment and a replica of it, the series and rate limits).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "scenario.h"

static bool name_ok(const char *s)
{
	const size_t n = strnlen(s, TL_SCN_NAME_MAX);

	return n >= 1 && n < TL_SCN_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char name[] = "fuzz.yaml";
	struct tl_scenario s;
	char err[600] = "";
	int r = tl_scenario_parse(name, (const char *)data, size, &s, err, sizeof(err));

	if (r < 0) {
		FUZZ_CHECK(s.n_deployments == 0 && !s.deployments);
		FUZZ_CHECK(strncmp(err, "fuzz.yaml:", 10) == 0 && err[10] >= '1' && err[10] <= '9');
		return 0;
	}
	uint64_t series = 0;
	double rate = 0;

	FUZZ_CHECK(s.n_deployments >= 1 && s.n_deployments <= TL_SCN_MAX_DEPLOYMENTS);
	for (size_t i = 0; i < s.n_deployments; i++) {
		const struct tl_scn_deployment *d = &s.deployments[i];

		FUZZ_CHECK(name_ok(d->name) && name_ok(d->model) && name_ok(d->version));
		FUZZ_CHECK(d->replicas >= 1 && d->replicas <= TL_SCN_MAX_SERIES);
		FUZZ_CHECK(d->peak_rate >= 0 && d->stream_share >= 0 && d->stream_share <= 1);
		FUZZ_CHECK(d->latency_ms >= 1 && d->ttfb_ms >= 1 && d->latency_sigma <= 2);
		series += d->replicas;
		rate += d->peak_rate * d->replicas;
	}
	FUZZ_CHECK(series == s.n_series && series <= TL_SCN_MAX_SERIES);
	FUZZ_CHECK(rate <= TL_SCN_MAX_RATE);
	for (size_t i = 0; i < s.n_incidents; i++) {
		const struct tl_scn_incident *x = &s.incidents[i];

		FUZZ_CHECK(x->deployment < s.n_deployments);
		FUZZ_CHECK(x->replica >= -1 &&
			   (x->replica < 0 ||
			    (uint32_t)x->replica < s.deployments[x->deployment].replicas));
		FUZZ_CHECK(x->start_s >= 0 && x->start_s < x->end_s && x->end_s <= 86400);
		FUZZ_CHECK(x->amount >= 0 && x->amount <= 1000);
		FUZZ_CHECK(x->effect <= TL_SCN_TOKENS);
		FUZZ_CHECK(strcmp(tl_scenario_effect_name(x->effect), "?") != 0);
	}
	for (size_t i = 0; i < s.n_changes; i++) {
		const struct tl_scn_change *x = &s.changes[i];

		FUZZ_CHECK(x->deployment < s.n_deployments && name_ok(x->version));
		FUZZ_CHECK(x->replica >= 0 || s.deployments[x->deployment].replicas == 1);
		FUZZ_CHECK(x->at_s >= 0 && x->at_s + TL_SCN_CHANGE_TAKES_S < 86400);
	}
	tl_scenario_fini(&s);
	return 0;
}
