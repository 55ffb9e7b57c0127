#!/usr/bin/env bash
# The plugin ABI as a third party gets it: installs the bkp_plugin_api
# package from the build tree into a scratch prefix, builds the provider in
# out_of_tree/ against that prefix alone, checks it exports only the entry
# point, and loads it (with provider_load_check and/or `hostd plugins`).
#
#   out_of_tree_test.sh --build-dir DIR --source-dir DIR --cmake CMAKE
#       [--generator G] [--c-compiler CC] [--cxx-compiler CXX]
#       [--load-check BIN] [--hostd BIN]
#
# Scratch files go to a mktemp directory under the build directory, removed
# on exit unless KEEP_TEST_DIRS=1.
set -euo pipefail

build_dir='' source_dir='' cmake=cmake generator=Ninja cc='' cxx='' load_check='' hostd=''
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2 ;;
    --source-dir) source_dir=$2 ;;
    --cmake) cmake=$2 ;;
    --generator) generator=$2 ;;
    --c-compiler) cc=$2 ;;
    --cxx-compiler) cxx=$2 ;;
    --load-check) load_check=$2 ;;
    --hostd) hostd=$2 ;;
    *) echo "out_of_tree_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n "$build_dir" && -n "$source_dir" ]] || { echo "need --build-dir and --source-dir" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$build_dir/tests/plugin_api"
work=$(mktemp -d "$build_dir/tests/plugin_api/out_of_tree.XXXXXX")
cleanup() {
  if [[ "${KEEP_TEST_DIRS:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Runs a command quietly; on failure shows its output and fails with $1.
run() {
  local what=$1
  shift
  if ! "$@" >"$work/last.log" 2>&1; then
    cat "$work/last.log" >&2
    fail "$what"
  fi
}

prefix="$work/prefix"
echo "== install the bkp_plugin_api component into $prefix"
run "cmake --install of component bkp_plugin_api failed" \
  "$cmake" --install "$build_dir" --prefix "$prefix" --component bkp_plugin_api
for f in include/bkp/bkp_plugin.h include/bkp/bkp_plugin.hpp include/bkp/bkp_plugin_c.h \
  include/bkp/conformance/conformance.h include/bkp/conformance/fake_host.h \
  bin/bkp-provider-check; do
  [[ -f "$prefix/$f" ]] || fail "the install did not produce $f"
done
[[ -n "$(find "$prefix" -name libbkp_conformance.a)" ]] || fail "the install did not produce libbkp_conformance.a"
config=$(find "$prefix" -path '*/cmake/bkp_plugin_api/bkp_plugin_apiConfig.cmake' | head -n 1)
[[ -n "$config" ]] || fail "the install did not produce bkp_plugin_apiConfig.cmake"
package_dir=$(dirname "$config")
for f in bkp_plugin_apiConfigVersion.cmake bkp_plugin_apiTargets.cmake BkpPlugin.cmake; do
  [[ -f "$package_dir/$f" ]] || fail "the install did not produce $package_dir/$f"
done
# Only the SDK (the ABI, its helpers, the conformance kit, the template):
# anything else in the prefix is the host leaking out.
unexpected=$(find "$prefix" -type f | grep -v -e "^$prefix/include/bkp/" -e '/cmake/bkp_plugin_api/' \
  -e '/libbkp_conformance\.a$' -e "^$prefix/bin/bkp-provider-check$" \
  -e "^$prefix/share/bkp_plugin_api/" || true)
[[ -z "$unexpected" ]] || fail "the install put more than the plugin SDK into the prefix:
$unexpected"

configure_args=(-G "$generator" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release)
[[ -n "$cc" ]] && configure_args+=(-DCMAKE_C_COMPILER="$cc")
[[ -n "$cxx" ]] && configure_args+=(-DCMAKE_CXX_COMPILER="$cxx")

echo "== a different ABI major is refused by find_package"
if "$cmake" -S "$source_dir" -B "$work/build-v2" "${configure_args[@]}" -DBKP_REQUIRE_ABI=2 \
  >"$work/v2.log" 2>&1; then
  fail "find_package(bkp_plugin_api 2) succeeded against an ABI 1 package"
fi
grep -q 'bkp_plugin_api' "$work/v2.log" || { cat "$work/v2.log" >&2; fail "no bkp_plugin_api in the v2 error"; }

echo "== configure and build $source_dir against the prefix"
run "configuring the out-of-tree provider failed" \
  "$cmake" -S "$source_dir" -B "$work/build" "${configure_args[@]}"
run "building the out-of-tree provider failed" "$cmake" --build "$work/build"
plugin_dir="$work/plugins"
mkdir -p "$plugin_dir"
library=$(find "$work/build" -name bkp_third_party.so | head -n 1)
[[ -n "$library" ]] || fail "the build produced no bkp_third_party.so"
cp "$library" "$plugin_dir/"

echo "== exports"
bash "$here/check_exports.sh" --providers "$plugin_dir" --must-have third_party

if [[ -n "$load_check" ]]; then
  echo "== load with $load_check"
  "$load_check" "$plugin_dir/bkp_third_party.so" third_party || fail "provider_load_check refused it"
fi

if [[ -n "$hostd" ]]; then
  echo "== load with hostd plugins"
  cat >"$work/host.toml" <<TOML
plugin_dir = "$plugin_dir"

[[providers]]
name = "tp"
plugin = "third_party"
TOML
  set +e
  output=$("$hostd" plugins --config "$work/host.toml" 2>&1)
  status=$?
  set -e
  echo "$output"
  ((status == 0)) || fail "hostd plugins exited $status (0 = all loaded, 1 = refused, 2 = config error)"
  grep -Eq '(^|[^[:alnum:]_])tp([^[:alnum:]_]|$)' <<<"$output" ||
    fail "hostd plugins did not list the provider 'tp'"
fi
echo "out-of-tree provider: ok"
