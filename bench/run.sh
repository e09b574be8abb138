#!/usr/bin/env bash
# Build tripline for release, generate the corpora, run the benchmarks; print figures.
#   bench/run.sh            everything (about 10 minutes on 2 cores; 3 GB of disk in build/)
#   bench/run.sh decode     only the decode benchmark (likewise: engine, replay, memory, retain)
#   bench/run.sh compare    tripline beside DuckDB, pandas, jq and simdjson alone (bench/compare.sh;
#                           about 5 minutes more; installs those tools if missing)
#   bench/run.sh stream     tripline run end to end through the embedded hub (bench/stream.sh:
#                           throughput, memory over a 50 M-record stream, arrival-to-trigger
#                           latency at 100 k records/s; about 15 minutes, 3.6 GB more in
#                           build/); stream-throughput, stream-backlog, stream-latency: one part
#   bench/run.sh deliver    replay and run beside a webhook receiver taking 2 s per request
#                           (bench/deliver.sh; about 3 minutes after the stream corpus exists)
# Figures are medians of repeated runs; see bench/RESULTS.md for what they were last time.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# figures from a build/ configured by hand (debug, say) would mislead: measure a release build
if ! meson introspect --buildoptions build | grep -q '"name": "buildtype", "value": "release"'; then
	echo "bench: reconfiguring build/ for release" >&2
	meson configure build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null # all of it: the replay figure is the tripline binary's
t=build/tools/tripline
c=${TL_BENCH_DIR:-build/bench-corpus}
mkdir -p "$c"
what=${1:-all}

corpus() { # name, gen options: generated once, kept
	[[ -s $c/$1 ]] || "$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --out "$c/$1" "${@:2}"
}

echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

if [[ $what == all || $what == decode ]]; then
	corpus rr-1m.ndjson --format ndjson --kind rr --records 1000000 --scale 50
	corpus gateway-1m.ndjson --format ndjson --kind gateway --records 1000000 --scale 50
	echo "## decode: RequestResponse, 1 M records, properties as a JSON string"
	build/bench/bench_decode --repeat 5 "$c/rr-1m.ndjson"
	echo "## decode: APIM GatewayLogs with response bodies and GatewayLlmLogs, 1 M records"
	build/bench/bench_decode --repeat 5 "$c/gateway-1m.ndjson"
fi
if [[ $what == all || $what == memory ]]; then
	echo "## decode memory: 10 M RequestResponse records streamed from the generator"
	"$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --format ndjson --kind rr \
		--records 10000000 --scale 50 --out - | build/bench/bench_decode --repeat 1 - |
		grep -E 'records|peak_rss|rate '
fi
if [[ $what == all || $what == engine ]]; then
	# series, requests/s each: many quiet series, then few busy ones; every case stays within
	# the default duplicate window (8 M fingerprints: about 20 k events/s of event time with
	# the default 2-minute lateness, which sets its slices)
	for shape in "1000 1" "10000 1" "100000 0.1" "100 150"; do
		read -r n rate <<<"$shape"
		echo "## engine: $n series at $rate requests/s each, pre-decoded events, 24 h horizon"
		build/bench/bench_engine --series "$n" --rate "$rate" --events 20000000 --repeat 3
	done
fi
if [[ $what == all || $what == replay ]]; then
	corpus rr-1m.ndjson --format ndjson --kind rr --records 1000000 --scale 50
	echo "## replay end to end: 1 M RequestResponse records, all rules, 1 thread, without and"
	echo "## with evidence (retention, change correlation, journal), 7 interleaved pairs"
	for i in 1 2 3 4 5 6 7; do
		for mode in --no-evidence evidence; do
			rm -rf "$c/out"
			opt=$mode
			[[ $mode == evidence ]] && opt=
			printf '%s ' "$mode"
			# shellcheck disable=SC2086 # opt is one option or none
			/usr/bin/time -f '%e %U %S %M' "$t" replay --quiet $opt --out "$c/out" \
				"$c/rr-1m.ndjson" 2>&1 >/dev/null | tail -1
		done
	done | awk '
		function med(a, n,   i, j, t) { # sorts a[1..n] in place
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ k = $1 == "evidence"; n[k]++; w[k, n[k]] = $2; u[k, n[k]] = $3 + $4; m[k, n[k]] = $5
		  if (k) { r[n[1]] = $2 / w[0, n[1]] } }
		END {
			for (k = 0; k <= 1; k++) {
				for (i = 1; i <= n[k]; i++) { a[i] = w[k, i]; b[i] = u[k, i]; c[i] = m[k, i] }
				name = k ? "replay_evidence" : "replay"
				wm = med(a, n[k])
				printf "%s_wall_median %.3f s\n%s_rate %.3f Mrecords/s\n", name, wm, name, 1.0 / wm
				printf "%s_cpu_median %.3f s\n%s_peak_rss %.1f MiB\n", name, med(b, n[k]), name, med(c, n[k]) / 1024
			}
			printf "replay_evidence_over_without %.3f (median of the pairs)\n", med(r, n[1])
		}'
fi
if [[ $what == all || $what == retain ]]; then
	corpus rr-1m.ndjson --format ndjson --kind rr --records 1000000 --scale 50
	echo "## retain: 1 M RequestResponse records over 1000 series, default bounds"
	build/bench/bench_retain --repeat 5 --series 1000 "$c/rr-1m.ndjson"
	echo "## retain: the same, every block compressed as it is sealed"
	build/bench/bench_retain --repeat 5 --series 1000 --max-raw 1 "$c/rr-1m.ndjson"
fi
if [[ $what == all || $what == compare ]]; then
	corpus rr-1m.ndjson --format ndjson --kind rr --records 1000000 --scale 50
	echo "## side by side: 1 M RequestResponse records; tripline (all rules), the latency rule"
	echo "## in DuckDB and pandas, jq extracting fields, simdjson alone; interleaved, median of 5"
	bench/compare.sh "$c/rr-1m.ndjson"
fi
if [[ $what == all || $what == stream* ]]; then
	part=${what#stream}
	bench/stream.sh "$t" "$c" "${part#-}"
fi
if [[ $what == all || $what == deliver ]]; then
	bench/deliver.sh "$t" "$c"
fi
