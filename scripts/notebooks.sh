#!/bin/sh
# Regenerates the notebooks' data and re-executes every notebook in place:
#
#     scripts/notebooks.sh
#
# builds sdv if needed (meson, folder build/), runs `sdv verify --out notebooks/results` and
# the `sdv simulate` runs the notebooks plot (indexed in notebooks/results/simulations.csv;
# notebook 08's runs are made by notebooks/real-data.sh),
# then executes notebooks/*.ipynb with Debian's jupyter-nbconvert and /usr/bin/python3
# (numpy, matplotlib; MPLBACKEND=Agg, plots embedded as PNG).
#
# Options (used by the test, tests/notebooks/run.sh):
#   --sdv PATH     use this sdv binary (no build)
#   --workdir DIR  copy the notebooks to DIR and execute them there, data in DIR/results
#                  (the committed notebooks are left alone)
#   --small        a small, fast results set: cheap checks only, short simulations
#   --no-verify    keep the existing verify results (still re-runs the simulations)
# Exit status: 0 all notebooks executed; non-zero if a step or a notebook failed.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
sdv=""
workdir=""
small=0
verify=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sdv) sdv=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --small) small=1; shift ;;
    --no-verify) verify=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "notebooks.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ -z "$sdv" ]; then
  if [ ! -d "$here/build" ]; then meson setup "$here/build" "$here"; fi
  meson compile -C "$here/build"
  sdv="$here/build/verify/sdv"
fi
[ -x "$sdv" ] || { echo "notebooks.sh: $sdv is not executable" >&2; exit 2; }
command -v jupyter-nbconvert >/dev/null ||
  { echo "notebooks.sh: jupyter-nbconvert not found (apt-get install jupyter-nbconvert python3-ipykernel python3-matplotlib)" >&2; exit 2; }

