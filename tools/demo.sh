#!/usr/bin/env bash
# The main job on the embedded default: build tripline, then stream a generated day through
# the embedded Kafka-protocol hub (librdkafka's mock cluster on loopback) at 1200x: an Azure
# OpenAI account and an APIM gateway, with real incidents in it (a latency regression after a
# model version change, a 5xx burst, throttling, a content-filter spike, refusals, a token
# runaway). Trigger events go to stdout as they fire; status and the summary to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

rm -rf build/demo-out # a fresh journal and checkpoint: a second run would resume the first
echo "tripline demo: streaming the generated day from the embedded hub (about 75 s)" >&2
build/tools/tripline run --out build/demo-out --metrics off
echo "tripline demo: the incident journal:" >&2
build/tools/tripline incidents list --out build/demo-out >&2
latency=$(build/tools/tripline incidents list --out build/demo-out | awk '$2 == "latency" {print $1; exit}')
echo "tripline demo: evidence snapshots in build/demo-out/snapshots (zstdcat FILE | jq);" \
	"a postmortem draft: build/tools/tripline postmortem $latency --out build/demo-out;" \
	"the same day as files: build/tools/tripline replay build/demo-out/hub/day.ndjson.zst" >&2
