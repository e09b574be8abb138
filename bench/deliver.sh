#!/usr/bin/env bash
# Alert delivery against a slow receiver (issue 6): does a webhook receiver that takes 2 s
# per request slow detection? Called by `bench/run.sh deliver` after it has built a release
# build/ and printed the machine line:
#   bench/deliver.sh TRIPLINE CORPUS_DIR
#   TL_DELIVER_RUNS=N   rounds (default 5; medians printed)
#
# The corpus is stream.sh's day of RequestResponse records at 20x the built-in rates (2.66 M
# records as Event Hubs batches; 8 trigger events). A receiver on loopback (python3's
# http.server, a thread per request) sleeps 2 s before answering each request 202. Cases,
# run in rounds so the machine's drift spreads over all alike, each pair in turn without and
# with the receiver first (a first session of three rounds, always without first, had both
# slow cases 15-24 % faster than without); the ratios are the medians of each round's own
# ratio, as the machine drifts by more than the 5 % asked:
#   replay        tripline replay (journal and snapshots on), no sinks
#   replay+slow   the same with --deliver and one json webhook to the slow receiver; the
#                 detection rate is the one replay prints when its input is done, before it
#                 waits for the deliveries (which then take 2 s per event, one at a time)
#   run           tripline run through the embedded hub, --speed 0, no sinks
#   run+slow      the same with the webhook; the stream rate from the first partition
#                 assigned to the last message taken (as stream.sh measures it)
# The target: the slow receiver costs at most 5 % of either rate. The receiver logs the time
# each request arrives, so each case's requests are counted as received (run exits after a
# 5 s drain: what is left stays in its outbox); the triggers on stdout are compared with a
# replay's without sinks.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?usage: bench/deliver.sh TRIPLINE CORPUS_DIR}
c=${2:?usage: bench/deliver.sh TRIPLINE CORPUS_DIR}
runs=${TL_DELIVER_RUNS:-5}
w=build/bench-deliver
rm -rf "$w"
mkdir -p "$w"
rcv_pid=
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
trap '[[ -z $rcv_pid ]] || kill "$rcv_pid" 2>/dev/null || true; echo "# load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"' EXIT

f=$c/rr-day-x20.records
[[ -s $f ]] || "$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --format records \
	--batch 20-100 --out "$f" --kind rr --hours 24 --scale 20

port=$((20000 + RANDOM % 20000))
cat >"$w/slow.py" <<'EOF'
import http.server, sys, threading, time
log = open(sys.argv[2], "a", buffering=1)
lock = threading.Lock()
class Slow(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            log.write("%.6f %s\n" % (time.time(), self.path))
        time.sleep(2)
        try:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the sender has gone (run exits after its drain)
            pass
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
EOF
: >"$w/received"
python3 "$w/slow.py" "$port" "$w/received" &
rcv_pid=$!
sleep 1
kill -0 "$rcv_pid" || { echo "deliver: the receiver did not start" >&2; exit 1; }
printf 'sinks:\n  - {type: webhook, name: slow, format: json, url: "http://127.0.0.1:%s/hook"}\n' \
	"$port" >"$w/slow.yaml"

stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

# one CASE: prints "CASE rate_records_per_s wall_s delivered received triggers", delivered
# as the stats say (run writes them before its drain), received as the receiver counted,
# triggers "same" or "differ" against replay without sinks
one() {
	local name=$1 cfg=() rate delivered=0 received t0 t1 n0
	[[ $name == *+slow ]] && cfg=(--config "$w/slow.yaml")
	rm -rf "$w/out"
	n0=$(grep -c '' "$w/received" || true)
	t0=$EPOCHREALTIME
	case $name in
	replay*)
		local dl=()
		[[ $name == *+slow ]] && dl=(--deliver)
		"$t" replay "${cfg[@]}" "${dl[@]}" --out "$w/out" --stats "$w/stats.json" "$f" \
			2>"$w/err" >"$w/triggers"
		# "tripline replay: N records from 1 inputs in X s (Y M/s): ...", printed when the
		# input is done, before the wait for the deliveries; N / X (Y has 2 digits only)
		rate=$(sed -n 's/.*replay: \([0-9]*\) records from [0-9]* inputs in \([0-9.]*\) s .*/\1 \2/p' \
			"$w/err" | head -1 | awk '{ printf "%.0f", $1 / $2 }')
		;;
	run*)
		{ "$t" run "${cfg[@]}" --feed "$f" --speed 0 --out "$w/out" --metrics off \
			--exit-when-idle 1s --idle 1s --stats "$w/stats.json" 2>&1 >"$w/triggers"; } |
			stamp >"$w/err"
		local a b n
		a=$(awk '/ assigned /{print $1; exit}' "$w/err")
		b=$(awk '/at its end for 1 s/{print $1; exit}' "$w/err")
		n=$(grep -o '"read":[0-9]*' "$w/stats.json" | head -1 | cut -d: -f2)
		rate=$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.0f", n / (b - 1 - a) }')
		;;
	esac
	t1=$EPOCHREALTIME
	if [[ -z $rate || $rate == 0 ]]; then
		echo "deliver: $name: no rate in the log:" >&2
		tail -5 "$w/err" >&2
		return 1
	fi
	if grep -q '"alerts"' "$w/stats.json"; then
		delivered=$(grep -o '"delivered":[0-9]*' "$w/stats.json" | head -1 | cut -d: -f2)
	fi
	received=$(($(grep -c '' "$w/received" || true) - n0))
	local same=differ
	cmp -s "$w/triggers" "$w/replay.ndjson" && same=same
	awk -v n="$name" -v r="$rate" -v a="$t0" -v b="$t1" -v d="$delivered" -v g="$received" \
		-v s="$same" 'BEGIN { printf "%s %s %.2f %s %s %s\n", n, r, b - a, d, g, s }'
}

