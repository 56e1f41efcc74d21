#!/usr/bin/env bash
# Every public header must compile alone, as C11 with -pedantic -Werror and as C++17.
# Usage: check-headers.sh CC CXX INCLUDE_DIR HEADER...
set -u
cc=$1; cxx=$2; inc=$3; shift 3
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in "$@"; do
  name=$(basename "$h")
  printf '#include <sdv/%s>\n#include <sdv/%s>\nint sdv_header_probe;\n' "$name" "$name" > "$tmp/t.c"
  cp "$tmp/t.c" "$tmp/t.cpp"
  if ! "$cc" -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$inc" "$tmp/t.c"; then
    echo "FAIL (C11): $name"; fail=1
  fi
  if ! "$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$inc" "$tmp/t.cpp"; then
    echo "FAIL (C++): $name"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "all $# public headers compile alone as C11 and C++"
exit $fail
