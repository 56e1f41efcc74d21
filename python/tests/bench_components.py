"""Cost of components written in Python against the same components in C (README "Python").

    PYTHONPATH=build/python /usr/bin/python3 python/tests/bench_components.py [--paths N] [--repeat R]

Times, on one thread, (1) a weak study of DCSGD (dim 8, 4 agents, quartic objective) with
sdv's rand-k and with rand-k written in Python (python/tests/test_components.py, the same
numbers bit for bit: literal=True on both), (2) a weak study of DSGD with sdv's Gaussian and
a Gaussian written in Python, (3) sdv.compressor_check on each rand-k (apply() only). C and
Python runs alternate; median of R runs each; prints a Markdown table.
"""
import argparse
import statistics
import sys
import time

import sdv
from test_components import PyGaussian, PyRandK  # noqa: F401  (registers them)


def timed(f, g, repeat):
    """Median seconds of f() and of g(), runs alternating."""
    tf, tg = [], []
    for _ in range(repeat):
        for fn, ts in ((f, tf), (g, tg)):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return statistics.median(tf), statistics.median(tg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    study = dict(eta=[0.1, 0.05, 0.025], T=0.5, paths=a.paths, exact=False, threads=1,
                 controls=False)
    base = dict(dim=8, agents=4, objective="quartic", sigma=1.0, x0=1.0, seed=1, literal=True)
    rows = []
    # Calls of the component per study: sum over rungs of steps x agents x paths (discrete
    # side; the SDE side is C in both cases, closed-form diffusion from linear()).
    steps = sum(round(study["T"] / e) for e in study["eta"])
    calls = steps * base["agents"] * a.paths
    for what, kw, c_spec, py_spec in (
            ("DCSGD weak study, rand-k:k=2", dict(method="dcsgd"), "rand-k:k=2",
             "py-rand-k:k=2"),
            ("DSGD weak study, Gaussian noise", dict(method="dsgd"), "gaussian", "py-gaussian")):
        key = "compressor" if kw["method"] == "dcsgd" else "noise"
        mc = sdv.Model(**base, **kw, **{key: c_spec})
        mp = sdv.Model(**base, **kw, **{key: py_spec})
        tc, tp = timed(lambda: sdv.weak(mc, **study), lambda: sdv.weak(mp, **study), a.repeat)
        rows.append((what, tc, tp, calls))
    n = 20000
    tc, tp = timed(lambda: sdv.compressor_check("rand-k:k=2", dim=8, samples=n),
                   lambda: sdv.compressor_check("py-rand-k:k=2", dim=8, samples=n), a.repeat)
    rows.append(("compressor_check rand-k:k=2, d = 8", tc, tp, 4 * n))
    print("paths %d, one thread, median of %d runs" % (a.paths, a.repeat))
    print("| what | C | Python | ratio | Python per call |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for what, tc, tp, ncalls in rows:
        print("| %s | %.3f s | %.3f s | %.0fx | %.1f us |" % (what, tc, tp, tp / tc,
                                                           1e6 * (tp - tc) / ncalls))


if __name__ == "__main__":
    main()
