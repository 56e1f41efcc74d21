#!/usr/bin/env bash
# scripts/check-layering.sh catches what it says it catches: on a scratch copy of the tree, a
# planted violation of each rule fails the check (and is named), a violation that disappears
# without leaving the known list fails it, and the same names in comments and strings do not.
# Usage: layering-selftest.sh SOURCE_ROOT
set -u
root=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
fresh() { rm -rf "$tmp/t"; mkdir "$tmp/t"; cp -r "$root/lib" "$root/include" "$root/scripts" "$tmp/t/"; }
# expect STATUS PATTERN WHAT: runs the check on the copy, wants that exit status and output.
expect() {
  local out rc
  out=$("$tmp/t/scripts/check-layering.sh" "$tmp/t" 2>&1); rc=$?
  if [ "$rc" -ne "$1" ] || ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL: $3 (exit $rc, wanted $1 and '$2'):"; sed 's/^/  /' <<<"$out"; fail=1
  else
    echo "ok: $3"
  fi
}

fresh
expect 0 "0 new; 0 listed but gone" "the tree as it is"

fresh
cat >> "$tmp/t/lib/weak/linfit.c" <<'EOF'
/* sdv_noise_cauchy and #include "noise/student_t.h" in a comment */
static const char *layering_text = "sdv_compressor_qsgd";
// sdv_method_dsgd
EOF
expect 0 "0 new" "names in comments and strings are not code"

fresh
echo 'const void *layering_probe(void) { return sdv_noise_cauchy; }' >> "$tmp/t/lib/weak/linfit.c"
expect 1 "lib/weak/linfit.c: names sdv_noise_cauchy" "rule 2: naming another component's type"

fresh
sed -i '1i #include "noise/student_t.h"' "$tmp/t/lib/mc/mc.c"
expect 1 "lib/mc/mc.c: includes noise/student_t.h" "rule 1: another component's private header"

fresh
sed -i '1i #include "../objective/dataset.h"' "$tmp/t/lib/sim/euler.c"
expect 1 "lib/sim/euler.c: includes objective/dataset.h" "rule 1: a relative include path"

fresh
sed -i '1i #include "core/registry.h"' "$tmp/t/lib/weak/linfit.c"
expect 0 "0 new" "core's headers are shared"

fresh
echo 'int layering_probe(void) { return (int)sdv_dataset_clear; }' >> "$tmp/t/lib/exact/linear.c"
expect 1 "lib/exact/linear.c: calls sdv_dataset_clear" "rule 3: another component's private function"

fresh
# A listed violation that does not occur (as after a fix) must leave the list; this works
# whatever the list holds, down to no entry at all.
echo 'lib/weak/linfit.c: names sdv_noise_cauchy' >> "$tmp/t/scripts/layering-known.txt"
expect 1 "lib/weak/linfit.c: names sdv_noise_cauchy" "a fixed violation must leave the list"

exit $fail
