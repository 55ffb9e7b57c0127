#!/usr/bin/env bash
# The provider template as an author gets it: installs the bkp_plugin_api
# component into a scratch prefix, configures and builds the template from
# that prefix's share/ out of tree (warnings as errors), checks its exports,
# and runs the conformance kit on it twice: through the template's own CTest
# test, and with the installed bkp-provider-check directly.
#
#   template_test.sh --build-dir DIR --cmake CMAKE --ctest CTEST
#       [--generator G] [--c-compiler CC]
#
# Scratch files go to a mktemp directory under the build directory, removed
# on exit unless KEEP_TEST_DIRS=1.
set -euo pipefail

build_dir='' cmake=cmake ctest=ctest generator=Ninja cc=''
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2 ;;
    --cmake) cmake=$2 ;;
    --ctest) ctest=$2 ;;
    --generator) generator=$2 ;;
    --c-compiler) cc=$2 ;;
    *) echo "template_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n "$build_dir" ]] || { echo "need --build-dir" >&2; exit 2; }
build_dir=$(cd "$build_dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$build_dir/tests/plugin_api"
work=$(mktemp -d "$build_dir/tests/plugin_api/template.XXXXXX")
cleanup() {
  if [[ "${KEEP_TEST_DIRS:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
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
template="$prefix/share/bkp_plugin_api/provider-template"
for f in CMakeLists.txt my_provider.c; do
  [[ -f "$template/$f" ]] || fail "the install did not put the template's $f under share/"
done

echo "== configure and build the template from $template"
configure_args=(-G "$generator" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_C_FLAGS=-Werror)
[[ -n "$cc" ]] && configure_args+=(-DCMAKE_C_COMPILER="$cc")
run "configuring the template failed" "$cmake" -S "$template" -B "$work/build" "${configure_args[@]}"
run "building the template failed" "$cmake" --build "$work/build"
library=$(find "$work/build" -name bkp_my_provider.so | head -n 1)
[[ -n "$library" ]] || fail "the template's build produced no bkp_my_provider.so"
mkdir -p "$work/plugins"
cp "$library" "$work/plugins/"
bash "$here/check_exports.sh" --providers "$work/plugins" --must-have my_provider

echo "== the template's own conformance test (ctest)"
run "the template's CTest run of the conformance kit failed" \
  "$ctest" --test-dir "$work/build" --output-on-failure
cat "$work/last.log"

echo "== the installed bkp-provider-check"
"$prefix/bin/bkp-provider-check" --plugin "$library" --setting path="$work/scratch" ||
  fail "the installed kit failed the template as it is"
echo "template: ok"
