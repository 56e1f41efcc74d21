#!/usr/bin/python3
"""Weak-error studies in NumPy, as a NumPy user would write them, reporting sdv's statistic.

Four studies (STUDIES below; bench/time_to_verdict.py runs `sdv weak` on the same ones):

  quartic-dsgd      DSGD, Gaussian noise, f = sum_j (x_j^4/4 + lam_j x_j^2/2), lam = linspace(0.5, 2, d)
  logistic-dsgd     DSGD, Gaussian noise, L2-regularised logistic loss on data/iris-versicolor-virginica.csv
  logistic-dcsgd    DCSGD, rand-k compressor per agent, Gaussian noise, same logistic loss
  quartic-dsignsgd  DSignSGD, Student-t(3) noise, same quartic
  quartic-dsignsgd-equal  the same with equal agents, sigma = (1, 1, 1, 1)

All with d = 4, N = 4 agents with scales sigma = (1, 1, 2, 2) unless said, batch 1. Each path is simulated
as written: the discrete side draws every agent's noise (and, for DCSGD, every agent's rand-k
mask) at every step; the SDE side is Euler-Maruyama with h = eta/m. Vectorised over paths
(arrays of shape (paths, agents, d)), processed in chunks of --chunk paths to bound memory.
The two sides use independent samples (one generator, drawn in turn).

For each rung it computes E f on both sides with standard errors, the noise-free references
(the recursion xbar_{k+1} = xbar_k + eta b(xbar_k) with b the SDE's drift, and the same Euler
scheme with the diffusion off) and then the fluctuation statistic exactly as `sdv weak` does
(bench/weakstat.py: a/L, its CI at sdv's critical value z = 2.807, L extrapolated from F_disc,
the chi-square inflation). ../shared/bench/numpy_weak_study.py, the model for this file,
computes a close variant: z = 1.96, L = F_sde at the smallest eta, no inflation.

  numpy_weak.py --study quartic-dsgd [--M 20000] [--seed 1] [--chunk 20000] [--json FILE]

Prints one line per rung and a summary line; --json writes rows, statistic and the compute
time (seconds from the first draw to the statistic, imports and data loading excluded).
Run with /usr/bin/python3 (Debian's python3-numpy); one BLAS thread is what the benchmark
uses (OPENBLAS_NUM_THREADS=1).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weakstat  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IRIS = os.path.join(ROOT, "data", "iris-versicolor-virginica.csv")

# One place for the studies' parameters: time_to_verdict.py builds sdv's command line from it.
QUARTIC = {"objective": "quartic", "lam": "0.5..2", "x0": 1.0, "eta": [0.1, 0.05, 0.025],
           "T": 1.0}
LOGISTIC = {"objective": "logistic", "l2": 0.1, "x0": 0.0, "eta": [0.4, 0.2, 0.1], "T": 4.0}
COMMON = {"d": 4, "N": 4, "sigma": [1.0, 1.0, 2.0, 2.0], "m": 4}
STUDIES = {
    "quartic-dsgd": dict(COMMON, **QUARTIC, method="dsgd", noise="gaussian"),
    "logistic-dsgd": dict(COMMON, **LOGISTIC, method="dsgd", noise="gaussian"),
    "logistic-dcsgd": dict(COMMON, **LOGISTIC, method="dcsgd", noise="gaussian", k=2),
    "quartic-dsignsgd": dict(COMMON, **QUARTIC, method="dsignsgd", noise="student-t", nu=3.0),
}
# Supplementary: the same with equal agents (sdv's equal-agents shortcuts apply).
STUDIES["quartic-dsignsgd-equal"] = dict(STUDIES["quartic-dsignsgd"], sigma=[1.0] * 4)


# ---- objectives: gradient and value for x of shape (..., d) ----

class Quartic:
    def __init__(self, d):
        self.lam = np.linspace(0.5, 2.0, d)

    def grad(self, x):
        return x * x * x + self.lam * x

    def f(self, x):
        x2 = x * x
        return np.sum(0.25 * x2 * x2 + 0.5 * self.lam * x2, axis=-1)


class Logistic:
    """f = mean_i log(1 + exp(-y_i a_i.x)) + mu/2 |x|^2, labels 0/1 -> y = -1/+1, no intercept
    (sdv's logistic:bias=0)."""

    def __init__(self, path, mu):
        data = np.loadtxt(path, delimiter=",", comments="#")
        self.A = np.ascontiguousarray(data[:, :-1])
        self.y = 2.0 * data[:, -1] - 1.0
        self.mu = mu
        self.AyT = (self.A * self.y[:, None]).T.copy()   # columns y_i a_i
        self.n = len(self.y)

    def grad(self, x):
        m = x @ self.AyT                                   # margins y_i a_i.x, (..., n)
        with np.errstate(over="ignore"):
            s = 1.0 / (1.0 + np.exp(m))                    # sigmoid(-margin)
        return -(s @ self.AyT.T) / self.n + self.mu * x

    def f(self, x):
        m = x @ self.AyT
        return np.logaddexp(0.0, -m).mean(axis=-1) + 0.5 * self.mu * np.sum(x * x, axis=-1)


def t3_sign_mean(y):
    """E sign(y + T) = 2 F_3(y) - 1 for T ~ Student-t(3), in closed form."""
    r3 = math.sqrt(3.0)
    return (2.0 / math.pi) * (np.arctan(y / r3) + r3 * y / (3.0 + y * y))


# ---- the methods: one discrete step, the SDE's drift and one Euler step ----

class Method:
    def __init__(self, p, obj):
        self.p, self.obj = p, obj
        self.sig = np.asarray(p["sigma"], dtype=float)
        self.N, self.d = p["N"], p["d"]

    def drift(self, x):                    # b(x); DSGD and DCSGD: -grad f
        return -self.obj.grad(x)


class DSGD(Method):
    def __init__(self, p, obj):
        super().__init__(p, obj)
        self.c = math.sqrt(np.sum(self.sig ** 2)) / self.N   # S = c I

    def step(self, rng, x, eta):
        z = rng.standard_normal((x.shape[0], self.N, self.d)) * self.sig[:, None]
        return x - eta * (self.obj.grad(x) + z.mean(axis=1))

    def euler(self, rng, x, eta, h):
        return x - h * self.obj.grad(x) + math.sqrt(eta * h) * self.c * \
            rng.standard_normal(x.shape)


class DCSGD(Method):
    """rand-k per agent: keep k of d coordinates chosen uniformly, scale by d/k
    (omega = d/k - 1). The SDE's covariance (docs/math/dcsgd.md, equal compressors):
    Sigma = (1/N) [Diag(D) - c g g^T], D_j = (1 + omega) vbar + a g_j^2,
    a = omega d/(d-1), c = omega/(d-1), vbar = mean_i sigma_i^2."""

    def __init__(self, p, obj):
        super().__init__(p, obj)
        self.k = p["k"]
        om = self.d / self.k - 1.0
        self.a = om * self.d / (self.d - 1.0)
        self.cc = om / (self.d - 1.0)
        self.v0 = (1.0 + om) * np.mean(self.sig ** 2)

    def step(self, rng, x, eta):
        M = x.shape[0]
        v = self.obj.grad(x)[:, None, :] + \
            rng.standard_normal((M, self.N, self.d)) * self.sig[:, None]
        keys = rng.random((M, self.N, self.d))
        kth = np.partition(keys, self.k - 1, axis=-1)[..., self.k - 1:self.k]
        msg = np.where(keys <= kth, v, 0.0) * (self.d / self.k)   # the k smallest keys kept
        return x - eta * msg.mean(axis=1)

    def euler(self, rng, x, eta, h):
        # A square root of Diag(D) - c g g^T: with u = g/sqrt(D), P = u u^T/|u|^2 and
        # rho = c |u|^2 < 1, (I - gam P)^2 = I - rho P for gam = 1 - sqrt(1 - rho), so
        # S = sqrt(D) (I - gam P) gives S S^T = sqrt(D) (I - c u u^T) sqrt(D).
        g = self.obj.grad(x)
        D = self.v0 + self.a * g * g
        sD = np.sqrt(D)
        u = g / sD
        uu = np.sum(u * u, axis=-1, keepdims=True)
        gam = 1.0 - np.sqrt(np.maximum(1.0 - self.cc * uu, 0.0))
        xi = rng.standard_normal(x.shape)
        proj = np.sum(u * xi, axis=-1, keepdims=True) / np.where(uu > 0, uu, 1.0)
        return x - h * g + math.sqrt(eta * h / self.N) * sD * (xi - gam * proj * u)


class DSignSGD(Method):
    """Student-t(3) noise with scale sigma_i: m_ij = E sign(g_j + sigma_i T) = 2F_3(g_j/sigma_i) - 1,
    drift b = -(1/N) sum_i m_i, diagonal diffusion D = (1/N^2) sum_i (1 - m_i^2)."""

    def step(self, rng, x, eta):
        t = rng.standard_t(self.p["nu"], (x.shape[0], self.N, self.d)) * self.sig[:, None]
        return x - eta * np.sign(self.obj.grad(x)[:, None, :] + t).mean(axis=1)

    def means(self, x):
        return t3_sign_mean(self.obj.grad(x)[..., None, :] / self.sig[:, None])

    def drift(self, x):
        return -self.means(x).mean(axis=-2)

    def euler(self, rng, x, eta, h):
        m = self.means(x)
        D = np.sum(1.0 - m * m, axis=-2) / (self.N * self.N)
        return x - h * m.mean(axis=-2) + np.sqrt(eta * h * D) * rng.standard_normal(x.shape)


def build(name):
    p = STUDIES[name]
    obj = Quartic(p["d"]) if p["objective"] == "quartic" else Logistic(IRIS, p["l2"])
    cls = {"dsgd": DSGD, "dcsgd": DCSGD, "dsignsgd": DSignSGD}[p["method"]]
    if p["method"] == "dsignsgd" and p.get("nu") != 3.0:
        raise SystemExit("numpy_weak: the closed-form sign mean is for nu = 3 only")
    return p, obj, cls(p, obj)


def study(name, M, seed=1, chunk=20000):
    p, obj, meth = build(name)
    rng = np.random.default_rng(seed)
    x0 = np.full(p["d"], p["x0"])
    rows = []
    t0 = time.perf_counter()
    for eta in p["eta"]:
        K = int(round(p["T"] / eta))
        h = eta / p["m"]
        fd, fs = [], []
        for start in range(0, M, chunk):
            b = min(chunk, M - start)
            x = np.tile(x0, (b, 1))
            for _ in range(K):
                x = meth.step(rng, x, eta)
            fd.append(obj.f(x))
            X = np.tile(x0, (b, 1))
            for _ in range(K * p["m"]):
                X = meth.euler(rng, X, eta, h)
            fs.append(obj.f(X))
        fd, fs = np.concatenate(fd), np.concatenate(fs)
        xb = x0[None, :].copy()            # noise-free references
        for _ in range(K):
            xb = xb + eta * meth.drift(xb)
        y = x0[None, :].copy()
        for _ in range(K * p["m"]):
            y = y + h * meth.drift(y)
        rows.append(weakstat.row(eta, float(fd.mean()), float(fd.std(ddof=1) / math.sqrt(M)),
                                 float(obj.f(xb)[0]), float(fs.mean()),
                                 float(fs.std(ddof=1) / math.sqrt(M)), float(obj.f(y)[0])))
    stat = weakstat.fluctuation(rows)
    return rows, stat, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", choices=sorted(STUDIES), required=True)
    ap.add_argument("--M", type=float, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=20000)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    M = int(a.M)
    rows, st, secs = study(a.study, M, a.seed, a.chunk)
    for r in rows:
        print("eta=%g Ef_disc=%.6g+-%.2g Ef_sde=%.6g+-%.2g F_disc=%.6g F_sde=%.6g" % (
            r["eta"], r["disc_mean"], r["disc_se"], r["sde_mean"], r["sde_se"], r["fl_disc"],
            r["fl_sde"]))
    print("study=%s paths=%d seconds=%.3f L=%.4g a/L=%.4g CI=[%.4g, %.4g] halfwidth=%.4g "
          "nominal=%.4g %s" % (a.study, M, secs, st["L"], st["rel"], st["rel_ci"][0],
                               st["rel_ci"][1], st["halfwidth"], st["halfwidth_nominal"],
                               st["verdict"]))
    if a.json:
        doc = {"study": a.study, "paths": M, "seed": a.seed, "seconds": secs, "rows": rows,
               "fluctuation": st}
        if a.json == "-":
            json.dump(doc, sys.stdout)
        else:
            with open(a.json, "w") as f:
                json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
