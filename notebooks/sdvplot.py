"""Shared helpers of the sdv notebooks: read a results folder, fit log-log slopes, label plots.

The results folder is $SDV_RESULTS, or notebooks/results next to this file. It holds what
`sdv verify --out DIR` writes (DIR/<check-id>.csv, DIR/summary.json) and the `sdv simulate`
runs that scripts/notebooks.sh adds (DIR/sim-*.csv, indexed in DIR/simulations.csv).

A check that is not in the folder is reported as a markdown note and its plots are skipped
(a small results set is allowed to be partial). A file that IS there but does not have the
expected shape raises: a notebook never draws a plot from data it could not read.
"""
import csv
import json
import math
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

# Moderate resolution keeps the notebooks (PNG outputs embedded) well under 1 MB each.
matplotlib.rcParams.update({
    "figure.dpi": 64,
    "savefig.dpi": 64,
    "figure.figsize": (7.0, 4.2),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "axes.titlesize": 10,
})

Z95 = 1.959963984540054  # two-sided 95% normal quantile


class MalformedData(ValueError):
    """A results file exists but cannot be read as the notebook expects."""


def results_dir():
    env = os.environ.get("SDV_RESULTS")
    return Path(env) if env else Path(__file__).resolve().parent / "results"


def note(text):
    display(Markdown(text))


def missing(what):
    note(f"> **{what} not in this results set**; its plots are skipped.")


class Table:
    """Columns of one CSV file: strings, converted to float on request."""

    def __init__(self, path, header, rows):
        self.path, self.header, self.rows = path, header, rows

    def __len__(self):
        return len(self.rows)

    def _col(self, name):
        try:
            return self.header.index(name)
        except ValueError:
            raise MalformedData(f"{self.path}: no column '{name}' (header: {self.header})")

    def str(self, name):
        i = self._col(name)
        return np.array([r[i] for r in self.rows], dtype=object)

    def num(self, name):
        """Floats of a column; 'nan', 'inf' and empty fields become NaN/inf/NaN."""
        i = self._col(name)
        out = np.empty(len(self.rows))
        for k, r in enumerate(self.rows):
            v = r[i].strip()
            try:
                out[k] = float(v) if v else math.nan
            except ValueError:
                raise MalformedData(f"{self.path}: row {k + 2}, column '{name}': "
                                    f"'{v}' is not a number")
        return out

    def where(self, **eq):
        """Rows whose string columns equal the given values (column names with '-' spelled
        '_' are not supported: pass a dict with ** instead)."""
        idx = [self._col(k) for k in eq]
        vals = list(eq.values())
        rows = [r for r in self.rows if all(r[i] == v for i, v in zip(idx, vals))]
        return Table(self.path, self.header, rows)

    def need(self, what):
        """Raises unless the table has rows (what: a description for the message)."""
        if not self.rows:
            raise MalformedData(f"{self.path}: no rows for {what}")
        return self


def read_csv(path, required=()):
    path = Path(path)
    with open(path, newline="") as fp:
        lines = list(csv.reader(fp))
    if not lines:
        raise MalformedData(f"{path}: empty file")
    header = [h.strip() for h in lines[0]]
    rows = lines[1:]
    for k, r in enumerate(rows):
        if len(r) != len(header):
            raise MalformedData(f"{path}: line {k + 2} has {len(r)} fields, the header has "
                                f"{len(header)} (an unquoted comma in a label?)")
    if not rows:
        raise MalformedData(f"{path}: header only, no rows")
    t = Table(path, header, rows)
    for c in required:
        t._col(c)
    return t


def check(check_id, required=()):
    """The CSV of a verify check, or None (with a note) when the check is not in the set."""
    path = results_dir() / f"{check_id}.csv"
    if not path.exists():
        missing(f"check `{check_id}`")
        return None
    return read_csv(path, required)


_summary_cache = {}


def summary():
    """summary.json's checks by id ({} with a note when the file is missing)."""
    path = results_dir() / "summary.json"
    key = str(path)
    if key not in _summary_cache:
        if not path.exists():
            missing("summary.json")
            _summary_cache[key] = {}
        else:
            with open(path) as fp:
                try:
                    s = json.load(fp)
                    _summary_cache[key] = {c["id"]: c for c in s["checks"]}
                except (ValueError, KeyError, TypeError) as e:
                    raise MalformedData(f"{path}: {e}")
    return _summary_cache[key]


def verdict(check_id):
    """One line: the check's verdict and whether its negative control was rejected."""
    c = summary().get(check_id)
    if not c:
        return f"{check_id}: no verdict in summary.json"
    ctl = c.get("control") or {}
    rej = ctl.get("rejected")
    return (f"{check_id}: {c.get('verdict', '?')}; negative control "
            f"{'rejected' if rej else 'NOT rejected' if rej is not None else '?'}")


def show_verdict(check_id):
    c = summary().get(check_id)
    if not c:
        note(f"*{check_id}: no entry in summary.json.*")
        return
    ctl = c.get("control") or {}
    note(f"**{c['id']}** — {c.get('verdict', '?')}. *Claim:* {c.get('claim', '')}  \n"
         f"*Negative control:* {ctl.get('model', '')} — "
         f"{'rejected' if ctl.get('rejected') else 'NOT rejected'}.")


