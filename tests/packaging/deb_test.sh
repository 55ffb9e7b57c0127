#!/usr/bin/env bash
# deb_test.sh BUILD_DIR: builds the Debian package with cpack from a built
# tree, checks its control data (Depends from dpkg-shlibdeps, the conffile),
# unpacks it with dpkg -x into a scratch root (no dpkg database, no root
# needed) and runs what it installed there: hostd finds its plugins beside
# itself, the installed example config is valid, the systemd unit passes
# systemd-analyze verify (when systemd is installed), and a backup taken
# with the installed hostd and hostctl restores to the same events.
# Then the service, as its unit starts it (no systemd runs here): the
# unit's ExecStart with the installed config adapted to the scratch root
# and NOTIFY_SOCKET naming a socket that notify_listener.py reads (Debian's
# python3). READY=1 must arrive, and with no operator action a backup
# schedule every 2 s with keep_last = 2 and a drill schedule every 3 s must
# show in /metrics backups taken, backups expired and a drill passed; the
# backups listed must be the two kept, `hostctl status` healthy; SIGTERM
# must send STOPPING=1 and exit 0.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
host_pid=""
listener_pid=""
cleanup() {
  [[ -n $host_pid ]] && kill -KILL "$host_pid" 2>/dev/null
  [[ -n $listener_pid ]] && kill -KILL "$listener_pid" 2>/dev/null
  if [[ ${KEEP_TEST_DIRS:-} == 1 ]]; then echo "deb_test: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "deb_test: FAILED: $*" >&2
  exit 1
}

# -- the package
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; }
debs=("$work"/out/hostd_*.deb)
[[ -f ${debs[0]} ]] || fail "no hostd_*.deb in $(ls "$work/out")"
deb=${debs[0]}
dpkg-deb --info "$deb" >"$work/info"
depends=$(dpkg-deb --field "$deb" Depends)
echo "Depends: $depends"
# What the binaries and plugins link against, as dpkg-shlibdeps found it,
# and adduser for the postinst.
for package in libc6 libstdc++6 libssl3 libsqlite3-0 libcurl4 liblz4-1 libxxhash0 libsystemd0 \
  libfmt9 adduser; do
  tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//' | grep -qxF "$package" ||
    fail "Depends lacks $package: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/hostd/hostd.toml ||
  fail "/etc/hostd/hostd.toml is not a conffile"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst | grep -q "adduser --system" ||
  fail "the postinst does not create the hostd user"

root="$work/root"
dpkg -x "$deb" "$root"
for file in usr/bin/hostd usr/bin/hostctl usr/bin/bkp-keygen; do
  [[ -x $root/$file ]] || fail "$file missing or not executable"
done
for provider in null local_disk wal_archive remote; do
  [[ -f $root/usr/lib/hostd/plugins/bkp_$provider.so ]] || fail "provider $provider missing"
done
unit="$root/usr/lib/systemd/system/hostd.service"
[[ -f $unit ]] || fail "no systemd unit"
hostd="$root/usr/bin/hostd"
hostctl="$root/usr/bin/hostctl"

# -- the unit: paths of the package's prefix, Type=notify, hardening
grep -qx "ExecStart=/usr/bin/hostd serve --config /etc/hostd/hostd.toml" "$unit" ||
  fail "unit ExecStart: $(grep ExecStart "$unit")"
for line in Type=notify User=hostd StateDirectory=hostd ProtectSystem=strict NoNewPrivileges=yes \
  PrivateTmp=yes; do
  grep -qx "$line" "$unit" || fail "unit lacks $line"
done
if command -v systemd-analyze >/dev/null; then
  # verify wants the ExecStart binary where the unit says; a copy of the
  # unit pointing at the scratch root's hostd stands in. No running systemd
  # is needed. Unknown directives, bad values and a missing binary fail it.
  sed "s|^ExecStart=/usr/bin/hostd|ExecStart=$hostd|" "$unit" >"$work/hostd.service"
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$work/hostd.service" \
    >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
  # It reports some problems as warnings only: none is expected.
  if grep -v "hostd.service: .*User=\|Failed to resolve user" "$work/verify.log" | grep -q .; then
    cat "$work/verify.log"
    fail "systemd-analyze verify warned"
  fi
else
  echo "deb_test: systemd-analyze not installed; the unit is not verified"
fi

