#!/usr/bin/env bash
# Runs bkp-provider-check on one provider in a scratch directory, for CTest.
#
#   run_kit.sh --check BIN --plugin SO [--expect-failure TEXT]...
#              [--setting KEY=VALUE]...
#
# @SCRATCH@ in a setting's value becomes a fresh mktemp directory (removed
# on exit unless KEEP_TEST_DIRS=1). Without --expect-failure the kit must
# pass (exit 0). With it, the kit must exit 1 and print a FAIL line holding
# each TEXT: the test that a broken provider is caught, and for what.
set -euo pipefail

check='' plugin='' expected=() settings=()
while (($#)); do
  case "$1" in
    --check) check=$2 ;;
    --plugin) plugin=$2 ;;
    --expect-failure) expected+=("$2") ;;
    --setting) settings+=("$2") ;;
    *) echo "run_kit.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n "$check" && -n "$plugin" ]] || { echo "run_kit.sh: need --check and --plugin" >&2; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/bkp-kit.XXXXXX")
cleanup() {
  if [[ "${KEEP_TEST_DIRS:-}" == 1 ]]; then echo "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

args=(--plugin "$plugin")
for s in "${settings[@]}"; do args+=(--setting "${s//@SCRATCH@/$scratch}"); done

set +e
"$check" "${args[@]}" >"$scratch/kit.log" 2>&1
status=$?
set -e
cat "$scratch/kit.log"

if ((${#expected[@]} == 0)); then
  ((status == 0)) || { echo "FAIL: the kit exited $status; a conforming provider passes (0)"; exit 1; }
  exit 0
fi
((status == 1)) || { echo "FAIL: the kit exited $status on a broken provider; expected 1"; exit 1; }
for text in "${expected[@]}"; do
  # (not grep -q: under pipefail its early exit fails the pipeline)
  grep -F "FAIL  " "$scratch/kit.log" | grep -F -- "$text" >/dev/null ||
    { echo "FAIL: no FAIL line says: $text"; exit 1; }
done
echo "the kit caught: ${expected[*]}"
