#!/usr/bin/env bash
# Append latency of one context while another is restored into the running
# host (hostctl restore --context), against the same load with the host idle.
# Not part of bench/run.sh's suite; a figure for docs/operations.md.
#
#   bench/context_restore_latency.sh [BUILD_DIR] [EVENTS] [SECONDS] [RATE] [PAIRS]
#
# BUILD_DIR (default build/test) holds host_stub/hostd, host_stub/hostctl and
# plugins/. The restored context holds EVENTS events (default 200000, about
# 220 MB with the default sizes of hostctl append); `hostctl load` appends to
# another context at RATE events/s (default 500, batches of 1) for SECONDS
# (default 20), PAIRS times (default 3) idle then while the big context is
# restored in a loop (local_disk, --as big-copy --policy force, the copy set
# aside by the previous restore removed, so each restore is a whole one that
# also swaps out a live context). Idle and restoring runs alternate so that
# a change in the machine's load (it is shared) hits both alike. Prints hostctl
# load's line (p50/p99/max ack latency) for each run, then per kind the median
# p50 and p99 with their min-max, and the machine's load.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build/test}" && pwd)
events=${2:-200000}
seconds=${3:-20}
rate=${4:-500}
work=$(mktemp -d /var/tmp/bkp-ctx-restore.XXXXXX)
hostd_pid=""
cleanup() {
  [[ -n "$hostd_pid" ]] && kill "$hostd_pid" 2>/dev/null && wait "$hostd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/host.toml" <<TOML
plugin_dir = '$build/plugins'
[storage]
data_dir = '$work/data'
fsync = 'batch'
[server]
port = 0
[[providers]]
name = 'local'
plugin = 'local_disk'
[providers.settings]
path = '$work/repo'
TOML
"$build/host_stub/hostd" serve --config "$work/host.toml" --port-file "$work/port" \
  > "$work/hostd.log" 2>&1 &
hostd_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
ctl=("$build/host_stub/hostctl" --port "$(cat "$work/port")")

"${ctl[@]}" append --context big --count "$events" --batch 500 > /dev/null
backup=$("${ctl[@]}" backup create --provider local --no-progress |
  sed -n "s/^backup \(.*\) created via provider.*/\1/p")
echo "context 'big': $events events, backup $backup ($(du -sh "$work/data" | cut -f1) data dir)"
"${ctl[@]}" append --context other --count 100 > /dev/null  # created, warm

restore_loop() {
  local n=0
  while :; do
    n=$((n + 1))
    "${ctl[@]}" restore --provider local --backup "$backup" --context big --as big-copy \
      --policy force --no-progress > "$work/restore.out" 2>&1 || { cat "$work/restore.out"; exit 1; }
    rm -rf "$work/data/set-aside"
    echo "$n" > "$work/restores"
    grep -o 'in [0-9.]* s' "$work/restore.out" >> "$work/restore-times" || true
  done
}

# "p50 P ms, p99 Q ms" of a load line -> "P Q".
figures() { sed -n 's/.*p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1 \2/p'; }
# Median and min-max of the numbers on stdin.
summary() { sort -g | awk '{v[NR]=$1} END {printf "%s (%s-%s)", v[int((NR+1)/2)], v[1], v[NR]}'; }

pairs=${5:-3}
: > "$work/idle"
: > "$work/busy"
for pair in $(seq "$pairs"); do
  echo "pair $pair, idle:"
  line=$("${ctl[@]}" load --context other --rate "$rate" --duration "$seconds" --batch 1)
  echo "$line"
  figures <<< "$line" >> "$work/idle"
  echo "pair $pair, while restoring context 'big' in a loop:"
  rm -f "$work/restores" "$work/restore-times"
  restore_loop &
  loop=$!
  sleep 1  # the first restore is under way
  line=$("${ctl[@]}" load --context other --rate "$rate" --duration "$seconds" --batch 1)
  echo "$line"
  figures <<< "$line" >> "$work/busy"
  kill "$loop" 2>/dev/null || true
  wait "$loop" 2>/dev/null || true
  # A restore the kill cut short leaves its operation running: let it end.
  for _ in $(seq 600); do
    "${ctl[@]}" status --json | grep -q '"state": *"running"' || break
    sleep 0.1
  done
  echo "restores completed during the load: $(cat "$work/restores" 2>/dev/null || echo 0)" \
    "($(tr '\n' ' ' < "$work/restore-times" 2>/dev/null))"
done
echo "idle ($pairs runs):      p50 $(cut -d' ' -f1 "$work/idle" | summary) ms," \
  "p99 $(cut -d' ' -f2 "$work/idle" | summary) ms"
echo "restoring ($pairs runs): p50 $(cut -d' ' -f1 "$work/busy" | summary) ms," \
  "p99 $(cut -d' ' -f2 "$work/busy" | summary) ms"
echo "load: $(uptime)"
