#!/usr/bin/env bash
# lint.sh — formatting check (clang-format) and banned-function check.
# Usage: scripts/lint.sh [--fix]   (--fix rewrites files with clang-format)
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' | grep -v -E '(\.pb-c\.[ch]$|^tests/fuzz/corpus/)')
status=0

# Banned: unbounded or error-hiding libc calls (house style).
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|rand)[[:space:]]*\('
if grep -nE "$banned" "${files[@]}" | grep -vE '^\S+:[0-9]+:\s*(/\*|\*|//)'; then
  echo "lint: banned functions used (see above); use snprintf, aria_parse_*, strtok_r, aria_os_random or a seeded PRNG" >&2
  status=1
fi

if command -v clang-format >/dev/null 2>&1; then
  if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
  else
    bad=()
    for f in "${files[@]}"; do
      if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
    done
    if [ ${#bad[@]} -ne 0 ]; then
      echo "lint: not clang-formatted (run scripts/lint.sh --fix): ${bad[*]}" >&2
      status=1
    fi
  fi
else
  echo "lint: clang-format not found; formatting not checked" >&2
  status=1
fi
[ $status -eq 0 ] && echo "lint: ok (${#files[@]} files)"
exit $status
