#!/bin/sh
# The sdv simulate runs of notebooks/08-real-data.ipynb: softmax regression on the UCI Wine data
# with minibatch noise from N = 4 iid shards, heavy-tailed noise added on top.
#
#     notebooks/real-data.sh SDV RESULTS_DIR [--small]
#
# Called by scripts/notebooks.sh (after it has written the header of RESULTS_DIR/simulations.csv);
# can also be run alone to refresh only this notebook's data: it first drops its own rows
# (groups real, real-batch) from simulations.csv and its own files, then appends.
#   - sim-real-*.csv: E f (and E||x||^2) over time of the optimizer and of its SDE (both Monte
#     Carlo; sdv simulate's CSV with the other observables' rows dropped), indexed
#     in simulations.csv as name,group,method,x,file,options (group real: x = sigma;
#     group real-batch: x = B);
#   - refused.csv (name,method,options,message): the models sdv has no SDE for (added
#     Student-t with nu <= 2), with sdv's own message.
set -eu
sdv=$1
results=$2
small=0
[ "${3:-}" = "--small" ] && small=1
[ -x "$sdv" ] || { echo "real-data.sh: $sdv is not executable" >&2; exit 2; }
mkdir -p "$results"
results=$(cd "$results" && pwd)
index="$results/simulations.csv"
[ -f "$index" ] || echo "name,group,method,x,file,options" >"$index"
grep -v ',real,\|,real-batch,' "$index" >"$index.tmp" || true
mv "$index.tmp" "$index"
rm -f "$results"/sim-real-*.csv "$results"/sim-real-*.tmp "$results/refused.csv"

# Euler-Maruyama with h = eta (one substep): weak order 1, the order of the SDE approximation
# itself, and the sampled diffusion costs the n = 178 per-sample gradients per SDE step.
if [ "$small" = 1 ]; then
  paths=150; T=4; sigmas="0 2"; batches="16"
else
  paths=1000; T=10; sigmas="0 0.5 1 2"; batches="1 16 64"
fi
base="--dim 42 --agents 4 --objective softmax:data=data/wine.csv:l2=0.01 --shards iid --eta 0.05"
base="$base --x0 0 --T $T --every 5 --paths $paths --threads 1 --integrator euler --substeps 1"
here=$(cd "$(dirname "$0")/.." && pwd)

run() { # name group method x options...
  name=$1 group=$2 method=$3 x=$4
  shift 4
  # shellcheck disable=SC2086
  (cd "$here" && "$sdv" simulate --method "$method" $base "$@" --csv "$results/sim-$name.tmp") \
    >/dev/null
  # Only E f and E||x||^2 are kept (the per-coordinate moments would be 43x the size).
  awk -F, 'NR == 1 || $4 == "f" || $4 == "norm2"' "$results/sim-$name.tmp" \
    >"$results/sim-$name.csv"
  rm -f "$results/sim-$name.tmp"
  echo "$name,$group,$method,$x,sim-$name.csv,\"$base $*\"" >>"$index"
}
noise_for() { # sigma -> the --noise/--sigma options
  if [ "$1" = 0 ]; then echo "--noise minibatch"; else
    echo "--noise minibatch+student-t:nu=2.5 --sigma $1"; fi
}

for s in $sigmas; do
  nz=$(noise_for "$s")
  # shellcheck disable=SC2086
  run "real-dsgd-s$s" real dsgd "$s" --batch 4 $nz
  # shellcheck disable=SC2086
  run "real-dcsgd-randk8-s$s" real dcsgd "$s" --batch 4 $nz --compressor rand-k:k=8
  # shellcheck disable=SC2086
  run "real-dcsgd-bern05-s$s" real dcsgd "$s" --batch 4 $nz --compressor bernoulli:p=0.5
  # shellcheck disable=SC2086
  run "real-dsignsgd-s$s" real dsignsgd "$s" --batch 4 $nz
done
# DSignSGD's CLT-based SDE against the batch size (B = 4 is in the sweep above).
for b in $batches; do
  run "real-dsignsgd-b$b" real-batch dsignsgd "$b" --batch "$b" --noise minibatch
done

# nu <= 2: the added noise has no variance, so neither the DSGD/DCSGD SDE nor DSignSGD's CLT
# approximation exists; sdv simulate refuses (exit 2) and says why.
echo "name,method,options,message" >"$results/refused.csv"
for m in dsgd dsignsgd; do
  opts="--batch 4 --noise minibatch+student-t:nu=1.5 --sigma 1"
  rc=0
  # shellcheck disable=SC2086
  msg=$(cd "$here" && "$sdv" simulate --method "$m" $base $opts --csv /dev/null 2>&1 >/dev/null) ||
    rc=$?
  if [ "$rc" != 2 ]; then
    echo "real-data.sh: expected sdv to refuse $m with nu = 1.5 (exit 2), got $rc: $msg" >&2
    exit 1
  fi
  msg=$(printf '%s' "$msg" | tr '\n' ' ' | sed "s/\"/'/g")
  echo "real-$m-nu1.5,$m,\"$opts\",\"$msg\"" >>"$results/refused.csv"
done
