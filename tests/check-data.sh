#!/usr/bin/env bash
# The shipped data sets match the SHA-256 sums listed in data/README.md, and every data/*.csv
# is listed there (the README is the one place the sums are written down).
# Usage: check-data.sh SOURCE_ROOT
set -euo pipefail
cd "$1/data"
sums=$(grep -E '^    [0-9a-f]{64}  [^ ]+\.csv$' README.md | sed 's/^    //')
[ -n "$sums" ] || { echo "check-data: no checksum lines in data/README.md" >&2; exit 1; }
status=0
for f in *.csv; do
  grep -q "  $f\$" <<<"$sums" || { echo "check-data: $f has no checksum in data/README.md" >&2; status=1; }
done
sha256sum --check --strict <<<"$sums" || status=1
exit $status
