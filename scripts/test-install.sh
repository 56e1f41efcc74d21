#!/usr/bin/env bash
# Install test: walks the path of a researcher who checks their own compressor with sdv.
#   1. configure sdv with --prefix, build, `meson install`;
#   2. check the installed tree: every public header, libsdv.so, sdv.pc, the `sdv` command,
#      and that each header compiles alone as C11 -pedantic -Werror and as C++;
#   3. copy examples/mycompressor OUT of the source tree and build it with nothing but
#      `pkg-config sdv` (PKG_CONFIG_PATH pointing into the prefix), against the SHARED
#      library of the prefix;
#   4. run the installed `sdv` with the example's plugin: compressor-check, a DCSGD weak
#      study (generic sampled SDE route), a DSignSGD weak study and a simulate run with the
#      example's alpha-stable noise, SDV_PLUGINS; then the example's own driver;
#   6. build examples/majority-vote (a new optimizer) the same way and run its studies: four
#      weak studies that must PASS and its noise-resilience table.
# Usage: scripts/test-install.sh [--keep]        (--keep leaves the work directory)
# Environment: PREFIX (default WORK/prefix), SDV_BUILD (default WORK/build; an existing build
# directory is reused with its prefix set to PREFIX), PATHS (Monte
# Carlo paths of the weak studies, default 20000), THREADS (default 2).
# Exit status 0 only if every step passed; the last line is "install test: N passed, N failed".
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
keep=0
[ "${1:-}" = --keep ] && keep=1
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-install-test.XXXXXX")
PREFIX=${PREFIX:-$work/prefix}
SDV_BUILD=${SDV_BUILD:-$work/build}
PATHS=${PATHS:-20000}
THREADS=${THREADS:-2}
cleanup() { if [ $keep = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

passed=0
failed=0
# step NAME COMMAND...: runs the command with its output in $work/log/NAME.log; counts it.
mkdir -p "$work/log"
step() {
  local name=$1
  shift
  local log="$work/log/$name.log"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS  $name"
  else
    local rc=$?
    failed=$((failed + 1))
    echo "FAIL  $name (exit $rc); last lines of its output:"
    tail -n 15 "$log" | sed 's/^/      /'
  fi
}
finish() {
  echo "install test: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# ---- 1. configure, build, install ----
configure() {
  if [ -f "$SDV_BUILD/build.ninja" ]; then # an existing build directory: only set the prefix
    meson configure "$SDV_BUILD" -Dprefix="$PREFIX"
  else
    meson setup "$SDV_BUILD" "$src" --prefix="$PREFIX" -Dtests=false
  fi
}
step configure configure
step build meson compile -C "$SDV_BUILD"
step install meson install -C "$SDV_BUILD"
[ "$failed" -eq 0 ] || finish

# ---- 2. the installed tree ----
pc=$(find "$PREFIX" -name sdv.pc -path '*/pkgconfig/*' | head -n 1)
export PKG_CONFIG_PATH=${pc%/sdv.pc}
libdir=$(pkg-config --variable=libdir sdv 2>/dev/null)
sdv="$PREFIX/bin/sdv"
echo "      sdv.pc: ${pc:-not found}   libdir: ${libdir:-?}"

installed_headers() {
  local missing=0
  for h in "$src"/include/sdv/*.h; do
    if [ ! -f "$PREFIX/include/sdv/$(basename "$h")" ]; then
      echo "not installed: sdv/$(basename "$h")"
      missing=1
    fi
  done
  return $missing
}
step headers-installed installed_headers
step shared-library test -e "$libdir/libsdv.so" -a -e "$libdir/libsdv.so.0"
step pkg-config pkg-config --exists --print-errors sdv
step sdv-command "$sdv" --version
# Every installed header alone, C11 -pedantic -Werror and C++17, with pkg-config's flags only.
headers_compile() {
  local inc
  inc=$(pkg-config --cflags-only-I sdv | sed 's/^-I//; s/ .*//')
  bash "$src/tests/check-headers.sh" "${CC:-cc}" "${CXX:-c++}" "$inc" "$PREFIX"/include/sdv/*.h
}
step headers-compile headers_compile

# ---- 3. build the example outside the source tree ----
ex="$work/mycompressor"
cp -r "$src/examples/mycompressor" "$ex"
rm -f "$ex/driver" "$ex/libmycomponents.so"
step example-build make -C "$ex"
# Both artefacts must load libsdv.so from the prefix, not from a build tree.
links_prefix() {
  local f lib
  for f in "$ex/driver" "$ex/libmycomponents.so"; do
    lib=$(ldd "$f" | awk '/libsdv\.so/ {print $3}')
    echo "$(basename "$f") -> $lib"
    case "$lib" in "$libdir"/*) ;; *) return 1 ;; esac
  done
}
step example-links-prefix links_prefix

plugin="$ex/libmycomponents.so"
# ---- 4. the installed command with the plugin ----
step plugin-list bash -c "'$sdv' --plugin '$plugin' list | grep -E '^  (natural-dithering|alpha-stable) '"
step plugin-env bash -c "SDV_PLUGINS='$plugin' '$sdv' list | grep -q '^  natural-dithering '"
step compressor-check "$sdv" --plugin "$plugin" compressor-check natural-dithering:s=3 --dim 8
# The check must also FAIL a broken instance: a typo'd key is a usage error (exit 2).
step compressor-check-bad-key bash -c \
  "'$sdv' --plugin '$plugin' compressor-check natural-dithering:levels=3 --dim 8; [ \$? -eq 2 ]"
# The user's components must PASS a weak study (exit 0): order and fluctuation part agree and
# both negative controls (diffusion x0 and x2) are rejected. Seeds are fixed and results do
# not depend on the thread count, so the verdict is reproducible. The verdict line is shown
# in the log.
weak_runs() {
  "$@"
}
model=(--dim 2 --agents 2 --objective quadratic:lam=1,2 --x0 1.5,-1)
ladder=(--eta 0.2,0.1,0.05 --T 1 --paths "$PATHS" --threads "$THREADS")
step weak-dcsgd-natural-dithering weak_runs "$sdv" --plugin "$plugin" weak --method dcsgd \
  --compressor natural-dithering:s=2 "${model[@]}" "${ladder[@]}"
step weak-dsignsgd-alpha-stable weak_runs "$sdv" --plugin "$plugin" weak --method dsignsgd \
  --noise 'alpha-stable:alpha=1.5' "${model[@]}" "${ladder[@]}"
step simulate-dsignsgd-alpha-stable "$sdv" --plugin "$plugin" simulate --method dsignsgd \
  --noise 'alpha-stable:alpha=1.7' --sigma 0.5 "${model[@]}" --eta 0.1 --T 1 --paths 2000 \
  --csv "$work/simulate.csv"
step simulate-output test -s "$work/simulate.csv"

# ---- 5. the example's own driver (library API, no plugin) ----
step driver "$ex/driver" --quick

# ---- 5b. the Python package from the prefix (no build tree on the path) ----
py_installed() {
  local ext dir
  ext=$(find "$PREFIX" -name '_sdv*.so' -path '*/sdv/*' | head -n 1)
  [ -n "$ext" ] || { echo "the Python extension was not installed under $PREFIX"; return 1; }
  dir=$(dirname "$(dirname "$ext")")
  echo "package: $dir/sdv"
  (cd / && PYTHONPATH="$dir" /usr/bin/python3 -c "
import sdv
assert sdv.__file__.startswith('$dir'), sdv.__file__
r = sdv.weak(sdv.Model(method='dsgd', dim=2), eta=[0.1, 0.05], T=1)
print('import sdv from the prefix:', r.verdict)
")
}
if /usr/bin/python3 -c "import cffi" 2>/dev/null; then step python-installed py_installed; fi

# ---- 6. a new optimizer from outside the tree: examples/majority-vote ----
mv="$work/majority-vote"
cp -r "$src/examples/majority-vote" "$mv"
rm -f "$mv/libmajority_vote.so"
step mv-build make -C "$mv"
mv_links_prefix() {
  local lib
  lib=$(ldd "$mv/libmajority_vote.so" | awk '/libsdv\.so/ {print $3}')
  echo "libmajority_vote.so -> $lib"
  case "$lib" in "$libdir"/*) ;; *) return 1 ;; esac
}
step mv-links-prefix mv_links_prefix
step mv-list bash -c "'$sdv' --plugin '$mv/libmajority_vote.so' list | grep -E '^  majority-vote '"
# Four weak studies that must PASS (quadratic and Iris logistic, Gaussian and Student-t(3)), the
# noise-resilience table and the exact lattice law against Monte Carlo of the plugin's step
# (README.md of the example).
step mv-studies env THREADS="$THREADS" SDV_DATA="$src/data" "$mv/studies.sh" "$sdv" \
  "$mv/libmajority_vote.so"
sed -n '1,4p' "$work/log/mv-studies.log" | sed 's/^/      /'
grep '^lattice' "$work/log/mv-studies.log" | sed 's/^/      /'

for f in weak-dcsgd-natural-dithering weak-dsignsgd-alpha-stable; do
  printf '      %s: %s\n' "$f" "$(grep -m1 '^verdict' "$work/log/$f.log" || echo 'no verdict')"
done
finish
