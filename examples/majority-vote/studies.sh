#!/usr/bin/env bash
# The majority-vote plugin's studies with an installed sdv (README.md, "Studies"):
#   1-4. weak studies that must PASS (exit 0): weak order 1 and the fluctuation part of the
#        SDE, with both negative controls (diffusion x0 and x2) rejected, on a quadratic and
#        on logistic regression (Iris), under Gaussian and Student-t(3) noise;
#   5.   noise resilience: the stationary E f of majority vote, DSignSGD (averaged signs) and
#        DSGD as the noise grows, Gaussian and Cauchy, optimizer and SDE side by side, with
#        the small-gradient prediction of README.md;
#   6.   the exact discrete law sdv computes from the plugin's lattice hooks against Monte
#        Carlo of the plugin's own step(), Gaussian and Student-t(3) noise, N = 4 (ties vote
#        0): every E f, E x_j, E x_j^2 at the 4 times after the start within 5 standard
#        errors (a false failure has probability about 6e-7 per value, 1.4e-5 for the 24
#        values of a law); a wrong lattice law (a tie voting +1) misses by about 300 se.
# Usage: studies.sh SDV PLUGIN [--quick]     (--quick: fewer paths; verdicts may then be
#        INCONCLUSIVE, so only the resilience table is checked for running)
# Exit status 0 only if every weak study PASSed (or, with --quick, ran) and the table ran.
set -uo pipefail
sdv=${1:?usage: studies.sh SDV PLUGIN [--quick]}
plugin=${2:?usage: studies.sh SDV PLUGIN [--quick]}
quick=0
[ "${3:-}" = --quick ] && quick=1
paths=20000
[ $quick = 1 ] && paths=2000
tpaths=5000 # the resilience table: standard errors about 1% of each value
[ $quick = 1 ] && tpaths=2000
threads=${THREADS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/mv-studies.XXXXXX")
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
data=${SDV_DATA:-$here/../../data}
fail=0

weak() { # name, then sdv weak arguments
  local name=$1
  shift
  "$sdv" --plugin "$plugin" weak --method majority-vote --agents 3 --paths "$paths" \
    --threads "$threads" "$@" > "$work/$name.txt" 2>&1
  local rc=$?
  printf '%-28s %s\n' "$name" "$(grep -m1 '^verdict' "$work/$name.txt" || tail -n 1 "$work/$name.txt")"
  if [ $rc -ne 0 ] && [ $quick = 0 ]; then fail=1; fi
  if [ $rc -gt 1 ]; then fail=1; fi # not run at all
}
quad=(--dim 2 --objective quadratic:lam=1,2 --x0 1.5,-1 --eta 0.2,0.1,0.05 --T 1)
logi=(--dim 5 --objective "logistic:data=$data/iris-versicolor-virginica.csv:l2=0.1" --x0 0
      --sigma 0.5 --eta 0.1,0.05,0.025,0.0125 --T 1 --substeps 2)
weak quadratic-gaussian "${quad[@]}"
weak quadratic-student-t3 --noise student-t:nu=3 "${quad[@]}"
weak logistic-gaussian "${logi[@]}"
weak logistic-student-t3 --noise student-t:nu=3 "${logi[@]}"

# 5. Stationary E f at t = 20 (eta = 0.05, d = 2, lam = 1, 2, N = 5 agents): last grid row.
echo
printf '%-8s %-6s %-14s %-22s %-22s %s\n' noise sigma method "optimizer E f" "SDE E f" \
  "prediction (small gradient)"
last() { # csv side -> "mean ± se" of f at the last step
  awk -F, -v s="$2" '$1 == s && $4 == "f" {m = $5; e = $6} END {printf "%.4g ± %.2g", m, e}' "$1"
}
for law in gaussian cauchy; do
  for sigma in 1 4; do
    for method in majority-vote dsignsgd dsgd; do
      out="$work/$law-$sigma-$method.csv"
      if "$sdv" --plugin "$plugin" simulate --method "$method" --agents 5 --dim 2 \
          --objective quadratic:lam=1,2 --x0 1.5,-1 --noise "$law" --sigma "$sigma" --eta 0.05 \
          --T 20 --every 400 --paths "$tpaths" --threads "$threads" --no-exact \
          --csv "$out" > "$work/sim.txt" 2>&1; then
        # E f = d eta sigma / (4 c ell): c = N (averaged signs), c_N = N C(N-1,(N-1)/2)/2^(N-1)
        # = 1.875 (vote, N = 5); ell = 2 p(0): sqrt(2/pi) Gaussian, 2/pi Cauchy. DSGD:
        # E f = eta sum_j sigma^2 / (4 N) (Gaussian; no stationary law for Cauchy).
        pred=$(awk -v l="$law" -v s="$sigma" -v m="$method" 'BEGIN {
          ell = (l == "gaussian") ? sqrt(2 / 3.141592653589793) : 2 / 3.141592653589793;
          if (m == "dsgd") { if (l == "cauchy") print "none (infinite variance)";
                             else printf "%.4g", 0.05 * 2 * s * s / (4 * 5); exit }
          c = (m == "dsignsgd") ? 5 : 1.875;
          printf "%.4g", 2 * 0.05 * s / (4 * c * ell) }')
        sde=$(last "$out" sde)
        printf '%-8s %-6s %-14s %-22s %-22s %s\n' "$law" "$sigma" "$method" "$(last "$out" discrete)" \
          "${sde:-none}" "$pred"
      else
        printf '%-8s %-6s %-14s %s\n' "$law" "$sigma" "$method" \
          "$(tail -n 1 "$work/sim.txt" | cut -c1-70)"
      fi
    done
  done
done

# 6. Exact lattice law against Monte Carlo of step().
echo
for law in gaussian student-t:nu=3; do
  lat=(--method majority-vote --agents 4 --dim 2 --objective quadratic:lam=1,2 --x0 1.5,-1
       --noise "$law" --eta 0.1 --T 2 --every 5 --threads "$threads")
  if "$sdv" --plugin "$plugin" simulate "${lat[@]}" --csv "$work/lat-exact.csv" \
       > "$work/lat.txt" 2>&1 &&
     "$sdv" --plugin "$plugin" simulate "${lat[@]}" --no-exact --paths 40000 \
       --csv "$work/lat-mc.csv" >> "$work/lat.txt" 2>&1; then
    # exact rows must say exact = 1; |MC - exact| / se over the discrete rows.
    res=$(awk -F, 'FNR == 1 {next} FILENAME == ARGV[1] && $1 == "discrete" {
             ex[$2 "," $4] = $5; flag[$2 "," $4] = $7; next}
           FILENAME == ARGV[2] && $1 == "discrete" && ($2 "," $4) in ex && $6 > 0 {
             z = ($5 - ex[$2 "," $4]) / $6; if (z < 0) z = -z; if (z > zmax) zmax = z; n++;
             if (flag[$2 "," $4] != 1) bad++ }
           END {printf "%d %.2f %d", n, zmax, bad}' "$work/lat-exact.csv" "$work/lat-mc.csv")
    read -r n zmax bad <<<"$res"
    verdict=PASS
    if [ "$n" -lt 24 ] || [ "$bad" -ne 0 ] || awk -v z="$zmax" 'BEGIN {exit !(z >= 5)}'; then
      verdict=FAIL
      fail=1
    fi
    printf 'lattice %-16s %s: %s values, max |MC - exact| = %s se\n' "$law" "$verdict" "$n" "$zmax"
  else
    printf 'lattice %-16s FAIL: %s\n' "$law" "$(tail -n 1 "$work/lat.txt" | cut -c1-70)"
    fail=1
  fi
done
exit $fail
