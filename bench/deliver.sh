#!/usr/bin/env bash
# Alert delivery against a slow receiver (issue 6): does a webhook receiver that takes 2 s
# per request slow detection? Called by `bench/run.sh deliver` after it has built a release
# build/ and printed the machine line:
#   bench/deliver.sh TRIPLINE CORPUS_DIR
#   TL_DELIVER_RUNS=N   rounds (default 3; medians printed)
#
# The corpus is stream.sh's day of RequestResponse records at 20x the built-in rates (2.66 M
# records as Event Hubs batches; 8 trigger events). A receiver on loopback (python3's
# http.server, a thread per request) sleeps 2 s before answering each request 202. Cases,
# run in rounds so the machine's drift spreads over all alike:
#   replay        tripline replay (journal and snapshots on), no sinks
#   replay+slow   the same with --deliver and one json webhook to the slow receiver; the
#                 detection rate is the one replay prints when its input is done, before it
#                 waits for the deliveries (which then take 2 s per event, one at a time)
#   run           tripline run through the embedded hub, --speed 0, no sinks
#   run+slow      the same with the webhook; the stream rate from the first partition
#                 assigned to the last message taken (as stream.sh measures it)
# The target: the slow receiver costs at most 5 % of either rate.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?usage: bench/deliver.sh TRIPLINE CORPUS_DIR}
c=${2:?usage: bench/deliver.sh TRIPLINE CORPUS_DIR}
runs=${TL_DELIVER_RUNS:-3}
w=build/bench-deliver
rm -rf "$w"
mkdir -p "$w"
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
trap 'kill "$rcv_pid" 2>/dev/null || true; echo "# load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"' EXIT

f=$c/rr-day-x20.records
[[ -s $f ]] || "$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --format records \
	--batch 20-100 --out "$f" --kind rr --hours 24 --scale 20

port=$((20000 + RANDOM % 20000))
cat >"$w/slow.py" <<'EOF'
import http.server, sys, time
class Slow(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(2)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
EOF
python3 "$w/slow.py" "$port" &
rcv_pid=$!
sleep 1
printf 'sinks:\n  - {type: webhook, name: slow, format: json, url: "http://127.0.0.1:%s/hook"}\n' \
	"$port" >"$w/slow.yaml"

stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

# one CASE: prints "CASE rate_records_per_s events_delivered"
one() {
	local name=$1 cfg=() rate delivered=0
	[[ $name == *+slow ]] && cfg=(--config "$w/slow.yaml")
	rm -rf "$w/out"
	case $name in
	replay*)
		local dl=()
		[[ $name == *+slow ]] && dl=(--deliver)
		"$t" replay "${cfg[@]}" "${dl[@]}" --out "$w/out" --stats "$w/stats.json" "$f" \
			2>"$w/err" >"$w/triggers"
		# "tripline replay: N records from 1 inputs in X s (Y M/s): ..."
		rate=$(grep -o 'in [0-9.]* s ([0-9.]* M/s)' "$w/err" | head -1 |
			sed 's/.*(\([0-9.]*\) M\/s)/\1/')
		rate=$(awk -v r="$rate" 'BEGIN { printf "%.0f", r * 1e6 }')
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
	if grep -q '"alerts"' "$w/stats.json"; then
		delivered=$(grep -o '"delivered":[0-9]*' "$w/stats.json" | head -1 | cut -d: -f2)
	fi
	echo "$name $rate $delivered"
}

echo "## alert delivery: a receiver taking 2 s per request beside replay and run of"
echo "## $(grep -c '' "$f") messages ($(stat -c %s "$f") bytes) with $("$t" replay --quiet \
	--no-evidence --out "$w/r0" "$f" | grep -c '') trigger events; $runs rounds"
: >"$w/runs"
for ((r = 1; r <= runs; r++)); do
	for name in replay replay+slow run run+slow; do
		one "$name" | tee -a "$w/runs"
	done
done
awk '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ k = $1; n[k]++; v[k, n[k]] = $2; d[k] = $3 }
	END {
		split("replay replay+slow run run+slow", names, " ")
		for (i = 1; i <= 4; i++) {
			k = names[i]
			for (j = 1; j <= n[k]; j++) x[j] = v[k, j]
			m[k] = med(x, n[k])
			printf "%-12s %.3f M records/s (median of %d)%s\n", k, m[k] / 1e6, n[k],
				k ~ /slow/ ? sprintf(", %d events delivered in the last run", d[k]) : ""
		}
		for (i = 1; i <= 4; i += 2) {
			a = names[i]; b = names[i + 1]
			r = m[b] / m[a]
			printf "%s with the slow receiver: %.1f %% of its rate without (target: at least 95 %%%s)\n",
				a, 100 * r, r >= 0.95 ? ", met" : ", NOT met"
		}
	}' "$w/runs"
