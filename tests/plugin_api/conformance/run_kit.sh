#!/usr/bin/env bash
# Runs bkp-provider-check on one provider in a scratch directory, for CTest.
#
#   run_kit.sh --check BIN --plugin SO [--expect-failure TEXT]...
#              [--setting KEY=VALUE]... [--s3rver LAUNCH_JS]
#              [--max-cancel-points N]
#
# @SCRATCH@ in a setting's value becomes a fresh mktemp directory (removed
# on exit unless KEEP_TEST_DIRS=1). With --s3rver, an s3rver (bucket
# "backups") is started on loopback with tests/plugins/s3rver/launch.js and
# @S3_ENDPOINT@ becomes its URL; it exits when this script does. Without --expect-failure the kit must
# pass (exit 0). With it, the kit must exit 1 and print a FAIL line holding
# each TEXT: the test that a broken provider is caught, and for what.
set -euo pipefail

check='' plugin='' expected=() settings=() s3rver='' kit_extra=()
while (($#)); do
  case "$1" in
    --check) check=$2 ;;
    --plugin) plugin=$2 ;;
    --expect-failure) expected+=("$2") ;;
    --setting) settings+=("$2") ;;
    --s3rver) s3rver=$2 ;;
    --max-cancel-points) kit_extra+=(--max-cancel-points "$2") ;;
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

endpoint=''
if [[ -n "$s3rver" ]]; then
  mkdir -p "$scratch/s3"
  # The server exits when its standard input closes: the coprocess's pipe
  # closes with this script, whatever way it ends.
  coproc S3RVER { exec node "$s3rver" "$scratch/s3" backups 2>"$scratch/s3rver.log"; }
  read -r -t 30 line <&"${S3RVER[0]}" || { cat "$scratch/s3rver.log"; echo "FAIL: s3rver did not start"; exit 1; }
  port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' <<<"$line")
  [[ -n "$port" ]] || { echo "FAIL: s3rver said '$line', not its port"; exit 1; }
  endpoint="http://127.0.0.1:$port"
fi

args=(--plugin "$plugin" "${kit_extra[@]}")
for s in "${settings[@]}"; do
  s=${s//@SCRATCH@/$scratch}
  args+=(--setting "${s//@S3_ENDPOINT@/$endpoint}")
done

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