cd "$work"
# -- the built-in plugin_dir of the installed hostd is beside it
"$hostd" plugins >plugins.txt 2>&1 || { cat plugins.txt; fail "hostd plugins"; }
grep -q "^local: loaded $root/usr/lib/hostd/plugins/bkp_local_disk.so (provider local_disk " \
  plugins.txt || { cat plugins.txt; fail "installed hostd did not find its plugins"; }
"$hostd" --version | grep -q "^hostd " || fail "hostd --version"

# -- the installed example config: generated from the schema, valid
example="$root/etc/hostd/hostd.toml"
grep -qx 'data_dir = "/var/lib/hostd/data"' "$example" || fail "example config data_dir"
grep -qx '# port = 8124' "$example" || fail "example config: defaults not commented out"
"$hostd" config show --config "$example" >shown.toml 2>&1 || { cat shown.toml; fail "config show"; }
grep -qx "plugin_dir = \"$root/usr/lib/hostd/plugins\"" shown.toml ||
  fail "example config: plugin_dir is not the installed plugins: $(grep ^plugin_dir shown.toml)"

# -- a backup and a restore with the installed hostd and hostctl
cat >hostd.toml <<TOML
[storage]
data_dir = "$work/data"
[server]
port = 0
[[providers]]
name = "local"
plugin = "local_disk"
[providers.settings]
path = "$work/backups"
TOML
start_host() {
  rm -f port
  "$hostd" serve --config hostd.toml --port-file port "$@" >>hostd.log 2>&1 &
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
  host_pid=""
}
ctl() { "$hostctl" --port "$port" "$@"; }

start_host
ctl append --context orders --count 300 --batch 50 --seed 3 >/dev/null
ctl read --context orders --from 0 --limit 0 >before.txt
ctl backup create --provider local --no-progress >backup.txt || { cat backup.txt hostd.log; fail "backup"; }
stop_host
backup_id=$(ls backups/backups | sort | tail -n 1)
backup_id=${backup_id%.json}
[[ -n $backup_id ]] || fail "no backup in $work/backups"

"$hostd" restore --config hostd.toml --provider local --backup "$backup_id" \
  --data-dir "$work/restored" >restore.txt 2>&1 || { cat restore.txt; fail "restore"; }
"$hostd" check --data-dir "$work/restored" >check.txt 2>&1 || { cat check.txt; fail "check"; }
grep -q "^check passed" check.txt || { cat check.txt; fail "check did not pass"; }
start_host --data-dir "$work/restored"
ctl read --context orders --from 0 --limit 0 >after.txt
stop_host
cmp -s before.txt after.txt || fail "the restored events differ from the backed-up ones"
[[ $(wc -l <after.txt) -ge 300 ]] || fail "restored $(wc -l <after.txt) lines, expected 300 events"

# -- the service as its unit starts it, on schedules, with no operator action
python=/usr/bin/python3 # Debian's (scripts/setup.sh), not whatever PATH finds first
[[ -x $python ]] || fail "$python missing: run scripts/setup.sh"
svc="$work/svc" # stands for / : the unit's /etc and /var/lib paths go under it
mkdir -p "$svc/etc/hostd" "$svc/var/lib/hostd"
# The installed example config, its /var/lib/hostd paths moved under $svc,
# a free port, and schedules appended. Each change is checked to have taken.
sed -e "s|\"/var/lib/hostd/|\"$svc/var/lib/hostd/|" -e 's|^# port = 8124$|port = 0|' \
  "$example" >"$svc/etc/hostd/hostd.toml"
for line in "data_dir = \"$svc/var/lib/hostd/data\"" "path = \"$svc/var/lib/hostd/backups\"" \
  "port = 0"; do
  grep -qxF "$line" "$svc/etc/hostd/hostd.toml" || fail "adapting the example config: no '$line'"
done
cat >>"$svc/etc/hostd/hostd.toml" <<TOML

[[schedules]]
name = "often"
provider = "local"
kind = "full"
every = "2s"
keep_last = 2

