#!/usr/bin/env bash
# A provider for a new storage target on the installed repository engine:
# installs the bkp_plugin_api and bkp_repo_engine components into a scratch
# prefix, builds engine_provider/ (faulty_dir, with a StorageDriver of its
# own) against that prefix alone, checks its exports, runs the installed
# conformance kit on it, then drives it through the real host: hostd serve
# takes events and a backup, and the offline hostd commands list, verify and
# restore it (the restored directory passes hostd check and holds the same
# events). With faults injected (no space, a short write, a torn rename) a
# backup fails with the fault's error and leaves no backup behind, nor any
# half-written object; a byte flipped in a stored object makes verify fail
# naming it.
#
#   engine_provider_test.sh --build-dir DIR --source-dir DIR --cmake CMAKE
#       --hostd BIN --hostctl BIN [--generator G] [--cxx-compiler CXX]
#
# Scratch files go to a mktemp directory under the build directory, removed
# on exit unless KEEP_TEST_DIRS=1.
set -euo pipefail

build_dir='' source_dir='' cmake=cmake generator=Ninja cxx='' hostd='' hostctl=''
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2 ;;
    --source-dir) source_dir=$2 ;;
    --cmake) cmake=$2 ;;
    --generator) generator=$2 ;;
    --cxx-compiler) cxx=$2 ;;
    --hostd) hostd=$2 ;;
    --hostctl) hostctl=$2 ;;
    *) echo "engine_provider_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n "$build_dir" && -n "$source_dir" && -n "$hostd" && -n "$hostctl" ]] ||
  { echo "need --build-dir, --source-dir, --hostd and --hostctl" >&2; exit 2; }
