#!/usr/bin/python3
"""sdv simulate against bench/numpy_minibatch.py on the minibatch study of issue 18.

The study: DSGD on softmax regression with L2 (`softmax:data=FILE:l2=0.01`), minibatch noise
(B per-sample gradients per agent, drawn with replacement from N = 4 iid shards), x0 = 0,
eta = 0.05, K steps; E f(x_K) of the optimizer and E f(X_T) of its SDE (Euler-Maruyama with
h = eta, sampled diffusion from the per-sample gradients) over M paths each. sdv runs it as

    sdv simulate --method dsgd --objective softmax:data=FILE:l2=0.01 --noise minibatch
                 --batch B --agents 4 --eta 0.05 --x0 0 --T K*eta --every K --paths M
                 --threads 1 --integrator euler --substeps 1 --csv -

and the NumPy script computes the same two numbers, vectorised over paths, with the same
shards. Both on one thread: sdv with --threads 1, NumPy with OPENBLAS_NUM_THREADS=1 (and
without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, as bench/compare.py).

Part 1 (the comparison, Wine): the two programs alternately --repeat times; medians of wall
and CPU seconds, their ratios NumPy / sdv (above 1: sdv faster; the issue's target is 10),
and agreement of both E f estimates within 3 combined standard errors. sdv's times are those
of the whole process (data loading and output included); NumPy's exclude its imports and
data loading (the script times its simulation only), which favours NumPy slightly.

Part 2 (--scaling): how sdv's cost grows with n, d and B: CPU microseconds per path per
optimizer step (both sides together) for Wine (n = 178, d = 42) and digits (n = 1797,
d = 650) with B in {1, 4, 16}, NumPy's alongside (medians of --repeat alternating runs).

  bench/minibatch_bench.py [--build build-perf] [--repeat 5] [--M 1000] [--K 100] [--scaling]

Exit status 0 if every pair of estimates agrees, else 1 (the speed target is reported, not
enforced: see docs/performance.md).
"""
import argparse
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NUMPY = os.path.join(HERE, "numpy_minibatch.py")
K_AGREE = 3.0
TARGET = 10.0
DATA = {"wine": ("data/wine.csv", 42), "digits": ("data/digits.csv", 650)}
NP_LINE = re.compile(r"Ef_disc=(\S+) se_disc=(\S+) Ef_sde=(\S+) se_sde=(\S+) "
                     r"seconds=(\S+) cpu=(\S+)")