[[schedules]]
name = "drill"
provider = "local"
kind = "drill"
every = "3s"
TOML
# ExecStart as the installed unit writes it: the binary from the scratch
# root, /etc paths from $svc.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ -n $exec_start ]] || fail "the unit has no ExecStart"
read -ra words <<<"$exec_start"
command=()
for word in "${words[@]}"; do
  case $word in
  /etc/*) word="$svc$word" ;;
  /*) word="$root$word" ;;
  esac
  command+=("$word")
done
[[ -x ${command[0]} ]] || fail "ExecStart's binary ${command[0]} is not installed"
echo "deb_test: ExecStart=$exec_start runs as: ${command[*]}"

notify="$work/notify.sock"
"$python" "$here/notify_listener.py" "$notify" "$work/notify.txt" 300 &
listener_pid=$!
for _ in $(seq 1 200); do
  [[ -S $notify ]] && break
  sleep 0.05
done
[[ -S $notify ]] || fail "the notify listener did not bind $notify"
# WorkingDirectory and UMask as the unit sets them; User=hostd is left out
# (no such user here, and no root needed).
(cd "$svc/var/lib/hostd" && umask 0077 && NOTIFY_SOCKET="$notify" exec "${command[@]}") \
  >service.log 2>&1 &
host_pid=$!
url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/^READY=1 STATUS=listening on \(http[^ ]*\).*/\1/p' "$work/notify.txt" | head -n 1)
  [[ -n $url ]] && break
  kill -0 "$host_pid" 2>/dev/null || { cat service.log; fail "the service exited before READY=1"; }
  sleep 0.05
done
[[ -n $url ]] || { cat notify.txt service.log; fail "no READY=1 with the listening URL"; }
port=${url##*:}
echo "deb_test: READY=1 from the service, listening on $url"

# The value of one series in a scrape, or 0 when it is absent.
sample() { awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }' metrics.txt; }
taken=0 expired=0 drill=0
for _ in $(seq 1 900); do
  curl -sS --fail-with-body --max-time 10 "$url/metrics" >metrics.txt || fail "GET /metrics"
  taken=$(sample 'hostd_operations_total{provider="local",kind="backup",result="succeeded"}')
  expired=$(sample 'hostd_schedule_expired_backups_total{schedule="often",provider="local",kind="full"}')
  drill=$(sample 'hostd_drill_last_success{provider="local"}')
  ((taken >= 4 && expired >= 2 && drill == 1)) && break
  kill -0 "$host_pid" 2>/dev/null || { cat service.log; fail "the service exited"; }
  sleep 0.1
done
((taken >= 4 && expired >= 2 && drill == 1)) || {
  cat service.log
  fail "after 90 s /metrics shows $taken backup(s) taken, $expired expired, drill passed=$drill"
}
if command -v promtool >/dev/null; then
  promtool check metrics <metrics.txt >promtool.txt 2>&1 || { cat promtool.txt; fail "promtool"; }
fi
echo "deb_test: /metrics: $taken backups taken, $expired expired, drill passed"
# keep_last = 2: between two runs the host holds exactly the two newest
# backups (a third exists only while a new one awaits its retention).
kept=0
for _ in $(seq 1 300); do
  "$hostctl" --port "$port" backup list --json >list.json || fail "hostctl backup list"
  kept=$(jq '.backups | length' list.json)
  ((kept <= 3)) || { cat list.json; fail "keep_last = 2, yet $kept backups are listed"; }
  ((kept == 2)) && break
  sleep 0.1
done
((kept == 2)) || { cat list.json; fail "never exactly the 2 backups keep_last = 2 keeps"; }
# Nothing the retention removed is listed.
curl -sS --fail-with-body "$url/v1/schedules" >schedules.json || fail "GET /v1/schedules"
for id in $(jq -r '.schedules[] | select(.name == "often") | .last_expired[]' schedules.json); do
  jq -e --arg id "$id" '[.backups[].id] | index($id) == null' list.json >/dev/null ||
    fail "backup $id was expired yet is listed"
done
grep -q "schedule 'often': retention removed 1 backup(s)" service.log ||
  { cat service.log; fail "no retention log line"; }
grep -q "schedule 'drill': restore drill passed" service.log ||
  { cat service.log; fail "no drill log line"; }
# Healthy with no operator action: fresh schedules, the last drill passed.
healthy=1
for _ in $(seq 1 100); do
  "$hostctl" --port "$port" status >status.txt 2>&1 && { healthy=0; break; }
  sleep 0.2
done
((healthy == 0)) || { cat status.txt; fail "hostctl status is not healthy"; }

kill -TERM "$host_pid"
wait "$host_pid" || { cat service.log; fail "the service exited non-zero on SIGTERM"; }
host_pid=""
wait "$listener_pid" || { cat notify.txt; fail "no STOPPING=1 after SIGTERM"; }
listener_pid=""
grep -qx "STOPPING=1" notify.txt || { cat notify.txt; fail "no STOPPING=1 message"; }
echo "deb_test: OK ($(du -k "$deb" | cut -f1) KiB package, backup $backup_id restored," \
  "the service ran $taken scheduled backups, expired $expired, drilled, and stopped)"
