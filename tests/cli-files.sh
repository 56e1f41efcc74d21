#!/usr/bin/env bash
# Regression tests of `sdv` against what a careless or hostile user points it at (issue 15):
#   tests/cli-files.sh SDV PLUGIN files     outputs to a character device, a FIFO, a symlink,
#                                           a 0600 file, "-" and /dev/stdout; a plugin named
#                                           by a bare file name (meson test 'cli-files')
#   tests/cli-files.sh SDV PLUGIN signals   SIGINT/SIGTERM on weak, simulate, compressor-check
#                                           and verify: exit 4, nothing half-written, also on a
#                                           second signal (meson test 'cli-signals', slow)
# Everything happens in a scratch folder. The real /dev/null is never a target: the device
# test makes its own (mknod c 1 3, root only; skipped otherwise).
set -u
sdv=$(realpath "$1")
plugin=$(realpath "$2")
mode=$3
scratch=$(mktemp -d /tmp/sdv-cli-files.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$scratch"' EXIT
cd "$scratch" || exit 1
fails=0
checks=0
ok() { checks=$((checks + 1)); }
fail() {
  checks=$((checks + 1))
  fails=$((fails + 1))
  echo "FAIL: $*"
}
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  if "$@"; then ok; else fail "$what"; fi
}
no_temporaries() {
  local left
  left=$(find . -name '*.tmp.*' | tr '\n' ' ')
  if [ -z "$left" ]; then ok; else fail "$1: temporary files left: $left"; fi
}
weak=(weak --eta 0.2,0.1 --T 1)

files() {
  # A character device made here (never the real /dev/null): written in place, still a device.
  if mknod nulldev c 1 3 2>/dev/null; then
    "$sdv" "${weak[@]}" --json nulldev > out.txt 2>&1
    rc=$?
    [ "$rc" = 1 ] && ok || fail "device: exit $rc, expected 1 (the default study's FAIL)"
    expect "device: nulldev is no longer a character device" test -c nulldev
  else
    echo "skip: mknod needs root"
  fi

  # A FIFO: written in place through the pipe, still a FIFO.
  mkfifo fifo
  cat fifo > fifo.out &
  reader=$!
  "$sdv" "${weak[@]}" --json fifo > out.txt 2>&1
  wait "$reader"
  expect "fifo: fifo is no longer a FIFO" test -p fifo
  expect "fifo: the reader got no JSON" grep -q '"verdict"' fifo.out

  # A symlink: the target is replaced atomically, the link stays a link, the mode stays.
  echo old > target.json
  chmod 0600 target.json
  ln -s target.json link.json
  "$sdv" "${weak[@]}" --json link.json > out.txt 2>&1
  expect "symlink: link.json is no longer a symlink" test -L link.json
  expect "symlink: the target holds no JSON" grep -q '"verdict"' target.json
  perm=$(stat -c %a target.json)
  [ "$perm" = 600 ] && ok || fail "symlink: target mode $perm, expected 600"

  # An existing file keeps its mode; a new one gets 0666 & ~umask.
  echo old > kept.csv
  chmod 0640 kept.csv
  "$sdv" "${weak[@]}" --csv kept.csv > out.txt 2>&1
  perm=$(stat -c %a kept.csv)
  [ "$perm" = 640 ] && ok || fail "existing file: mode $perm, expected 640"
  expect "existing file: no CSV header" grep -q '^eta,t,step' kept.csv
  (umask 027 && "$sdv" "${weak[@]}" --csv new.csv > out.txt 2>&1)
  perm=$(stat -c %a new.csv)
  [ "$perm" = 640 ] && ok || fail "new file under umask 027: mode $perm, expected 640"

  # "-" and /dev/stdout write to standard output (a file here, then a pipe).
  "$sdv" "${weak[@]}" --json - > stdout.txt 2> err.txt
  expect "--json -: no JSON on stdout" grep -q '"verdict"' stdout.txt
  expect "--json -: no table on stdout" grep -q '^verdict:' stdout.txt
  expect "--json -: a file named -" test ! -e ./-
  "$sdv" "${weak[@]}" --json /dev/stdout | grep -q '"verdict"'
  expect "--json /dev/stdout (pipe): no JSON" test "${PIPESTATUS[1]}" = 0
  "$sdv" "${weak[@]}" --json /dev/stdout > stdout2.txt 2> err.txt
  expect "--json /dev/stdout (file): no JSON" grep -q '"verdict"' stdout2.txt
  expect "--json /dev/stdout (file): the table was overwritten" grep -q '^verdict:' stdout2.txt
  "$sdv" simulate --T 0.3 --csv - > sim.txt 2> err.txt
  expect "simulate --csv -: no CSV on stdout" grep -q '^side,step,t,observable,mean,se,exact,status' sim.txt
  "$sdv" compressor-check identity --dim 3 --samples 100 --json - > cc.txt 2> err.txt
  expect "compressor-check --json -: no JSON" grep -q '"verdict": "pass"' cc.txt
  no_temporaries "files"

  # A plugin named by a bare file name is the file in the working directory.
  cp "$plugin" ok.so
  "$sdv" --plugin ok.so list methods > out.txt 2>&1
  rc=$?
  [ "$rc" = 0 ] && ok || fail "--plugin ok.so: exit $rc, expected 0: $(head -1 out.txt)"
  SDV_PLUGINS=ok.so "$sdv" list methods > out.txt 2>&1
  rc=$?
  [ "$rc" = 0 ] && ok || fail "SDV_PLUGINS=ok.so: exit $rc, expected 0: $(head -1 out.txt)"
}

