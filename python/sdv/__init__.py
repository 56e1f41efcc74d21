"""sdv from Python: a thin layer over libsdv's typed model API (docs in README.md, "Python").

    import sdv
    m = sdv.Model(method="dsgd", dim=2, agents=2, objective="quartic", sigma=[1, 1.5])
    r = sdv.weak(m, eta=[0.1, 0.05, 0.025], T=0.5, paths=20000)
    r.verdict, r.order, r.table          # "PASS", (slope, lo, hi), columns as NumPy arrays

    sdv.simulate(m, T=2, paths=4000)     # the rows of `sdv simulate --csv`
    sdv.verify(only=["dsgd-order"])      # shells out to `sdv verify --out DIR`

Every number comes from the C library (libsdv); Python only marshals arguments and results.
Components are given as sdv spec strings ("student-t:nu=3", "rand-k:k=2") or, for the
objective, as a Python object with value(x) and gradient(x) (a callback objective).
Errors raise sdv.Error subclasses carrying the library's message and status. Long runs release
the GIL and run in a worker thread; Ctrl-C (KeyboardInterrupt) cancels them cleanly.

Compressors and noise laws written in Python
--------------------------------------------
A class with a `name` and the methods below, registered with sdv.register(cls) (also a class
decorator), is a component like the built-ins: "NAME:KEY=VALUE..." works in sdv.Model,
sdv.weak and sdv.compressor_check, with the same conformance check, SDE and weak studies.
The spec's parameters are passed to the constructor as keyword arguments (an int, a float, a
list of floats for "a,b,c", else the text); the constructor validates them (raise ValueError
or TypeError: sdv reports sdv.InvalidArgument naming the component). One instance is made per
(class, dim, parameters) and shared by every thread and copy: methods must not keep state
between calls.

    class MyCompressor:                       # C: R^d -> R^d, unbiased
        name = "my-comp"                      # the spec name
        help = "one line for sdv.list()"      # optional (default: the docstring's first line)
        def __init__(self, dim, **params)     # "my-comp:k=2" -> MyCompressor(dim, k=2)
        def omega(self) -> float              # a bound: E||C(v)-v||^2 <= omega ||v||^2, all v
        def apply(self, v, stream) -> array   # C(v), shape (dim,); v is read-only
        def linear(self) -> (a, c)            # optional: Phi(v) = a Diag(v^2) - c v v^T
        def covariance(self, v) -> (diag, beta, u)  # optional: Phi(v) = Diag(diag) - beta u u^T

    class MyNoise:                            # a symmetric unit-scale law T
        name = "my-noise"
        def __init__(self, **params)          # "my-noise:nu=3" -> MyNoise(nu=3)
        def sample(self, stream) -> float     # one draw of T
        def cdf(self, y) -> float             # F(y) = P(T <= y)
        def density0(self) -> float           # p(0)
        def variance(self) -> float           # Var T (math.inf if infinite)
        def sample_n(self, stream, n) -> array      # optional: n draws, the values of n sample()
        def sign_mean(self, y) -> float       # optional: m(y) = 2F(y) - 1 (default from cdf;
        def sign_tail(self, y) -> float       #   give them for accuracy near 0), 1 - |m(y)|
        def batch_scale(self, batch) -> float # optional: c_B with mean of B draws ~ c_B T, or
                                              #   math.nan (default: B draws are averaged)
        def sample_coupled(self, stream, n) -> (draws, normals)  # optional (sdv/noise.h)

Randomness comes only from `stream` (an sdv.Stream: uniform(), normal(), normals(n),
below(n), u64(), sign(), gamma(a), binomial(n, p), each the C function of the same name;
student_t(nu), cauchy(): the noise laws' own samplers), so results are reproducible and do not depend on the number of
threads; the stream is valid during the call only. A Python rand-k drawing as sdv's does gives
sdv's numbers bit for bit (python/tests/test_components.py).

Threads: the library's OpenMP threads call Python with the GIL held (cffi takes it), so calls
are safe but run one at a time; sdv.weak uses one thread when threads=0 and the model has a
Python component. An exception in a method cancels the run and is raised by sdv.weak (or
sdv.compressor_check). Cost: a few microseconds per call (README "Python").
"""
import builtins
import json
import threading

import numpy as np

from ._sdv import ffi, lib
from . import _components
from ._components import Stream, register

_list = builtins.list  # the module defines its own list()

__all__ = ["Model", "weak", "simulate", "SimulateResult", "verify", "VerifyResult", "list", "Error", "InvalidArgument", "NotSupported",
           "LimitExceeded", "Interrupted", "NumericalError", "WeakResult", "Stream", "register",
           "compressor_check", "ConformanceReport", "PURPOSE_USER"]

