# bench/need.sh - sourced by the bench scripts that need a tool Debian has and the machine may
# lack (bench/plot.sh: gnuplot, bench/quality.sh: jq, bench/instructions.sh: valgrind).
# shellcheck shell=bash

# bench_need WHO COMMAND PACKAGE: when COMMAND is missing, install Debian PACKAGE (apt, as root
# or with sudo) and say so on stdout; WHO names the caller in messages. Fails, with the tail of
# apt's log on stderr, if apt does.
bench_need() {
	local who=$1 cmd=$2 pkg=$3 log
	local sudo=()

	command -v "$cmd" >/dev/null && return 0
	echo "$who: installing $pkg (apt)" >&2
	((EUID == 0)) || sudo=(sudo)
	log=$(mktemp)
	if ! { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
			--no-install-recommends "$pkg"; } >"$log" 2>&1; then
		echo "$who: apt-get install $pkg failed (tail of $log):" >&2
		tail -5 "$log" >&2
		return 1
	fi
	rm -f "$log"
	echo "installed: Debian $pkg $(dpkg-query -W -f='${Version}' "$pkg")"
}
