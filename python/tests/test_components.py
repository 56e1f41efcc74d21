"""Components written in Python (issue 19, part 3): a compressor and a noise law as Python
classes, registered with sdv.register and used by name. Run by `meson test` (test 'python')."""
import math
import time

import numpy as np
import pytest

import sdv


class PyRandK:
    """rand-k written in Python: keep k random coordinates, scaled by d/k."""
    name = "py-rand-k"

    def __init__(self, dim, k):
        if not 1 <= k <= dim:
            raise ValueError("k = %r must satisfy 1 <= k <= d = %d" % (k, dim))
        self.d, self.k = dim, k

    def omega(self):
        return self.d / self.k - 1.0

    def apply(self, v, stream):
        # sdv's rand-k (lib/compressor/rand_k.c): the k bounded draws first, then a partial
        # Fisher-Yates shuffle of the identity; the same words give the same subset.
        d, k = self.d, self.k
        partner = [i + stream.below(d - i) for i in range(k)]
        perm, out, scale = {}, np.zeros(d), d / k
        for i, j in enumerate(partner):
            kept = perm.get(j, j)
            perm[j] = perm.get(i, i)
            out[kept] = scale * v[kept]
        return out

    def linear(self):  # Phi(v) = a Diag(v^2) - c v v^T
        if self.d == 1:
            return 0.0, 0.0
        om = self.omega()
        return om * self.d / (self.d - 1), om / (self.d - 1)


class PyGaussian:
    """N(0, 1) written in Python."""
    name = "py-gaussian"

    def sample(self, stream):
        return stream.normal()

    def sample_n(self, stream, n):
        return stream.normals(n)

    def sample_coupled(self, stream, n):  # the coupled normal of a Gaussian draw is itself
        x = stream.normals(n)
        return x, x

    def cdf(self, y):
        return 0.5 * math.erfc(-y * math.sqrt(0.5))

    def sign_mean(self, y):
        return math.erf(y * math.sqrt(0.5))

    def sign_tail(self, y):
        return math.erfc(abs(y) * math.sqrt(0.5))

    def density0(self):
        return 1.0 / math.sqrt(2.0 * math.pi)

    def variance(self):
        return 1.0

    def batch_scale(self, batch):
        return 1.0 / math.sqrt(batch)


sdv.register(PyRandK)
sdv.register(PyGaussian)

DCSGD = dict(method="dcsgd", dim=4, agents=2, sigma=[1, 2], objective="quartic",
             x0=[1, -1, 0.5, 2], seed=3, literal=True)
STUDY = dict(eta=[0.1, 0.05], T=0.5, paths=2000, exact=False)


def same_numbers(a, b):
    for col in ("disc_mean", "disc_se", "sde_mean", "sde_se", "error", "error_se", "vr"):
        assert np.array_equal(a.table[col], b.table[col]), col
    assert np.array_equal(a.order, b.order, equal_nan=True) and a.verdict == b.verdict


def test_registered_and_listed():
    assert "py-rand-k" in sdv.list("compressors") and "py-gaussian" in sdv.list("noise")
    help_ = dict(sdv.list()["compressors"])["py-rand-k"]
    assert help_.startswith("[Python] rand-k written in Python")


def test_python_rand_k_bit_identical_to_c():
    """A weak study of DCSGD with rand-k written in Python gives the numbers of sdv's rand-k,
    bit for bit (literal=True: the built-in's exact shortcut draws other numbers, same law)."""
    c = sdv.weak(sdv.Model(compressor="rand-k:k=2", **DCSGD), threads=1, **STUDY)
    p = sdv.weak(sdv.Model(compressor="py-rand-k:k=2", **DCSGD), threads=1, **STUDY)
    same_numbers(c, p)
    assert p.coupled


def test_thread_count_independent():
    """Randomness comes only from the stream handed in: 2 threads give the 1-thread numbers."""
    m = sdv.Model(compressor="py-rand-k:k=1", **DCSGD)
    kw = dict(STUDY, paths=600)
    same_numbers(sdv.weak(m, threads=1, **kw), sdv.weak(m, threads=2, **kw))


def test_python_noise_law():
    """A Gaussian written in Python: DSGD's weak study is the built-in's bit for bit; for
    DSignSGD the discrete side is (its SDE uses sign_tail, computed by another formula)."""
    kw = dict(method="dsgd", dim=3, agents=2, sigma=[1, 2], objective="quartic",
              x0=[1, -1, 0.5], seed=4, literal=True)
    same_numbers(sdv.weak(sdv.Model(noise="gaussian", **kw), threads=1, **STUDY),
                 sdv.weak(sdv.Model(noise="py-gaussian", **kw), threads=1, **STUDY))
    kw["method"] = "dsignsgd"
    st = dict(STUDY, paths=300)
    c = sdv.weak(sdv.Model(noise="gaussian", **kw), threads=1, **st)
    p = sdv.weak(sdv.Model(noise="py-gaussian", **kw), threads=1, **st)
    assert np.array_equal(c.table["disc_mean"], p.table["disc_mean"])
    np.testing.assert_allclose(p.table["sde_mean"], c.table["sde_mean"], rtol=1e-12)


class Biased(PyRandK):
    """rand-k with a forgotten rescaling: E C(v) = 1.1 v."""
    name = "py-rand-k-biased"

    def apply(self, v, stream):
        return 1.1 * super().apply(v, stream)


class Understated(PyRandK):
    """rand-k declaring half its omega."""
    name = "py-rand-k-understated"

    def omega(self):
        return 0.5 * super().omega()

    linear = None  # no closed form: the sampled omega test must catch it


sdv.register(Biased)
sdv.register(Understated)


