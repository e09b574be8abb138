#!/usr/bin/env bash
# Instructions, not seconds: valgrind's callgrind counts the instructions tripline executes,
# which do not move with the machine's load or clock (this VM's speed swings by up to 60 %
# between runs of one binary), so two builds compare in one run each. Called by
# `bench/run.sh instructions` after it has built a release build/:
#   bench/instructions.sh TRIPLINE BENCH_DECODE CORPUS_DIR [BASE_TRIPLINE BASE_BENCH_DECODE]
# With a base (say a release build of an older commit), each line also gives the base's
# count and the change. Counts are of the user-space instructions of the whole process
# (startup included: ~1 M), on the first 100 k records of each corpus:
#   replay_rr_ndjson          tripline replay --no-evidence, RequestResponse lines
#   replay_rr_envelopes       the same records in {"records":[...]} envelopes of 50
#   decode_rr_ndjson          bench_decode (decode alone) of the RequestResponse lines
#   decode_gateway_ndjson     bench_decode of APIM gateway lines (nested records)
#   decode_day_ndjson         bench_decode of the built-in day's first 6 h, every kind, by line
#   decode_day_envelopes      the same 6 h as envelopes
# Installs Debian valgrind if it is missing (apt, as root or with sudo). About 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/instructions.sh TRIPLINE BENCH_DECODE CORPUS_DIR [BASE_TRIPLINE BASE_BENCH_DECODE]"
t=${1:?$usage}
bd=${2:?$usage}
c=${3:?$usage}
bt=${4:-}
bbd=${5:-}
[[ -z $bt || -n $bbd ]] || { echo "$usage" >&2; exit 2; }

# shellcheck source=bench/need.sh
. bench/need.sh
bench_need instructions valgrind valgrind

w=build/bench-instructions
rm -rf "$w"
mkdir -p "$w"
# the inputs: the first 100 k records of each corpus (generated once, kept)
gen() { [[ -s $c/$1 ]] || "$t" gen --quiet --duplicates 0 --malformed 0 --late 0 --out "$c/$1" "${@:2}"; }
gen rr-1m.ndjson --format ndjson --kind rr --records 1000000 --scale 50
gen gateway-1m.ndjson --format ndjson --kind gateway --records 1000000 --scale 50
gen rr-100k.records --format records --kind rr --records 100000 --scale 50
gen day-6h.ndjson --format ndjson --hours 6
gen day-6h.records --format records --hours 6
head -n 100000 "$c/rr-1m.ndjson" >"$w/rr.ndjson"
head -n 100000 "$c/gateway-1m.ndjson" >"$w/gateway.ndjson"

# count CMD ARGS...: the instructions callgrind counted
count() {
	local out=$w/callgrind.out
	valgrind --tool=callgrind --cache-sim=no --callgrind-out-file="$out" "$@" \
		>/dev/null 2>"$w/valgrind.log" || {
		echo "instructions: $* failed under valgrind (tail of $w/valgrind.log):" >&2
		tail -5 "$w/valgrind.log" >&2
		exit 1
	}
	sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p' "$w/valgrind.log"
}

# one NAME replay|decode FILE: the line for NAME, FILE read by tripline (and by the base)
one() {
	local name=$1 kind=$2 file=$3 n b=
	if [[ $kind == replay ]]; then
		rm -rf "$w/out"
		n=$(count "$t" replay --quiet --no-evidence --out "$w/out" "$file")
		if [[ -n $bt ]]; then
			rm -rf "$w/out"
			b=$(count "$bt" replay --quiet --no-evidence --out "$w/out" "$file")
		fi
	else
		n=$(count "$bd" --repeat 1 "$file")
		[[ -z $bbd ]] || b=$(count "$bbd" --repeat 1 "$file")
	fi
	if [[ -n $b ]]; then
		awk -v k="$name" -v n="$n" -v b="$b" \
			'BEGIN { printf "instr_%s %.1f M (base %.1f M, %+.1f %%)\n", k, n / 1e6, b / 1e6, 100 * (n - b) / b }'
	else
		awk -v k="$name" -v n="$n" 'BEGIN { printf "instr_%s %.1f M\n", k, n / 1e6 }'
	fi
}

echo "## instructions (callgrind; deterministic): 100 k records of each corpus, 6 h of the day${bt:+; base $bt}"
one replay_rr_ndjson replay "$w/rr.ndjson"
one replay_rr_envelopes replay "$c/rr-100k.records"
one decode_rr_ndjson decode "$w/rr.ndjson"
one decode_gateway_ndjson decode "$w/gateway.ndjson"
one decode_day_ndjson decode "$c/day-6h.ndjson"
one decode_day_envelopes decode "$c/day-6h.records"
