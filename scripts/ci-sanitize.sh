#!/bin/sh
# Sanitizer and valgrind runs of the unit tests (docs/reliability.md).
#
#  1. ASan + UBSan: configures SAN_BUILD (default build-asan) with
#     -Db_sanitize=address,undefined -Db_lundef=false -Dpython=disabled (an instrumented
#     extension cannot load into an uninstrumented python), builds it and runs the quick suite
#     (every tests/test-<module>.c and the fuzz-corpus replays). Any report fails the test
#     that produced it (halt_on_error, LeakSanitizer on).
#  2. valgrind memcheck: runs a subset of the quick test binaries of an unsanitized build
#     (VG_BUILD, default build; configured and built if missing) with CK_FORK=no, so the
#     checks run in the process valgrind watches, and --error-exitcode.
#
#   scripts/ci-sanitize.sh            exit 0 only if both steps report nothing
#
# Environment: SAN_BUILD, VG_BUILD, JOBS (default 2), VG_TESTS (space-separated binaries
# under VG_BUILD/tests, default below). Runtime: 7.5 min wall / 2.7 min CPU on the shared
# 2-core development machine with both builds current (docs/reliability.md).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
SAN_BUILD=${SAN_BUILD:-build-asan}
VG_BUILD=${VG_BUILD:-build}
JOBS=${JOBS:-2}
VG_TESTS=${VG_TESTS:-test-errors test-params test-rng test-stats test-objective test-noise \
test-compressor test-diffusion test-model fuzz/fuzz-replay-params fuzz/fuzz-replay-model \
fuzz/fuzz-replay-cli}
summary=""
failed=0
note() { summary="$summary$1\n"; }

# ---- 1. ASan + UBSan ----
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
if [ ! -f "$SAN_BUILD/build.ninja" ]; then
  meson setup "$SAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false -Dpython=disabled \
    -Dbuildtype=debugoptimized -Dc_args=-fno-sanitize-recover=undefined >/dev/null ||
    { echo "ci-sanitize: configuring $SAN_BUILD failed"; exit 1; }
fi
if meson compile -C "$SAN_BUILD" -j "$JOBS" >"$SAN_BUILD/ci-sanitize-build.log" 2>&1; then
  if meson test -C "$SAN_BUILD" --suite quick --num-processes "$JOBS" -t "${SAN_TIMEOUT_MULT:-4}" --print-errorlogs \
       >"$SAN_BUILD/ci-sanitize-test.log" 2>&1; then
    note "asan+ubsan  PASS  $(grep -E '^(Ok|Fail|Timeout):' "$SAN_BUILD/ci-sanitize-test.log" | tr -s ' \n' ' ')"
  else
    failed=1
    note "asan+ubsan  FAIL  $(grep -E '^(Ok|Fail|Timeout):' "$SAN_BUILD/ci-sanitize-test.log" | tr -s ' \n' ' ')(log $SAN_BUILD/meson-logs/testlog.txt)"
    grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SAN_BUILD/meson-logs/testlog.txt" |
      sort | uniq -c | head -20
  fi
else
  failed=1
  note "asan+ubsan  FAIL  build failed (log $SAN_BUILD/ci-sanitize-build.log)"
  tail -20 "$SAN_BUILD/ci-sanitize-build.log"
fi

# ---- 2. valgrind memcheck ----
if ! command -v valgrind >/dev/null; then
  failed=1
  note "valgrind    FAIL  valgrind not installed (Debian: valgrind)"
else
  if [ ! -f "$VG_BUILD/build.ninja" ]; then
    meson setup "$VG_BUILD" -Dbuildtype=debugoptimized >/dev/null ||
      { echo "ci-sanitize: configuring $VG_BUILD failed"; exit 1; }
  fi
  targets=""
  for t in $VG_TESTS; do targets="$targets $(basename "$t")"; done
  # shellcheck disable=SC2086
  meson compile -C "$VG_BUILD" -j "$JOBS" $targets >"$VG_BUILD/ci-valgrind-build.log" 2>&1 ||
    { failed=1; note "valgrind    FAIL  build failed (log $VG_BUILD/ci-valgrind-build.log)"; }
  mkdir -p "$VG_BUILD/valgrind"
  rm -f "$VG_BUILD"/valgrind/*.result
  # One valgrind run; writes its summary line to NAME.result.
  vg_one() {
    t=$1
    exe="$VG_BUILD/tests/$t" name=$(basename "$t") args=""
    case "$name" in fuzz-replay-*)
      c=${name#fuzz-replay-}
      args="$ROOT/tests/fuzz/corpus/$c $ROOT/tests/fuzz/crashes/$c" ;;
    esac
    res="$VG_BUILD/valgrind/$name.result" log="$VG_BUILD/valgrind/$name.log"
    if [ ! -x "$exe" ]; then
      echo "valgrind    FAIL  $name (not built)" >"$res"
      return
    fi
    # shellcheck disable=SC2086
    if CK_FORK=no CK_DEFAULT_TIMEOUT=300 SDV_SOURCE_ROOT="$ROOT" \
       SDV_BUILD_ROOT="$ROOT/$VG_BUILD" timeout 600 valgrind --tool=memcheck \
         --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
         --show-leak-kinds=definite,indirect --track-origins=yes --log-file="$log" \
         "$exe" $args >"$log.out" 2>&1; then
      echo "valgrind    PASS  $name ($(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log"))" >"$res"
    else
      echo "valgrind    FAIL  $name (exit $?; $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log"); log $log)" >"$res"
    fi
  }
  # JOBS lanes, tests dealt round-robin, each lane sequential.
  lane=0
  while [ $lane -lt "$JOBS" ]; do
    (
      k=0
      for t in $VG_TESTS; do
        [ $((k % JOBS)) -eq $lane ] && vg_one "$t"
        k=$((k + 1))
      done
    ) &
    lane=$((lane + 1))
  done
  wait
  for t in $VG_TESTS; do
    r="$VG_BUILD/valgrind/$(basename "$t").result"
    line=$(cat "$r" 2>/dev/null || echo "valgrind    FAIL  $(basename "$t") (no result)")
    note "$line"
    case "$line" in *PASS*) ;; *) failed=1 ;; esac
  done
fi

printf '\nci-sanitize summary\n%b' "$summary"
if [ $failed -eq 0 ]; then echo "ci-sanitize: zero reports"; else echo "ci-sanitize: FAILED"; fi
exit $failed
