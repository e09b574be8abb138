#!/usr/bin/env bash
# Streaming end to end (issue 5): `tripline run` with the embedded hub (librdkafka's mock
# cluster, in the same process) fed Event Hubs batches of 20-100 records per Kafka message,
# through to trigger events on stdout. Called by `bench/run.sh stream` after it has built a
# release build/ and printed the machine line:
#   bench/stream.sh TRIPLINE CORPUS_DIR [all|throughput|backlog|latency]
#   TL_STREAM_RUNS=N        runs of each throughput case (default 5; medians printed)
#   TL_STREAM_BACKLOG=N     records streamed in the memory case (default 50000000)
#
# throughput  A day of RequestResponse records at 20x the built-in rates (2.66 M records,
#             2.3 GB; 8 trigger events) and a day of APIM gateway records at 10x (1.14 M,
#             1.25 GB; 45), each fed at --speed 0: the feeder produces as fast as its gate lets
#             it (at most 3 MiB per partition ahead of what the consumer has polled, as the hub
#             keeps only ~5 MB of each). Four cases (partitions, detector threads), run in
#             rounds; run's own settings (with the embedded hub, fetch.wait.max.ms 5).
#             Per run: wall of the process; "stream" = from the first partition assigned to
#             the last message taken (the time of "every partition at its end for 1 s" less
#             that second), which leaves out the 3 s the hub's consumer group takes to form
#             and the idle second before exit; CPU (user + system, all threads: tripline's
#             own and the hub's, feeder and mock broker included); peak RSS. The triggers on
#             stdout are compared with `tripline replay` of the same file.
# backlog     TL_STREAM_BACKLOG records streamed from `tripline gen` through a FIFO (no file
#             on disk), feeder gated all the way: the consumer is always behind the producer.
#             RSS is sampled every second (/proc/PID/status) with the records read so far
#             (/metrics); printed at 10, 50, 90 and 100 % of the records, with the peak.
# latency     The RequestResponse day fed at the --speed that makes it ~100 k records/s on
#             average (the load follows the day's curve), --stats' arrival_to_trigger_ms: from
#             the arrival (poll) of the message that completed a trigger event to the event
#             written (journal off, stdout); arrival_to_step_ms likewise for every watermark
#             step.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?usage: bench/stream.sh TRIPLINE CORPUS_DIR [all|throughput|backlog|latency]}
c=${2:?usage: bench/stream.sh TRIPLINE CORPUS_DIR [all|throughput|backlog|latency]}
what=${3:-all}
[[ -n $what ]] || what=all
runs=${TL_STREAM_RUNS:-5}
backlog=${TL_STREAM_BACKLOG:-50000000}
w=build/bench-stream
rm -rf "$w"
mkdir -p "$w"
ncpu=$(nproc)
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews these figures)"
trap 'echo "# load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"' EXIT

corpus() { # name, gen options: generated once, kept
	[[ -s $c/$1 ]] || "$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --format records \
		--batch 20-100 --out "$c/$1" "${@:2}"
}

# Prefix each line with the wall clock (bash's own, no fork per line).
stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

# The number after "key": in a one-line JSON object (tripline's --stats).
json_num() {
	grep -o "\"$1\":[-0-9.e]*" "$2" | head -1 | cut -d: -f2
}
json_obj() {
	grep -o "\"$1\":{[^}]*}" "$2" | head -1
}

