#!/usr/bin/env bash
# The main job, end to end on the built-in default configuration: set up,
# build, start the host, write events through its HTTP API while it runs,
# stop it, reopen it, read the events back, run the consistency checker and
# print a summary. Everything lands under .run/demo (recreated each time).
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
cd "$work"  # the default config keeps data in ./data

host_pid=""
cleanup() { [[ -n "$host_pid" ]] && kill -9 "$host_pid" 2>/dev/null || true; }
trap cleanup EXIT

start_host() {
  rm -f port
  # No --config: the embedded defaults. Port 0 so a busy 8124 can't stop the demo.
  "$hostd" serve --port 0 --port-file port >>hostd.log 2>&1 &
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

echo "== start the host (built-in default config)"
start_host
echo "   listening on 127.0.0.1:$port"

echo "== write events: a steady load on 'default' and a burst on 'orders'"
"$hostctl" --port "$port" load --context default --rate 2000 --duration 3 --batch 20
"$hostctl" --port "$port" append --context orders --count 5000 --batch 100 --seed 7 >/dev/null
"$hostctl" --port "$port" status

echo "== stop and reopen"
stop_host
start_host
"$hostctl" --port "$port" status
read_back=$("$hostctl" --port "$port" read --context orders --from 0 --limit 10000 | wc -l)
echo "   read back $read_back events from 'orders'"
# One more write proves the reopened host continues tokens where it left off.
"$hostctl" --port "$port" append --context orders "{\"after\":\"restart\"}"
stop_host

echo "== consistency check"
"$hostd" check --data-dir data | tee check.txt

echo
echo "== summary"
echo "   data directory: $work/data ($(du -sh data | cut -f1))"
echo "   events read back from 'orders' after restart: $read_back (5000 written)"
grep -E "^check" check.txt | sed 's/^/   /'
[[ "$read_back" -eq 5000 ]] || { echo "demo: expected 5000 events back" >&2; exit 1; }