def timed(cmd, env):
    """Runs cmd; returns (stdout, wall seconds, CPU seconds of the child)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env,
                         cwd=ROOT).stdout
    t = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, t, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def run_sdv(sdv, env, data, d, M, K, B):
    cmd = [sdv, "simulate", "--method", "dsgd", "--dim", str(d), "--agents", "4",
           "--objective", "softmax:data=%s:l2=0.01" % data, "--noise", "minibatch",
           "--batch", str(B), "--eta", "0.05", "--x0", "0", "--T", repr(K * 0.05),
           "--every", str(K), "--paths", str(M), "--threads", "1",
           "--integrator", "euler", "--substeps", "1", "--csv", "-"]
    out, wall, cpu = timed(cmd, env)
    ef = {}
    for line in out.splitlines():
        p = line.split(",")
        if len(p) >= 6 and p[3] == "f" and p[1] == str(K):
            ef[p[0]] = (float(p[4]), float(p[5]))
    if set(ef) != {"discrete", "sde"}:
        raise RuntimeError("sdv simulate: no E f at step %d in its output" % K)
    return ef["discrete"], ef["sde"], wall, cpu


def run_numpy(env, data, M, K, B):
    cmd = ["/usr/bin/python3", NUMPY, "--data", data, "--M", str(M), "--K", str(K),
           "--B", str(B), "--N", "4", "--eta", "0.05", "--l2", "0.01", "--x0", "0", "--m", "1"]
    out, _, _ = timed(cmd, env)
    m = NP_LINE.search(out)
    if not m:
        raise RuntimeError("numpy_minibatch.py: no result line:\n" + out)
    v = [float(x) for x in m.groups()]
    return (v[0], v[1]), (v[2], v[3]), v[4], v[5]


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


def z(a, b):
    return abs(a[0] - b[0]) / math.hypot(a[1], b[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-perf"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--M", type=int, default=1000)
    ap.add_argument("--K", type=int, default=100)
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--scaling", action="store_true")
    a = ap.parse_args()
    sdv = os.path.join(a.build, "verify", "sdv")
    if not os.path.exists(sdv):
        sys.exit("minibatch_bench: %s not found (meson setup %s --buildtype=release)"
                 % (sdv, a.build))
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive")
    print("machine: " + machine())
    print("date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    print("study: DSGD, softmax on wine (n=178, d=42), l2=0.01, N=4 iid shards, B=%d, eta=0.05,"
          " x0=0, K=%d, M=%d paths per side, SDE Euler h=eta; one thread; %d alternating runs,"
          " medians" % (a.B, a.K, a.M, a.repeat))
    ok = True
    wn, ws, cn, cs = [], [], [], []
    for _ in range(a.repeat):
        nd, ns, w, c = run_numpy(env, "data/wine.csv", a.M, a.K, a.B)
        wn.append(w); cn.append(c)
        sd, ss, w, c = run_sdv(sdv, env, "data/wine.csv", 42, a.M, a.K, a.B)
        ws.append(w); cs.append(c)
    mwn, mws, mcn, mcs = map(statistics.median, (wn, ws, cn, cs))
    print("%-8s %9s %9s %9s %9s" % ("", "wall_s", "cpu_s", "min_wall", "min_cpu"))
    print("%-8s %9.3f %9.3f %9.3f %9.3f" % ("numpy", mwn, mcn, min(wn), min(cn)))
    print("%-8s %9.3f %9.3f %9.3f %9.3f" % ("sdv", mws, mcs, min(ws), min(cs)))
    print("ratio numpy/sdv: wall %.2fx, cpu %.2fx (fastest runs: wall %.2fx, cpu %.2fx); "
          "target %.0fx: %s" % (mwn / mws, mcn / mcs, min(wn) / min(ws), min(cn) / min(cs),
                                TARGET, "met" if mcn / mcs >= TARGET else "NOT met"))
    for side, a_np, a_sdv in (("optimizer", nd, sd), ("SDE", ns, ss)):
        zz = z(a_np, a_sdv)
        ok = ok and zz <= K_AGREE
        print("E f %-9s numpy %.6g +- %.2g, sdv %.6g +- %.2g: z = %.2f %s" % (
            side, a_np[0], a_np[1], a_sdv[0], a_sdv[1], zz,
            "agree" if zz <= K_AGREE else "DISAGREE"))
    sys.stdout.flush()
    if a.scaling:
        rows = [("wine", 1, 400, 50), ("wine", 4, 400, 50), ("wine", 16, 400, 50),
                ("digits", 1, 40, 20), ("digits", 4, 40, 20), ("digits", 16, 40, 20)]
        print("\nscaling: CPU microseconds per path per optimizer step (optimizer + SDE),"
              " medians of %d alternating runs" % a.repeat)
        print("%-7s %5s %4s %3s %5s %4s %10s %10s %7s %6s %6s" % (
            "data", "n", "d", "B", "M", "K", "sdv_us", "numpy_us", "ratio", "z_opt", "z_sde"))
        for name, B, M, K in rows:
            data, d = DATA[name]
            cs_, cn_ = [], []
            for _ in range(a.repeat):
                nd, ns, _, c = run_numpy(env, data, M, K, B)
                cn_.append(c)
                sd, ss, _, c = run_sdv(sdv, env, data, d, M, K, B)
                cs_.append(c)
            us = 1e6 / (M * K)
            n = 178 if name == "wine" else 1797
            zo, zs = z(nd, sd), z(ns, ss)
            ok = ok and zo <= K_AGREE and zs <= K_AGREE
            print("%-7s %5d %4d %3d %5d %4d %10.1f %10.1f %6.2fx %6.2f %6.2f" % (
                name, n, d, B, M, K, statistics.median(cs_) * us, statistics.median(cn_) * us,
                statistics.median(cn_) / statistics.median(cs_), zo, zs))
            sys.stdout.flush()
    print("agreement: |Ef_numpy - Ef_sdv| <= %g sqrt(se_numpy^2 + se_sdv^2)" % K_AGREE)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
