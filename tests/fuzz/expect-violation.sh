#!/bin/sh
# Runs a replay binary that must stop on a violated FUZZ_CHECK: passes only if the program
# was killed by SIGABRT (status 134) after printing the invariant, so that an input that is
# no longer passed on, a FUZZ_CHECK that no longer aborts, or an unrelated failure (a missing
# folder, exit status 1) all fail this test.
#   expect-violation.sh REPLAY-BINARY INPUT...
exe=$1
shift
err=$("$exe" "$@" 2>&1 >/dev/null)
status=$?
printf '%s\n' "$err"
if [ "$status" -ne 134 ]; then
  echo "expect-violation: exit status $status, expected 134 (SIGABRT)"
  exit 1
fi
case "$err" in
  *"fuzz invariant violated"*) exit 0 ;;
  *) echo "expect-violation: no invariant message"; exit 1 ;;
esac
