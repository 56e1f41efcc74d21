#!/usr/bin/env bash
# Calibration of the weak harness's verdict rules on ladders from coarse to fine
# (docs/calibration.md, "Weak harness: ladders"). For each correct model and each ladder it
# runs `sdv weak` with seeds 1..S (default 20) and counts PASS / INCONCLUSIVE / FAIL; a correct
# model must never FAIL. The exact tiny-noise cases (seed-independent) run once. Last, a wrong
# model (diffusion scaled by 0.5, so a/L = 0.75) runs on the fine ladder with seeds
# 1..S/2, where it must FAIL.
# Usage: scripts/calibrate-ladders.sh [SEEDS] [OUTDIR] [PATHS]   (needs build/verify/sdv)
# Cost: about 25 CPU-minutes with the defaults (one thread per run).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
out=${2:-calibration-ladders}
paths=${3:-20000}
sdv=${SDV:-build/verify/sdv}
[ -x "$sdv" ] || { echo "calibrate-ladders: $sdv not built (run ./run build)" >&2; exit 2; }
mkdir -p "$out"
results="$out/results.tsv"
: > "$results"

# name | model options | coarse | medium | fine ladder. Coarse: eta lambda_max ~ 0.4 with
# lambda_max the largest curvature of the objective near the minimizer (quartic: lam = 2;
# double well a = 1: 2 a^2 = 2). DCSGD's coarse ladder is 0.1 and uses the sampled SDE route:
# with the closed-form rand-k diffusion, paths of the diffusion-x2 control that blow up stop
# the run with "Sigma is not positive semi-definite (r = -nan)" (docs/calibration.md).
# A ladder may carry extra options after its eta list. ONLY=REGEX runs the matching rows only.
models=(
  "dsgd-quartic-N2|--method dsgd --dim 2 --agents 2 --objective quartic:lam=0.5..2 --sigma 1,2 --x0 0.8|0.2,0.1,0.05|0.1,0.05,0.025|0.05,0.025,0.0125,0.00625"
  "dsgd-double-well-N2|--method dsgd --dim 1 --agents 2 --objective double-well:a=1 --sigma 0.5,1 --x0 1.2|0.125,0.0625,0.03125|0.0625,0.03125,0.015625|0.03125,0.015625,0.0078125,0.00390625"
  "dcsgd-randk-quartic-N2|--method dcsgd --dim 3 --agents 2 --objective quartic:lam=0.5..2 --compressor rand-k:k=2 --sigma 1,0.5 --x0 1,0.9,0.8|0.1,0.05,0.025 --sde sampled|0.05,0.025,0.0125|0.05,0.025,0.0125,0.00625"
  "dsignsgd-gauss-quartic-N2|--method dsignsgd --dim 1 --agents 2 --objective quartic:lam=2 --sigma 1,2 --x0 1|0.2,0.1,0.05|0.1,0.05,0.025|0.05,0.025,0.0125,0.00625"
)
ladder_names=(coarse medium fine)

run() { # name ladder seed args...
  local name=$1 lname=$2 seed=$3
  shift 3
  [[ -n "${ONLY:-}" && ! "$name" =~ $ONLY ]] && return 0
  local text v f
  # sdv weak exits 1 on FAIL and INCONCLUSIVE: the verdict lines are what count here.
  text=$("$sdv" weak "$@" --T 1 --seed "$seed" --threads 1 2>&1 || true)
  v=$(sed -n 's/^verdict: \([A-Z]*\).*/\1/p' <<< "$text")
  f=$(sed -n 's/^ *relative error a\/L = .*\]  \([A-Z]*\).*/\1/p' <<< "$text" | head -n 1)
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$lname" "$seed" "${v:-ERROR}" "${f:-ERROR}" >> "$results"
}

for m in "${models[@]}"; do
  IFS='|' read -r name opts l1 l2 l3 <<< "$m"
  ladders=("$l1" "$l2" "$l3")
  for li in 0 1 2; do
    echo "calibrate-ladders: $name ${ladder_names[$li]}" >&2
    for s in $(seq 1 "$seeds"); do
      # shellcheck disable=SC2086
      run "$name" "${ladder_names[$li]}" "$s" $opts --eta ${ladders[$li]} --paths "$paths"
    done
  done
done

# Exact routes with a tiny or vanishing noise part (seed-independent: one run each).
exact=(
  "exact-sigma0|--sigma 0"
  "exact-x3|--dim 3 --observable x:3"
  "exact-x0-1e5|--x0 1e5"
  "exact-dcsgd-randk|--method dcsgd --dim 4 --agents 2 --objective quadratic:lam=0.7..1.9 --x0 1 --compressor rand-k:k=2"
)
for e in "${exact[@]}"; do
  IFS='|' read -r name opts <<< "$e"
  for l in "two:0.1,0.05" "two-fine:0.02,0.01" "fine:0.05,0.025,0.0125,0.00625"; do
    # shellcheck disable=SC2086
    run "$name" "${l%%:*}" 1 $opts --eta "${l#*:}"
  done
done

# The wrong model: DSGD quartic with half the diffusion, fine ladder.
echo "calibrate-ladders: wrong model" >&2
for s in $(seq 1 "$(( (seeds + 1) / 2 ))"); do
  run "WRONG-dsgd-quartic-N2-diffusion-x0.5" fine "$s" --method dsgd --dim 2 --agents 2 \
    --objective quartic:lam=0.5..2 --sigma 1,2 --x0 0.8 --diffusion-scale 0.5 \
    --eta 0.05,0.025,0.0125,0.00625 --paths "$paths"
done

/usr/bin/python3 - "$results" "$out/calibration-ladders.md" <<'PY'
import sys
rows, order = {}, []
for line in open(sys.argv[1]):
    name, ladder, seed, verdict, fluct = line.rstrip("\n").split("\t")
    key = (name, ladder)
    if key not in rows:
        rows[key] = {"PASS": 0, "INCONCLUSIVE": 0, "FAIL": 0, "ERROR": 0, "fl": {}}
        order.append(key)
    rows[key][verdict if verdict in ("PASS", "INCONCLUSIVE", "FAIL") else "ERROR"] += 1
    rows[key]["fl"][fluct] = rows[key]["fl"].get(fluct, 0) + 1
lines = ["| model | ladder | runs | PASS | INCONCLUSIVE | FAIL | fluctuation test P/I/F |",
         "| --- | --- | --- | --- | --- | --- | --- |"]
false_fail = errors = wrong_missed = 0
for key in order:
    r = rows[key]
    n = r["PASS"] + r["INCONCLUSIVE"] + r["FAIL"] + r["ERROR"]
    fl = r["fl"]
    lines.append("| %s | %s | %d | %d | %d | %d | %d/%d/%d |" % (key[0], key[1], n, r["PASS"],
                 r["INCONCLUSIVE"], r["FAIL"], fl.get("PASS", 0), fl.get("INCONCLUSIVE", 0),
                 fl.get("FAIL", 0)))
    errors += r["ERROR"]
    if key[0].startswith("WRONG"):
        wrong_missed += n - r["FAIL"]
    else:
        false_fail += r["FAIL"]
table = "\n".join(lines)
open(sys.argv[2], "w").write(table + "\n")
print(table)
print("\ncorrect models: %d FAIL verdicts; wrong model: %d runs not FAIL; %d errors"
      % (false_fail, wrong_missed, errors))
sys.exit(1 if false_fail or errors else 0)
PY
