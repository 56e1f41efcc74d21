#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/ with clang (address + undefined sanitizers) and
# runs each one for a fixed time on one core. Crash inputs land in BUILD/fuzz-artifacts/<t>/;
# copy every one of them into tests/fuzz/crashes/<t>/ (kept forever: `meson test` replays
# them) together with the fix.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default 200 s, targets params model cli
#
# Environment: FUZZ_BUILD (build folder, default build-fuzz), FUZZ_JOBS (parallel targets,
# default 1: the machine is shared). Needs clang and libclang-rt-14-dev (Debian 12).
# Exit status: 0 when no target crashed, hung or leaked, 1 otherwise.
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-200}
[ $# -gt 0 ] && shift
TARGETS=${*:-params model cli}
BUILD=${FUZZ_BUILD:-build-fuzz}

if [ ! -d "$BUILD" ]; then
  CC=clang meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dopenmp=disabled -Dbuildtype=debugoptimized \
    -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all' \
    -Dc_link_args='-fno-sanitize-recover=all' >/dev/null
fi
set --
for t in $TARGETS; do set -- "$@" "fuzz-$t"; done
meson compile -C "$BUILD" "$@" >/dev/null

# Leaks are reported by LeakSanitizer at the end of each input (-detect_leaks=1).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in $TARGETS; do
  work="$BUILD/fuzz-corpus/$t" art="$BUILD/fuzz-artifacts/$t"
  mkdir -p "$work" "$art"
  # The CLI target prints the subcommands' tables and errors: close its stdout and stderr
  # (libFuzzer keeps its own copy of stderr for reports).
  mask=0
  [ "$t" = cli ] && mask=3
  dict=tests/fuzz/$t.dict
  set -- -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=512 -close_fd_mask=$mask -artifact_prefix="$art/" -print_final_stats=1
  [ -f "$dict" ] && set -- "$@" -dict="$dict"
  log="$BUILD/fuzz-$t.log"
  echo "fuzz-$t: ${SECS}s (log $log)"
  if ! nice -n 10 "$BUILD/tests/fuzz/fuzz-$t" "$@" "$work" "tests/fuzz/corpus/$t" \
       >"$log" 2>&1; then
    status=1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' "$log" | sed 's/^/  /'
  n=$(find "$art" -type f | wc -l)
  echo "  corpus $(find "$work" -type f | wc -l) inputs, $n artifacts in $art"
  [ "$n" -eq 0 ] || status=1
done
[ $status -eq 0 ] && echo "fuzz: no crash, hang, leak or sanitizer report" ||
  echo "fuzz: FAILURES (see the logs and artifacts above)"
exit $status