# Starts "$@" in the background, sends the signals (one or two, 0.1 s apart) after $delay
# seconds, and checks exit 4 within $limit seconds, with stderr saying "interrupted".
interrupt() {
  local name=$1 delay=$2 limit=$3 sigs=$4
  shift 4
  "$sdv" "$@" > "$name.out" 2> "$name.err" &
  local pid=$!
  sleep "$delay"
  local t0=$SECONDS
  for s in $sigs; do
    kill -s "$s" "$pid" 2>/dev/null
    sleep 0.1
  done
  while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - t0)) -le "$limit" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$name: still running ${limit} s after $sigs"
    kill -KILL "$pid"
    wait "$pid"
    return
  fi
  wait "$pid"
  local rc=$?
  [ "$rc" = 4 ] && ok || fail "$name: exit $rc after $sigs, expected 4: $(tail -1 "$name.err")"
  if [ "$(echo "$sigs" | wc -w)" = 1 ]; then
    grep -q interrupted "$name.err" && ok || fail "$name: stderr does not say interrupted"
  fi
}

signals() {
  # The exact route of a large DSGD study (CVODE on d = 2000) and a long conformance run:
  # both used to ignore SIGINT for minutes.
  interrupt weak-int 1 5 INT weak --eta 0.2,0.1 --T 1 --dim 2000 --json w.json --csv w.csv
  expect "weak: w.json written after an interrupt" test ! -e w.json
  interrupt weak-term 1 5 TERM weak --eta 0.2,0.1 --T 1 --dim 2000 --json w.json
  interrupt weak-twice 1 5 "INT INT" weak --eta 0.2,0.1 --T 1 --dim 2000 --json w.json
  expect "weak: w.json written after two interrupts" test ! -e w.json
  interrupt cc-int 1 5 INT compressor-check natural --dim 1000 --samples 800000 --json c.json
  expect "compressor-check: c.json written after an interrupt" test ! -e c.json
  interrupt sim-int 1 5 INT simulate --method dsignsgd --dim 20 --T 50 --paths 400000 --no-exact \
    --csv s.csv --json s.json
  interrupt sim-twice 1 5 "INT INT" simulate --method dsignsgd --dim 20 --T 50 --paths 400000 \
    --no-exact --csv s.csv
  expect "simulate: s.csv written after an interrupt" test ! -e s.csv
  no_temporaries "signals"

  # An interrupted verify into a folder holding an older run: no older CSV stays next to the
  # new summary.
  mkdir -p out
  for id in dsgd-order conformance logistic-weak phases; do echo "old run" > "out/$id.csv"; done
  interrupt verify-int 1.5 30 INT verify --out out
  if grep -l "old run" out/*.csv 2>/dev/null; then fail "verify: older CSVs left next to the summary"; else ok; fi
  expect "verify: the summary is not marked incomplete" grep -q '"complete": false' out/summary.json
  no_temporaries "verify"
}

case "$mode" in
  files) files ;;
  signals) signals ;;
  *) echo "usage: $0 SDV PLUGIN files|signals" >&2; exit 2 ;;
esac
echo "cli-files $mode: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
