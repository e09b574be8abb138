#!/usr/bin/env bash
# Build tripline for release, generate the corpora, run the benchmarks; print figures.
#   bench/run.sh            everything below (about 40 minutes on 2 cores; 7 GB of disk in build/)
#   bench/run.sh decode     only the decode benchmark (likewise: engine, replay, memory, retain)
#   bench/run.sh snapshot   evidence snapshots of the built-in day rewritten and read back by
#                           the production writer (bench_snapshot): compression ratio, MB/s
#   bench/run.sh quality    detection quality (bench/quality.sh): every labelled scenario (the
#                           built-in day, bench/scenarios/*.yaml but series-*) replayed with the
#                           default rules and scored against its labels: per rule precision,
#                           recall, time to detect; every missed label and false alarm named;
#                           exits 1 if a label to fire is missed or one not to fire fires
#   bench/run.sh series     memory and throughput against series count (1 k, 10 k, 100 k): the
#                           engine alone (bench_engine) and, where bench/scenarios/series-*.yaml
#                           exist, replay end to end; written to build/bench-results/series.dat
#                           and drawn by bench/plot.sh into bench/series.png (gnuplot; installs
#                           Debian gnuplot-nox if missing)
#   bench/run.sh compare    tripline beside DuckDB, pandas, jq and simdjson alone (bench/compare.sh;
#                           about 5 minutes more; installs those tools if missing)
#   bench/run.sh stream     tripline run end to end through the embedded hub (bench/stream.sh:
#                           throughput, memory over a 50 M-record stream, arrival-to-trigger
#                           latency at 100 k records/s; about 15 minutes, 3.6 GB more in
#                           build/); stream-throughput, stream-backlog, stream-latency: one part
#   bench/run.sh deliver    replay and run beside a webhook receiver taking 2 s per request
#                           (bench/deliver.sh; about 3 minutes after the stream corpus exists)
#   bench/run.sh instructions  instructions counted by valgrind's callgrind (bench/instructions.sh)
#                           for replay and decode of 100 k records: deterministic where times
#                           swing with the machine; TL_BENCH_BASE=DIR (a release build of
#                           another commit) adds its counts beside; about 3 minutes
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

