#!/usr/bin/env bash
# Every planted bug of scripts/mutants/ still applies to the tree: a refactor that makes a
# patch stale must update it in the same change (the CI subset of scripts/mutants.sh runs only
# some of them, so a stale one would otherwise go unnoticed). Outside a git checkout: skipped.
# Usage: mutants-apply.sh SOURCE_ROOT
root=$1
git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "not a git checkout: skipped"; exit 77; }
stale=0
n=0
for p in "$root"/scripts/mutants/*.patch; do
  n=$((n + 1))
  if ! git -C "$root" apply --check "$p" 2>/dev/null; then
    echo "stale: $(basename "$p") no longer applies"
    stale=$((stale + 1))
  fi
done
echo "mutants-apply: $n patches, $stale stale"
[ "$stale" -eq 0 ]
