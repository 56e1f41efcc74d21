#!/usr/bin/env bash
# The shared library exports exactly the symbols of its version script, and the version script
# lists exactly the functions and objects declared in the public headers: no internal symbol
# leaks, and no public declaration is left unimplemented.
# Usage: check-exports.sh LIBSDV.SO MAP SOURCE_ROOT
set -u
lib=$1; map=$2; root=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | grep -v '^SDV_0$' | sort -u > "$tmp/exported"
sed -n '/global:/,/local:/p' "$map" | grep -E '^\s+sdv_' | sed 's/[ ;]//g' | sort -u > "$tmp/map"
"$root/scripts/public-symbols.sh" "$root/include" > "$tmp/declared"
fail=0
report() { if [ -s "$2" ]; then echo "$1:"; sed 's/^/  /' "$2"; fail=1; fi; }
comm -23 "$tmp/exported" "$tmp/map" > "$tmp/a"; report "exported but not in lib/sdv.map" "$tmp/a"
comm -13 "$tmp/exported" "$tmp/map" > "$tmp/b"; report "in lib/sdv.map but not defined in the library" "$tmp/b"
comm -23 "$tmp/declared" "$tmp/map" > "$tmp/c"; report "declared in include/sdv but not in lib/sdv.map (run scripts/update-symbol-map.sh)" "$tmp/c"
comm -13 "$tmp/declared" "$tmp/map" > "$tmp/d"; report "in lib/sdv.map but not declared in include/sdv" "$tmp/d"
[ $fail -eq 0 ] && echo "exports == lib/sdv.map == public declarations ($(wc -l < "$tmp/map") symbols)"
exit $fail
