#!/usr/bin/env bash
# Throughput and peak memory against the number of series (issue 7), drawn with gnuplot from
# the data file `bench/run.sh series` writes:
#   bench/plot.sh [DATA [PNG]]   default build/bench-results/series.dat -> bench/series.png
# DATA: a line per series count, '#' comments, '-' where a figure was not measured; columns
#   1 series  2 engine events/s  3 engine peak RSS MiB  4 engine memory MiB
#   5 replay records/s  6 replay CPU s  7 replay peak RSS MiB  8 replay records
#   9 series the replay saw  10 replay with evidence records/s  11 its CPU s
#   12 its peak RSS MiB
# Installs Debian gnuplot-nox if gnuplot is missing (apt, as root or with sudo), as
# bench/compare.sh installs its tools, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-build/bench-results/series.dat}
png=${2:-bench/series.png}
[[ -s $data ]] || { echo "plot: $data missing: run bench/run.sh series" >&2; exit 1; }
# shellcheck source=bench/need.sh
. bench/need.sh
bench_need plot gnuplot gnuplot-nox
# the machine and note lines run.sh put in the data file's header, under the plot's title
note=$(sed -n 's/^# \(machine\|note\): \(.*\)/{\/*0.8 \2}/p' "$data" | sed 's/_/\\_/g' | paste -sd'|' |
	sed 's/|/\\n/g')
# replay figures, if any (gnuplot warns and draws nothing for an empty column)
rate_e2e=
rss_e2e=
if awk '!/^#/ && NF >= 5 && $5 != "-" { n++ } END { exit !n }' "$data"; then
	rate_e2e=", '$data' using 1:(\$5 / 1e6) with linespoints lw 2 pt 5 lc rgb '#009e73' title 'replay --no-evidence: records/s'"
	rss_e2e=", '$data' using 1:7 with linespoints lw 2 pt 5 lc rgb '#009e73' title 'replay --no-evidence: peak RSS'"
	if awk '!/^#/ && NF >= 10 && $10 != "-" { n++ } END { exit !n }' "$data"; then
		rate_e2e+=", '$data' using 1:(\$10 / 1e6) with linespoints lw 2 dt 2 pt 4 lc rgb '#009e73' title 'replay with evidence: records/s'"
		rss_e2e+=", '$data' using 1:12 with linespoints lw 2 dt 2 pt 4 lc rgb '#009e73' title 'replay with evidence: peak RSS'"
	fi
fi

gnuplot <<EOF
set terminal pngcairo size 1200,560 font ",11"
set output "$png"
set datafile missing "-"
set multiplot layout 1,2 title "tripline: throughput and peak memory against series count\n$note"
set logscale x 10
set xrange [500:200000]
set xtics ("1 k" 1000, "10 k" 10000, "100 k" 100000)
set xlabel "series (resource, deployment)"
set grid
set key top right
set title "throughput, one thread"
set ylabel "millions a second"
set logscale y 10
set yrange [0.005:20]
plot '$data' using 1:(\$2 / 1e6) with linespoints lw 2 pt 7 lc rgb '#9400d3' \
	title 'engine alone: events/s (bench\_engine)'$rate_e2e
set title "peak memory (RSS)"
set ylabel "MiB"
set yrange [10:4096]
set key top left
plot '$data' using 1:3 with linespoints lw 2 pt 7 lc rgb '#9400d3' title 'engine alone: peak RSS', \
	'$data' using 1:4 with linespoints lw 1 dt 2 pt 6 lc rgb '#9400d3' \
	title 'engine alone: memory it reports'$rss_e2e
unset multiplot
EOF
echo "plot: $png from $data"
