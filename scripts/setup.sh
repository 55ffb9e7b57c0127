#!/usr/bin/env bash
# Installs everything the project needs from Debian's packages. Idempotent:
# apt-get runs only when a package is missing, so a second call is instant.
# Extra package names on the command line are installed the same way (the
# benchmark harness, bench/run.sh, adds the tools it compares against).
set -euo pipefail

# Build toolchain and libraries the CMake build finds (see CMakeLists.txt).
packages=(
  build-essential cmake ninja-build pkg-config clang-format
  libboost-dev libboost-filesystem-dev
  libfmt-dev liblz4-dev libxxhash-dev libbenchmark-dev doctest-dev
  libsqlite3-dev libtomlplusplus-dev libcpp-httplib-dev libcli11-dev
  nlohmann-json3-dev
  # Stock tools the tests use to prove the repository format is readable by hand.
  lz4 xxhash sqlite3 binutils curl
  "$@"
)

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