def test_conformance():
    """sdv's conformance check (sdv compressor-check) passes the Python rand-k with the same
    statistics as the C one (same draws), and fails a biased one and an understated omega."""
    c = sdv.compressor_check("rand-k:k=2", dim=8, samples=4000)
    p = sdv.compressor_check("py-rand-k:k=2", dim=8, samples=4000)
    assert c.verdict == p.verdict == "PASS"
    assert np.array_equal(c.rows["value"], p.rows["value"])
    assert "covariance" in list(p.rows["what"])  # linear() declared: exact covariance tested
    b = sdv.compressor_check("py-rand-k-biased:k=2", dim=8, samples=4000)
    assert b.verdict == "FAIL"
    assert not all(b.rows["pass"][np.asarray(b.rows["what"]) == "bias"])
    u = sdv.compressor_check("py-rand-k-understated:k=2", dim=8, samples=4000)
    assert u.verdict == "FAIL"
    assert not all(u.rows["pass"][np.asarray(u.rows["what"]) == "omega"])


def test_errors_from_python_components():
    with pytest.raises(sdv.InvalidArgument, match=r"py-rand-k: ValueError: k = 9 must"):
        sdv.Model(method="dcsgd", dim=4, compressor="py-rand-k:k=9")
    with pytest.raises(sdv.InvalidArgument, match="unexpected keyword argument 'kk'"):
        sdv.Model(method="dcsgd", dim=4, compressor="py-rand-k:k=1:kk=2")
    with pytest.raises(sdv.InvalidArgument, match="already registered"):  # a built-in
        sdv.register(type("X", (PyRandK,), {"name": "rand-k"}))
    with pytest.raises(sdv.InvalidArgument, match="lacks method"):
        sdv.register(type("Y", (), {"name": "y", "apply": lambda s, v, t: v}))


class Raising(PyRandK):
    name = "py-raising"
    calls = 0

    def apply(self, v, stream):
        Raising.calls += 1
        if Raising.calls > 100:
            raise ZeroDivisionError("boom in apply")
        return super().apply(v, stream)


class WrongShape(PyRandK):
    name = "py-wrong-shape"

    def apply(self, v, stream):
        return v[:-1]


sdv.register(Raising)
sdv.register(WrongShape)


def test_exception_in_callback_stops_the_run():
    """An exception inside a Python component cancels the run and is raised by sdv.weak."""
    m = sdv.Model(compressor="py-raising:k=2", **DCSGD)
    t0 = time.time()
    with pytest.raises(ZeroDivisionError, match="boom"):
        sdv.weak(m, eta=[0.01, 0.005], T=1, paths=10**6, threads=1, exact=False)
    assert time.time() - t0 < 20  # cancelled, not run to the end (hours)
    m = sdv.Model(compressor="py-wrong-shape:k=2", **DCSGD)
    with pytest.raises(ValueError, match="apply must return 4 values"):
        sdv.weak(m, threads=1, **STUDY)
    with pytest.raises(ValueError, match="apply must return 8 values"):
        sdv.compressor_check("py-wrong-shape:k=2", dim=8, samples=100)


def test_register_again_replaces():
    class A(PyRandK):
        name = "py-again"

    class B(Biased):
        name = "py-again"

    sdv.register(A)
    assert sdv.compressor_check("py-again:k=2", dim=4, samples=2000).verdict == "PASS"
    sdv.register(B)
    assert sdv.compressor_check("py-again:k=2", dim=4, samples=2000).verdict == "FAIL"


def test_stream():
    a, b = sdv.Stream(7), sdv.Stream(7)
    assert [a.u64() for _ in range(3)] == [b.u64() for _ in range(3)]
    x = [a.normal() for _ in range(5)]
    assert np.array_equal(x, b.normals(5))
    u = a.uniforms(1000)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    assert all(0 <= a.below(3) < 3 for _ in range(100))
    assert sdv.Stream(7, path=1).u64() != sdv.Stream(7).u64()
    c, d = sdv.Stream(9), sdv.Stream(9)
    assert np.array_equal(c.uniforms(5), [d.uniform() for _ in range(5)])
    with pytest.raises(ValueError):
        a.below(0)


def test_ctrl_c_with_python_component():
    """Ctrl-C stops a study whose compressor is Python (the callbacks hold the GIL only while
    they run, so the main thread still sees the signal)."""
    import os
    import signal
    import subprocess
    import sys
    code = ("import sys, sdv, test_components\n"
            "m = sdv.Model(method='dcsgd', dim=4, agents=2, objective='quartic',"
            " compressor='py-rand-k:k=2')\n"
            "try:\n"
            "    sdv.weak(m, eta=[0.01, 0.005], T=5, paths=10**7, threads=2)\n"
            "except sdv.Interrupted as e:\n"
            "    print('interrupted', e.status); sys.exit(4)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__)) + os.pathsep + \
        env.get("PYTHONPATH", "")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env=env)
    time.sleep(2.0)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 4, out
    assert time.time() - t0 < 30


def test_class_stands_for_its_name():
    class Half(PyRandK):
        """rand-k with k = d/2, no parameters."""
        name = "py-half"

        def __init__(self, dim):
            super().__init__(dim, max(1, dim // 2))

    m = sdv.Model(method="dcsgd", dim=4, compressor=Half)  # registered on first use
    assert "compressor=py-half" in repr(m) and "py-half" in sdv.list("compressors")
    assert sdv.compressor_check(Half, dim=4, samples=2000).verdict == "PASS"
    assert sdv.Model(noise=PyGaussian).params["noise"] == "py-gaussian"
    assert sdv.Model(noise=[PyGaussian]).params["noise"] == ["py-gaussian"]