machine="$(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# $machine"

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
	for _ in 1 2 3 4 5 6 7; do
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
if [[ $what == all || $what == snapshot ]]; then
	corpus day.ndjson.zst --format ndjson
	rm -rf "$c/snap-out" "$c/snap-write"
	mkdir -p "$c/snap-write"
	"$t" replay --quiet --out "$c/snap-out" "$c/day.ndjson.zst" >/dev/null
	echo "## snapshots: the built-in day's (one per trigger), rewritten and read back, median of 9"
	build/bench/bench_snapshot --repeat 9 --dir "$c/snap-write" "$c"/snap-out/snapshots/*.zst
fi
quality=0
if [[ $what == all || $what == quality ]]; then
	bench/quality.sh "$t" "$c" || quality=$? # the rest still runs; the status says it at the end
fi
if [[ $what == all || $what == series ]]; then
	# the same 10 k requests/s of event time at every count (well within the duplicate
	# window), so that only the number of series changes
	r=build/bench-results
	mkdir -p "$r"
	rm -f "$r"/series-*.txt
	for shape in "1000 10" "10000 1" "100000 0.1"; do
		read -r n rate <<<"$shape"
		echo "## series: engine alone, $n series at $rate requests/s each, pre-decoded events"
		build/bench/bench_engine --series "$n" --rate "$rate" --events 10000000 --repeat 3 |
			tee "$r/series-engine-$n.txt"
	done
	# replay end to end: each scenario's first hours generated once, then 3 rounds of a replay
	# without evidence and one with (journal, retention, snapshots), in turn; medians
	hours=${TL_SERIES_HOURS:-3}
	for f in bench/scenarios/series-*.yaml; do
		if [[ ! -e $f ]]; then
			echo "## series: no bench/scenarios/series-*.yaml, so no replay end to end"
			break
		fi
		name=$(basename "$f" .yaml)
		k=${name#series-}
		[[ $k =~ ^[0-9]+k$ ]] || continue # series-10k: 10 000 series
		n=$((${k%k} * 1000))
		corpus "$name-${hours}h.ndjson" --scenario "$f" --format ndjson --hours "$hours"
		echo "## series: replay end to end, $f (the first $hours h), 1 thread, 3 rounds"
		for _ in 1 2 3; do
			for mode in --no-evidence evidence; do
				rm -rf "$c/out"
				opt=$mode
				[[ $mode == evidence ]] && opt=
				printf '%s ' "$mode"
				# shellcheck disable=SC2086 # opt is one option or none
				/usr/bin/time -f '%e %U %S %M' "$t" replay --quiet $opt --stats "$r/series-stats.json" \
					--out "$c/out" "$c/$name-${hours}h.ndjson" 2>&1 >/dev/null | tail -1
			done
		done >"$r/series-times.txt"
		awk -v n="$n" -v recs="$(jq .records.read "$r/series-stats.json")" \
			-v seen="$(jq '.series | length' "$r/series-stats.json")" -v out="$r/series-replay-$n.txt" '
			function med(a, n,   i, j, t) { # sorts a[1..n] in place
				for (i = 2; i <= n; i++)
					for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			}
			{ e = $1 == "evidence"; k[e]++; w[e, k[e]] = $2; u[e, k[e]] = $3 + $4; m[e, k[e]] = $5 / 1024
			  printf "%s: wall %.2f s, CPU %.2f s, peak RSS %.1f MiB\n", $1, $2, $3 + $4, $5 / 1024 }
			END {
				printf "replay_series %d series seen\nreplay_records %d records\n", seen, recs
				line = n
				for (e = 0; e <= 1; e++) {
					for (i = 1; i <= k[e]; i++) { a[i] = w[e, i]; b[i] = u[e, i]; c[i] = m[e, i] }
					name = e ? "replay_evidence" : "replay"
					wm = med(a, k[e]); um = med(b, k[e]); mm = med(c, k[e])
					printf "%s_wall_median %.3f s\n%s_rate %.3f Mrecords/s\n", name, wm, name, recs / wm / 1e6
					printf "%s_cpu_median %.3f s\n%s_peak_rss_median %.1f MiB\n", name, um, name, mm
					line = line sprintf(" %.0f %.3f %.1f", recs / wm, um, mm)
					if (!e)
						line = line sprintf(" %d %d", recs, seen)
				}
				print line > out
			}' "$r/series-times.txt"
	done
	{
		echo "# machine: $machine"
		echo "# note: engine: pre-decoded events, 10 k requests/s of event time in all; replay:" \
			"the first $hours h of bench/scenarios/series-*.yaml, one file each"
		echo "# series  engine_events/s  engine_peak_rss_MiB  engine_memory_MiB" \
			"replay_records/s  replay_cpu_s  replay_peak_rss_MiB  replay_records  replay_series" \
			"evidence_records/s  evidence_cpu_s  evidence_peak_rss_MiB"
		for n in 1000 10000 100000; do
			awk -v n="$n" '
				$1 == "engine_rate" { rate = $2 * 1e6 }
				$1 == "engine_peak_rss" { rss = $2 }
				$1 == "engine_memory" { mem = $2 }
				END { printf "%s %.0f %s %s", n, rate, rss, mem }' "$r/series-engine-$n.txt"
			if [[ -s $r/series-replay-$n.txt ]]; then
				cut -d' ' -f2- "$r/series-replay-$n.txt" | sed 's/^/ /'
			else
				echo " - - - - - - - -"
			fi
		done
	} >"$r/series.dat"
	echo "## series: $r/series.dat"
	cat "$r/series.dat"
	bench/plot.sh "$r/series.dat" bench/series.png
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
if [[ $what == all || $what == instructions ]]; then
	base=()
	[[ -z ${TL_BENCH_BASE:-} ]] ||
		base=("$TL_BENCH_BASE/tools/tripline" "$TL_BENCH_BASE/bench/bench_decode")
	bench/instructions.sh "$t" build/bench/bench_decode "$c" "${base[@]}"
fi
if ((quality)); then
	echo "bench: the quality report failed (a label to fire missed, or one not to fire fired)" >&2
	exit "$quality"
fi
