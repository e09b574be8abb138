#!/usr/bin/env bash
# Build and run every test, as CI does (.ci/run calls this):
#  1. gcc build: unit and integration suites, fuzz corpora through the regression driver;
#  2. clang ASan+UBSan build: the same suites (UBSan set to fail, leaks grep'd);
#  3. clang libFuzzer build: each fuzz target for a short run;
#  4. the release build (-O3) compiles; clang-format check.
# Ends with one line: "N passed, N failed" over every test case of every build.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test || exit 1
fuzz_seconds=${TL_FUZZ_SECONDS:-20}
status=0

run() { echo "== $*" >&2; "$@" || status=1; }

rm -rf build-ci build-san build-fuzz build-rel
run meson setup build-ci >/dev/null
run meson test -C build-ci --print-errorlogs --num-processes 2

# the release build the demo uses: -O3 finds warnings -O2 does not
mkdir -p build-ci/meson-logs
if meson setup build-rel --buildtype=release >/dev/null && ninja -C build-rel >build-rel.log 2>&1; then
	echo "build:release OK" >>build-ci/meson-logs/format-results
else
	tail -30 build-rel.log >&2
	echo "build:release FAIL" >>build-ci/meson-logs/format-results
	status=1
fi

CC=clang CXX=clang++ run meson setup build-san -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all >/dev/null
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run meson test -C build-san --print-errorlogs \
	--num-processes 2
if grep -q 'ERROR: LeakSanitizer' build-san/meson-logs/testlog.txt; then
	echo "LeakSanitizer reported leaks (build-san/meson-logs/testlog.txt)" >&2
	status=1
fi

CC=clang CXX=clang++ run meson setup build-fuzz -Dfuzz=true -Db_lundef=false >/dev/null
run ninja -C build-fuzz >/dev/null
mkdir -p build-fuzz/fuzz-log
for f in build-fuzz/tests/fuzz/fuzz_*; do
	[[ -f $f && -x $f ]] || continue # not the .p object directories
	name=$(basename "$f")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	work=build-fuzz/fuzz-corpus/${name#fuzz_}
	mkdir -p "$work"
	echo "== $name: ${fuzz_seconds}s" >&2
	# a small ASan quarantine keeps fuzz_frame's RSS near 100 MB instead of 2 GB
	if ASAN_OPTIONS=quarantine_size_mb=16 "$f" -max_total_time="$fuzz_seconds" \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work-" \
		"$work" "$corpus" >"build-fuzz/fuzz-log/$name.log" 2>&1; then
		echo "fuzz:$name OK" >>build-fuzz/fuzz-log/results
	else
		echo "fuzz:$name FAIL" >>build-fuzz/fuzz-log/results
		tail -40 "build-fuzz/fuzz-log/$name.log" >&2
		status=1
	fi
done

files=$(git ls-files '*.c' '*.h' '*.cpp' 2>/dev/null)
if [[ -n $files ]] && ! clang-format --dry-run --Werror $files 2>build-ci/format.log; then
	head -20 build-ci/format.log >&2
	echo "format:clang-format FAIL" >>build-ci/meson-logs/format-results
	status=1
else
	echo "format:clang-format OK" >>build-ci/meson-logs/format-results
fi

python3 - <<'PY'
import glob, json, re
passed = failed = skipped = 0
for log in sorted(glob.glob('build-*/meson-logs/testlog.json')):
    for line in open(log):
        t = json.loads(line)
        out = t.get('stdout') or ''
        cases = re.findall(r'^(ok|not ok)\b(.*)$', out, re.M) if out.startswith('TAP version') else []
        if cases:
            for verdict, rest in cases:
                if '# SKIP' in rest:
                    skipped += 1
                elif verdict == 'ok':
                    passed += 1
                else:
                    failed += 1
            if t['result'] not in ('OK', 'EXPECTEDFAIL') and all(v == 'ok' for v, _ in cases):
                failed += 1  # the binary failed after its cases (a leak, a crash at exit)
        elif t['result'] in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif t['result'] == 'SKIP':
            skipped += 1
        else:
            failed += 1
for results in glob.glob('build-*/fuzz-log/results') + glob.glob('build-*/meson-logs/format-results'):
    for line in open(results):
        passed += line.split()[-1] == 'OK'
        failed += line.split()[-1] != 'OK'
if skipped:
    print(f'{skipped} skipped')
print(f'{passed} passed, {failed} failed')
PY
exit $status