PURPOSE_USER = lib.SDV_PURPOSE_USER


class Error(Exception):
    """An sdv library error: .status (the sdv_status code) and .message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class InvalidArgument(Error, ValueError):
    """SDV_EINVAL: a bad parameter (the message names it)."""


class NotSupported(Error):
    """SDV_ENOTSUP: e.g. no SDE for this noise, no coupling for this model."""


class LimitExceeded(Error):
    """SDV_ELIMIT: the run would exceed a resource guard."""


class Interrupted(Error, KeyboardInterrupt):
    """SDV_EINTR: the run was cancelled (Ctrl-C)."""


class NumericalError(Error, ArithmeticError):
    """SDV_EDOM, SDV_ENUMERIC."""


_CLASSES = {lib.SDV_EINVAL: InvalidArgument, lib.SDV_ENOTSUP: NotSupported,
            lib.SDV_ELIMIT: LimitExceeded, lib.SDV_EINTR: Interrupted,
            lib.SDV_EDOM: NumericalError, lib.SDV_ENUMERIC: NumericalError,
            lib.SDV_ENOMEM: Error, lib.SDV_EIO: Error}


def _raise(status, message=None):
    if message is None:
        message = ffi.string(lib.sdv_last_error()).decode()
    raise _CLASSES.get(status, Error)(status, message)


def _check(status):
    exc = _components.take_failure()  # a Python component raised inside the call
    if exc is not None:
        raise exc
    if status != lib.SDV_OK:
        _raise(status)


# ---- callback objectives ----

_callbacks = {}  # handle id -> Python objective, kept alive while a C objective points to it


@ffi.def_extern()
def _py_value(user, dim, x):
    obj = ffi.from_handle(user)
    return float(obj.value(np.frombuffer(ffi.buffer(x, dim * 8), dtype=np.float64)))


@ffi.def_extern()
def _py_gradient(user, dim, x, out):
    obj = ffi.from_handle(user)
    g = np.asarray(obj.gradient(np.frombuffer(ffi.buffer(x, dim * 8), dtype=np.float64)),
                   dtype=np.float64)
    if g.shape != (dim,):
        raise ValueError("gradient must return %d values, got shape %s" % (dim, g.shape))
    ffi.memmove(out, ffi.from_buffer("double[]", g), dim * 8)


def _as_list(v):
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        return [v]
    return _list(v)


class Model:
    """A model: one optimizer and its SDE (sdv_model_spec). Keyword arguments as the command's
    model options: method, dim, agents, batch, eta, objective (spec string, or an object with
    value(x) and gradient(x)), noise (spec or list of specs), sigma (number or list), compressor
    (spec or list), x0 (number or list), seed, diffusion_scale, literal, minibatch, shards. A
    noise or compressor may also be a Python component class (sdv.register): it stands for its
    name, without parameters, and is registered if it was not.
    minibatch=True (sdv_model_spec.minibatch): every agent's gradient is the mean of `batch`
    per-sample gradients from its shard of the objective's data ("iid", "label-skew" or
    "dirichlet:alpha=A[:seed=S]"); noise and sigma then describe noise added to it, and
    sigma=0 adds none (the command's --noise minibatch)."""

    def __init__(self, method="dsgd", dim=1, agents=1, batch=1, eta=0.1,
                 objective="quadratic:lam=1", noise="gaussian", sigma=1.0, compressor=None,
                 x0=1.0, seed=1, diffusion_scale=1.0, literal=False, minibatch=False,
                 shards=None):
        self._keep = []
        self._spec = ffi.new("sdv_model_spec *")
        lib.sdv_model_spec_default(self._spec)
        mt = lib.sdv_method_type_from_name(method.encode())
        if mt == ffi.NULL:
            names = ", ".join(list("methods"))  # sdv.list: the registered methods
            raise InvalidArgument(lib.SDV_EINVAL,
                                  "method = '%s' is unknown (known: %s)" % (method, names))
        s = self._spec
        s.method, s.dim, s.agents, s.batch, s.eta = mt, dim, agents, batch, eta
        s.seed, s.diffusion_scale, s.literal = seed, diffusion_scale, literal
        s.minibatch = minibatch
        if shards is not None:
            self._shards = ffi.new("char[]", shards.encode())
            s.shards = self._shards
        one = {"noise": len(_as_list(noise)) == 1 and not isinstance(noise, (_list, tuple)),
               "compressor": compressor is not None and len(_as_list(compressor)) == 1 and
               not isinstance(compressor, (_list, tuple))}
        noise = [_components.spec_of("noise", x) for x in _as_list(noise)]
        if compressor is not None:
            compressor = [_components.spec_of("compressor", x) for x in _as_list(compressor)]
        self.params = dict(method=method, dim=dim, agents=agents, batch=batch, eta=eta,
                           objective=objective if isinstance(objective, str) else
                           type(objective).__name__,
                           noise=noise[0] if one["noise"] else noise, sigma=sigma,
                           compressor=compressor[0] if one["compressor"] else compressor,
                           x0=x0, seed=seed,
                           diffusion_scale=diffusion_scale, literal=literal,
                           minibatch=minibatch, shards=shards)
        # objective
        pobj = ffi.new("sdv_objective **")
        if isinstance(objective, str):
            _check(lib.sdv_objective_alloc(pobj, objective.encode(), dim))
        else:
            handle = ffi.new_handle(objective)
            self._keep.append(handle)
            _check(lib.sdv_objective_alloc_callback(pobj, dim, lib._py_value, lib._py_gradient,
                                                    ffi.NULL, handle))
        self._objective = ffi.gc(pobj[0], lib.sdv_objective_free)
        s.objective = self._objective
        # noise laws
        laws = []
        for spec in noise:
            p = ffi.new("sdv_noise **")
            _check(lib.sdv_noise_alloc(p, spec.encode()))
            laws.append(ffi.gc(p[0], lib.sdv_noise_free))
        self._laws = laws
        arr = ffi.new("const sdv_noise *[]", laws)
        self._keep.append(arr)
        s.noise, s.nnoise = arr, len(laws)
        # compressors
        if compressor is not None:
            comps = []
            for spec in compressor:
                p = ffi.new("sdv_compressor **")
                _check(lib.sdv_compressor_alloc(p, spec.encode(), dim))
                comps.append(ffi.gc(p[0], lib.sdv_compressor_free))
            self._comps = comps
            carr = ffi.new("const sdv_compressor *[]", comps)
            self._keep.append(carr)
            s.compressor, s.ncompressor = carr, len(comps)
        # arrays
        for name, value in (("sigma", sigma), ("x0", x0)):
            a = np.ascontiguousarray(_as_list(value), dtype=np.float64)
            buf = ffi.new("double[]", a.tolist())
            self._keep.append(buf)
            setattr(s, name, buf)
            setattr(s, "n" + name, len(a))
        self._python = (not isinstance(objective, str) or
                        any(_components.is_python("noise", x) for x in _as_list(noise)) or
                        (compressor is not None and
                         any(_components.is_python("compressor", x) for x in _as_list(compressor))))
        # validate now, as the C library would at sdv_model_alloc_spec
        pm = ffi.new("sdv_model **")
        _check(lib.sdv_model_alloc_spec(pm, s))
        self.description = ffi.string(pm[0].description).decode()
        lib.sdv_model_free(pm[0])

    def __repr__(self):
        return "sdv.Model(%s)" % self.description


class WeakResult:
    """The result of a weak study: .verdict ("PASS", "FAIL", "INCONCLUSIVE"), .summary, .order
    (slope, lo, hi) of the first test, .tests (list of dicts), .controls, .table (a pandas
    DataFrame when pandas is installed, else a dict of NumPy arrays; one row per eta, time and
    observable: eta, t, step, observable, disc_mean/se, sde_mean/se, error, error_se,
    error_lo/hi (95%), fl_disc, fl_sde, fl_se (the fluctuation statistic F = [E g - g(noise-free
    path)] / eta of each side and the se of their difference; sdv/weak.h), resolved, coupled,
    vr), .coupled, .to_json()."""

    def __init__(self, res, obs_names):
        rows = [res.rows[k] for k in range(res.nrows)]
        cols = {
            "eta": [r.eta for r in rows], "t": [r.t for r in rows], "step": [r.step for r in rows],
            "observable": [obs_names[r.obs] for r in rows],
            "disc_mean": [r.disc.mean for r in rows], "disc_se": [r.disc.se for r in rows],
            "sde_mean": [r.sde.mean for r in rows], "sde_se": [r.sde.se for r in rows],
            "error": [r.err for r in rows], "error_se": [r.err_se for r in rows],
            "error_lo": [r.err_lo for r in rows], "error_hi": [r.err_hi for r in rows],
            "fl_disc": [r.fl_disc for r in rows], "fl_sde": [r.fl_sde for r in rows],
            "fl_se": [r.fl_se for r in rows],
            "resolved": [bool(r.resolved) for r in rows], "coupled": [bool(r.coupled) for r in rows],
            "vr": [r.vr for r in rows],
        }
        arrays = {k: np.asarray(v) for k, v in cols.items()}
        try:
            import pandas
            self.table = pandas.DataFrame(arrays)
        except ImportError:
            self.table = arrays
        self.tests = [self._test(res.tests[k], obs_names) for k in range(res.ntests)]
        self.controls = [{"diffusion_scale": res.controls[c].diffusion_scale,
                          "rejected": bool(res.controls[c].rejected),
                          "tests": [self._test(res.controls[c].tests[k], obs_names)
                                    for k in range(res.controls[c].ntests)]}
                         for c in range(res.ncontrols)]
        self.verdict = ffi.string(lib.sdv_verdict_name(res.verdict)).decode()
        self.summary = ffi.string(res.summary).decode()
        self.coupled = bool(res.coupled)
        self.coupling_note = ffi.string(res.coupling_note).decode()
        t0 = self.tests[0]
        self.order = (t0["slope"], t0["slope_ci"][0], t0["slope_ci"][1])

    @staticmethod
    def _test(T, obs_names):
        return {"observable": obs_names[T.obs], "t": T.t, "slope": T.slope,
                "slope_ci": (T.slope_lo, T.slope_hi),
                "order_verdict": ffi.string(lib.sdv_verdict_name(T.order_verdict)).decode(),
                "limit": T.limit, "limit_se": T.limit_se, "intercept": T.intercept,
                "intercept_se": T.intercept_se,
                "relative_error": T.rel, "relative_error_ci": (T.rel_lo, T.rel_hi),
                "resolved": bool(T.fluct_resolved),
                "diffusion_verdict": ffi.string(lib.sdv_verdict_name(T.diffusion_verdict)).decode()}

    def to_json(self, **kw):
        table = self.table
        rows = (table.to_dict(orient="list") if hasattr(table, "to_dict")
                else {k: v.tolist() for k, v in table.items()})
        return json.dumps({"verdict": self.verdict, "summary": self.summary,
                           "coupled": self.coupled, "order": self.order, "tests": self.tests,
                           "controls": self.controls, "rows": rows}, **kw)

    def __repr__(self):
        return "sdv.WeakResult(verdict=%s, order=%.3f [%.3f, %.3f])" % ((self.verdict,) + self.order)


def _run_cancellable(fn, cancel):
    """Runs fn() (a C call that releases the GIL) in a worker thread; Ctrl-C in the main thread
    sets *cancel, so the library stops at its next check and returns SDV_EINTR."""
    box = {}

    def work():
        box["rc"] = fn()

    th = threading.Thread(target=work, daemon=True)
    th.start()
    try:
        while th.is_alive():
            th.join(0.05)
    except KeyboardInterrupt:
        cancel[0] = 1
        th.join()
        raise Interrupted(lib.SDV_EINTR, "interrupted (Ctrl-C); no result") from None
    return box["rc"]


def weak(model, eta, T=None, times=None, paths=20000, observables=("f",), substeps=4,
         integrator=None, alpha=0.01, order=1.0, exact=True, controls=True, coupling="crn",
         threads=0, sde=None):
    """A weak-error study of model over the ladder eta at SDE times `times` (or T): the
    library's sdv_weak_run_spec, as `sdv weak`. sde: another Model for the SDE side (default:
    the same). Returns a WeakResult."""
    if (T is None) == (times is None):
        raise InvalidArgument(lib.SDV_EINVAL, "give exactly one of T and times")
    times = [T] if T is not None else _list(times)
    o = ffi.new("sdv_weak_options *")
    lib.sdv_weak_options_default(o)
    eta_c = ffi.new("double[]", [float(e) for e in eta])
    times_c = ffi.new("double[]", [float(t) for t in times])
    dim = model._spec.dim
    obs_c = ffi.new("sdv_observable[]", len(observables))
    for k, name in enumerate(observables):
        _check(lib.sdv_observable_parse(ffi.addressof(obs_c, k), name.encode(), dim))
    o.eta, o.neta, o.times, o.ntimes = eta_c, len(eta), times_c, len(times)
    o.obs, o.nobs, o.paths, o.substeps = obs_c, len(observables), paths, substeps
    o.alpha, o.order, o.exact, o.controls, o.threads = alpha, order, exact, controls, threads
    if coupling not in ("crn", "none"):
        raise InvalidArgument(lib.SDV_EINVAL, "coupling = '%s' must be crn or none" % coupling)
    o.coupling = lib.SDV_WEAK_COUPLING_CRN if coupling == "crn" else lib.SDV_WEAK_COUPLING_NONE
    if integrator is not None:
        it = lib.sdv_integrator_type_from_name(integrator.encode())
        if it == ffi.NULL:
            raise InvalidArgument(lib.SDV_EINVAL, "integrator = '%s' is unknown" % integrator)
        o.integrator = it
    cancel = ffi.new("volatile sig_atomic_t *")
    o.cancel = cancel
    out = ffi.new("sdv_weak_result **")
    sde_spec = sde._spec if sde is not None else ffi.NULL
    err = {}

    def call():
        rc = lib.sdv_weak_run_spec(model._spec, sde_spec, o, out)
        if rc:  # the message is thread-local: read it on the thread that failed
            err["msg"] = ffi.string(lib.sdv_last_error()).decode()
        return rc

    if threads == 0 and (model._python or (sde is not None and sde._python)):
        o.threads = 1  # Python callbacks run one at a time (the GIL): more threads only wait
    with _components.guard(cancel):
        rc = _run_cancellable(call, cancel)
    exc = _components.take_failure()
    if exc is not None:  # a Python component raised: the run was cancelled, raise that
        if rc == lib.SDV_OK:
            lib.sdv_weak_result_free(out[0])
        raise exc
    if rc:
        _raise(rc, err.get("msg"))
    try:
        return WeakResult(out[0], _list(observables))
    finally:
        lib.sdv_weak_result_free(out[0])


class SimulateResult:
    """The result of sdv.simulate: .table (a pandas DataFrame when pandas is installed, else a
    dict of NumPy arrays) with the rows of `sdv simulate --csv`: side ("discrete", "sde"),
    step, t, observable, mean, se, exact; .exact ({"discrete": bool, "sde": bool}),
    .nonfinite (Monte Carlo values excluded per side), .T, .steps, .every, .description;
    .trajectory(side, observable="f") -> (t, mean, se) as NumPy arrays; .to_json()."""

    def __init__(self, cols, exact, nonfinite, T, K, every, description):
        self._cols = {k: np.asarray(v) for k, v in cols.items()}
        try:
            import pandas
            self.table = pandas.DataFrame(self._cols)
        except ImportError:
            self.table = self._cols
        self.exact, self.nonfinite = exact, nonfinite
        self.T, self.steps, self.every, self.description = T, K, every, description

    def trajectory(self, side, observable="f"):
        c = self._cols
        s = (c["side"] == side) & (c["observable"] == observable)
        if not s.any():
            raise InvalidArgument(lib.SDV_EINVAL, "no rows for side = '%s', observable = '%s'"
                                  % (side, observable))
        return c["t"][s], c["mean"][s], c["se"][s]

    def to_json(self, **kw):
        return json.dumps({"model": self.description, "T": self.T, "steps": self.steps,
                           "every": self.every, "exact": self.exact,
                           "nonfinite": self.nonfinite,
                           "rows": {k: v.tolist() for k, v in self._cols.items()}}, **kw)

    def __repr__(self):
        return "sdv.SimulateResult(T=%g, %d steps, every %d; discrete %s, sde %s)" % (
            self.T, self.steps, self.every,
            *("exact" if self.exact[k] else "Monte Carlo" for k in ("discrete", "sde")))


def simulate(model, T, paths=20000, every=None, substeps=4, integrator=None,
             exact=True, threads=0):
    """E f, E||x||^2, E x_j and E x_j^2 of the optimizer and of its SDE every `every` steps
    up to T (K = T/eta rounded to whole steps; every defaults to ceil(K/100)), as the command
    `sdv simulate`: a side is computed exactly (moment recursions / ODEs) where sdv can and
    exact=True, else by Monte Carlo over `paths` paths (sdv_mc_run; the SDE by `integrator`
    with `substeps` steps per optimizer step; None: the library's default, Richardson, or
    Euler where the SDE takes the sampled route). The same model and seed give the numbers of
    `sdv simulate --csv`, bit for bit. Returns a SimulateResult."""
    if not (T > 0):
        raise InvalidArgument(lib.SDV_EINVAL, "T = %r must be > 0" % (T,))
    if paths < 2:
        raise InvalidArgument(lib.SDV_EINVAL, "paths = %r must be >= 2" % (paths,))
    if substeps < 1:
        raise InvalidArgument(lib.SDV_EINVAL, "substeps = %r must be >= 1" % (substeps,))
    it = ffi.NULL
    if integrator is not None:
        it = lib.sdv_integrator_type_from_name(integrator.encode())
        if it == ffi.NULL:
            raise InvalidArgument(lib.SDV_EINVAL, "integrator = '%s' is unknown" % integrator)
    pm = ffi.new("sdv_model **")
    _check(lib.sdv_model_alloc_spec(pm, model._spec))
    m = ffi.gc(pm[0], lib.sdv_model_free)
    if it == ffi.NULL:
        it = lib.sdv_integrator_default(m)
    eta, dim = m.eta, m.dim
    kreal = T / eta
    if not kreal < 1e15:
        raise InvalidArgument(lib.SDV_EINVAL, "T = %g is %g steps of eta = %g: too many"
                              % (T, kreal, eta))
    K = int(round(kreal))  # nearbyint: ties to even, as Python's round
    if K < 1:
        raise InvalidArgument(lib.SDV_EINVAL, "T = %g is shorter than one step of eta = %g"
                              % (T, eta))
    if every is None:
        every = (K + 99) // 100
    if not 1 <= every <= K:
        raise InvalidArgument(lib.SDV_EINVAL, "every = %r must be in 1..%d (the steps up to T)"
                              % (every, K))
    # The SDE must exist (e.g. not for DSGD under infinite-variance noise).
    po = ffi.new("sdv_process_options *")
    lib.sdv_process_options_default(po)
    po.kind, po.integrator, po.substeps = lib.SDV_PROCESS_SDE, it, substeps
    pp = ffi.new("sdv_process **")
    _check(lib.sdv_process_alloc(pp, m, po))
    lib.sdv_process_free(pp[0])
    steps = _list(range(0, K, every)) + [K]
    nt, nobs = len(steps), 2 + 2 * dim
    steps_c = ffi.new("size_t[]", steps)
    obs = ffi.new("sdv_observable[]", nobs)
    obs[0].kind, obs[1].kind = lib.SDV_OBS_F, lib.SDV_OBS_NORM2
    for j in range(dim):
        obs[2 + j].kind, obs[2 + j].index = lib.SDV_OBS_X, j
        obs[2 + dim + j].kind, obs[2 + dim + j].index = lib.SDV_OBS_X2, j
    buf = ffi.new("char[64]")
    names = [ffi.string(lib.sdv_observable_name(ffi.addressof(obs, o), buf, 64)).decode()
             for o in range(nobs)]
    cancel = ffi.new("volatile sig_atomic_t *")
    cols = {k: [] for k in ("side", "step", "t", "observable", "mean", "se", "exact")}
    exact_of, nonfinite = {}, {}
    threads_ = 1 if threads == 0 and model._python else threads
    for side, sname in ((lib.SDV_SIDE_DISCRETE, "discrete"), (lib.SDV_SIDE_SDE, "sde")):
        ex = exact and all(lib.sdv_exact_available(m, side, ffi.addressof(obs, o), False)
                           for o in range(nobs))
        mean = np.empty(nt * nobs)
        se = np.zeros(nt * nobs)
        nf = 0
        err = {}
        if ex:
            def call():
                rc = lib.sdv_exact_eval(m, side, steps_c, nt, obs, nobs,
                                        ffi.from_buffer("double[]", mean), ffi.NULL, ffi.NULL)
                if rc:
                    err["msg"] = ffi.string(lib.sdv_last_error()).decode()
                return rc
        else:
            sp = ffi.new("sdv_process_options *")
            lib.sdv_process_options_default(sp)
            sp.kind = lib.SDV_PROCESS_SDE if sname == "sde" else lib.SDV_PROCESS_DISCRETE
            sp.integrator, sp.substeps, sp.sub = it, substeps, 1 if sname == "sde" else 0
            mo = ffi.new("sdv_mc_options *")
            lib.sdv_mc_options_default(mo)
            mo.paths, mo.threads, mo.cancel = paths, threads_, cancel
            out = ffi.new("sdv_mc_result **")

            def call():
                rc = lib.sdv_mc_run(out, m, sp, steps_c, nt, obs, nobs, mo)
                if rc:
                    err["msg"] = ffi.string(lib.sdv_last_error()).decode()
                return rc
        with _components.guard(cancel):
            rc = _run_cancellable(call, cancel)
        exc = _components.take_failure()
        if not ex and rc == lib.SDV_OK:
            r = out[0]
            sm = ffi.new("sdv_mc_summary *")
            try:
                for t in range(nt):
                    for o in range(nobs):
                        _check(lib.sdv_mc_result_get(r, t, o, sm))
                        mean[t * nobs + o], se[t * nobs + o] = sm.mean, sm.se
                        nf += sm.nonfinite
            finally:
                lib.sdv_mc_result_free(r)
        if exc is not None:
            raise exc
        if rc:
            _raise(rc, err.get("msg"))
        exact_of[sname], nonfinite[sname] = bool(ex), nf
        for t in range(nt):
            for o in range(nobs):
                cols["side"].append(sname)
                cols["step"].append(steps[t])
                cols["t"].append(steps[t] * eta)
                cols["observable"].append(names[o])
                cols["mean"].append(mean[t * nobs + o])
                cols["se"].append(se[t * nobs + o])
                cols["exact"].append(bool(ex))
    return SimulateResult(cols, exact_of, nonfinite, K * eta, K, every,
                          ffi.string(m.description).decode())


class ConformanceReport:
    """The result of sdv.compressor_check: .verdict ("PASS", "FAIL" or "INCONCLUSIVE"),
    .passed (bool), .rows (a pandas DataFrame when pandas is installed, else a dict of NumPy
    arrays: vector, what, value, bound, se, pass), .note, .stuck, .inconclusive, .omega."""

    def __init__(self, spec, dim, omega, rep):
        rows = [rep.rows[k] for k in range(rep.nrows)]
        cols = {"vector": np.asarray([r.vector for r in rows], dtype=np.int64),
                "what": np.asarray([ffi.string(r.what).decode() for r in rows]),
                "value": np.asarray([r.value for r in rows]),
                "bound": np.asarray([r.bound for r in rows]),
                "se": np.asarray([r.se for r in rows]),
                "pass": np.asarray([bool(getattr(r, "pass")) for r in rows])}
        try:
            import pandas
            self.rows = pandas.DataFrame(cols)
        except ImportError:
            self.rows = cols
        self.spec, self.dim, self.omega = spec, dim, omega
        self.passed = bool(getattr(rep, "pass"))
        self.inconclusive = bool(rep.inconclusive)
        self.stuck = int(rep.stuck)
        self.note = ffi.string(rep.note).decode()
        self.verdict = ("PASS" if self.passed else "INCONCLUSIVE" if self.inconclusive
                        else "FAIL")

    def __repr__(self):
        return "sdv.ConformanceReport(%s dim=%d: %s)" % (self.spec, self.dim, self.verdict)


def compressor_check(compressor, dim, samples=20000, vectors=4, seed=20240521, alpha=1e-3):
    """The conformance check of `sdv compressor-check` (sdv_compressor_conformance) on a
    compressor spec ("rand-k:k=2", or a registered Python compressor's "NAME:KEY=VALUE"; a
    registered class stands for its name without parameters) in dimension dim: C(0) = 0,
    E C(v) = v, E||C(v) - v||^2 <= omega ||v||^2 and, when declared, the exact covariance, at
    family-wise false-failure rate alpha. Returns a ConformanceReport; a failing check is not
    an exception."""
    spec = _components.spec_of("compressor", compressor)
    pc = ffi.new("sdv_compressor **")
    _check(lib.sdv_compressor_alloc(pc, spec.encode(), dim))
    comp = ffi.gc(pc[0], lib.sdv_compressor_free)
    o = ffi.new("sdv_conformance_options *")
    lib.sdv_conformance_options_default(o)
    o.samples, o.vectors, o.seed, o.alpha = samples, vectors, seed, alpha
    cancel = ffi.new("volatile sig_atomic_t *")
    o.cancel = cancel
    out = ffi.new("sdv_conformance_report **")
    err = {}

    def call():
        rc = lib.sdv_compressor_conformance(comp, o, out)
        if rc:
            err["msg"] = ffi.string(lib.sdv_last_error()).decode()
        return rc

    with _components.guard(cancel):
        rc = _run_cancellable(call, cancel)
    exc = _components.take_failure()
    if exc is not None:
        if rc == lib.SDV_OK:
            lib.sdv_conformance_report_free(out[0])
        raise exc
    if rc:
        _raise(rc, err.get("msg"))
    try:
        return ConformanceReport(ffi.string(comp.spec).decode(), dim,
                                 lib.sdvpy_compressor_omega(comp), out[0])
    finally:
        lib.sdv_conformance_report_free(out[0])


class VerifyResult:
    """The result of sdv.verify: .summary (DIR/summary.json as a dict), .checks (its list of
    checks: id, family, claim, measured, value, ci, prediction, verdict, control, ...),
    .verdicts ({id: "PASS" | "FAIL" | "INCONCLUSIVE"}), .passed (every check passed: exit status 0),
    .returncode, .out (the results folder), .log (the command's report); .csv(id) reads
    DIR/<id>.csv as a dict of NumPy arrays (numbers where a column is numeric)."""

    def __init__(self, out, returncode, log, summary):
        self.out, self.returncode, self.log, self.summary = out, returncode, log, summary
        self.checks = summary.get("checks", [])
        self.verdicts = {c["id"]: c.get("verdict") for c in self.checks}
        self.passed = returncode == 0

    def csv(self, check_id):
        import csv as _csv
        import os
        with open(os.path.join(self.out, check_id + ".csv"), newline="") as f:
            rows = _list(_csv.reader(f))
        head, body = rows[0], rows[1:]
        cols = {}
        for k, name in enumerate(head):
            vals = [r[k] for r in body]
            try:
                cols[name] = np.asarray([float(v) for v in vals])
            except ValueError:
                cols[name] = np.asarray(vals)
        return cols

    def __repr__(self):
        s = self.summary
        return ("sdv.VerifyResult(%s checks, %s passed, %s failed, %s inconclusive, %s errors; "
                "%s)" % (s.get("selected"), s.get("passed"), s.get("failed"),
                         s.get("inconclusive", 0), s.get("errors"), self.out))


def _sdv_exe(exe):
    import os
    import shutil
    if exe:
        return exe
    if os.environ.get("SDV_EXE"):
        return os.environ["SDV_EXE"]
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.join(here, "..", "..", "verify", "sdv")  # BUILD/python/sdv -> BUILD/verify
    if os.path.isfile(build) and os.access(build, os.X_OK):
        return os.path.normpath(build)
    found = shutil.which("sdv")
    if not found:
        raise Error(lib.SDV_EIO, "the sdv command was not found (give exe=, set SDV_EXE, or "
                    "put sdv on PATH)")
    return found


def verify(only=None, full=False, seed=None, threads=None, out=None, exe=None):
    """Runs sdv's claim suite, `sdv verify`, as a SUBPROCESS (it shells out to the command:
    the suite is the command's, not the library's) with --out DIR and reads DIR/summary.json.
    only: check ids (a list or "a,b"); full: the larger samples; out: the results folder
    (default: a new temporary folder, kept); exe: the sdv command (default: $SDV_EXE, the
    build tree's verify/sdv next to this package, or sdv on PATH). A failed check is not an
    exception (.passed is False); bad input or a runtime error raises sdv.Error with the
    command's message, Ctrl-C sdv.Interrupted. Returns a VerifyResult."""
    import subprocess
    import tempfile
    cmd = [_sdv_exe(exe), "verify"]
    if only:
        cmd += ["--only", only if isinstance(only, str) else ",".join(only)]
    if full:
        cmd += ["--full"]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if out is None:
        out = tempfile.mkdtemp(prefix="sdv-verify-")
    cmd += ["--out", str(out)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except KeyboardInterrupt:
        raise Interrupted(lib.SDV_EINTR, "sdv verify interrupted (Ctrl-C)") from None
    if p.returncode == 4:
        raise Interrupted(lib.SDV_EINTR, "sdv verify interrupted; completed checks are in %s"
                          % out)
    if p.returncode not in (0, 1):
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
        raise (InvalidArgument(lib.SDV_EINVAL, msg[-1] if msg else "bad input")
               if p.returncode == 2 else
               Error(lib.SDV_EIO, "sdv verify exited with %d: %s"
                     % (p.returncode, msg[-1] if msg else "")))
    import os
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return VerifyResult(str(out), p.returncode, p.stdout, summary)


def list(kind=None):
    """Registered component names: a dict kind -> list of (name, help), or one kind's list
    ("methods", "objectives", "noise", "compressors", "integrators")."""
    getters = {"methods": ("sdv_method_type", lib.sdv_method_types),
               "objectives": ("sdv_objective_type", lib.sdv_objective_types),
               "noise": ("sdv_noise_type", lib.sdv_noise_types),
               "compressors": ("sdv_compressor_type", lib.sdv_compressor_types),
               "integrators": ("sdv_integrator_type", lib.sdv_integrator_types)}
    out = {}
    for k, (ctype, fn) in getters.items():
        arr = ffi.new("const %s *[64]" % ctype)
        n = min(fn(arr, 64), 64)
        out[k] = [(ffi.string(arr[i].name).decode(),
                   ffi.string(arr[i].help).decode() if arr[i].help != ffi.NULL else "")
                  for i in range(n)]
    if kind is None:
        return out
    if kind not in out:
        raise InvalidArgument(lib.SDV_EINVAL, "kind = '%s' is unknown (%s)" % (kind, ", ".join(out)))
    return [name for name, _ in out[kind]]
