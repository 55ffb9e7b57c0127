#!/usr/bin/env bash
# Fails, listing the files, when clang-format would change any C or C++ source.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cc' '*.cpp' '*.hpp')
# One clang-format process for all files (one per file took about a minute
# of CI): each place it would change is a "<file>:<line>:<col>: error:" line.
if out=$(clang-format --dry-run -Werror "${files[@]}" 2>&1); then
  echo "format: ${#files[@]} files clean"
  exit 0
fi
mapfile -t bad < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' <<<"$out" | sort -u)
if ((${#bad[@]} == 0)); then
  echo "clang-format failed: $out" >&2
  exit 1
fi
echo "clang-format would change: ${bad[*]}" >&2
echo "fix with: clang-format -i ${bad[*]}" >&2
exit 1
