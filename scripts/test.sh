#!/usr/bin/env bash
# test.sh — the README's test command: install what is missing, lint, build
# (Release with -Werror, then ASan+UBSan), and run every test except the
# benchmarks. Also builds the libFuzzer targets with clang and fuzzes each
# for a few seconds. Exits non-zero on any failure.
#
# Environment: ARIA_JOBS (build parallelism, default nproc),
#              ARIA_SKIP_ASAN=1, ARIA_SKIP_FUZZ=1, ARIA_FUZZ_SECONDS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${ARIA_JOBS:-$(nproc)}
labels='unit|integration|fuzz'
start=$(date +%s)
step() { printf '\n== %s (%ds)\n' "$*" $(( $(date +%s) - start )); }

step "dependencies"
scripts/install-deps.sh

step "lint"
scripts/lint.sh

summary=()
run_suite() { # name builddir cmake-args...
  local name=$1 dir=$2; shift 2
  step "build: $name"
  cmake -S "$root" -B "$dir" -DARIA_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$jobs"
  step "test: $name"
  local rc=0
  (cd "$dir" && ctest -L "$labels" -j "$jobs" --output-on-failure --timeout 900) | tee "$dir.ctest.log" || rc=$?
  summary+=("$name: $(grep -E 'tests passed' "$dir.ctest.log" | tail -1)")
  [ $rc -eq 0 ] || { echo "test.sh: $name suite failed" >&2; printf '%s\n' "${summary[@]}"; exit 1; }
}

mkdir -p build
rm -f build/release.ctest.log build/asan.ctest.log
run_suite release build/release -DCMAKE_BUILD_TYPE=Release
if [ "${ARIA_SKIP_ASAN:-0}" != 1 ]; then
  # detect_leaks=1 so a leak fails the test; abort_on_error for a clear exit.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
  run_suite asan build/asan -DCMAKE_BUILD_TYPE=Asan
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

if [ "${ARIA_SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null 2>&1; then
  step "build: libFuzzer targets (clang)"
  CC=clang cmake -S "$root" -B build/fuzz -DCMAKE_BUILD_TYPE=Asan -DARIA_LIBFUZZER=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >build/fuzz.configure.log 2>&1 ||
    { cat build/fuzz.configure.log; exit 1; }
  cmake --build build/fuzz -j "$jobs" --target $(cd build/fuzz && cmake --build . --target help | sed -n 's/^\.\.\. \(.*_fuzz\)$/\1/p')
  secs=${ARIA_FUZZ_SECONDS:-5}
  nf=0
  for bin in $(find build/fuzz -type f -name '*_fuzz' -perm -u+x | sort); do
    name=$(basename "$bin" _fuzz)
    corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
    step "fuzz: $name for ${secs}s"
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 "$work" 2>&1 | tail -2 ||
      { echo "test.sh: fuzzer $name found a crash" >&2; exit 1; }
    rm -rf "$work"
    nf=$((nf + 1))
  done
  summary+=("libfuzzer: $nf targets fuzzed ${secs}s each, no crash")
fi

step "done"
printf '%s\n' "${summary[@]}"
# One closing line over every ctest suite: "N passed, N failed".
total=0; failed=0
for log in build/release.ctest.log build/asan.ctest.log; do
  [ -f "$log" ] || continue
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
  f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  n=$(sed -E 's/.* tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$((total + n)); failed=$((failed + f))
done
echo "tests: $((total - failed)) passed, $failed failed"
