#!/usr/bin/env bash
# Mutation testing of the claim suite (issue 14): does `sdv verify` notice realistic bugs?
#
# Each mutant is a small patch, scripts/mutants/NN-name.patch, whose header (lines starting
# with '#') says what the bug is, which kind, why a developer would make it, and which quick
# unit tests catch it. For every selected mutant this script, in a scratch copy of the
# checked-out tree (never in the tree itself), applies the patch (a patch that does not apply
# cleanly is stale: error), rebuilds `sdv` incrementally in one scratch build folder, runs
#     sdv verify --seed 1 --threads 2 --out DIR          (quick tier)
# reverses the patch, and records which checks failed (DIR/summary.json).
#
#   KILLED    sdv verify exited non-zero and at least one check FAILed (or ERRORed); an
#             INCONCLUSIVE check does not count (a mutant that only makes checks undecided
#             is CRASHED(exit 1), i.e. noticed but not killed)
#   SURVIVED  sdv verify exited 0: every check passed, the bug went unnoticed
#   CRASHED   sdv died (signal, timeout, exit 2/4) or wrote no summary: noticed, but not by a
#             verdict; counted apart
#   BROKEN    the mutant does not build: a defect of the mutant list, not a kill
#
# Before the mutants, the unmutated tree is built and verified once: it must pass, else the
# matrix would mean nothing (exit 2).
#
# Usage: scripts/mutants.sh [--list] [--only N,M,...] [--ci] [--matrix FILE] [--unit] [--keep]
#   --list         list the mutants (number, name, kind) and exit
#   --only N,M     run only these mutants (numbers as in the file names)
#   --ci           run the representative quick subset CI_SET below, each mutant's verify
#                  stopping at its first failing check (sdv verify --stop-on-fail)
#   --fast         stop each mutant's verify at its first failing check, as --ci does, for
#                  any selection (a kill census; the matrix then lists only the first killer)
#   --matrix FILE  write the kill matrix (Markdown) to FILE
#   --unit         also build the unit tests and run `meson test --suite quick` per mutant;
#                  the matrix then lists the unit tests each mutant fails
#   --keep         keep the scratch folder (printed) instead of deleting it
# Environment: TMPDIR (where the scratch folder goes), MUTANTS_TIMEOUT (seconds per verify
# run, default 900).
# Output: one line per mutant, then `mutants: K killed, S survived` (plus crashed/broken when
# any). Exit status: 0 every mutant run was killed or crashed, 1 some survived, 2 usage error,
# stale or broken mutant, or the unmutated suite failing.
set -euo pipefail
CALLER=$(pwd) # --matrix FILE is relative to where the script was called from
cd "$(dirname "$0")/.."
SRC=$(pwd)
MUTDIR=$SRC/scripts/mutants
# For CI: one mutant per area (SDE diffusion 1/N, the rank-1 term, a sign-function band, a
# compressor's levels, the Euler noise scale, a shortcut's law, an objective's gradient); the
# full list runs without --ci (docs/calibration.md has its kill matrix).
CI_SET="01,06,13,17,20,25,32,39"
TIMEOUT=${MUTANTS_TIMEOUT:-900}

die() { echo "mutants: $*" >&2; exit 2; }

list=0 only="" matrix="" unit=0 keep=0 ci=""
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=1 ;;
    --only) [ $# -ge 2 ] || die "--only needs a list N,M,..."; only=$2; shift ;;
    --only=*) only=${1#--only=} ;;
    --ci) only=$CI_SET; ci=1 ;;
    --fast) ci=1 ;;
    --matrix) [ $# -ge 2 ] || die "--matrix needs a file"; matrix=$2; shift ;;
    --matrix=*) matrix=${1#--matrix=} ;;
    --unit) unit=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
