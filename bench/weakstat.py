"""sdv's fluctuation statistic, recomputed in Python from per-rung summaries.

Used by bench/numpy_weak.py (so that the NumPy studies report what `sdv weak` reports) and by
bench/time_to_verdict.py (to recompute sdv's own numbers from its JSON rows and check that the
two agree). It follows lib/weak/weak.c (make_row, fluct_test) and lib/weak/linfit.c
(sdv_weak_polyfit), docs/math/weak.md "The fluctuation statistic":

  per rung:  F_disc = (E g(x_k) - g(xbar_k)) / eta
             F_sde  = (E g(X_t) - g(x~(t))) / eta                       (uncoupled)
                    = F_disc - (err - (g(xbar_k) - g(x~(t)))) / eta       (coupled: err is the
                                                                          mean of the per-path
                                                                          differences)
             se(D)  = se(err) / eta,  se(err) = sqrt(se_disc^2 + se_sde^2) uncoupled
  fit        D = F_disc - F_sde = a + b eta (3 rungs; + c eta^2 from 4 rungs) by weighted least
             squares, weights 1/se(D)^2, covariance multiplied by chi2/dof when that exceeds 1;
             L = the intercept of the same fit of F_disc alone (weights eta^2/se_disc^2)
  CI         a +- z se(a), z = the normal critical value at a_test = alpha / (2 n_cells)
             (Bonferroni over the order and fluctuation tests; alpha = 0.01, one cell: z = 2.807)
  relative   a/L with the CI a/L +- z (se(a) + |a/L| se(L)) / |L| (L's own uncertainty
             included, whatever the correlation of a and L)

`halfwidth` is that half-width as sdv reports it (after the chi-square inflation);
`halfwidth_nominal` is the same without the inflation, z se0(a)/|L| with se0 from the weights
alone: it scales exactly as 1/sqrt(paths), so it is what the time-to-verdict benchmark
extrapolates.
"""
import math
from statistics import NormalDist

import numpy as np


def z_critical(alpha):
    """Two-sided normal critical value (sdv_z_critical)."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def row(eta, disc_mean, disc_se, disc_ref, sde_mean, sde_se, sde_ref, err=None, err_se=None):
    """One rung. err/err_se: the coupled difference's mean and standard error, or None
    (independent samples: the difference of the means)."""
    coupled = err is not None
    if not coupled:
        err = disc_mean - sde_mean
        err_se = math.hypot(disc_se, sde_se)
    fl_disc = (disc_mean - disc_ref) / eta
    if coupled:
        fl_sde = fl_disc - (err - (disc_ref - sde_ref)) / eta
    else:
        fl_sde = (sde_mean - sde_ref) / eta
    unc = math.hypot(disc_se, sde_se)
    return {"eta": eta, "disc_mean": disc_mean, "disc_se": disc_se, "disc_ref": disc_ref,
            "sde_mean": sde_mean, "sde_se": sde_se, "sde_ref": sde_ref, "err": err,
            "err_se": err_se, "coupled": coupled, "fl_disc": fl_disc, "fl_sde": fl_sde,
            "fl_se": err_se / eta,
            "vr": (unc / err_se) ** 2 if coupled and err_se > 0 else float("nan")}


def rows_from_sdv_json(doc, obs_index=0):
    """The rungs of `sdv weak --json` for its first (time, observable) cell."""
    out = []
    first = doc["rows"][0]
    for r in doc["rows"]:
        if r["t"] != first["t"] or r["observable"] != first["observable"]:
            continue
        d, s, e = r["discrete"], r["sde"], r["error"]
        if e["coupled"]:
            out.append(row(r["eta"], d["mean"], d["se"], d["noise_free"], s["mean"], s["se"],
                           s["noise_free"], e["value"], e["se"]))
        else:
            out.append(row(r["eta"], d["mean"], d["se"], d["noise_free"], s["mean"], s["se"],
                           s["noise_free"]))
    return out


def polyfit(x, y, se, deg):
    """Weighted least squares y = c0 + c1 x (+ c2 x^2): coefficients, their standard errors
    after the chi2/dof inflation (when > 1), before it, chi2 and dof."""
    x, y, se = (np.asarray(v, dtype=float) for v in (x, y, se))
    X = np.vander(x, deg + 1, increasing=True)
    w = 1.0 / se ** 2
    XtW = X.T * w
    cov = np.linalg.inv(XtW @ X)
    c = cov @ (XtW @ y)
    r = y - X @ c
    chi2 = float(np.sum(w * r * r))
    dof = len(x) - (deg + 1)
    scale = chi2 / dof if dof > 0 and chi2 / dof > 1.0 else 1.0
    s0 = np.sqrt(np.diag(cov))
    return c, s0 * math.sqrt(scale), s0, chi2, dof


def fluctuation(rows, alpha=0.01, ncells=1):
    """The fluctuation test of one (time, observable) cell over the ladder (Monte Carlo on at
    least one side). Returns a dict with a, se_a, L, se_L, rel, rel_ci, halfwidth,
    halfwidth_nominal, resolved, verdict (the *_nominal values before the chi-square
    inflation)."""
    rows = [r for r in rows if math.isfinite(r["fl_disc"]) and math.isfinite(r["fl_sde"])]
    rows = sorted(rows, key=lambda r: -r["eta"])
    n = len(rows)
    eta = [r["eta"] for r in rows]
    y = [r["fl_disc"] - r["fl_sde"] for r in rows]
    se = [r["fl_se"] for r in rows]
    y2 = [r["fl_disc"] for r in rows]
    se2 = [r["disc_se"] / r["eta"] for r in rows]
    for k in range(n):  # the floor of weak.c: an exact side contributes no noise
        fl = 1e-12 * (abs(y[k]) + abs(y2[k]) + 1e-300)
        se[k] = max(se[k], fl)
        se2[k] = max(se2[k], fl)
    deg = 2 if n >= 4 else 1
    c, sa, sa0, chi2, dof = polyfit(eta, y, se, deg)
    cl, sl, sl0, _, _ = polyfit(eta, y2, se2, deg)
    z = z_critical(alpha / (2 * ncells))
    a, L = float(c[0]), float(cl[0])
    tol = z * float(sa[0])
    resolved = bool(abs(L) > z * float(sl[0]))
    if not resolved:
        verdict = "INCONCLUSIVE (more paths)"
    elif abs(a) <= tol:
        verdict = "PASS"
    elif n == 2:
        verdict = "INCONCLUSIVE (refine the ladder)"
    elif n == 3:
        cq, sq, _, _, _ = polyfit(eta, y, se, 2)
        verdict = ("INCONCLUSIVE (refine the ladder)" if abs(cq[0]) <= z * float(sq[0])
                   else "FAIL")
    else:
        verdict = "FAIL"
    # The interval of a/L (weak.c): the intercept's over |L|, widened by |a/L| times L's own
    # interval (a bound whatever the correlation of a and L).
    rel = a / L
    half = (tol + z * abs(rel) * float(sl[0])) / abs(L)
    half0 = z * (float(sa0[0]) + abs(rel) * float(sl0[0])) / abs(L)
    return {"a": a, "se_a": float(sa[0]), "se_a_nominal": float(sa0[0]), "L": L,
            "se_L": float(sl[0]), "se_L_nominal": float(sl0[0]), "z": z, "chi2": chi2,
            "dof": dof, "rel": rel,
            "rel_ci": [rel - half, rel + half], "halfwidth": half,
            "halfwidth_nominal": half0, "resolved": resolved,
            "verdict": verdict}
