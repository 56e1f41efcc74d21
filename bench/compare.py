#!/usr/bin/python3
"""sdv against the NumPy baseline, side by side on one machine (bench/README.md).

For each workload w1..w4 it runs the baseline and sdv_bench alternately --repeat times on the
same parameters, then prints both median wall times, their ratio (baseline / sdv) against the
target, and whether the two E f(x_K) estimates agree: |Ef_np - Ef_sdv| <= K_AGREE combined
standard errors, sqrt(se_np^2 + se_sdv^2) (K_AGREE = 3: a 0.27% chance of a false "no" for
two unbiased estimators). With --threads-check it also times sdv with 1 and 2 threads,
alternately, on --threads-M paths (default 4 M: a single-thread run of w1 at M = 2048 lasts
0.2 s, too short to measure a speedup through other tenants' noise on a shared machine; the
throughput per path is what is compared) and prints the speedup in wall time (medians;
target 1.8), the same for the fastest run of each (other tenants only ever add time), and the
ratio of CPU times (near 1: no work added by the second thread).

  bench/compare.py [--build build-perf] [--repeat 5] [--workloads w1,w2,w3,w4]
                   [--M 2048] [--K 100] [--threads-check] [--threads-M 8192]

The baseline runs with /usr/bin/python3 and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in
its environment (they slow a current NumPy; the workloads call no BLAS anyway). Exit status 0
if every ratio meets its target and every pair of estimates agrees, else 1.
"""
import argparse
import math
import os
import platform
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASELINE_CANDIDATES = [os.path.join(ROOT, "..", "shared", "bench", "numpy_baseline.py"),
                       "/work/shared/bench/numpy_baseline.py"]
TARGET = {"w1": 20.0, "w2": 10.0, "w3": 20.0, "w4": 10.0}
K_AGREE = 3.0
LINE = re.compile(r"^(w[1-4]) Ef=(\S+) se=(\S+) seconds=(\S+)")


def run(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            return float(m.group(2)), float(m.group(3)), float(m.group(4))
    raise RuntimeError("no result line from %s:\n%s" % (" ".join(cmd), out))


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    return "%s, nproc %d, %s, load average %.2f %.2f %.2f" % (
        model, os.cpu_count() or 0, platform.platform(), load[0], load[1], load[2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-perf"))
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workloads", default="w1,w2,w3,w4")
    ap.add_argument("--M", type=int, default=2048)
    ap.add_argument("--K", type=int, default=100)
    ap.add_argument("--threads-check", action="store_true")
    ap.add_argument("--threads-M", type=int, default=None)
    a = ap.parse_args()
    bench = os.path.join(a.build, "bench", "sdv_bench")
    baseline = a.baseline or next((p for p in BASELINE_CANDIDATES if os.path.exists(p)), None)
    if not os.path.exists(bench):
        sys.exit("compare: %s not found (meson setup %s --buildtype=release)" % (bench, a.build))
    if not baseline:
        sys.exit("compare: numpy_baseline.py not found; pass --baseline")
    np_env = {k: v for k, v in os.environ.items()
              if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    common = ["--M", str(a.M), "--N", "8", "--d", "64", "--k", "8", "--nu", "3", "--sigma", "1",
              "--eta", "0.01", "--K", str(a.K), "--m", "4", "--x0", "1", "--seed", "1"]
    print("machine: " + machine())
    print("parameters: M=%d N=8 d=64 k=8 nu=3 sigma=1 eta=0.01 K=%d m=4 x0=1; %d alternating "
          "runs each; wall seconds, medians" % (a.M, a.K, a.repeat))
    print("%-3s %11s %11s %8s %7s %12s %12s %7s %s" % (
        "w", "numpy_s", "sdv_s", "ratio", "target", "Ef_numpy", "Ef_sdv", "z", "verdict"))
    ok = True
    for w in a.workloads.split(","):
        tn, ts, rn, rs = [], [], None, None
        for _ in range(a.repeat):
            rn = run(["/usr/bin/python3", baseline, w] + common, env=np_env)
            tn.append(rn[2])
            rs = run([bench, w] + common + ["--threads", "1"])
            ts.append(rs[2])
        mn, ms = statistics.median(tn), statistics.median(ts)
        ratio = mn / ms
        z = abs(rn[0] - rs[0]) / math.hypot(rn[1], rs[1])
        agree = z <= K_AGREE
        fast = ratio >= TARGET[w]
        ok = ok and agree and fast
        print("%-3s %11.3f %11.3f %7.1fx %6.0fx %12.6g %12.6g %7.2f %s" % (
            w, mn, ms, ratio, TARGET[w], rn[0], rs[0], z,
            ("fast" if fast else "SLOW") + ", " + ("agree" if agree else "DISAGREE")))
        sys.stdout.flush()
        if a.threads_check:
            tm = a.threads_M or 4 * a.M
            tcommon = [x if i == 0 or common[i - 1] != "--M" else str(tm)
                       for i, x in enumerate(common)]
            t1, t2, c1, c2 = [], [], [], []
            for _ in range(a.repeat):
                t1.append(run([bench, w] + tcommon + ["--threads", "1"])[2])
                t2.append(run([bench, w] + tcommon + ["--threads", "2"])[2])
                c1.append(run([bench, w] + tcommon + ["--threads", "1", "--cpu"])[2])
                c2.append(run([bench, w] + tcommon + ["--threads", "2", "--cpu"])[2])
            s = statistics.median(t1) / statistics.median(t2)
            ok = ok and s >= 1.8
            print("    threads (M=%d): 1 -> %.3f s, 2 -> %.3f s: speedup %.2fx (target 1.8x) %s;"
                  " best runs %.2fx; CPU time 2/1 = %.2f" % (
                      tm, statistics.median(t1), statistics.median(t2), s,
                      "ok" if s >= 1.8 else "LOW", min(t1) / min(t2),
                      statistics.median(c2) / statistics.median(c1)))
            sys.stdout.flush()
    print("agreement: |Ef_numpy - Ef_sdv| <= %g sqrt(se_numpy^2 + se_sdv^2) (z column)" % K_AGREE)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