# Whether two files of trigger events are the same: "same" (byte for byte), "close" (the
# same but for numbers within 1e-6 of each other, relative: sums of doubles added in another
# order), or "differ".
same_events() {
	cmp -s "$1" "$2" && { echo same; return; }
	awk -v other="$2" '
		function split_num(s, nums,   n) { # the text with numbers as "#", numbers in nums
			n = 0
			while (match(s, /-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
				nums[++n] = substr(s, RSTART, RLENGTH) + 0
				s = substr(s, 1, RSTART - 1) "#" substr(s, RSTART + RLENGTH)
			}
			nums[0] = n
			return s
		}
		{
			if ((getline o < other) <= 0) { bad = 1; exit }
			if (split_num($0, a) != split_num(o, b) || a[0] != b[0]) { bad = 1; exit }
			for (i = 1; i <= a[0]; i++) {
				d = a[i] - b[i]; m = a[i] < 0 ? -a[i] : a[i]
				if ((d < 0 ? -d : d) > 1e-6 * (m > 1 ? m : 1)) { bad = 1; exit }
			}
		}
		END { if (!bad && (getline o < other) > 0) bad = 1; print bad ? "differ" : "close" }' "$1"
}

# run_one LABEL FEED EXPECT [tripline run options]: one run through the embedded hub; EXPECT
# is the file of trigger events replay gave. Prints:
#   LABEL wall_s user_s sys_s rss_kib records stream_s match
run_one() {
	local label=$1 feed=$2 expect=$3
	shift 3
	rm -rf "$w/out"
	{ /usr/bin/time -o "$w/time" -f '%e %U %S %M' "$t" run --feed "$feed" --out "$w/out" \
		--metrics off --no-evidence --exit-when-idle 1s --idle 1s --stats "$w/stats.json" \
		"$@" 2>&1 >"$w/triggers"; } | stamp >"$w/err"
	local t_assign t_stop records match=differ
	t_assign=$(awk '/ assigned /{print $1; exit}' "$w/err")
	t_stop=$(awk '/at its end for 1 s/{print $1; exit}' "$w/err")
	records=$(json_num read "$w/stats.json")
	match=$(same_events "$w/triggers" "$expect")
	if [[ -z $t_assign || -z $t_stop ]]; then
		echo "stream: $label: no assignment or no end in the log:" >&2
		tail -5 "$w/err" >&2
		return 1
	fi
	printf '%s %s %s %s\n' "$label" "$(cat "$w/time")" "$records" \
		"$(awk -v a="$t_assign" -v b="$t_stop" 'BEGIN { printf "%.3f", b - 1 - a }') $match"
}

# Medians of run_one lines on stdin (one label), as the table's row.
summarize() {
	awk -v bytes="$1" -v ncpu="$ncpu" '
		function med(a, n,   i, j, t) {
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ n++; label = $1; wall[n] = $2; cpu[n] = $3 + $4; rss[n] = $5; rec = $6; st[n] = $7
		  rate[n] = $6 / $7; pct[n] = 100 * ($3 + $4) / $2; same += $8 == "same"
		  nclose += $8 == "close"
		  printf "  run %d: wall %.2f s, stream %.3f s, %.3f M records/s, CPU %.2f s (%.0f %%), peak RSS %.1f MiB, triggers %s\n",
			n, $2, $7, rate[n] / 1e6, cpu[n], pct[n], $5 / 1024,
			$8 == "same" ? "= replay" : $8 == "close" ? "= replay but for numbers within 1e-6 (relative)" : "DIFFER from replay" }
		END {
			printf "%s: %d records, %d runs; medians:\n", label, rec, n
			s = med(st, n)
			printf "  stream %.3f s: %.3f M records/s, %.0f MB/s; wall %.2f s (%.3f M records/s over it)\n",
				s, rec / s / 1e6, bytes / s / 1e6, med(wall, n), rec / med(wall, n) / 1e6
			printf "  CPU %.2f s, %.2f us/record, use %.0f %% of one core over the wall (%.0f %% of the %d cores); peak RSS %.1f MiB\n",
				med(cpu, n), med(cpu, n) / rec * 1e6, med(pct, n), med(pct, n) / ncpu, ncpu, med(rss, n) / 1024
			printf "  triggers equal to replay byte for byte in %d of %d runs, within 1e-6 in %d more\n", same, n, nclose
		}'
}

# cases NAME...: the throughput cases below, run in rounds (each case once per round, so the
# machine's drift spreads over all of them alike), then summarized case by case
declare -A case_args case_bytes
cases() {
	local r name
	: >"$w/runs"
	for ((r = 1; r <= runs; r++)); do
		for name in "$@"; do
			# shellcheck disable=SC2086 # the case's words
			run_one "$name" ${case_args[$name]} >>"$w/runs"
		done
	done
	for name in "$@"; do
		awk -v n="$name" '$1 == n' "$w/runs" | summarize "${case_bytes[$name]}"
	done
}

if [[ $what == all || $what == throughput ]]; then
	corpus rr-day-x20.records --kind rr --hours 24 --scale 20
	corpus gateway-day-x10.records --kind gateway --hours 24 --scale 10
	for f in rr-day-x20 gateway-day-x10; do
		"$t" replay --quiet --no-evidence --out "$w/replay" "$c/$f.records" >"$w/$f.replay.ndjson"
	done
	# librdkafka's mock broker answers a fetch that finds nothing new only after the
	# consumer's whole fetch.wait.max.ms, not as soon as data arrives as Kafka and Event Hubs
	# do; tripline run sets 5 ms with the embedded hub since 976a70e (50 ms before, when
	# this script had "-fw5" cases passing 5 ms through a config: now the plain cases)
	rr="$c/rr-day-x20.records $w/rr-day-x20.replay.ndjson --speed 0"
	gw="$c/gateway-day-x10.records $w/gateway-day-x10.replay.ndjson --speed 0"
	case_args=([rr-p4-t1]="$rr --partitions 4 --threads 1"
		[rr-p16-t1]="$rr --partitions 16 --threads 1"
		[rr-p4-t2]="$rr --partitions 4 --threads 2"
		[gw-p4-t1]="$gw --partitions 4 --threads 1")
	for k in "${!case_args[@]}"; do
		case_bytes[$k]=$(stat -c %s "$c/rr-day-x20.records")
		[[ $k == gw-* ]] && case_bytes[$k]=$(stat -c %s "$c/gateway-day-x10.records")
	done
	echo "## stream throughput, --speed 0: a day of RequestResponse at 20x the built-in rates"
	echo "## ($(stat -c %s "$c/rr-day-x20.records") bytes, $(grep -c '' "$c/rr-day-x20.records") messages of 20-100 records; replay gives $(grep -c '' "$w/rr-day-x20.replay.ndjson") trigger events) and a"
	echo "## day of APIM gateway records at 10x ($(stat -c %s "$c/gateway-day-x10.records") bytes, $(grep -c '' "$c/gateway-day-x10.records") messages; $(grep -c '' "$w/gateway-day-x10.replay.ndjson") trigger events);"
	echo "## pN: partitions, tN: detector threads; $runs rounds"
	cases rr-p4-t1 rr-p16-t1 rr-p4-t2 gw-p4-t1
fi

if [[ $what == all || $what == backlog ]]; then
	echo "## stream memory: $backlog RequestResponse records (100x rates) from tripline gen through a"
	echo "## FIFO, --speed 0, 4 partitions: the feeder waits on the consumer all the way"
	fifo=$w/backlog.records
	rm -f "$fifo"
	mkfifo "$fifo"
	"$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --format records --batch 20-100 \
		--kind rr --scale 100 --records "$backlog" --out "$fifo" &
	gen_pid=$!
	port=$((20000 + RANDOM % 20000))
	rm -rf "$w/out"
	/usr/bin/time -o "$w/time" -f '%e %U %S %M' "$t" run --feed "$fifo" --speed 0 --partitions 4 \
		--out "$w/out" --metrics "127.0.0.1:$port" --no-evidence --quiet --exit-when-idle 1s \
		--idle 1s --stats "$w/stats.json" >/dev/null 2>"$w/err" &
	time_pid=$!
	pid=
	for _ in $(seq 50); do
		pid=$(pgrep -P "$time_pid" || true)
		[[ -n $pid ]] && break
		sleep 0.1
	done
	t0=$EPOCHREALTIME
	: >"$w/samples"
	while [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; do
		rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
		hwm=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
		n=$(curl -s --max-time 1 "http://127.0.0.1:$port/metrics" 2>/dev/null |
			awk '/^tripline_records_total /{print $2}' || true)
		[[ -n $rss && -n $n ]] &&
			echo "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}') $n $rss $hwm" >>"$w/samples"
		sleep 1
	done
	wait "$time_pid" || { echo "stream: backlog run failed:" >&2; tail -5 "$w/err" >&2; }
	wait "$gen_pid" || true
	rm -f "$fifo"
	read -r wall user sys maxrss <"$w/time"
	records=$(json_num read "$w/stats.json")
	awk -v total="$records" -v wall="$wall" -v cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN{print u + s}')" \
		-v maxrss="$maxrss" '
		{ t[NR] = $1; n[NR] = $2; r[NR] = $3; h[NR] = $4; if ($3 > peak) peak = $3 }
		END {
			printf "backlog: %d records in %.0f s (%.3f M records/s over the wall), CPU %.1f s, %d RSS samples\n",
				total, wall, total / wall / 1e6, cpu, NR
			split("10 50 90", q, " ")
			for (k = 1; k <= 3; k++)
				for (i = 1; i <= NR; i++)
					if (n[i] >= total * q[k] / 100) {
						printf "  at %d %% of the records (%.2f M read, %.0f s): RSS %.1f MiB, peak so far %.1f MiB\n",
							q[k], n[i] / 1e6, t[i], r[i] / 1024, h[i] / 1024
						break
					}
			printf "  at 100 %% (the last sample, %.2f M read, %.0f s): RSS %.1f MiB, peak so far %.1f MiB\n",
				n[NR] / 1e6, t[NR], r[NR] / 1024, h[NR] / 1024
			for (i = 1; i <= NR && n[i] < total / 10; i++)
				if (r[i] > early) early = r[i]
			for (; i <= NR; i++)
				if (r[i] > late) late = r[i]
			printf "  largest RSS sampled: %.1f MiB (up to 10 %% of the records: %.1f MiB; after: %.1f MiB); peak RSS (VmHWM, /usr/bin/time): %.1f MiB\n",
				peak / 1024, early / 1024, late / 1024, maxrss / 1024
		}' "$w/samples"
	cp "$w/samples" "$w/backlog-rss.txt"
fi

if [[ $what == all || $what == latency ]]; then
	corpus rr-day-x20.records --kind rr --hours 24 --scale 20
	[[ -s $w/rr-day-x20.replay.ndjson ]] ||
		"$t" replay --quiet --no-evidence --out "$w/replay" "$c/rr-day-x20.records" >"$w/rr-day-x20.replay.ndjson"
	records=$(grep -o '"category"' "$c/rr-day-x20.records" | wc -l)
	# the corpus is 24 h of event time
	speed=$(awk -v n="$records" 'BEGIN { printf "%.0f", 100000 / (n / 86400) }')
	echo "## stream latency: the RequestResponse day at --speed $speed (~100 k records/s on average),"
	echo "## 4 partitions, 1 detector thread, 3 runs"
	# ---- arrival -> trigger latency (issue 5): tripline run --stats gives arrival_to_trigger_ms
	# {n, p50, p99, max} (and arrival_to_step_ms for every watermark step) ----
	for i in 1 2 3; do
		line=$(run_one "latency-$i" "$c/rr-day-x20.records" "$w/rr-day-x20.replay.ndjson" \
			--speed "$speed" --partitions 4 --threads 1)
		read -r _ wall user sys rss n stream match <<<"$line"
		echo "  run $i: $n records in a stream of $stream s ($(awk -v n="$n" -v s="$stream" 'BEGIN{printf "%.1f", n / s / 1e3}') k records/s), CPU $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.1f", u + s}') s, peak RSS $((rss / 1024)) MiB, triggers $match as replay"
		echo "    arrival_to_trigger_ms $(json_obj arrival_to_trigger_ms "$w/stats.json" | cut -d: -f2-)"
		echo "    arrival_to_step_ms $(json_obj arrival_to_step_ms "$w/stats.json" | cut -d: -f2-)"
	done
fi
