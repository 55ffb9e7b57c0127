#!/usr/bin/env bash
# Sets up everything, checks format and include layering, then builds the
# tree three times: a warnings-as-errors -O2 build (the operators' binaries,
# and the tests only a build without sanitizers can run), an
# AddressSanitizer + UndefinedBehaviorSanitizer build and a ThreadSanitizer
# build, each running its share of the suite. Each build ends with CTest's
# summary line; the ASan build replays the fuzz harnesses' seed corpora and
# regressions (tests/fuzz). With
# BKP_FUZZ_SECONDS=N the libFuzzer targets then run N seconds each (a clang
# build of their own). With BKP_BENCH=1 the benchmark harness then runs as a
# smoke test (bench/run.sh --quick on the first build): it fails if any
# benchmark scenario fails, never on a timing. Exit status is non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage starts with "== <name>" and ends with its wall time and the CPU
# time (user + system) of what it ran: on a shared machine the wall time
# varies, the CPU time is the stage's cost (CONTRIBUTING.md keeps the figures).
stage_wall=$SECONDS
stage_cpu=0
stage_times=$(mktemp)
trap 'rm -f "$stage_times"' EXIT
stage() {
  local cpu
  # `times` in this shell (not in a $(...) subshell, which has children of its
  # own): its second line is the user and system time of finished children.
  times >"$stage_times"
  cpu=$(awk 'function sec(t, m) { split(t, m, "m"); return m[1] * 60 + m[2] }
    NR == 2 { printf "%d", sec($1) + sec($2) }' "$stage_times")
  if [[ -n "${stage_name:-}" ]]; then
    echo "-- $stage_name: $((SECONDS - stage_wall)) s wall, $((cpu - stage_cpu)) s CPU"
  fi
  stage_name=$1 stage_wall=$SECONDS stage_cpu=$cpu
  [[ -z "$1" ]] || echo "== $1"
}

stage "setup (scripts/setup.sh)"
bash scripts/setup.sh
jobs=$(nproc)

stage "format check (clang-format)"
bash scripts/check-format.sh

stage "include layering (scripts/include-layers.txt; known exceptions listed apart)"
bash scripts/check-includes.sh --allow-known

# Three builds, each test run in exactly one of them (BKP_TEST_SET,
# tests/CMakeLists.txt, says which and why): running every test under both
# sanitizers did not fit in CI's 30 minutes on 2 cores (CONTRIBUTING.md,
# "Checks, and what CI runs", has the stage times).
#
# The plain build: the product at the operators' -O2 with warnings as
# errors (the warnings -O2 enables included), the benchmarks, and the tests
# no sanitizer build can run: the RADOS Gateway tier (label rgw; minutes
# more under a sanitizer), the Debian package (tests/packaging: a sanitizer
# build's package is ten times the size) and the address-space limit
# (repo_memory_limit_tests: ASan and TSan reserve terabytes of shadow
# memory). A unity build (BKP_UNITY) without debug info: compiled file by
# file with -g1 it cost 865 s of CPU, a third of the whole run, for
# binaries that 17 tests use; a developer's build/test compiles each file
# alone, which is where a file that does not include what it uses shows.
# Its own directory, build/plain, so a developer's build/test keeps the
# whole suite.
stage "build (warnings as errors) and the tests only a build without sanitizers runs"
cmake -S . -B build/plain -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBKP_WERROR=ON \
  -DBKP_UNITY=ON -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DBKP_TEST_SET=plain >/dev/null
cmake --build build/plain -j "$jobs"
ctest --test-dir build/plain --output-on-failure -j "$jobs" --timeout 600

# Both sanitizer builds:
#  - compile the product as unity builds (BKP_UNITY, as the plain build),
#    no benchmarks, no RADOS Gateway tier;
#  - at -O1 (TSan and ASan slow unoptimised code several times over, and
#    most tests are CPU-bound under them), with asserts on (they check
#    invariants, across threads under TSan) and line tables only (-g1:
#    reports still name file and line, for about 30 % less compile time
#    than full -g);
#  - run twice as many tests at once as cores: many tests wait (on fsync,
#    sockets, child processes, back-off sleeps).
sanitizer_build=(-G Ninja -DBKP_WERROR=ON -DBKP_UNITY=ON -DBKP_BUILD_BENCH=OFF -DBKP_RGW_TESTS=OFF
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCMAKE_C_FLAGS_DEBUG="-O1 -g1")

stage "build and test under ASan + UBSan (BKP_TEST_SET=asan: formats, parsers, codecs, the ABI)"
cmake -S . -B build/asan "${sanitizer_build[@]}" -DBKP_SANITIZE=ON -DBKP_TEST_SET=asan >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$((2 * jobs))" --timeout 900

# ThreadSanitizer cannot share a process with ASan, hence its own build.
# Every process (the test binaries and the hostd/hostctl they start) writes
# its reports to build/tsan/tsan-reports/: a race in a hostd that a test
# kills with SIGKILL is then still seen. Any report fails the run. Races of
# ours are fixed in the code; scripts/tsan-suppressions.txt holds only
# third-party code, each entry with its reason.
stage "build and test under ThreadSanitizer (BKP_TEST_SET=tsan: the running host's services)"
cmake -S . -B build/tsan "${sanitizer_build[@]}" -DBKP_SANITIZE=thread -DBKP_TEST_SET=tsan >/dev/null
cmake --build build/tsan -j "$jobs"
tsan_reports=$PWD/build/tsan/tsan-reports
rm -rf "$tsan_reports" && mkdir -p "$tsan_reports"
tsan_status=0
TSAN_OPTIONS="log_path=$tsan_reports/report second_deadlock_stack=1 suppressions=$PWD/scripts/tsan-suppressions.txt" \
  ctest --test-dir build/tsan --output-on-failure -j "$((2 * jobs))" --timeout 900 ||
  tsan_status=$?
if compgen -G "$tsan_reports/report.*" >/dev/null; then
  cat "$tsan_reports"/report.*
  echo "ThreadSanitizer reported the races above (one report.<pid> file per process in $tsan_reports)"
  exit 1
fi
((tsan_status == 0)) || exit "$tsan_status"

# Fuzzing proper needs a clang build of its own (the harnesses and the host's
# libraries instrumented again: about 700 s of CPU, 6 minutes here), and ten
# seconds a target found nothing the corpus replay does not: it cost more
# than any other stage and said least, and CI's 30 minutes are spent on the
# builds. The ASan+UBSan build above replays each harness's seed
# corpus and regressions (CTest "fuzz replay: ..."); BKP_FUZZ_SECONDS=N runs
# the fuzzers N seconds a target here, and scripts/run-fuzz.sh alone does
# long sessions.
if [[ -n "${BKP_FUZZ_SECONDS:-}" ]]; then
  stage "fuzzing (clang libFuzzer, BKP_FUZZ_SECONDS=$BKP_FUZZ_SECONDS per target)"
  bash scripts/run-fuzz.sh
else
  stage "fuzzing skipped (BKP_FUZZ_SECONDS=N runs each libFuzzer target N s; the corpora were replayed above)"
fi

# The benchmark smoke test (every scenario once at 256 MiB) says nothing the
# suite does not about correctness and costs two minutes CI does not have
# beside three builds of the suite: BKP_BENCH=1 runs it.
if [[ "${BKP_BENCH:-0}" == 1 ]]; then
  stage "benchmark smoke test (every scenario once at 256 MiB; report in build/plain/bench-quick)"
  bash bench/run.sh --quick --build build/plain
else
  stage "benchmark smoke test skipped (BKP_BENCH=1 runs it)"
fi
stage ""
