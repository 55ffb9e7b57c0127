#!/usr/bin/env bash
# The repository engine's installed surface holds together on its own:
# installs the bkp_repo_engine component alone into a scratch prefix, checks
# it holds exactly the public headers, the static libraries and the CMake
# package, then compiles each installed header by itself (C++17, warnings
# as errors) against that prefix and bkp_plugin_api's headers only, so an
# installed header that includes an uninstalled one fails here.
#
#   engine_headers_test.sh --build-dir DIR --cmake CMAKE --cxx-compiler CXX
#
# Scratch files go to a mktemp directory under the build directory, removed
# on exit unless KEEP_TEST_DIRS=1.
set -euo pipefail

build_dir='' cmake=cmake cxx=c++
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2 ;;
    --cmake) cmake=$2 ;;
    --cxx-compiler) cxx=$2 ;;
    *) echo "engine_headers_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n "$build_dir" ]] || { echo "need --build-dir" >&2; exit 2; }
build_dir=$(cd "$build_dir" && pwd)

mkdir -p "$build_dir/tests/plugin_api"
work=$(mktemp -d "$build_dir/tests/plugin_api/engine_headers.XXXXXX")
cleanup() {
  if [[ "${KEEP_TEST_DIRS:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

engine="$work/engine" sdk="$work/sdk"
"$cmake" --install "$build_dir" --prefix "$engine" --component bkp_repo_engine >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "cmake --install of component bkp_repo_engine failed"; }
"$cmake" --install "$build_dir" --prefix "$sdk" --component bkp_plugin_api >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "cmake --install of component bkp_plugin_api failed"; }

echo "== what the component installs"
expected_headers="engine_version.h
provider_edge.h
storage_driver.h"
[[ "$(cd "$engine/include/repo" && ls)" == "$expected_headers" ]] ||
  fail "include/repo holds $(cd "$engine/include/repo" && ls | tr '\n' ' '), expected exactly: $(echo $expected_headers)"
for lib in libbkp_repo.a libbkp_age.a; do
  [[ -n "$(find "$engine" -name "$lib")" ]] || fail "the install did not produce $lib"
done
package_dir=$(dirname "$(find "$engine" -name bkp_repo_engineConfig.cmake | head -n 1)")
for f in bkp_repo_engineConfig.cmake bkp_repo_engineConfigVersion.cmake bkp_repo_engineTargets.cmake; do
  [[ -f "$package_dir/$f" ]] || fail "the install did not produce $f"
done
unexpected=$(find "$engine" -type f | grep -v -e "^$engine/include/repo/" -e '/cmake/bkp_repo_engine/' \
  -e '/libbkp_repo\.a$' -e '/libbkp_age\.a$' || true)
[[ -z "$unexpected" ]] || fail "the engine component installs more than the engine:
$unexpected"
# The version macro and the package version say the same.
major=$(sed -n 's/^#define BKP_REPO_ENGINE_API_VERSION_MAJOR \([0-9]*\)$/\1/p' "$engine/include/repo/engine_version.h")
minor=$(sed -n 's/^#define BKP_REPO_ENGINE_API_VERSION_MINOR \([0-9]*\)$/\1/p' "$engine/include/repo/engine_version.h")
grep -q "PACKAGE_VERSION \"$major.$minor\"" "$package_dir/bkp_repo_engineConfigVersion.cmake" ||
  fail "the package version is not the header's $major.$minor"

echo "== each installed header compiles alone"
for header in "$engine"/include/repo/*.h; do
  name=repo/$(basename "$header")
  printf '#include "%s"\n#include "%s"\n' "$name" "$name" >"$work/one.cc"  # and is guarded
  "$cxx" -std=c++17 -fsyntax-only -Wall -Wextra -Wpedantic -Werror \
    -I "$engine/include" -I "$sdk/include" "$work/one.cc" >"$work/cc.log" 2>&1 ||
    { cat "$work/cc.log" >&2; fail "$name does not compile alone against the installed SDK"; }
  echo "$name: ok"
done
echo "engine headers: ok"
