#!/usr/bin/env bash
# Tests of scripts/check-includes.sh on a small tree written here, one case
# per run (the case name is the argument; CTest runs each), so the check is
# seen to fail on each kind of violation, not only to pass on the real tree.
#
# The tree: src/low <- src/mid <- src/high, a folder allowed nothing
# (src/side), and provider-like folders matched by a pattern (src/plug/*).
set -euo pipefail
script="$(cd "$(dirname "$0")/../.." && pwd)/scripts/check-includes.sh"
case_name="${1:?usage: check_includes_test.sh CASE}"

work=$(mktemp -d "${TMPDIR:-/tmp}/bkp-check-includes-XXXXXX")
cleanup() {
  if [[ "${KEEP_TEST_DIRS:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

mkdir -p "$work/scripts" "$work/src/low" "$work/src/mid" "$work/src/high" "$work/src/side" \
  "$work/src/plug/one"
cat >"$work/scripts/include-layers.txt" <<'EOF'
scan src
include-root src
src/low:
src/mid:    src/low
src/high:   src/mid src/low
src/side:
src/plug/*: src/low
EOF
: >"$work/scripts/include-exceptions.txt"
printf '#pragma once\n#include <string.h>\n' >"$work/src/low/a.h"
printf '#pragma once\n#include "low/a.h"\n' >"$work/src/mid/b.h"
printf '#pragma once\n#include "mid/b.h"\n#include <low/a.h>\n' >"$work/src/high/c.h"
printf '#include "c.h"\n#include <vector>\n' >"$work/src/high/c.cc"
printf 'int side;\n' >"$work/src/side/s.cc"
printf '#include "low/a.h"\n' >"$work/src/plug/one/p.cc"

out="$work/out.txt"
# Runs the check on the tree; sets $rc and fills $out with all it printed.
run() {
  rc=0
  bash "$script" --root "$work" "$@" >"$out" 2>&1 || rc=$?
}
fail() {
  echo "FAIL ($case_name): $1" >&2
  echo "--- check-includes said (exit $rc):" >&2
  cat "$out" >&2
  exit 1
}
expect_exit() { [[ "$rc" == "$1" ]] || fail "expected exit $1, got $rc"; }
expect_text() { grep -qF -- "$1" "$out" || fail "expected the output to contain: $1"; }
add_include() { printf '#include %s\n' "$2" >>"$work/$1"; }

case "$case_name" in
  clean)
    run
    expect_exit 0
    expect_text "layering holds"
    ;;
  upward)  # a lower layer includes the one above it
    add_include src/low/a.h '"mid/b.h"'
    run
    expect_exit 1
    expect_text 'src/low/a.h:3: includes "mid/b.h" (src/mid/b.h): src/low may not depend on src/mid (upward'
    ;;
  upward-two-layers)  # above, though only through the middle layer
    add_include src/low/a.h '"high/c.h"'
    run
    expect_exit 1
    expect_text "src/low may not depend on src/high (upward"
    ;;
  across)  # a folder the table allows nothing includes another
    add_include src/side/s.cc '"low/a.h"'
    run
    expect_exit 1
    expect_text "src/side/s.cc:2:"
    expect_text "src/side may not depend on src/low (across"
    ;;
  pattern)  # src/plug/* may include src/low only
    add_include src/plug/one/p.cc '"mid/b.h"'
    run
    expect_exit 1
    expect_text "src/plug/one may not depend on src/mid (across"
    ;;
  angle-brackets)  # <...> naming a header of the tree counts too
    add_include src/mid/b.h '<high/c.h>'
    run
    expect_exit 1
    expect_text "includes <high/c.h> (src/high/c.h)"
    ;;
  relative-path)  # resolved beside the file, then normalised
    add_include src/mid/b.h '"../high/c.h"'
    run
    expect_exit 1
    expect_text "(src/high/c.h): src/mid may not depend on src/high"
    ;;
  every-violation-listed)
    add_include src/low/a.h '"mid/b.h"'
    add_include src/side/s.cc '"high/c.h"'
    run
    expect_exit 1
    expect_text "2 problem(s)"
    expect_text "src/low/a.h:3:"
    expect_text "src/side/s.cc:2:"
    ;;
  unlisted-folder)  # a new folder must be placed in the layering
    mkdir -p "$work/src/fresh"
    printf 'int fresh;\n' >"$work/src/fresh/f.cc"
    run
    expect_exit 1
    expect_text "src/fresh/f.cc: folder 'src/fresh' has no line"
    ;;
  unresolved)  # a quoted include that names no file of the tree
    add_include src/mid/b.h '"mid/missing.h"'
    run
    expect_exit 1
    expect_text 'src/mid/b.h:3: "mid/missing.h" is not found'
    ;;
  known-exception)  # listed: passes with --allow-known only
    add_include src/low/a.h '"mid/b.h"'
    echo "src/low/a.h -> src/mid/b.h  # a known debt" >"$work/scripts/include-exceptions.txt"
    run --allow-known
    expect_exit 0
    expect_text "known exception: src/low/a.h -> src/mid/b.h"
    run
    expect_exit 1
    expect_text "src/low may not depend on src/mid"
    ;;
  known-exception-and-new-one)  # the list passes only what it lists
    add_include src/low/a.h '"mid/b.h"'
    add_include src/low/a.h '"high/c.h"'
    echo "src/low/a.h -> src/mid/b.h" >"$work/scripts/include-exceptions.txt"
    run --allow-known
    expect_exit 1
    expect_text "1 problem(s)"
    expect_text "src/low may not depend on src/high"
    ;;
  stale-exception)  # a fixed debt must leave the list
    echo "src/low/a.h -> src/mid/b.h" >"$work/scripts/include-exceptions.txt"
    run --allow-known
    expect_exit 1
    expect_text "include-exceptions.txt:1: 'src/low/a.h -> src/mid/b.h' no longer occurs"
    ;;
  table-cycle)  # the table itself must be a layering
    sed -i 's|^src/low:.*|src/low: src/high|' "$work/scripts/include-layers.txt"
    run
    expect_exit 2
    expect_text "the table has a cycle"
    ;;
  graph)
    run --graph
    expect_exit 0
    expect_text "src/high                 -> src/low"
    ;;
  *)
    echo "unknown case '$case_name'" >&2
    exit 2
    ;;
esac
echo "ok: $case_name"
