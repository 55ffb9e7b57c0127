#!/usr/bin/env bash
# Installs everything the project needs from Debian's packages. Idempotent:
# apt-get runs only when a package is missing, so a second call is instant.
# Extra package names on the command line are installed the same way (the
# benchmark harness, bench/run.sh, adds the tools it compares against).
set -euo pipefail

# Build toolchain and libraries the CMake build finds (see CMakeLists.txt).
packages=(
  build-essential cmake ninja-build pkg-config clang-format
  # clang and its libFuzzer runtime build the fuzz targets (scripts/run-fuzz.sh).
  clang libclang-rt-14-dev
  libboost-dev libboost-filesystem-dev
  libfmt-dev liblz4-dev libzstd-dev libxxhash-dev libbenchmark-dev doctest-dev
  libsqlite3-dev libtomlplusplus-dev libcpp-httplib-dev libcli11-dev
  nlohmann-json3-dev libcurl4-openssl-dev libssl-dev
  # zlib inflates the compressed age test vectors (tests/plugins/repo/crypto).
  zlib1g-dev
  # sd_notify for hostd serve under systemd (Type=notify); systemd's
  # systemd-analyze checks the unit file (tests/packaging).
  libsystemd-dev systemd
  # Stock tools the tests use to prove the repository format is readable by hand
  # (awscli: a backup on S3 read by the stock AWS client; age: an encrypted
  # one opened by the stock age).
  lz4 zstd xxhash sqlite3 binutils curl awscli jq age
  # A real S3 server for the remote provider's tests: Ceph's RADOS Gateway on
  # a throwaway one-node cluster (tests/plugins/rgw); openssl makes its CA,
  # iproute2's ss checks that it listens on loopback only.
  radosgw ceph-mon ceph-osd ceph-common openssl iproute2
  # GET /metrics is checked by the stock promtool and scraped by a real
  # Prometheus server on loopback (tests/host_stub/api/metrics_e2e_test.cc).
  prometheus
  # gnuplot draws the benchmarks page's charts; its renderer is tested
  # (tests/scripts/bench_report_test.py).
  gnuplot-nox
  # Debian's python3 stands in for systemd's end of sd_notify when the
  # packaging test runs the installed unit's ExecStart (tests/packaging).
  python3
  "$@"
)
# Node.js and npm run s3rver, the S3-compatible server the remote provider is
# tested against. A machine that has them already (another distribution of
# Node.js) keeps its own.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# s3rver, pinned by tests/plugins/s3rver/package-lock.json, into that
# directory's node_modules. `npm ci` runs only when node_modules is missing or
# was installed from another lock file (a stamp records which).
s3rver_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/plugins/s3rver"
stamp="$s3rver_dir/node_modules/.bkp-lock-sha256"
want=$(sha256sum "$s3rver_dir/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: installing s3rver (npm ci in tests/plugins/s3rver)"
  (cd "$s3rver_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
else
  echo "setup: s3rver present"
fi