# the reference: replay with evidence, as every case here runs (its events name snapshots)
"$t" replay --quiet --out "$w/r0" "$f" >"$w/replay.ndjson"
echo "## alert delivery: a receiver taking 2 s per request beside replay and run of"
echo "## $(grep -c '' "$f") messages ($(stat -c %s "$f") bytes) with $(grep -c '' "$w/replay.ndjson") trigger events; $runs rounds"
echo "## case rate_records_per_s wall_s delivered_per_stats received triggers_vs_replay"
: >"$w/runs"
for ((r = 1; r <= runs; r++)); do
	order="replay replay+slow run run+slow"
	((r % 2)) || order="replay+slow replay run+slow run"
	for name in $order; do
		one "$name" | tee -a "$w/runs"
	done
done
awk '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ k = $1; n[k]++; v[k, n[k]] = $2; wl[k, n[k]] = $3; d[k] = $4; g[k] = $5; same[k] += $6 == "same" }
	# a round is four lines, each pair in either order: the ratio slow / without, per round
	NR % 4 == 0 {
		split("replay run", base, " ")
		for (i = 1; i <= 2; i++) { nr[i]++; rr[i, nr[i]] = v[base[i] "+slow", n[base[i] "+slow"]] / v[base[i], n[base[i]]] }
	}
	END {
		split("replay replay+slow run run+slow", names, " ")
		for (i = 1; i <= 4; i++) {
			k = names[i]
			for (j = 1; j <= n[k]; j++) { x[j] = v[k, j]; y[j] = wl[k, j] }
			m[k] = med(x, n[k])
			printf "%-12s %.3f M records/s (median of %d), wall %.2f s, triggers = replay in %d of %d%s\n",
				k, m[k] / 1e6, n[k], med(y, n[k]), same[k], n[k],
				k ~ /slow/ ? sprintf("; last run: %d delivered (stats), %d requests received", d[k], g[k]) : ""
		}
		for (i = 1; i <= 2; i++) {
			a = names[2 * i - 1]; b = names[2 * i]
			lo = hi = rr[i, 1]
			for (j = 1; j <= nr[i]; j++) {
				x[j] = rr[i, j]
				if (x[j] < lo) lo = x[j]
				if (x[j] > hi) hi = x[j]
			}
			r = med(x, nr[i])
			printf "%s with the slow receiver: %.1f %% of its rate without (median of %d rounds, %.1f-%.1f %%; ratio of the medians %.1f %%; target: at least 95 %%%s)\n",
				a, 100 * r, nr[i], 100 * lo, 100 * hi, 100 * m[b] / m[a], (r >= 0.95 ? ", met" : ", NOT met")
		}
	}' "$w/runs"
