#!/usr/bin/env bash
# deb_test.sh BUILD_DIR: builds the Debian package with cpack from a built
# tree, checks its control data (Depends from dpkg-shlibdeps, the conffile),
# unpacks it with dpkg -x into a scratch root (no dpkg database, no root
# needed) and runs what it installed there: hostd finds its plugins beside
# itself, the installed example config is valid, the systemd unit passes
# systemd-analyze verify (when systemd is installed), and a backup taken
# with the installed hostd and hostctl restores to the same events.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
host_pid=""
cleanup() {
  [[ -n $host_pid ]] && kill -KILL "$host_pid" 2>/dev/null
  rm -rf "$work"
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
echo "deb_test: OK ($(du -k "$deb" | cut -f1) KiB package, backup $backup_id restored)"
