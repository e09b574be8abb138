#!/usr/bin/env bash
# Install what tripline needs that is missing (Debian 12 packages), then build it in ./build.
#   tools/setup.sh          build dependencies, then configure and build
#   tools/setup.sh --test   also what the test suite needs (clang, Criterion, ...)
# Run as root, or as a user with sudo. Idempotent: installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(meson ninja-build pkg-config gcc g++ python3 libsimdjson-dev libzstd-dev zlib1g-dev
      libjemalloc-dev libyaml-dev zstd librdkafka-dev libmicrohttpd-dev
      libcurl4-openssl-dev)
if [[ "${1:-}" == --test ]]; then
	pkgs+=(clang libclang-rt-14-dev libcriterion-dev clang-format)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "tripline setup: installing ${missing[*]}" >&2
	sudo=()
	((EUID == 0)) || sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f build/build.ninja ]]; then
	# the demo's build: no test suites (those are tools/test.sh's, in build-ci and others)
	meson setup build --buildtype=release -Dtests=false >build-setup.log 2>&1 ||
		{ cat build-setup.log >&2; exit 1; }
	rm -f build-setup.log
fi
ninja -C build >build/ninja.log 2>&1 || { tail -40 build/ninja.log >&2; exit 1; }
