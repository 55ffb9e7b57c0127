#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (build/fuzz) and runs
# each for BKP_FUZZ_SECONDS seconds (default 20; set e.g. 3600 for a long
# session), starting from its seed corpus in tests/fuzz/corpus/<target> and
# replaying tests/fuzz/regressions/<target> first. BKP_FUZZ_TARGETS picks
# some of the targets (default: all). New inputs go to a scratch
# copy, never into the repository. A crash fails the run and leaves its input
# as build/fuzz/crash-*: add it to tests/fuzz/regressions/<target> with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BKP_FUZZ_SECONDS:-20}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DBKP_FUZZ=ON -DBKP_BUILD_TESTS=OFF \
  -DBKP_BUILD_BENCH=OFF -DBKP_WERROR=ON "${launcher[@]}" >/dev/null
targets=${BKP_FUZZ_TARGETS:-repo_documents object host_config admin_http_routes admin_http_raw}
# Only what the chosen targets need: the admin_http ones build the host's
# libraries (instrumented), the others a few sources each.
cmake --build build/fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' $targets)

for target in $targets; do
  bin=build/fuzz/tests/fuzz/fuzz_$target
  scratch=build/fuzz/corpus-$target
  rm -rf "$scratch" && mkdir -p "$scratch"
  cp tests/fuzz/corpus/$target/* "$scratch"/
  if [ -d tests/fuzz/regressions/$target ]; then
    "$bin" -runs=0 tests/fuzz/regressions/$target
  fi
  echo "== fuzz $target for ${seconds} s"
  # -rss_limit_mb: a decoder must refuse oversized input before it grows.
  status=0
  (cd build/fuzz && "../../$bin" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -print_final_stats=1 "corpus-$target") >"build/fuzz/$target.log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|Done)' \
    "build/fuzz/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "build/fuzz/$target.log"
    exit 1
  fi
done
