#!/usr/bin/env bash
# The main job on the embedded default: build tripline, generate the bundled sample day (an
# Azure OpenAI account and an APIM gateway, with real incidents in it: a latency regression
# after a model version change, a 5xx burst, throttling, a content-filter spike, refusals)
# and replay it. Trigger events go to stdout, the summary to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

day=build/sample-day
if [[ ! -f $day.labels.json ]]; then
	rm -rf "$day"
	build/tools/tripline gen --out "$day" --seed 1
fi
echo "tripline demo: replaying $day (incidents listed in $day.labels.json)" >&2
rm -rf build/demo-out # a fresh journal: a second run would record the same incidents again
build/tools/tripline replay --out build/demo-out --stats build/demo-out/stats.json "$day"
echo "tripline demo: counts per deployment in build/demo-out/stats.json; the incident journal:" >&2
build/tools/tripline incidents list --out build/demo-out >&2
latency=$(build/tools/tripline incidents list --out build/demo-out | awk '$2 == "latency" {print $1; exit}')
echo "tripline demo: evidence snapshots in build/demo-out/snapshots (zstdcat FILE | jq);" \
	"a postmortem draft: build/tools/tripline postmortem $latency --out build/demo-out" >&2
