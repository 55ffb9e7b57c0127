#!/usr/bin/env bash
# Fails when a provider library exports any dynamic symbol but
# bkp_plugin_entry (docs/design.md §4: one exported symbol, checked with nm -D).
#
#   check_exports.sh [--built-list FILE] [--providers DIR]... [--fixtures DIR]...
#                    [--must-have NAME]...
#
# --built-list FILE  the libraries bkp_add_provider() built (one path per
#                    line); each must exist and export nothing else.
# --providers DIR    every bkp_*.so in DIR must export bkp_plugin_entry and
#                    nothing else (and, with --built-list, be in that list:
#                    anything else there is stale or was built another way).
# --fixtures DIR     every bkp_*.so in DIR must export nothing else, except,
#                    with --built-list, those not in it: the plugin host's
#                    deliberately broken fixtures (a wrongly named entry, a
#                    text file), reported as skipped.
# --must-have NAME   bkp_NAME.so must have been checked, so a build that
#                    produced nothing cannot pass.
#
# No symbol is ignored: bkp_add_provider() links with a version script
# (global: bkp_plugin_entry; local: *), so even what a toolchain may put in a
# shared library's dynamic table (_init, _fini, _edata, _end, __bss_start, the
# std:: template instances of a C++ plugin) stays local.
set -euo pipefail

built_list=
providers=()
fixtures=()
must_have=()
while (($#)); do
  case "$1" in
    --built-list) built_list=$2 ;;
    --providers) providers+=("$2") ;;
    --fixtures) fixtures+=("$2") ;;
    --must-have) must_have+=("$2") ;;
    *) echo "check_exports.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done

failures=0
declare -A built=()   # path -> 1, from --built-list
declare -A checked=() # path -> 1, once checked

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# check_library PATH REQUIRE_ENTRY
check_library() {
  local lib=$1 require_entry=$2 symbols extra
  [[ -n "${checked[$lib]:-}" ]] && return
  checked[$lib]=1
  if [[ ! -f "$lib" ]]; then
    fail "$lib does not exist (build the tree before running the tests)"
    return
  fi
  # Defined dynamic symbols, names only, without any @version suffix.
  if ! symbols=$(nm -D --defined-only "$lib" 2>&1); then
    fail "$lib: nm -D failed: $symbols"
    return
  fi
  symbols=$(awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' <<<"$symbols")
  extra=$(grep -vx 'bkp_plugin_entry' <<<"$symbols" || true)
  if [[ -n "$extra" ]]; then
    fail "$lib exports more than bkp_plugin_entry: $(tr '\n' ' ' <<<"$extra")"
  elif [[ "$require_entry" == yes ]] && ! grep -qx 'bkp_plugin_entry' <<<"$symbols"; then
    fail "$lib does not export bkp_plugin_entry"
  else
    echo "ok: $lib"
  fi
}

if [[ -n "$built_list" ]]; then
  [[ -f "$built_list" ]] || { fail "$built_list does not exist (re-run cmake)"; exit 1; }
  while IFS= read -r path; do
    [[ -n "$path" ]] && built[$(realpath -m "$path")]=1
  done <"$built_list"
  ((${#built[@]})) || fail "$built_list lists no provider libraries"
fi

shopt -s nullglob
for dir in "${providers[@]}"; do
  [[ -d "$dir" ]] || { fail "provider directory $dir does not exist (was the tree built?)"; continue; }
  for lib in "$dir"/bkp_*.so; do
    lib=$(realpath -m "$lib")
    if [[ -n "$built_list" && -z "${built[$lib]:-}" ]]; then
      fail "$lib was not built by bkp_add_provider in this build (stale? delete it)"
      continue
    fi
    check_library "$lib" yes
  done
done
for dir in "${fixtures[@]}"; do
  [[ -d "$dir" ]] || { fail "fixture directory $dir does not exist (was the tree built?)"; continue; }
  for lib in "$dir"/bkp_*.so; do
    lib=$(realpath -m "$lib")
    if [[ -n "$built_list" && -z "${built[$lib]:-}" ]]; then
      echo "skipped: $lib (not built by bkp_add_provider: a deliberately broken fixture)"
      continue
    fi
    check_library "$lib" no
  done
done
shopt -u nullglob
for lib in "${!built[@]}"; do check_library "$lib" no; done

for name in "${must_have[@]}"; do
  found=no
  for lib in "${!checked[@]}"; do
    [[ "$(basename "$lib")" == "bkp_$name.so" && -f "$lib" ]] && found=yes
  done
  [[ $found == yes ]] || fail "bkp_$name.so was not found among the checked libraries"
done

if ((failures)); then
  echo "check_exports: $failures problem(s) in ${#checked[@]} libraries" >&2
  exit 1
fi
echo "check_exports: ${#checked[@]} libraries export only bkp_plugin_entry"
