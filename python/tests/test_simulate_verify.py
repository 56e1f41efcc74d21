"""sdv.simulate (the typed simulate) and sdv.verify (shells out to `sdv verify`). Run by
`meson test` (test 'python') with SDV_EXE=BUILD/verify/sdv."""
import csv
import io
import os
import subprocess

import numpy as np
import pytest

import sdv

SDV_EXE = os.environ.get("SDV_EXE", "sdv")


def command_rows(args):
    out = subprocess.run([SDV_EXE, "simulate"] + args + ["--csv", "-"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    # The CSV goes to standard output, followed by the command's printed summary.
    lines = [ln for ln in out.stdout.splitlines()
             if ln.startswith(("side,step,", "discrete,", "sde,"))]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


@pytest.mark.parametrize("exact", [True, False])
def test_simulate_identical_to_command(exact):
    """Monte Carlo (DCSGD + QSGD) and exact (DSGD on a quadratic) sides: the rows and numbers
    of `sdv simulate --csv`, bit for bit."""
    if exact:
        kw = dict(method="dsgd", dim=2, agents=2, objective="quadratic:lam=1,2", sigma=[1, 2],
                  x0=[1, -1], eta=0.1, seed=4)
        args = ["--method", "dsgd", "--dim", "2", "--agents", "2", "--objective",
                "quadratic:lam=1,2", "--sigma", "1,2", "--x0", "1,-1", "--eta", "0.1",
                "--seed", "4", "--T", "2"]
        r = sdv.simulate(sdv.Model(**kw), T=2)
        assert r.exact == {"discrete": True, "sde": True}
    else:
        kw = dict(method="dcsgd", dim=2, agents=2, compressor="qsgd:s=1", objective="quartic",
                  sigma=[1, 2], x0=[1, -1], eta=0.1, seed=4)
        args = ["--method", "dcsgd", "--dim", "2", "--agents", "2", "--compressor",
                "qsgd:s=1", "--objective", "quartic", "--sigma", "1,2", "--x0", "1,-1",
                "--eta", "0.1", "--seed", "4", "--T", "1", "--paths", "500", "--every", "2",
                "--threads", "2"]
        r = sdv.simulate(sdv.Model(**kw), T=1, paths=500, every=2, threads=2)
        assert r.exact == {"discrete": False, "sde": False}
    rows = command_rows(args)
    tab = r.table
    assert len(rows) == len(tab["mean"])
    for k, row in enumerate(rows):
        assert row["side"] == tab["side"][k] and row["observable"] == tab["observable"][k]
        assert int(row["step"]) == tab["step"][k]
        assert float(row["mean"]) == tab["mean"][k]
        assert float(row["se"]) == tab["se"][k]
    t, m, se = r.trajectory("sde", "f")
    assert t[0] == 0 and len(t) == len(m) == len(se)


def test_minibatch_identical_to_command():
    """Minibatch noise on real data with label-skewed shards: the typed model (minibatch=True,
    sigma=0) gives the numbers of `sdv simulate --noise minibatch --shards label-skew`."""
    root = os.environ.get("SDV_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    obj = "least-squares:data=%s/data/wine.csv" % root
    kw = dict(method="dcsgd", dim=14, agents=3, batch=4, eta=0.02, objective=obj,
              compressor="rand-k:k=3", x0=0, minibatch=True, sigma=0, shards="label-skew")
    args = ["--method", "dcsgd", "--dim", "14", "--agents", "3", "--batch", "4", "--eta",
            "0.02", "--objective", obj, "--compressor", "rand-k:k=3", "--x0", "0", "--noise",
            "minibatch", "--shards", "label-skew", "--T", "0.2", "--paths", "200", "--every",
            "5", "--threads", "2", "--no-exact"]
    r = sdv.simulate(sdv.Model(**kw), T=0.2, paths=200, every=5, threads=2, exact=False)
    rows = command_rows(args)
    tab = r.table
    assert len(rows) == len(tab["mean"])
    for k, row in enumerate(rows):
        assert float(row["mean"]) == tab["mean"][k] and float(row["se"]) == tab["se"][k]
    with pytest.raises(sdv.InvalidArgument, match="shards = 'label-skew'"):
        sdv.Model(**dict(kw, minibatch=False))


def test_simulate_python_compressor_and_errors():
    from test_components import PyRandK  # noqa: F401  (registers py-rand-k)
    kw = dict(method="dcsgd", dim=4, agents=2, objective="quartic", x0=1.0, seed=2,
              literal=True)
    c = sdv.simulate(sdv.Model(compressor="rand-k:k=2", **kw), T=0.5, paths=300, exact=False)
    p = sdv.simulate(sdv.Model(compressor="py-rand-k:k=2", **kw), T=0.5, paths=300,
                     exact=False)
    assert np.array_equal(c.table["mean"], p.table["mean"])
    with pytest.raises(sdv.InvalidArgument, match="every"):
        sdv.simulate(sdv.Model(), T=1, every=1000)
    with pytest.raises(sdv.NotSupported):  # no SDE under infinite-variance noise
        sdv.simulate(sdv.Model(noise="cauchy"), T=1)


def test_verify_shells_out(tmp_path):
    r = sdv.verify(only=["dsgd-order", "conformance"], out=tmp_path, exe=SDV_EXE)
    assert r.passed and r.verdicts == {"dsgd-order": "PASS", "conformance": "PASS"}
    assert r.summary["selected"] == 2
    assert "eta" in r.csv("dsgd-order")
    with pytest.raises(sdv.InvalidArgument, match="unknown check id"):
        sdv.verify(only="no-such-check", out=tmp_path, exe=SDV_EXE)
