#!/usr/bin/env bash
# Reproduces every performance figure of the project: installs the tools it
# compares against (Debian packages, only those missing), builds in Release,
# runs every benchmark suite and writes bench/results/results.json,
# docs/BENCHMARKS.md and its charts (docs/*.svg). See bench/README.md.
#
#   bench/run.sh                    256 MiB and 1 GiB, 3 repetitions
#   bench/run.sh --sizes 256,1024,4096   ... and 4 GiB
#   bench/run.sh --quick            smoke test: 256 MiB, 1 repetition, every
#                                   scenario; report in BUILD/bench-quick
#
# Other options (bench/harness.py --help): --reps N, --skip LIST,
# --work DIR (scratch, default /var/tmp/bkp-bench), --results DIR, --no-docs,
# --note TEXT, and --build DIR to use an existing build instead of
# build/bench (CI passes its test build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=""
args=()
shown=()  # the command line the report prints: without --note and its text
while (($#)); do
  case "$1" in
    --build) build=${2:?--build needs a directory}; shown+=("$1" "$2"); shift 2 ;;
    --note) args+=("$1" "${2:?--note needs a text}"); shift 2 ;;
    *) args+=("$1"); shown+=("$1"); shift ;;
  esac
done
shown_command="bench/run.sh"
for a in ${shown[@]+"${shown[@]}"}; do
  [[ $a =~ ^[[:alnum:]_./,=:+-]+$ ]] || a=${a@Q}
  shown_command+=" $a"
done

# restic, borg, zstd and awscli are the peers; gnuplot draws the charts; GNU
# time measures peak RSS.
bash scripts/setup.sh restic borgbackup zstd lz4 gnuplot-nox awscli time

if [[ -z "$build" ]]; then
  build=build/bench
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
    -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBKP_BUILD_TESTS=OFF \
    -DBKP_BUILD_BENCH=ON "${launcher[@]}" >/dev/null
fi
cmake --build "$build" -j "$(nproc)"

exec python3 bench/harness.py --build "$build" --command "$shown_command" "${args[@]}"