build_dir=$(cd "$build_dir" && pwd)
hostd=$(realpath "$hostd") hostctl=$(realpath "$hostctl")
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$build_dir/tests/plugin_api"
work=$(mktemp -d "$build_dir/tests/plugin_api/engine_provider.XXXXXX")
host_pid=''
cleanup() {
  [[ -n "$host_pid" ]] && kill -KILL "$host_pid" 2>/dev/null
  if [[ "${KEEP_TEST_DIRS:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() {
  local what=$1
  shift
  if ! "$@" >"$work/last.log" 2>&1; then
    cat "$work/last.log" >&2
    fail "$what"
  fi
}

prefix="$work/prefix"
echo "== install the bkp_plugin_api and bkp_repo_engine components into $prefix"
for component in bkp_plugin_api bkp_repo_engine; do
  run "cmake --install of component $component failed" \
    "$cmake" --install "$build_dir" --prefix "$prefix" --component "$component"
done

echo "== configure and build $source_dir against the prefix"
configure_args=(-G "$generator" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release)
[[ -n "$cxx" ]] && configure_args+=(-DCMAKE_CXX_COMPILER="$cxx")
run "configuring the engine provider failed" "$cmake" -S "$source_dir" -B "$work/build" "${configure_args[@]}"
run "building the engine provider failed" "$cmake" --build "$work/build"
plugin_dir="$work/plugins"
mkdir -p "$plugin_dir"
library=$(find "$work/build" -name bkp_faulty_dir.so | head -n 1)
[[ -n "$library" ]] || fail "the build produced no bkp_faulty_dir.so"
cp "$library" "$plugin_dir/"
bash "$here/check_exports.sh" --providers "$plugin_dir" --must-have faulty_dir

echo "== the installed conformance kit"
run "bkp-provider-check failed the engine provider" \
  "$prefix/bin/bkp-provider-check" --plugin "$plugin_dir/bkp_faulty_dir.so" --setting path="$work/kit"
tail -n 1 "$work/last.log"

echo "== through the host"
repo="$work/repo"
provider() {  # name, then extra setting lines
  printf '[[providers]]\nname = "%s"\nplugin = "faulty_dir"\n[providers.settings]\npath = "%s"\n' "$1" "$repo"
  shift
  printf '%s\n' "$@"
}
{
  printf 'plugin_dir = "%s"\n[storage]\ndata_dir = "%s"\n[server]\nport = 0\n' "$plugin_dir" "$work/data"
  provider fd
  provider fd_no_space 'fault = "no_space"' 'fault_after = 4096'
  provider fd_short_write 'fault = "short_write"' 'fault_after = 4096'
  provider fd_torn_rename 'fault = "torn_rename"' 'fault_after = 2'
} >"$work/host.toml"
cd "$work"
start_host() {
  rm -f port
  "$hostd" serve --config host.toml --port-file port "$@" >>hostd.log 2>&1 &
  host_pid=$!
  for _ in $(seq 1 600); do
    [[ -s port ]] && break
    kill -0 "$host_pid" 2>/dev/null || { cat hostd.log; fail "hostd serve exited"; }
    sleep 0.05
  done
  [[ -s port ]] || { cat hostd.log; fail "hostd serve did not start"; }
  port=$(cat port)
}
stop_host() {
  kill -TERM "$host_pid"
  wait "$host_pid" || { cat hostd.log; fail "hostd serve exited non-zero"; }
  host_pid=''
}
ctl() { "$hostctl" --port "$port" "$@"; }
backups() { ls "$repo/backups" 2>/dev/null | sort; }

start_host
run "append" ctl append --context orders --count 300 --batch 50 --seed 3
ctl read --context orders --from 0 --limit 0 >before.txt
run "backup through the running host" ctl backup create --provider fd --no-progress
stop_host
backup_id=$(backups | tail -n 1)
backup_id=${backup_id%.json}
[[ -n $backup_id ]] || fail "no manifest in $repo/backups after the backup"

run "hostd backup list" "$hostd" backup list --config host.toml --provider fd
grep -q "$backup_id" last.log || { cat last.log; fail "hostd backup list does not show $backup_id"; }
run "hostd backup verify" "$hostd" backup verify --config host.toml --provider fd "$backup_id"
run "hostd restore" "$hostd" restore --config host.toml --provider fd --backup "$backup_id" \
  --data-dir "$work/restored"
run "hostd check of the restored directory" "$hostd" check --data-dir "$work/restored"
grep -q "^check passed" last.log || { cat last.log; fail "check did not pass"; }
start_host --data-dir "$work/restored"
ctl read --context orders --from 0 --limit 0 >after.txt
stop_host
cmp -s before.txt after.txt || fail "the restored events differ from the backed-up ones"
echo "backed up, listed, verified and restored $backup_id ($(wc -l <after.txt) lines of events)"

# New events, so a backup has new objects to write.
start_host
run "append" ctl append --context orders --count 300 --batch 50 --seed 4
stop_host
for fault in no_space short_write torn_rename; do
  before=$(backups)
  if "$hostd" backup create --config host.toml --provider "fd_$fault" >"fault.log" 2>&1; then
    cat fault.log
    fail "a backup with the fault $fault succeeded"
  fi
  case $fault in
    no_space) expected='No space\|no space' ;;
    short_write) expected='short write' ;;
    torn_rename) expected='was torn' ;;
  esac
  grep -q "$expected" fault.log || { cat fault.log; fail "the $fault failure does not say '$expected'"; }
  [[ "$(backups)" == "$before" ]] || fail "the failed $fault backup left a manifest: $(backups | tr '\n' ' ')"
  leftovers=$(find "$repo/.faulty-tmp" -type f)
  [[ -z "$leftovers" ]] || fail "the failed $fault backup left half-written objects: $leftovers"
  run "hostd backup list after the $fault failure" "$hostd" backup list --config host.toml --provider fd
  echo "$fault: the backup failed with: $(grep -m 1 "$expected" fault.log)"
done
run "a backup after the failures" "$hostd" backup create --config host.toml --provider fd
[[ $(backups | wc -l) -eq 2 ]] || fail "expected 2 backups after the failures, found: $(backups | tr '\n' ' ')"
run "verify of every backup" "$hostd" backup verify --config host.toml --provider fd

echo "== a corrupted object"
object=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(next(c["object"] for f in m["files"] for c in f.get("chunks", []) if c.get("stored_size", 0) > 64))
' "$repo/backups/$backup_id.json")
[[ -f "$repo/$object" ]] || fail "the manifest names $object, which is not in $repo"
offset=$(($(stat -c %s "$repo/$object") / 2))
byte=$(od -An -tu1 -j "$offset" -N 1 "$repo/$object" | tr -d ' ')
printf "$(printf '\\%03o' $(((byte + 1) % 256)))" |
  dd of="$repo/$object" bs=1 seek="$offset" conv=notrunc status=none
if "$hostd" backup verify --config host.toml --provider fd "$backup_id" >verify.log 2>&1; then
  cat verify.log
  fail "verify passed with a byte of $object changed"
fi
grep -q "$(basename "$object" .lz4)" verify.log || { cat verify.log; fail "verify did not name $object"; }
echo "verify found the corrupted $object"
echo "engine provider: ok"
