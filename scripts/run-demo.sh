#!/usr/bin/env bash
# The main job, end to end on the built-in default configuration (data in
# ./data, backups through the local_disk provider into ./backups): set up,
# build, start the host, write events, take a hot backup while writes go on,
# stop, restore into a fresh data directory, run the consistency checker,
# start the restored host and write to it, and print a short report.
# Everything lands under .run/demo (recreated each time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBKP_BUILD_TESTS=OFF \
  -DBKP_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j "$(nproc)"
hostd="$root/build/release/host_stub/hostd"
hostctl="$root/build/release/host_stub/hostctl"

work="$root/.run/demo"
rm -rf "$work"
mkdir -p "$work"
cd "$work"  # the default config keeps data in ./data and backups in ./backups

host_pid=""
load_pid=""
cleanup() {
  [[ -n "$load_pid" ]] && kill "$load_pid" 2>/dev/null || true
  [[ -n "$host_pid" ]] && kill -9 "$host_pid" 2>/dev/null || true
}
trap cleanup EXIT

# start_host [extra hostd serve args]: no --config, so the embedded defaults.
# Port 0 so that a busy 8124 cannot stop the demo.
start_host() {
  rm -f port
  "$hostd" serve --port 0 --port-file port "$@" >>hostd.log 2>&1 &
  host_pid=$!
  for _ in $(seq 1 200); do
    [[ -s port ]] && break
    kill -0 "$host_pid" 2>/dev/null || { cat hostd.log; echo "demo: hostd exited" >&2; exit 1; }
    sleep 0.05
  done
  [[ -s port ]] || { cat hostd.log; echo "demo: hostd did not start" >&2; exit 1; }
  port=$(cat port)
}

stop_host() {
  kill -TERM "$host_pid"
  wait "$host_pid"
  host_pid=""
}

ctl() { "$hostctl" --port "$port" "$@"; }

echo "== start the host on the built-in default config"
start_host
echo "   listening on 127.0.0.1:$port"

echo "== write 5000 events to 'orders', acknowledged before the backup starts"
ctl append --context orders --count 5000 --batch 100 --seed 7 >/dev/null
ctl read --context orders --from 0 --limit 0 >orders.before

echo "== hot backup while a steady load writes to 'default'"
ctl load --context default --rate 3000 --duration 6 --batch 20 >load.txt &
load_pid=$!
# Let the load get going (bounded wait on the host's own state, not a timer).
for _ in $(seq 1 200); do
  ctl status --json | grep -q '"name": *"default"' && break
  sleep 0.05
done
ctl backup create --provider local --no-progress | tee backup.txt
wait "$load_pid"
load_pid=""
cat load.txt
backup_id=$(ls backups/backups | sort | tail -n 1)
backup_id=${backup_id%.json}
ctl backup verify --provider local "$backup_id"
ctl backup list --provider local
stop_host

echo "== restore backup $backup_id into a fresh data directory"
"$hostd" restore --provider local --backup "$backup_id" --data-dir restored

echo "== consistency check of the restored directory"
"$hostd" check --data-dir restored | tee check.txt

echo "== start the restored host and keep writing"
start_host --data-dir restored
ctl read --context orders --from 0 --limit 0 >orders.after
next=$(ctl append --context orders '{"after":"restore"}')
echo "   $next"
stop_host

echo
echo "== report"
same=no
cmp -s orders.before orders.after && same=yes
stored=$(du -sb backups | cut -f1)
data=$(du -sb data | cut -f1)
echo "   source data directory:       $work/data ($((data / 1024)) KiB)"
echo "   backup:                      $backup_id in $work/backups ($((stored / 1024)) KiB stored)"
echo "   'orders' restored identical: $same (5000 events acknowledged before the backup)"
echo "   write after restore:         $next"
grep -E "^check" check.txt | sed 's/^/   /'
[[ "$same" == yes ]] || { echo "demo: restored events differ from the source" >&2; exit 1; }
grep -q "^check passed" check.txt || exit 1
