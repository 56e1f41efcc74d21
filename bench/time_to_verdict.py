#!/usr/bin/python3
"""Time to a verdict (issue 16, item 6): paths and wall time to bring the fluctuation
statistic's relative-error CI to a half-width of 0.05, NumPy against sdv uncoupled and coupled.

Studies (bench/numpy_weak.py, STUDIES, holds their parameters; sdv runs the same ones):
  quartic-dsgd            DSGD on the quartic, d = 4, N = 4, sigma = 1,1,2,2, eta = 0.1, 0.05,
                          0.025, T = 1, Euler m = 4: the study of ../shared/bench/numpy_weak_study.py
  logistic-dsgd           DSGD on logistic regression (Iris, l2 = 0.1, no intercept: d = 4), N = 4,
                          sigma = 1,1,2,2, x0 = 0, eta = 0.4, 0.2, 0.1, T = 4 (the ladder and
                          horizon of the claim check logistic-weak), Euler m = 4
  logistic-dcsgd          the same with DCSGD, rand-k k = 2 per agent (omega = 1)
  quartic-dsignsgd        DSignSGD, Student-t(3) noise, on the quartic of the first study
  quartic-dsignsgd-equal  the same with equal agents, sigma = 1,1,1,1 (supplementary: sdv's
                          equal-agents shortcuts apply)
Contenders, one thread each: NumPy (bench/numpy_weak.py: vectorised over paths, literal
per-agent noise, independent samples; OPENBLAS_NUM_THREADS=1), `sdv weak --coupling none`,
`sdv weak --coupling crn`. No negative controls on either side (`--no-controls`: the NumPy
studies have none).

Method, per study and contender:
 1. Pilot: --repeat runs at --M0 paths (seeds 1, 2, ...), the contenders alternating. The
    nominal half-width h0 = z se(a)/|L| (before sdv's chi-square inflation, so that it scales
    exactly as 1/sqrt(M); bench/weakstat.py) is averaged as h0^2 over the runs; likewise
    z se(L)/|L| (L's standard error before the inflation).
 2. Paths to the target: M* = max(M0 (h0/0.05)^2, M_L, --min-paths), M_L = the paths at which
    |L| = 2 z se(L) (the test needs L resolved, |L| > z se(L); margin 2), rounded up. If M* >
    --max-paths, the run is at --max-paths and its time is extrapolated linearly to M*
    (marked "*").
 3. One run at M* per contender (--final-repeat, medians): paths, wall time, the half-width
    sdv reports (inflated where the ladder's chi-square exceeds its dof) and the nominal one,
    the verdict.
Times: sdv is the wall time of the whole `sdv weak` process (start-up, data loading, model
construction included); NumPy is its compute time alone (from the first draw to the
statistic: interpreter start, imports and data loading excluded), which favours NumPy.
Ratios: NumPy / sdv-none per path (pilot medians at the same M0), crn vs none to the same CI
(time to target), NumPy / sdv-crn to a verdict (time to target). The VR factors against eta
are the crn pilots' rows (`error.vr`, the mean over the pilot runs).

Every sdv JSON is re-read through bench/weakstat.py and the recomputed relative-error CI must
equal sdv's to 1e-9 (so the NumPy side, which uses the same code, reports sdv's statistic).

  bench/time_to_verdict.py [--build build-perf] [--studies a,b,...] [--M0 20000] [--repeat 3]
                           [--max-paths 200000] [--min-paths 1000] [--final-repeat 1]
                           [--markdown FILE] [--quick]
--quick: M0 = 2000, one pilot, --max-paths 10000, --min-paths 500: a smoke run (< 2 min).
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import numpy_weak  # noqa: E402
import weakstat  # noqa: E402

ORDER = ["quartic-dsgd", "logistic-dsgd", "logistic-dcsgd", "quartic-dsignsgd",
         "quartic-dsignsgd-equal"]
TARGET_HW = 0.05
TARGET_PER_PATH = 15.0
TARGET_CRN = {"dsgd": 10.0, "dcsgd": 3.0, "dsignsgd": 3.0}
TARGET_VERDICT = 100.0
CONTENDERS = ["numpy", "none", "crn"]


def sdv_command(sdv, name, M, coupling, seed, json_path):
    p = numpy_weak.STUDIES[name]
    if p["objective"] == "quartic":
        obj = "quartic:lam=%s" % p["lam"]
    else:
        obj = "logistic:data=%s:l2=%g:bias=0" % (numpy_weak.IRIS, p["l2"])
    cmd = [sdv, "weak", "--method", p["method"], "--dim", str(p["d"]), "--agents", str(p["N"]),
           "--objective", obj, "--sigma", ",".join("%g" % s for s in p["sigma"]),
           "--x0", "%g" % p["x0"], "--eta", ",".join("%g" % e for e in p["eta"]),
           "--T", "%g" % p["T"], "--substeps", str(p["m"]), "--integrator", "euler",
           "--no-controls", "--threads", "1", "--paths", str(M), "--coupling", coupling,
           "--seed", str(seed), "--json", json_path]
    if p["noise"] == "student-t":
        cmd += ["--noise", "student-t:nu=%g" % p["nu"]]
    if p["method"] == "dcsgd":
        cmd += ["--compressor", "rand-k:k=%d" % p["k"]]
    return cmd


def run_sdv(sdv, name, M, coupling, seed):
    with tempfile.TemporaryDirectory() as tmp:
        jp = os.path.join(tmp, "weak.json")
        cmd = sdv_command(sdv, name, M, coupling, seed, jp)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode not in (0, 1):
            raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode,
                                                      proc.stderr))
        with open(jp) as f:
            doc = json.load(f)
    rows = weakstat.rows_from_sdv_json(doc)
    st = weakstat.fluctuation(rows)
    fl = doc["tests"][0]["fluctuation"]
    for mine, theirs in zip(st["rel_ci"], fl["relative_error_ci"]):
        if not math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12):
            raise RuntimeError("weakstat disagrees with sdv on %s (%s): %r against %r" % (
                name, coupling, st["rel_ci"], fl["relative_error_ci"]))
    if coupling == "crn" and not doc["coupling"]["used"]:
        raise RuntimeError("%s: sdv ran uncoupled: %s" % (name, doc["coupling"]["note"]))
    st["verdict_sdv"] = fl["verdict"]
    return {"seconds": wall, "stat": st, "vr": [r["vr"] for r in rows],
            "eta": [r["eta"] for r in rows]}


def numpy_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def run_numpy(name, M, seed):
    cmd = ["/usr/bin/python3", os.path.join(HERE, "numpy_weak.py"), "--study", name,
           "--M", str(M), "--seed", str(seed), "--json", "-"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=numpy_env())
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), proc.stderr))
    doc = json.loads(proc.stdout.splitlines()[-1])
    st = doc["fluctuation"]
    st["verdict_sdv"] = st["verdict"]
    return {"seconds": doc["seconds"], "process_seconds": wall, "stat": st,
            "vr": [float("nan")] * len(doc["rows"]), "eta": [r["eta"] for r in doc["rows"]]}


def run(args, sdv, name, c, M, seed):
    return run_numpy(name, M, seed) if c == "numpy" else run_sdv(sdv, name, M, c, seed)


def steps_per_path(name, coupling):
    """Path-steps per path over the ladder: a discrete step or an Euler substep each. The
    coupled run simulates the optimizer twice (its uncoupled column, then the coupled pair)."""
    p = numpy_weak.STUDIES[name]
    n = 0
    for eta in p["eta"]:
        K = round(p["T"] / eta)
        n += K * (1 + p["m"]) + (K if coupling == "crn" else 0)
    return n


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
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    np_ver = subprocess.run(["/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"],
                            capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    return ("%s UTC; CPU %s, nproc %d, %s; NumPy %s; commit %s; load average at start "
            "%.2f %.2f %.2f" % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), model,
                                os.cpu_count() or 0, platform.platform(), np_ver, rev, *load))


def fmt_t(t, extrap):
    return ("%.3g" % t) + ("*" if extrap else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-perf"))
    ap.add_argument("--studies", default=",".join(ORDER))
    ap.add_argument("--M0", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-paths", type=int, default=200000)
    ap.add_argument("--min-paths", type=int, default=1000)
    ap.add_argument("--final-repeat", type=int, default=1)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.M0, a.repeat, a.max_paths, a.min_paths = 2000, 1, 10000, 500
    sdv = os.path.join(a.build, "verify", "sdv")
    if not os.path.exists(sdv):
        sys.exit("time_to_verdict: %s not found (meson setup %s --buildtype=release)" % (
            sdv, a.build))
    studies = a.studies.split(",")
    for s in studies:
        if s not in numpy_weak.STUDIES:
            sys.exit("time_to_verdict: unknown study %s (%s)" % (s, ", ".join(ORDER)))
    t_start = time.perf_counter()
    facts = machine()
    print("machine: " + facts)
    print("target: relative-error CI half-width %.2f; pilots %d x %d paths (contenders "
          "alternating), paths in [%d, %d]; one thread each; no controls" % (
              TARGET_HW, a.repeat, a.M0, a.min_paths, a.max_paths))
    sys.stdout.flush()
    results = {}
    for name in studies:
        p = numpy_weak.STUDIES[name]
        pilots = {c: [] for c in CONTENDERS}
        for r in range(a.repeat):
            order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
            for c in order:
                pilots[c].append(run(a, sdv, name, c, a.M0, 1 + r))
        res = {}
        for c in CONTENDERS:
            runs = pilots[c]
            h0 = math.sqrt(statistics.fmean([x["stat"]["halfwidth_nominal"] ** 2 for x in runs]))
            relL = math.sqrt(statistics.fmean([(x["stat"]["z"] * x["stat"]["se_L_nominal"] /
                                                x["stat"]["L"]) ** 2 for x in runs]))
            m_hw = a.M0 * (h0 / TARGET_HW) ** 2
            m_L = a.M0 * (2.0 * relL) ** 2
            need = int(math.ceil(max(m_hw, m_L, a.min_paths)))
            res[c] = {"pilot_s": statistics.median([x["seconds"] for x in runs]),
                      "h0": h0, "m_hw": m_hw, "m_L": m_L, "need": need,
                      "run_paths": min(need, a.max_paths),
                      "vr": [statistics.fmean(v) for v in zip(*[x["vr"] for x in runs])],
                      "eta": runs[0]["eta"]}
        finals = {c: [] for c in CONTENDERS}
        for r in range(a.final_repeat):
            order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
            for c in order:
                finals[c].append(run(a, sdv, name, c, res[c]["run_paths"], 101 + r))
        for c in CONTENDERS:
            R = res[c]
            last = finals[c][-1]
            t = statistics.median([x["seconds"] for x in finals[c]])
            R["extrap"] = R["need"] > R["run_paths"]
            R["floored"] = max(R["m_hw"], R["m_L"]) < a.min_paths
            R["time"] = t * R["need"] / R["run_paths"]
            R["hw"] = last["stat"]["halfwidth"]
            R["hw_nominal"] = last["stat"]["halfwidth_nominal"]
            R["verdict"] = last["stat"]["verdict_sdv"]
            R["ns_step"] = 1e9 * R["pilot_s"] / (a.M0 * steps_per_path(name, c))
        R = res
        R["per_path"] = R["numpy"]["pilot_s"] / R["none"]["pilot_s"]
        R["vr_slope"] = vr_slope(R["crn"]["eta"], R["crn"]["vr"])
        R["crn_vs_none"] = R["none"]["time"] / R["crn"]["time"]
        R["crn_vs_numpy"] = R["numpy"]["time"] / R["crn"]["time"]
        R["method"] = p["method"]
        results[name] = R
        print("\n%s (%s): pilot medians %s s at M0 = %d" % (
            name, p["method"], ", ".join("%s %.3g" % (c, R[c]["pilot_s"]) for c in CONTENDERS),
            a.M0))
        for c in CONTENDERS:
            x = R[c]
            print("  %-6s h0 %.4g  M_hw %.0f  M_L %.0f  -> M* %d (ran %d)  %s s  hw at M* "
                  "%.3g (nominal %.3g)  %s  %.1f ns/path-step" % (
                      c, x["h0"], x["m_hw"], x["m_L"], x["need"], x["run_paths"],
                      fmt_t(x["time"], x["extrap"]), x["hw"], x["hw_nominal"], x["verdict"],
                      x["ns_step"]))
        print("  VR (crn pilots) against eta: " + ", ".join(
            "%g: %.3g" % (e, v) for e, v in zip(R["crn"]["eta"], R["crn"]["vr"])) +
            "; VR ~ eta^%.2f" % R["vr_slope"])
        sys.stdout.flush()
    table = render(results, studies, a)
    print("\n" + table)
    print("total %.0f s" % (time.perf_counter() - t_start))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("Measured %s.\n\n%s" % (facts, table))
    return 0


def vr_slope(eta, vr):
    """Least-squares slope of log VR against log eta."""
    lx = [math.log(e) for e in eta]
    ly = [math.log(v) for v in vr]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / sum((x - mx) ** 2 for x in lx)


def met(x, target, lower_bound=False):
    """A ratio against its target; lower_bound: the coupled run sat at --min-paths, so the
    ratio is a lower bound and a miss is not a measured shortfall."""
    s = ("≥%.3gx" if lower_bound else "%.3gx") % x
    if x >= target:
        return s + " (met)"
    return s + (" (floor-bound: not shown)" if lower_bound else " (**not met**)")


def render(results, studies, a):
    out = ["| study | contender | paths to target (M_hw, M_L) | seconds to target | half-width "
           "at M* (sdv's / nominal) | verdict at M* | ns per path-step |",
           "| --- | --- | ---: | ---: | --- | --- | ---: |"]
    for name in studies:
        R = results[name]
        for c in CONTENDERS:
            x = R[c]
            out.append("| %s | %s | %d%s (%.0f, %.0f) | %s | %.3g / %.3g | %s | %.1f |" % (
                name, {"numpy": "NumPy", "none": "sdv none", "crn": "sdv crn"}[c], x["need"],
                " floor" if x["floored"] else "", x["m_hw"], x["m_L"],
                fmt_t(x["time"], x["extrap"]), x["hw"], x["hw_nominal"], x["verdict"],
                x["ns_step"]))
    out += ["", "| study | NumPy / sdv-none per path (target %gx) | sdv crn vs none to the "
            "CI (target) | sdv crn vs NumPy to a verdict (target %gx) | VR against eta "
            "(crn pilots) |" % (TARGET_PER_PATH, TARGET_VERDICT),
            "| --- | --- | --- | --- | --- |"]
    for name in studies:
        R = results[name]
        tc = TARGET_CRN[R["method"]]
        fl = R["crn"]["floored"]
        out.append("| %s | %s | %s (%gx) | %s | %s (~eta^%.2f) |" % (
            name, met(R["per_path"], TARGET_PER_PATH), met(R["crn_vs_none"], tc, fl), tc,
            met(R["crn_vs_numpy"], TARGET_VERDICT, fl),
            ", ".join("%g: %.3g" % (e, v) for e, v in zip(R["crn"]["eta"], R["crn"]["vr"])),
            R["vr_slope"]))
    out.append("")
    out.append("Paths: M* = max(M_hw, M_L, %d), M_hw = M0 (h0/%.2f)^2, M_L = M0 (2 z se(L)/|L|)^2, "
               "from %d pilot(s) of M0 = %d paths; floor = M* set by the minimum %d; * = time "
               "extrapolated linearly from a run at %d paths. sdv: wall time of the whole "
               "process; NumPy: compute time only. One thread each, no controls. ns per "
               "path-step: pilot time / (M0 x path-steps), a path-step being one discrete step "
               "or one Euler substep (crn simulates the optimizer twice)." % (
                   a.min_paths, TARGET_HW, a.repeat, a.M0, a.min_paths, a.max_paths))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
