#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway on loopback, for the remote provider's tests
# against a real S3 server (see README.md beside this file).
#
#   rgw-launch.sh start DIR   start it with all state under DIR (empty,
#                             absent, or an earlier run's, which it stops
#                             first); prints DIR/rgw.json's contents on one
#                             line once S3 answers
#   rgw-launch.sh stop DIR    stop the daemons DIR/pids names, remove DIR
#   rgw-launch.sh run DIR     start, then stop when standard input closes
#                             (a test process that dies leaves nothing behind)
#
# One monitor, one memstore OSD (objects in RAM, capped small), no manager,
# cephx off, and radosgw with a beast frontend on http and https. Every
# daemon binds 127.0.0.1 only, on ports chosen free at start; the launcher
# refuses to go on if one listens anywhere else. Daemons are stopped by the
# PIDs it recorded, never by name.
set -euo pipefail

readonly ACCESS_KEY=RGWTESTACCESSKEY0001
readonly SECRET_KEY=rgw-test-secret-key-0001
readonly DNS_NAME=rgw.localhost
readonly BUCKET=backups
# The OSD keeps every object in RAM, up to this (BKP_RGW_MEMSTORE_MIB; the
# benchmark asks for more than the tests' 1 GiB).
readonly MEMSTORE_BYTES=$((${BKP_RGW_MEMSTORE_MIB:-1024} * 1024 * 1024))
readonly START_TIMEOUT=90
# The command prefix that runs a command in the gateway's network namespace
# (empty when it has none).
ns=()

die() {
  echo "rgw-launch: $*" >&2
  exit 1
}

