#!/usr/bin/env bash
# Side by side (issue 7): tripline and the tools users would otherwise run, in the same run, on
# the same file, interleaved; median of 5 runs of each, timed by /usr/bin/time.
#   bench/compare.sh FILE     FILE: RequestResponse NDJSON (bench/run.sh compare passes its
#                             1 M-record corpus, after building a release build/)
#   TL_COMPARE_RUNS=N         runs of each tool (default 5)
# Measured: tripline replay (all rules, no evidence); the latency rule alone in DuckDB SQL
# (bench/compare/latency.sql) and in pandas (latency_pandas.py); jq extracting time,
# deployment and latency; simdjson alone reading the same fields (the ceiling). Installs what
# is missing: Debian jq, python3-pandas, nodejs, npm (apt, as root or with sudo), and
# @duckdb/node-api from npm into build/bench-tools; it says what it installed.
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:?usage: bench/compare.sh FILE (bench/run.sh compare runs it on its corpus)}
runs=${TL_COMPARE_RUNS:-5}
t=build/tools/tripline
scan=build/bench/simdjson_scan
tools_dir=build/bench-tools
work=build/bench-compare
[[ -x $t ]] || { echo "compare: $t missing: run bench/run.sh compare" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work" "$tools_dir"

# --- what is missing, installed as tools/setup.sh does
installed=()
missing=()
for p in jq python3-pandas; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
	echo "compare: installing ${missing[*]} (apt)" >&2
	sudo=()
	((EUID == 0)) || sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	if "${sudo[@]}" apt-get update -qq &&
		"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
			>"$work/apt.log" 2>&1; then
		installed+=("${missing[@]/#/Debian }")
	else
		echo "compare: apt-get install failed (tail of $work/apt.log):" >&2
		tail -5 "$work/apt.log" >&2 || true
	fi
fi
duck_pkg=$tools_dir/node_modules/@duckdb/node-api/package.json
if [[ ! -f $duck_pkg ]] && command -v npm >/dev/null; then
	echo "compare: installing @duckdb/node-api (npm) into $tools_dir" >&2
	# the npm cache too stays under build/
	if npm_config_cache=$tools_dir/npm-cache npm install --prefix "$tools_dir" --no-audit \
		--no-fund @duckdb/node-api >"$work/npm.log" 2>&1; then
		installed+=("npm @duckdb/node-api@$(node -p "require('./$duck_pkg').version")")
	else
		echo "compare: npm install @duckdb/node-api failed (tail of $work/npm.log):" >&2
		tail -5 "$work/npm.log" >&2 || true
	fi
fi
if ((${#installed[@]})); then
	printf -v list '%s, ' "${installed[@]}"
	echo "installed: ${list%, }"
else
	echo "installed: nothing (all present)"
fi

# --- the contestants; a missing one is said and left out
names=(tripline)
declare -A why
if [[ -f $duck_pkg ]] && command -v node >/dev/null; then
	names+=(duckdb)
else
	why[duckdb]="@duckdb/node-api or node could not be installed"
fi
if /usr/bin/python3 -c 'import pandas' 2>/dev/null; then
	names+=(pandas)
else
	why[pandas]="python3-pandas could not be installed"
fi
if command -v jq >/dev/null; then
	names+=(jq)
else
	why[jq]="jq could not be installed"
fi
if [[ -x $scan ]]; then
	names+=(simdjson)
else
	why[simdjson]="$scan was not built (no simdjson)"
fi
for k in "${!why[@]}"; do
	echo "not measured: $k: ${why[$k]}"
done
argv_of() { # tool, file: sets argv to the command
	case $1 in
	tripline) argv=("$t" replay --quiet --no-evidence --out "$work/out" "$2") ;;
	duckdb) argv=(env "NODE_PATH=$tools_dir/node_modules" node bench/compare/duckdb.mjs "$2") ;;
	pandas) argv=(/usr/bin/python3 bench/compare/latency_pandas.py "$2") ;;
	jq) argv=(jq -c '{time, deployment: (.properties | fromjson | .modelDeploymentName), durationMs}' "$2") ;;
	simdjson) argv=("$scan" "$2") ;;
	esac
}

echo "versions: tripline $(git rev-parse --short HEAD 2>/dev/null || echo '?')," \
	"duckdb $( [[ -f $duck_pkg ]] && node -p "require('./$duck_pkg').version" || echo -)," \
	"node $(node --version 2>/dev/null || echo -)," \
	"pandas $(/usr/bin/python3 -c 'import pandas; print(pandas.__version__)' 2>/dev/null || echo -)," \
	"$(jq --version 2>/dev/null || echo jq -)," \
	"simdjson $(dpkg-query -W -f='${Version}' libsimdjson-dev 2>/dev/null || echo -)"