def simulations():
    """The index of sdv simulate runs (simulations.csv), or None with a note."""
    path = results_dir() / "simulations.csv"
    if not path.exists():
        missing("`simulations.csv` (the sdv simulate runs)")
        return None
    return read_csv(path, ("name", "group", "method", "x", "file"))


def simulation(name):
    """Rows of one simulate run by its name in simulations.csv, or None (with a note)."""
    idx = simulations()
    if idx is None:
        return None
    sel = idx.where(name=name)
    if not len(sel):
        missing(f"simulation `{name}`")
        return None
    return read_csv(results_dir() / sel.str("file")[0],
                    ("side", "step", "t", "observable", "mean", "se", "exact"))


def trajectory(sim, side, observable):
    """(t, mean, se) of one side and observable of a simulate table, sorted by t."""
    s = sim.where(side=side, observable=observable).need(f"side {side}, observable {observable}")
    t = s.num("t")
    o = np.argsort(t)
    return t[o], s.num("mean")[o], s.num("se")[o]


def loglog_fit(x, y, se=None):
    """Least-squares line log|y| = a + b log x (weights 1/(se/|y|)^2 when se is given and
    positive). Returns slope b, its standard error (NaN with 2 points) and a."""
    x, y = np.asarray(x, float), np.abs(np.asarray(y, float))
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(lx) < 2:
        return math.nan, math.nan, math.nan
    w = np.ones_like(lx)
    if se is not None:
        rel = np.asarray(se, float)[ok] / y[ok]
        if np.all(rel > 0) and np.all(np.isfinite(rel)):
            w = 1.0 / rel**2
    W = np.sum(w)
    mx, my = np.sum(w * lx) / W, np.sum(w * ly) / W
    sxx = np.sum(w * (lx - mx) ** 2)
    b = np.sum(w * (lx - mx) * (ly - my)) / sxx
    a = my - b * mx
    if len(lx) > 2:
        res = ly - a - b * lx
        s2 = np.sum(w * res**2) / (len(lx) - 2)
        sb = math.sqrt(s2 / sxx)
    else:
        sb = math.nan
    return b, sb, a


def draw_fit(ax, x, b, a, label_prefix="fit", **kw):
    """Draws the fitted line exp(a) x^b over x's range and labels it with the slope."""
    xs = np.geomspace(np.min(x), np.max(x), 20)
    ax.plot(xs, np.exp(a) * xs**b, "--", lw=1, label=f"{label_prefix}: slope {b:.3f}", **kw)


def annotate_slope(ax, text, loc=(0.03, 0.95)):
    ax.text(*loc, text, transform=ax.transAxes, va="top", fontsize=9,
            bbox=dict(boxstyle="round", fc="white", alpha=0.85))


def ci_band(ax, x, mean, se, label, color=None, z=Z95, marker=None, **kw):
    """Line with a shaded z*se band (zero width where exact)."""
    line, = ax.plot(x, mean, label=label, color=color, marker=marker, ms=3, **kw)
    se = np.nan_to_num(np.asarray(se, float))
    if np.any(se > 0):
        ax.fill_between(x, mean - z * se, mean + z * se, color=line.get_color(), alpha=0.25,
                        lw=0)
    return line


def tolerance_plot(ax, t, title):
    """Long-format rows (quantity, measured, predicted, tolerance[, se]) of a check drawn as
    (measured - predicted)/tolerance: the claim passes a row inside [-1, 1]; a control row must
    fall outside. Rows without a tolerance are skipped."""
    q = t.str("quantity")
    m, p, tol = t.num("measured"), t.num("predicted"), t.num("tolerance")
    se = t.num("se") if "se" in t.header else np.zeros(len(t))
    part = t.str("part") if "part" in t.header else np.array(
        ["control" if "control" in s else "claim" for s in q], dtype=object)
    labels = t.str("config") if "config" in t.header else t.str("label")
    ok = np.isfinite(tol) & (tol > 0) & np.isfinite(p)
    y = np.arange(int(np.sum(ok)))[::-1]
    d = (m[ok] - p[ok]) / tol[ok]
    err = Z95 * np.nan_to_num(se[ok]) / tol[ok]
    ctl = np.array(["control" in s for s in part[ok]])
    ax.axvspan(-1, 1, color="tab:green", alpha=0.12, label="within tolerance (claim passes)")
    ax.errorbar(d[~ctl], y[~ctl], xerr=err[~ctl], fmt="o", color="tab:blue", ms=4,
                label="claim row (95% CI where Monte Carlo)")
    ax.errorbar(d[ctl], y[ctl], xerr=err[ctl], fmt="s", color="tab:red", ms=4,
                label="negative control (must be outside)")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{a} {b}" for a, b in zip(labels[ok], q[ok])], fontsize=7)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("(measured - predicted) / tolerance  [symlog]")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / max(len(y), 4)), ncol=3,
              fontsize=7)
