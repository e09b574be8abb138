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
build/tools/tripline replay --out build/demo-out --stats build/demo-out/stats.json "$day"
echo "tripline demo: counts per deployment in build/demo-out/stats.json" >&2