records=$(wc -l <"$file")
echo "file: $file, $records records, $(($(stat -c %s "$file") / 1000000)) MB"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$file" >/dev/null # into the page cache: every contestant reads it from memory

# --- runs, interleaved: run i of every tool before run i+1 of any
for ((i = 1; i <= runs; i++)); do
	for n in "${names[@]}"; do
		out=$work/$n.out
		[[ $n == jq ]] && out=/dev/null
		rm -rf "$work/out"
		argv_of "$n" "$file"
		if ! /usr/bin/time -f '%e %U %S %M' -o "$work/$n.time" "${argv[@]}" >"$out" 2>"$work/$n.err"; then
			echo "compare: $n failed (run $i):" >&2
			tail -5 "$work/$n.err" >&2
			exit 1
		fi
		echo "$n $(tail -1 "$work/$n.time")" >>"$work/times"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- what each computed (the last run's output)
counts() { # tool, its stdout: one line of what it found
	case $1 in
	tripline) echo "tripline: $(grep -c '"type":"trigger"' "$2" || true) triggers," \
		"$(grep '"type":"trigger"' "$2" | grep -c '"rule":"latency"' || true) of the latency rule" ;;
	*) echo "$1: $(paste -sd' ' "$2")" ;;
	esac
}
echo "what each found (last run):"
for n in "${names[@]}"; do
	[[ $n == jq ]] || counts "$n" "$work/$n.out"
done

# --- untimed: the same counts on the built-in day, which has a latency incident to find
day=$work/day-rr.ndjson
"$t" gen --quiet --kind rr --format ndjson --hours 24 --duplicates 0 --malformed 0 --late 0 \
	--out "$day" --labels "$work/day-rr.labels.json"
echo "check, untimed: the built-in day ($(wc -l <"$day") RequestResponse records, 24 h;" \
	"$(grep '"rule":"latency"' "$work/day-rr.labels.json" | grep -c '"expect":"fire"' || true)" \
	"latency incident labelled to fire, $(grep '"rule":"latency"' "$work/day-rr.labels.json" |
		grep -c '"expect":"none"' || true) labelled not to):"
for n in "${names[@]}"; do
	case $n in tripline | duckdb | pandas) ;; *) continue ;; esac
	argv_of "$n" "$day"
	"${argv[@]}" >"$work/$n.day.out"
	counts "$n" "$work/$n.day.out"
done

# --- the table
# ratios: of the medians, and the median of each round's ratio (tripline and the tool in the
# same round, so the machine's drift between rounds mostly cancels)
awk -v records="$records" -v order="${names[*]}" '
	function med(a, n,   i, j, t) { # sorts a[1..n] in place
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ k = $1; q = ++n[k]; w[k, q] = $2; u[k, q] = $3 + $4; m[k, q] = $5 }
	END {
		nt = split(order, tool, " ")
		for (i = 1; i <= nt; i++) {
			k = tool[i]
			for (j = 1; j <= n[k]; j++) {
				a[j] = w[k, j]; b[j] = u[k, j]; c[j] = m[k, j]
				d[j] = u["tripline", j] / u[k, j]; e[j] = w["tripline", j] / w[k, j]
			}
			W[k] = med(a, n[k]); C[k] = med(b, n[k]); R[k] = med(c, n[k]) / 1024
			P[k] = med(d, n[k]); PW[k] = med(e, n[k])
		}
		printf "| tool | runs | wall (median) | CPU (median) | peak RSS (median) | records/s (wall) | tripline ÷ tool, CPU: of the medians | per round (median) |\n"
		printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
		for (i = 1; i <= nt; i++) {
			k = tool[i]
			printf "| %s | %d | %.2f s | %.2f s | %.1f MiB | %.3f M | %.3f | %.3f |\n", k, n[k], W[k], C[k], R[k], records / W[k] / 1e6, C["tripline"] / C[k], P[k]
		}
		print "CPU ratios, median of the rounds (of the medians in brackets):"
		if ("duckdb" in C)
			printf "tripline (all rules) is %.1fx less CPU than DuckDB on the latency rule alone (%.1fx; wall %.1fx)\n", 1 / P["duckdb"], C["duckdb"] / C["tripline"], 1 / PW["duckdb"]
		if ("pandas" in C)
			printf "tripline (all rules) is %.1fx less CPU than pandas on the latency rule alone (%.1fx)\n", 1 / P["pandas"], C["pandas"] / C["tripline"]
		if ("jq" in C)
			printf "tripline (all rules) is %.1fx less CPU than jq extracting three fields (%.1fx)\n", 1 / P["jq"], C["jq"] / C["tripline"]
		if ("simdjson" in C)
			printf "tripline (all rules) is within %.2fx of the simdjson-only parse (%.2fx; wall %.2fx)\n", P["simdjson"], C["tripline"] / C["simdjson"], PW["simdjson"]
	}' "$work/times"