# A free TCP port on 127.0.0.1 (the kernel's choice; racy only against
# another process binding in the next few hundred milliseconds).
free_port() {
  "${ns[@]}" python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The PIDs in DIR/pids that still run a daemon of DIR's cluster (each was
# started with DIR/ceph.conf on its command line): a PID the system reused
# for anything else since is left alone.
our_pids() {
  local dir=$1 pid
  [[ -f $dir/pids ]] || return 0
  for pid in $(cat "$dir/pids"); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/ceph.conf"; then
      echo "$pid"
    fi
  done
}

stop() {
  local dir=$1 pid pids
  pids=$(our_pids "$dir")
  # The data lives in RAM and is thrown away: no orderly shutdown to wait
  # for (radosgw takes seconds to drain on SIGTERM).
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    while kill -0 "$pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; do
      sleep 0.05
    done
  done
  rm -f "$dir/pids"
}

# Starts `$@` (in the namespace, if any) in the background with its output
# in DIR/log/NAME.out, recording its PID.
spawn() {
  local name=$1
  shift
  setsid "${ns[@]}" "$@" >"$dir/log/$name.out" 2>&1 </dev/null &
  echo $! >>"$dir/pids"
  disown  # stopped by PID; no job-control notice when killed
}

# Waits for `$@` to succeed, or fails naming `what` and the log to read.
wait_for() {
  local what=$1 log=$2
  shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${START_TIMEOUT}s; see $log"
    sleep 0.2
  done
}

# Every TCP socket the daemons listen on is on 127.0.0.1.
check_loopback_only() {
  local pid bad=""
  for pid in $(cat "$dir/pids"); do
    bad+=$("${ns[@]}" ss -ltnpH 2>/dev/null | grep "pid=$pid," | awk '$4 !~ /^127\.0\.0\.1:/ {print $4}' || true)
  done
  [[ -z $bad ]] || die "a daemon listens beyond loopback: $bad"
}

# Removes DIR if it is a launcher's directory (never any other).
remove_dir() {
  if [[ -f $1/ceph.conf || -f $1/rgw.json ]]; then rm -rf "$1"; fi
}

make_tls() {
  local tls=$dir/tls
  mkdir -p "$tls"
  # A private CA and a server certificate it signs for the gateway's names.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bkp test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$DNS_NAME" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:*.%s,IP:127.0.0.1\n' "$DNS_NAME" "$DNS_NAME" >"$tls/ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/ext" -out "$tls/server.pem" 2>/dev/null
  # Another CA that signed nothing here: the wrong CA a test points to.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bkp unrelated CA" \
    -keyout "$tls/other-ca.key" -out "$tls/other-ca.pem" 2>/dev/null
}

start() {
  dir=$1
  for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph openssl ss curl aws python3; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed: run scripts/setup.sh"
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/ceph.conf ]]; then
    # What an earlier run that was never stopped left behind.
    stop "$dir"
    rm -rf "${dir:?}"/*
  fi
  [[ -z $(ls -A "$dir") ]] || die "$dir is neither empty nor an earlier run's directory"
  mkdir -p "$dir"/{run,log,mon,osd}
  : >"$dir/pids"
  # Whatever fails from here on stops what already runs.
  trap 'stop "$dir"' EXIT

  local mon_port http_port https_port fsid osd_uuid conf=$dir/ceph.conf netns_pid=0
  # Where it can (root), it runs everything in a network namespace of its
  # own with only loopback: nothing outside can reach the daemons, nor they
  # anything outside. A test then joins it (rgw.json's "netns_pid"; see
  # rgw_server.cc). BKP_RGW_NETNS=0 keeps the host's network.
  if [[ ${BKP_RGW_NETNS:-1} != 0 ]] && unshare -n true 2>/dev/null; then
    # The namespace lives as long as this holder; its command line names
    # DIR/ceph.conf so that `stop` knows it for ours.
    setsid unshare -n bash -c 'exec -a "rgw-netns $0" sleep infinity' "$conf" \
      </dev/null >/dev/null 2>&1 &
    netns_pid=$!
    disown
    echo "$netns_pid" >>"$dir/pids"
    local deadline=$((SECONDS + 10))
    until [[ $(readlink "/proc/$netns_pid/ns/net") != "$(readlink /proc/self/ns/net)" ]]; do
      ((SECONDS < deadline)) || die "the network namespace holder did not start"
      sleep 0.05
    done
    ns=(nsenter -t "$netns_pid" -n)
    "${ns[@]}" ip link set lo up
  fi
  mon_port=$(free_port)
  http_port=$(free_port)
  https_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  make_tls

  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
# No cephx: a throwaway cluster only the test reaches. radosgw asks for
# "secure" monitor sessions, which auth "none" cannot give; crc it is.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_client_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
keyring = $dir/keyring
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
pid_file = $dir/run/\$name.pid
log_file = $dir/log/\$name.log
mon_data = $dir/mon/\$name
osd_data = $dir/osd/\$name
# One OSD: single copies, few placement groups, nothing to rebalance.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_objectstore = memstore
memstore_device_bytes = $MEMSTORE_BYTES
osd_max_object_name_len = 460
osd_max_object_namespace_len = 64
mon_osd_full_ratio = 0.95
debug_ms = 0
# A daemon or tool that cannot reach the monitor says so soon.
client_mount_timeout = 30
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:$http_port ssl_endpoint=127.0.0.1:$https_port ssl_certificate=$dir/tls/server.pem ssl_private_key=$dir/tls/server.key
rgw_dns_name = $DNS_NAME
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
rgw_gc_obj_min_wait = 0
# Real S3 (and RGW by default) takes parts of 5 MiB and more; the tests use
# 64 KiB parts to exercise multipart uploads on small data.
rgw_multipart_min_part_size = 65536
EOF
  # An empty keyring: tools look for one even with cephx off.
  : >"$dir/keyring"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  "${ns[@]}" ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >"$dir/log/mon-mkfs.out" 2>&1 ||
    die "ceph-mon --mkfs failed; see $dir/log/mon-mkfs.out"
  spawn mon ceph-mon -c "$conf" -i a -f
  local ceph=("${ns[@]}" ceph -c "$conf" --connect-timeout 5)
  wait_for "the monitor" "$dir/log/mon.a.log" "${ceph[@]}" mon stat

  local id
  id=$("${ceph[@]}" osd new "$osd_uuid")
  mkdir -p "$dir/osd/osd.$id"
  "${ns[@]}" ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed; see $dir/log/osd-mkfs.out"
  spawn osd ceph-osd -c "$conf" -i "$id" -f
  osd_up() { "${ceph[@]}" osd dump --format json | grep -q '"up":1'; }
  wait_for "the OSD" "$dir/log/osd.$id.log" osd_up

  "${ns[@]}" radosgw-admin -c "$conf" -n client.rgw user create --uid test --display-name "bkp tests" \
    --access-key "$ACCESS_KEY" --secret "$SECRET_KEY" >"$dir/log/user.out" 2>&1 ||
    die "radosgw-admin user create failed; see $dir/log/user.out"
  spawn rgw radosgw -c "$conf" -n client.rgw -f
  wait_for "radosgw" "$dir/log/client.rgw.log" "${ns[@]}" curl -sf -o /dev/null "http://127.0.0.1:$http_port/"
  check_loopback_only
  AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_DEFAULT_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true "${ns[@]}" aws --endpoint-url "http://127.0.0.1:$http_port" \
    s3api create-bucket --bucket "$BUCKET" >"$dir/log/bucket.out" 2>&1 ||
    die "creating bucket '$BUCKET' failed; see $dir/log/bucket.out"

  cat >"$dir/rgw.json" <<EOF
{"http_port": $http_port, "https_port": $https_port, "dns_name": "$DNS_NAME", "bucket": "$BUCKET", "access_key": "$ACCESS_KEY", "secret_key": "$SECRET_KEY", "ca_file": "$dir/tls/ca.pem", "other_ca_file": "$dir/tls/other-ca.pem", "netns_pid": $netns_pid, "pids": [$(paste -sd, "$dir/pids")]}
EOF
  trap - EXIT
  cat "$dir/rgw.json"
}

case ${1:-} in
  start)
    [[ $# -eq 2 ]] || die "usage: $0 start DIR"
    start "$2"
    ;;
  stop)
    [[ $# -eq 2 ]] || die "usage: $0 stop DIR"
    stop "$2"
    remove_dir "$2"
    ;;
  run)
    [[ $# -eq 2 ]] || die "usage: $0 run DIR"
    start "$2"
    reader=0
    trap 'kill "$reader" 2>/dev/null; stop "$dir"; remove_dir "$dir"; exit 1' TERM INT HUP
    # Until the test closes our stdin (or dies). In the background, so that
    # `wait` lets a signal's trap run at once.
    cat <&0 >/dev/null &
    reader=$!
    wait "$reader" || true
    stop "$dir"
    remove_dir "$dir"
    ;;
  *)
    die "usage: $0 start|stop|run DIR"
    ;;
esac