case "$matrix" in "" | /*) ;; *) matrix=$CALLER/$matrix ;; esac

shopt -s nullglob
all=("$MUTDIR"/[0-9][0-9]-*.patch)
[ ${#all[@]} -gt 0 ] || die "no mutants in $MUTDIR"
header() { sed -n "s/^# $2: //p" "$1" | head -n 1; }

if [ "$list" = 1 ]; then
  for p in "${all[@]}"; do
    b=$(basename "$p" .patch)
    printf '%s  %-36s %s\n' "${b%%-*}" "${b#*-}" "$(header "$p" kind)"
  done
  exit 0
fi

sel=()
if [ -n "$only" ]; then
  IFS=',' read -r -a want <<<"$only"
  for n in "${want[@]}"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "--only: '$n' is not a mutant number"
    nn=$(printf '%02d' "$((10#$n))")
    m=("$MUTDIR/$nn"-*.patch)
    [ ${#m[@]} -eq 1 ] || die "--only: no mutant number $nn (scripts/mutants.sh --list)"
    sel+=("${m[0]}")
  done
else
  sel=("${all[@]}")
fi

command -v git >/dev/null || die "git is required"
command -v python3 >/dev/null || die "python3 is required (reads summary.json)"
git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1 || die "$SRC is not a git checkout"
rev=$(git -C "$SRC" rev-parse --short=12 HEAD)
git -C "$SRC" diff --quiet HEAD -- 2>/dev/null || rev="$rev (with uncommitted changes)"

work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-mutants.XXXXXX")
cleanup() { if [ "$keep" = 1 ]; then echo "mutants: scratch kept in $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
tree=$work/src build=$work/build rec=$work/records
mkdir -p "$tree" "$rec"

# The scratch tree: the checked-out files (tracked, with their uncommitted edits), in a git
# repository of its own so that every reversal can be checked to leave it exactly clean.
git -C "$SRC" ls-files -z | tar -C "$SRC" --null -T - --ignore-failed-read -cf - 2>/dev/null |
  tar -C "$tree" -xf -
rm -rf "$tree/scripts/mutants" # the patches are read from $SRC, never from the copy
git -C "$tree" init -q
git -C "$tree" add -A
git -C "$tree" -c user.name=mutants -c user.email=mutants@localhost commit -qm scratch
scratch_clean() { [ -z "$(git -C "$tree" status --porcelain)" ]; }

tests_opt=false
[ "$unit" = 1 ] && tests_opt=true
echo "mutants: scratch $work; building the unmutated tree" >&2
meson setup "$build" "$tree" -Dtests=$tests_opt -Dmpi=disabled >"$work/setup.log" 2>&1 ||
  { cat "$work/setup.log" >&2; die "meson setup failed"; }
compile() { if [ "$unit" = 1 ]; then meson compile -C "$build"; else meson compile -C "$build" verify/sdv:executable; fi; }
compile >"$work/build-base.log" 2>&1 || { tail -30 "$work/build-base.log" >&2; die "the unmutated tree does not build"; }
sdv=$build/verify/sdv
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# With --ci a mutant's run stops at its first failing check (sdv verify --stop-on-fail): a
# kill needs one, and the CI budget does not allow the whole quick tier per mutant. The
# unmutated run and runs without --ci go through every check (the kill matrix lists them all).
stop_flag=""
run_verify() { # $1 outdir, $2 log; prints the exit status
  local rc=0
  timeout "$TIMEOUT" "$sdv" verify --seed 1 --threads 2 $stop_flag --out "$1" >"$2" 2>&1 || rc=$?
  echo "$rc"
}

# Failed checks of a summary.json, as "id,id,..." ('-' when none); errors marked id!. An
# INCONCLUSIVE check (the data could not decide) is not a kill: it is not listed.
failed_checks() {
  python3 - "$1" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print("?"); sys.exit(0)
bad = []
for c in s.get("checks", []):
    if c.get("status") == "error":
        bad.append(c["id"] + "!")
    elif c.get("status") == "done" and c.get("verdict") not in ("PASS", "INCONCLUSIVE"):
        bad.append(c["id"])
print(",".join(bad) or "-")
PY
}

unit_failures() { # the quick unit tests that fail, "name,name" or '-'
  meson test -C "$build" --suite quick --num-processes 2 --no-rebuild >"$1" 2>&1 || true
  python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL"):
        bad.append(r["name"])
print(",".join(bad) or "-")
PY
}

echo "mutants: verifying the unmutated tree (sdv verify --seed 1 --threads 2)" >&2
rc=$(run_verify "$work/res-base" "$work/verify-base.log")
[ -n "$ci" ] && stop_flag=--stop-on-fail
base_failed=$(failed_checks "$work/res-base/summary.json")
if [ "$rc" != 0 ]; then
  tail -20 "$work/verify-base.log" >&2
  die "the unmutated suite does not pass (exit $rc; failing: $base_failed): fix that first"
fi
base_unit="-"
if [ "$unit" = 1 ]; then
  base_unit=$(unit_failures "$work/unit-base.log")
  [ "$base_unit" = "-" ] || die "unit tests fail without any mutant: $base_unit"
fi

killed=0 survived=0 crashed=0 broken=0
for p in "${sel[@]}"; do
  b=$(basename "$p" .patch) nn=${b%%-*}
  scratch_clean || die "scratch tree not clean before $b"
  if ! git -C "$tree" apply --check "$p" 2>"$work/apply-$nn.log"; then
    cat "$work/apply-$nn.log" >&2
    die "$b does not apply cleanly to this tree: the mutant is stale, update it"
  fi
  git -C "$tree" apply "$p"
  status="" fails="-" ufails=""
  t0=$(date +%s)
  if ! compile >"$work/build-$nn.log" 2>&1; then
    status=BROKEN
    broken=$((broken + 1))
  else
    rc=$(run_verify "$work/res-$nn" "$work/verify-$nn.log")
    fails=$(failed_checks "$work/res-$nn/summary.json")
    if [ "$rc" = 0 ]; then
      status=SURVIVED
      survived=$((survived + 1))
    elif { [ "$rc" = 1 ] || [ "$rc" = 3 ]; } && [ "$fails" != "-" ] && [ "$fails" != "?" ]; then
      status=KILLED
      killed=$((killed + 1))
    else
      status="CRASHED(exit $rc)"
      crashed=$((crashed + 1))
    fi
    [ "$unit" = 1 ] && ufails=$(unit_failures "$work/unit-$nn.log")
  fi
  git -C "$tree" apply -R "$p" || die "$b: reversing the patch failed (scratch in $work)"
  scratch_clean || die "$b: the scratch tree is not clean after reversing the patch"
  printf '%s\t%s\t%s\t%s\n' "$status" "$fails" "$ufails" "$(header "$p" kind)" >"$rec/$b"
  printf 'mutant %-40s %-9s %3ss  failed: %s%s\n' "$b" "$status" "$(($(date +%s) - t0))" \
    "$fails" "${ufails:+  unit: $ufails}" >&2
done
# Leave the scratch build as it was (unmutated) for --keep.
compile >"$work/build-final.log" 2>&1 || true

if [ -n "$matrix" ]; then
  python3 - "$work/res-base/summary.json" "$rec" "$matrix" "$rev" "$unit" <<'PY'
import json, os, sys
base, rec, out, rev, unit = sys.argv[1:6]
checks = [c["id"] for c in json.load(open(base))["checks"]]
rows = []
for name in sorted(os.listdir(rec)):
    status, fails, ufails, kind = open(os.path.join(rec, name)).read().rstrip("\n").split("\t")
    kind = kind.replace("|", "\\|")  # a pipe would end the table cell
    rows.append((name, status, [] if fails in ("-", "?") else fails.split(","), ufails, kind))
L = ["# Mutation kill matrix", "",
     "Measured on commit %s: `sdv verify` quick tier, seed 1, 2 threads "
     "(`scripts/mutants.sh`)." % rev, "",
     "| mutant | kind | result | failing checks |%s" % (" failing unit tests |" if unit == "1" else ""),
     "| --- | --- | --- | --- |%s" % (" --- |" if unit == "1" else "")]
for name, status, fails, ufails, kind in rows:
    L.append("| %s | %s | %s | %s |%s" % (name, kind, status,
             " ".join("`%s`" % f for f in fails) or "none",
             (" %s |" % (" ".join("`%s`" % u for u in ufails.split(",")) if ufails not in ("", "-")
                         else "none")) if unit == "1" else ""))
L += ["", "Matrix, one row per check, one column per mutant (X: the check failed, E: it stopped "
      "with an error; last row: K killed, S survived, C crashed, B broken):", ""]
L.append("| check | " + " | ".join(r[0].split("-")[0] for r in rows) + " | kills |")
L.append("| --- |" + " :-: |" * len(rows) + " --: |")
for c in checks:
    cells = ["E" if c + "!" in r[2] else "X" if c in r[2] else "" for r in rows]
    L.append("| `%s` | %s | %d |" % (c, " | ".join(cells), sum(x != "" for x in cells)))
L.append("| **result** | %s | |" % " | ".join(r[1][0] for r in rows))
k = sum(r[1] == "KILLED" for r in rows)
s = sum(r[1] == "SURVIVED" for r in rows)
c = sum(r[1].startswith("CRASHED") for r in rows)
b = sum(r[1] == "BROKEN" for r in rows)
L += ["", "mutants: %d killed, %d survived" % (k, s) + (", %d crashed" % c if c else "")
      + (", %d broken" % b if b else "")]
open(out, "w").write("\n".join(L) + "\n")
PY
  echo "mutants: kill matrix written to $matrix" >&2
fi

extra=""
[ "$crashed" -gt 0 ] && extra+=", $crashed crashed"
[ "$broken" -gt 0 ] && extra+=", $broken broken"
echo "mutants: $killed killed, $survived survived$extra"
[ "$broken" -gt 0 ] && exit 2
[ "$survived" -gt 0 ] && exit 1
exit 0
