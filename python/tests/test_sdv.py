"""pytest suite of the Python package (issue 19). Run by `meson test` (test 'python') with
PYTHONPATH=BUILD/python and SDV_EXE=BUILD/verify/sdv."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import sdv

SDV_EXE = os.environ.get("SDV_EXE", "sdv")


def test_list_and_model():
    assert sdv.list("methods")[:3] == ["dsgd", "dcsgd", "dsignsgd"]
    assert "rand-k" in sdv.list("compressors")
    m = sdv.Model(method="dcsgd", dim=3, agents=2, compressor="rand-k:k=1", sigma=[1, 2])
    assert "dcsgd dim=3 agents=2" in repr(m)


def test_done_when_one_liner():
    # The acceptance line: two exact rungs are INCONCLUSIVE by design.
    r = sdv.weak(sdv.Model(method="dsgd", dim=2), eta=[0.1, 0.05], T=1)
    assert r.verdict in ("PASS", "INCONCLUSIVE")
    assert r.table["eta"][0] == 0.1


def test_identical_to_command():
    """The same model and seed through Python and through `sdv weak` give the same numbers,
    bit for bit (JSON carries 17 significant digits)."""
    args = dict(method="dsignsgd", dim=2, agents=3, objective="quartic",
                noise="student-t:nu=3", sigma=[1, 0.5, 2], x0=[1, -0.5], seed=5)
    r = sdv.weak(sdv.Model(**args), eta=[0.1, 0.05], T=0.5, paths=3000, threads=2)
    out = subprocess.run(
        [SDV_EXE, "weak", "--method", "dsignsgd", "--dim", "2", "--agents", "3", "--objective",
         "quartic", "--noise", "student-t:nu=3", "--sigma", "1,0.5,2", "--x0", "1,-0.5",
         "--seed", "5", "--eta", "0.1,0.05", "--T", "0.5", "--paths", "3000", "--threads", "2",
         "--json", "-"], capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    j = json.loads(out.stdout[out.stdout.index("{"):])
    assert j["verdict"] == r.verdict
    for k, row in enumerate(j["rows"]):
        assert row["discrete"]["mean"] == r.table["disc_mean"][k]
        assert row["sde"]["mean"] == r.table["sde_mean"][k]
        assert row["error"]["value"] == r.table["error"][k]
        assert row["error"]["vr"] == r.table["vr"][k]
    assert j["order"]["slope"] == r.order[0]


def test_errors_map():
    with pytest.raises(sdv.InvalidArgument) as e:
        sdv.Model(eta=-1)
    assert "eta = -1" in str(e.value) and e.value.status == 1
    assert isinstance(e.value, ValueError)
    with pytest.raises(sdv.InvalidArgument, match="unknown"):
        sdv.Model(method="adam")
    with pytest.raises(sdv.InvalidArgument, match="sigma has 3 values"):
        sdv.Model(agents=2, sigma=[1, 2, 3])
    with pytest.raises(sdv.InvalidArgument, match="nu"):
        sdv.Model(noise="student-t:nu=-1")
    with pytest.raises(sdv.InvalidArgument):
        sdv.weak(sdv.Model(), eta=[0.1, 0.05], T=1, coupling="maybe")
    with pytest.raises(sdv.InvalidArgument, match="eta"):
        sdv.weak(sdv.Model(), eta=[0.1], T=1)  # one rung: the library names the field


class Quartic:
    """f(x) = sum x^4/4 + x^2/2, written in Python."""

    def value(self, x):
        return float(np.sum(0.25 * x**4 + 0.5 * x**2))

    def gradient(self, x):
        return x * x * x + x


def test_python_objective_weak_study():
    m = sdv.Model(dim=2, agents=2, objective=Quartic(), sigma=[2, 3], seed=77)
    r = sdv.weak(m, eta=[0.1, 0.05, 0.025, 0.0125], T=0.5, paths=4000, substeps=2,
                 integrator="euler", threads=1)
    assert r.coupled
    assert r.verdict == "PASS", r.summary
    assert all(c["rejected"] for c in r.controls)
    # A wrong SDE (20% too much diffusion variance) is rejected.
    w = sdv.Model(dim=2, agents=2, objective=Quartic(), sigma=[2, 3], seed=77,
                  diffusion_scale=1.2 ** 0.5)
    r2 = sdv.weak(m, eta=[0.1, 0.05, 0.025, 0.0125], T=0.5, paths=4000, substeps=2,
                  integrator="euler", threads=1, controls=False, sde=w)
    assert r2.tests[0]["diffusion_verdict"] == "FAIL"


def test_to_json_roundtrip():
    r = sdv.weak(sdv.Model(dim=2, objective="quartic"), eta=[0.1, 0.05], T=0.5, paths=500)
    d = json.loads(r.to_json())
    assert d["verdict"] == r.verdict and len(d["rows"]["eta"]) == 2


def test_ctrl_c_interrupts():
    """A long study in a child process; SIGINT after a moment: it stops promptly with
    sdv.Interrupted (a KeyboardInterrupt), not after the study."""
    code = ("import sdv, sys\n"
            "try:\n"
            "    sdv.weak(sdv.Model(dim=8, agents=4, objective='quartic'), eta=[0.01, 0.005],"
            " T=5, paths=10**7)\n"
            "except sdv.Interrupted as e:\n"
            "    print('interrupted', e.status); sys.exit(4)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env=os.environ)
    time.sleep(2.0)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 4, out
    assert "interrupted" in out
    assert time.time() - t0 < 30