nbdir="$here/notebooks"
if [ -n "$workdir" ]; then
  mkdir -p "$workdir"
  cp "$nbdir"/*.ipynb "$nbdir"/sdvplot.py "$workdir"/
  nbdir=$(cd "$workdir" && pwd)
fi
results="$nbdir/results"
mkdir -p "$results"

# ---- sdv verify ----
# The small set: checks that finish in about a second each, covering every family; the
# others are absent and the notebooks say so.
cheap="dsgd-order,dsgd-diffusion,dcsgd-randk-order,dcsgd-channel,dcsgd-qsgd,dsgd-level,"
cheap="${cheap}dcsgd-rate,dcsgd-stability,randk-cross,randk-offdiag-level,dsignsgd-speedup,"
cheap="${cheap}noise-scaling,harmonic-mean,outlier-agent,t-drift-slope,phases,dsgd-linear-rule,"
cheap="${cheap}dcsgd-recovers-dsgd,dsignsgd-sqrt-b,dsignsgd-linear-n,conformance,quartic-fluctuation,"
cheap="${cheap}onestep-dsgd,onestep-dsignsgd-heavy"
if [ "$verify" = 1 ]; then
  rm -f "$results"/*.csv "$results"/summary.json
  rc=0
  if [ "$small" = 1 ]; then
    "$sdv" verify --only "$cheap" --out "$results" >"$results/verify.log" 2>&1 || rc=$?
  else
    "$sdv" verify --out "$results" >"$results/verify.log" 2>&1 || rc=$?
  fi
  # 1: a check failed -- still data worth plotting; anything else is an error.
  if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
    cat "$results/verify.log" >&2
    echo "notebooks.sh: sdv verify exited with $rc" >&2
    exit 1
  fi
  tail -n 1 "$results/verify.log"
fi

# ---- sdv simulate ----
# Each run: name group method x options...; written to results/sim-<name>.csv and indexed in
# results/simulations.csv (name,group,method,x,file,options).
if [ "$small" = 1 ]; then paths=400; mcpaths=300; else paths=4000; mcpaths=1500; fi
index="$results/simulations.csv"
rm -f "$results"/sim-*.csv
echo "name,group,method,x,file,options" >"$index"
sim() {
  name=$1 group=$2 method=$3 x=$4
  shift 4
  "$sdv" simulate --method "$method" "$@" --csv "$results/sim-$name.csv" >/dev/null
  echo "$name,$group,$method,$x,sim-$name.csv,\"$*\"" >>"$index"
}

# Trajectories: Monte Carlo on both sides (CI bands), and the drift ODE as negative control.
qsgd="--compressor qsgd:s=1 --dim 4 --agents 2 --sigma 0.8,1.3 --objective quadratic:lam=0.7..1.6 --x0 1 --eta 0.1 --T 4"
# shellcheck disable=SC2086
sim traj-dcsgd-qsgd traj dcsgd 1 $qsgd --paths $paths
# shellcheck disable=SC2086
sim traj-dcsgd-qsgd-ode traj dcsgd 0 $qsgd --paths $paths --diffusion-scale 0
sign="--dim 2 --agents 3 --sigma 0.6,1,1.8 --noise student-t:nu=3 --objective quadratic:lam=1,1.5 --x0 2,-1.5 --eta 0.1 --T 4"
# shellcheck disable=SC2086
sim traj-dsignsgd-t3 traj dsignsgd 1 $sign --paths $paths
# shellcheck disable=SC2086
sim traj-dsignsgd-t3-ode traj dsignsgd 0 $sign --paths $paths --diffusion-scale 0

# Scaling-rule overlays (exact): DSGD linear rule kappa_B = 16 and the sqrt-B control.
dsgd="--dim 4 --objective quadratic:lam=0.5..2 --sigma 2 --x0 0.1 --agents 2 --T 4"
# shellcheck disable=SC2086
sim scale-dsgd-base scale dsgd 1 $dsgd --batch 2 --eta 0.005 --every 16
# shellcheck disable=SC2086
sim scale-dsgd-linear scale dsgd 16 $dsgd --batch 32 --eta 0.08
# shellcheck disable=SC2086
sim scale-dsgd-sqrtb scale dsgd 4 $dsgd --batch 32 --eta 0.02 --every 4
# DSignSGD linear-N rule N' = 4N, eta' = 4 eta, and the sqrt-N control (discrete side exact).
sg="--dim 2 --objective quadratic:lam=0.5,1 --sigma 1 --x0 1 --T 12 --paths $mcpaths --integrator euler --substeps 1"
# shellcheck disable=SC2086
sim scale-sign-base scale dsignsgd 1 $sg --agents 1 --eta 0.01 --every 24
# shellcheck disable=SC2086
sim scale-sign-linear-n scale dsignsgd 4 $sg --agents 4 --eta 0.04 --every 6
# shellcheck disable=SC2086
sim scale-sign-sqrt-n scale dsignsgd 2 $sg --agents 4 --eta 0.02 --every 12

# Phases of DSignSGD (Gaussian, N = 1): from Y0 = lambda x0/sigma = 8.
sim phases-dsignsgd phases dsignsgd 8 --sigma 2.385 --objective quadratic:lam=1.7 \
  --x0 11.223529411764706 --eta 0.05 --T 12 --paths "$mcpaths"

# Near-stationary E f against nu and N: DSignSGD against DCSGD (Bernoulli p = 1/2), d = 1,
# lambda = 1, sigma = 1, eta = 0.05, T = 8 (about 8 relaxation times of E x^2).
st="--objective quadratic:lam=1 --sigma 1 --x0 0.2 --eta 0.05 --T 8 --every 160 --paths $mcpaths --integrator euler --substeps 2"
if [ "$small" = 1 ]; then nus="1.5 4"; nus_dc="4"; ns="1 4"; else
  nus="1 1.5 2 2.5 3 4 6 10 30"; nus_dc="2.2 2.5 3 4 6 10 30"; ns="1 2 4 8"; fi
for nu in $nus; do
  # shellcheck disable=SC2086
  sim "nu-dsignsgd-$nu" nu-sweep dsignsgd "$nu" $st --agents 2 --noise "student-t:nu=$nu"
done
for nu in $nus_dc; do
  # shellcheck disable=SC2086
  sim "nu-dcsgd-$nu" nu-sweep dcsgd "$nu" $st --agents 2 --noise "student-t:nu=$nu" \
    --compressor bernoulli:p=0.5
done
# shellcheck disable=SC2086
sim nu-dsignsgd-gauss nu-sweep dsignsgd inf $st --agents 2
# shellcheck disable=SC2086
sim nu-dcsgd-gauss nu-sweep dcsgd inf $st --agents 2 --compressor bernoulli:p=0.5
for n in $ns; do
  # shellcheck disable=SC2086
  sim "n-dsignsgd-$n" n-sweep dsignsgd "$n" $st --agents "$n"
  # shellcheck disable=SC2086
  sim "n-dcsgd-$n" n-sweep dcsgd "$n" $st --agents "$n" --compressor bernoulli:p=0.5
done

# Real data (notebook 08): softmax on Wine with minibatch noise, heavy-tailed noise on top.
if [ "$small" = 1 ]; then
  "$here/notebooks/real-data.sh" "$sdv" "$results" --small
else
  "$here/notebooks/real-data.sh" "$sdv" "$results"
fi

# ---- execute ----
export SDV_RESULTS="$results"
export MPLBACKEND=Agg
status=0
for nb in "$nbdir"/[0-9]*.ipynb; do
  echo "executing $(basename "$nb")"
  if ! /usr/bin/python3 -m nbconvert --to notebook --execute --inplace \
      --ExecutePreprocessor.timeout=300 --ExecutePreprocessor.kernel_name=python3 "$nb"; then
    echo "notebooks.sh: $(basename "$nb") failed" >&2
    status=1
  fi
done
exit $status
