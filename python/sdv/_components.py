"""Compressors and noise laws written in Python (issue 19, part 3).

A Python class is registered under its `name`; the C side is one generic type per class
(python/sdv/_cffi_build.py, GLUE) whose state holds a cffi handle to the Python instance and
whose functions call the instance's methods. Randomness comes only from the `Stream` handed to
apply()/sample(): it draws from the sdv stream the library passes in, so results are
reproducible and do not depend on the number of threads.

The protocol is documented in the package docstring (sdv/__init__.py) and README "Python".
"""
import math
import threading

import numpy as np

from ._sdv import ffi, lib

# ---- failures inside callbacks ----
#
# A Python exception cannot cross the C library. A callback that raises records the exception
# here, returns NaN (or fills its output with NaN) and sets the cancel flag of every run in
# progress, so the run stops at its next check (SDV_EINTR); the caller then raises the
# recorded exception instead of the library's status.

_failures = []
_active = set()  # cancel flags (cdata) of the runs in progress
_lock = threading.Lock()


def _fail(exc):
    with _lock:
        if not _failures:
            _failures.append(exc)
        for c in _active:
            c[0] = 1


def take_failure():
    """The first exception raised by a Python component since the last call, or None."""
    with _lock:
        exc = _failures[0] if _failures else None
        _failures.clear()
        return exc


class guard:
    """Context of one library call that may call Python components: registers its cancel
    flag and clears earlier failures."""

    def __init__(self, cancel):
        self.cancel = cancel

    def __enter__(self):
        take_failure()
        with _lock:
            _active.add(self.cancel)
        return self

    def __exit__(self, *exc):
        with _lock:
            _active.discard(self.cancel)
        return False


# ---- streams ----

_u64 = lib.sdv_stream_u64
_uniform = lib.sdv_stream_uniform
_below = lib.sdv_stream_below
_normal = lib.sdv_stream_normal
_normals = lib.sdv_stream_normals
_sign = lib.sdv_stream_sign


class Stream:
    """Draws from one sdv random stream (Philox, counter-based; sdv/rng.h).

    The stream handed to a component's apply()/sample() is valid during that call only.
    Stream(seed, path=0, purpose=sdv.PURPOSE_USER, sub=0) makes a stream of your own (to test
    a component): the same four numbers always give the same draws.

    Methods (each the C function of the same name, bit for bit):
      u64()          a uniform 64-bit integer
      uniform()      uniform on (0, 1), never 0 or 1
      below(n)       uniform integer in [0, n) (Lemire's rejection; n >= 1)
      normal()       N(0, 1);  normals(n): n of them as a NumPy array (same values)
      sign()         +1.0 or -1.0
      gamma(a), binomial(n, p)
      student_t(nu), cauchy()  the noise laws' samplers (student-t:nu=NU, cauchy) on this stream
      uniforms(n)    n uniforms as a NumPy array (n calls of uniform())
    """

    __slots__ = ("_s", "_own")

    def __init__(self, seed, path=0, purpose=None, sub=0):
        self._own = ffi.new("sdv_stream *")
        self._s = self._own
        lib.sdv_stream_init(self._s, seed, path,
                            lib.SDV_PURPOSE_USER if purpose is None else purpose, sub)

    @classmethod
    def _wrap(cls, ptr):
        st = cls.__new__(cls)
        st._s = ptr
        st._own = None
        return st

    def u64(self):
        return _u64(self._s)

    def uniform(self):
        return _uniform(self._s)

    def uniforms(self, n):
        out = np.empty(n, dtype=np.float64)
        if n:
            lib.sdvpy_stream_uniforms(self._s, ffi.from_buffer("double[]", out), n)
        return out

    def below(self, n):
        if n < 1:
            raise ValueError("below(n) needs n >= 1, got %r" % (n,))
        return _below(self._s, n)

    def normal(self):
        return _normal(self._s)

    def normals(self, n):
        out = np.empty(n, dtype=np.float64)
        if n:
            _normals(self._s, ffi.from_buffer("double[]", out), n)
        return out

    def sign(self):
        return _sign(self._s)

    def gamma(self, a):
        return lib.sdv_stream_gamma(self._s, a)

    def student_t(self, nu):
        return lib.sdvpy_noise_sample(_law("student-t:nu=%r" % (float(nu),)), self._s)

    def cauchy(self):
        return lib.sdvpy_noise_sample(_law("cauchy"), self._s)

    def binomial(self, n, p):
        return lib.sdv_stream_binomial(self._s, n, p)


_wrap = Stream._wrap

# Stream.student_t and Stream.cauchy draw with the noise laws' own samplers (one sampler per
# law: the numbers a model draws), one law per spec, allocated on first use.
_laws = {}
_laws_lock = threading.Lock()


def _law(spec):
    with _laws_lock:
        law = _laws.get(spec)
        if law is None:
            p = ffi.new("sdv_noise **")
            status = lib.sdv_noise_alloc(p, spec.encode())
            if status != lib.SDV_OK:
                from . import _raise  # the package's error classes (sdv/__init__.py)

                _raise(status)
            law = _laws[spec] = ffi.gc(p[0], lib.sdv_noise_free)
        return law

# ---- registration ----

_slots = {"compressor": [], "noise": []}  # slot -> class
_instances = {}  # (kind, class, dim, params) -> wrapper; kept alive: C states point to them


def _parse_value(text):
    """A spec value as Python sees it: an int, a float, a list of floats (for "a,b,c"), or the
    text itself (ranges "A..B", anything else)."""
    if "," in text:
        try:
            return [float(x) for x in text.split(",")]
        except ValueError:
            return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _read_params(params):
    kw = {}
    for i in range(params.n):
        key = ffi.string(params.key[i]).decode()
        kw[key] = ffi.string(params.value[i]).decode()
        params.used[i] = True  # the class's signature checks the keys (TypeError)
    return kw


class _CompressorWrapper:
    __slots__ = ("obj", "dim", "apply", "handle")

    def __init__(self, obj, dim):
        self.obj, self.dim, self.apply = obj, dim, obj.apply


class _NoiseWrapper:
    __slots__ = ("obj", "sample", "sample_n", "sample_coupled", "scalar", "handle")

    def __init__(self, obj):
        self.obj = obj
        self.sample = obj.sample
        self.sample_n = getattr(obj, "sample_n", None)
        self.sample_coupled = getattr(obj, "sample_coupled", None)
        cdf = obj.cdf
        sign_mean = getattr(obj, "sign_mean", None)
        sign_tail = getattr(obj, "sign_tail", None)
        batch_scale = getattr(obj, "batch_scale", None)
        if sign_mean is None:
            # m(y) = 2F(y) - 1 from the lower tail on both sides (T is symmetric).
            def sign_mean(y):
                return math.copysign(1.0 - 2.0 * cdf(-abs(y)), y) if y == y else y
        if sign_tail is None:
            def sign_tail(y):
                return 2.0 * cdf(-abs(y)) if y == y else y
        density0, variance = obj.density0, obj.variance
        # In the order of the C enum (PYN_CDF, ...): every entry takes one float.
        self.scalar = (cdf, sign_mean, sign_tail, lambda y: density0(), lambda y: variance(),
                       (lambda y: batch_scale(int(y))) if batch_scale else (lambda y: math.nan))


def _init(kind, slot, state, params, dim):
    cls = _slots[kind][slot]
    name = cls.name
    try:
        text = _read_params(params)
        key = (kind, cls, dim, tuple(sorted(text.items())))
        w = _instances.get(key)
        if w is None:
            kw = {k: _parse_value(v) for k, v in text.items()}
            if kind == "compressor":
                w = _CompressorWrapper(cls(dim, **kw), dim)
            else:
                w = _NoiseWrapper(cls(**kw))
            w.handle = ffi.new_handle(w)
            _instances[key] = w
        ffi.cast("sdvpy_state *", state).obj = w.handle
        return lib.SDV_OK
    except Exception as e:  # the library reports it as SDV_EINVAL naming the component
        return lib.sdvpy_error(lib.SDV_EINVAL,
                               ("%s: %s: %s" % (name, type(e).__name__, e)).encode())


def _nan_fill(ptr, n):
    for i in range(n):
        ptr[i] = math.nan


@ffi.def_extern()
def _pyc_init(slot, state, dim, params):
    return _init("compressor", slot, state, params, dim)


@ffi.def_extern()
def _pyn_init(slot, state, params):
    return _init("noise", slot, state, params, None)


@ffi.def_extern()
def _pyc_omega(obj, dim):
    try:
        return float(ffi.from_handle(obj).obj.omega())
    except Exception as e:
        _fail(e)
        return math.nan


def _array_in(ptr, n):
    a = np.frombuffer(ffi.buffer(ptr, n * 8), dtype=np.float64)
    a.flags.writeable = False
    return a


def _write(ptr, n, values, what):
    a = np.asarray(values, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError("%s must return %d values, got shape %s" % (what, n, a.shape))
    np.frombuffer(ffi.buffer(ptr, n * 8), dtype=np.float64)[:] = a


@ffi.def_extern()
def _pyc_apply(obj, dim, v, out, s):
    try:
        w = ffi.from_handle(obj)
        _write(out, dim, w.apply(_array_in(v, dim), _wrap(s)), "apply")
    except Exception as e:
        _fail(e)
        _nan_fill(out, dim)


@ffi.def_extern()
def _pyc_linear(obj, dim, a, c):
    try:
        aa, cc = ffi.from_handle(obj).obj.linear()
        a[0], c[0] = float(aa), float(cc)
    except Exception as e:
        _fail(e)
        a[0] = c[0] = math.nan
    return lib.SDV_OK


@ffi.def_extern()
def _pyc_covariance(obj, dim, v, diag, beta, u):
    try:
        d, b, uu = ffi.from_handle(obj).obj.covariance(_array_in(v, dim))
        _write(diag, dim, d, "covariance (diag)")
        beta[0] = float(b)
        _write(u, dim, np.zeros(dim) if uu is None else uu, "covariance (u)")
    except Exception as e:
        _fail(e)
        _nan_fill(diag, dim)
        beta[0] = math.nan
    return lib.SDV_OK


@ffi.def_extern()
def _pyn_sample(obj, s):
    try:
        return float(ffi.from_handle(obj).sample(_wrap(s)))
    except Exception as e:
        _fail(e)
        return math.nan


@ffi.def_extern()
def _pyn_sample_n(obj, s, out, n):
    try:
        _write(out, n, ffi.from_handle(obj).sample_n(_wrap(s), n), "sample_n")
    except Exception as e:
        _fail(e)
        _nan_fill(out, n)


@ffi.def_extern()
def _pyn_sample_coupled(obj, s, out, normal, n):
    try:
        t, z = ffi.from_handle(obj).sample_coupled(_wrap(s), n)
        _write(out, n, t, "sample_coupled (draws)")
        _write(normal, n, z, "sample_coupled (normals)")
    except Exception as e:
        _fail(e)
        _nan_fill(out, n)
        _nan_fill(normal, n)


@ffi.def_extern()
def _pyn_scalar(obj, which, y):
    try:
        return float(ffi.from_handle(obj).scalar[which](y))
    except Exception as e:
        _fail(e)
        return math.nan


def spec_of(kind, x):
    """A spec string for x: x itself, or for a component class its name (registering the
    class if it is not registered yet)."""
    if isinstance(x, str):
        return x
    if isinstance(x, type) and isinstance(getattr(x, "name", None), str):
        if x not in _slots[kind]:
            register(x, kind)
        return x.name
    from . import InvalidArgument
    raise InvalidArgument(lib.SDV_EINVAL, "%s = %r must be a spec string or a component class"
                          % (kind, x))


def is_python(kind, spec):
    """Whether spec names a component registered from Python."""
    name = spec.split(":", 1)[0]
    return any(c.name == name for c in _slots[kind])


_REQUIRED = {"compressor": ("omega", "apply"), "noise": ("sample", "cdf", "density0", "variance")}


def register(cls, kind=None):
    """Registers a compressor or noise-law class written in Python under cls.name, so that
    "NAME[:KEY=VALUE...]" works wherever sdv takes a spec (sdv.Model, sdv.weak,
    sdv.compressor_check). kind: "compressor" or "noise" (default: "compressor" if the class
    has apply(), "noise" if it has sample()). Registering a class again under a name it
    registered before replaces it (for notebooks); a name taken by a built-in or a C plugin
    is an error. Returns cls, so it also works as a class decorator."""
    from . import InvalidArgument, _check  # late: __init__ imports this module
    if kind is None:
        kind = ("compressor" if hasattr(cls, "apply") else
                "noise" if hasattr(cls, "sample") else None)
    if kind not in _slots:
        raise InvalidArgument(lib.SDV_EINVAL, "register: kind must be 'compressor' or 'noise' "
                              "(a class with apply() or sample()), got %r" % (kind,))
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise InvalidArgument(lib.SDV_EINVAL, "register: %s needs a class attribute `name` "
                              "(the spec name)" % cls.__name__)
    missing = [m for m in _REQUIRED[kind] if not callable(getattr(cls, m, None))]
    if missing:
        raise InvalidArgument(lib.SDV_EINVAL, "register: %s %r lacks method(s) %s" %
                              (kind, name, ", ".join(missing)))
    doc = (cls.__doc__ or "").strip().splitlines()
    help_ = getattr(cls, "help", None) or (doc[0] if doc else "") or "(Python)"
    help_ = "[Python] " + help_
    slots = _slots[kind]
    opt = ((callable(getattr(cls, "linear", None)), callable(getattr(cls, "covariance", None)))
           if kind == "compressor" else
           (callable(getattr(cls, "sample_n", None)),
            callable(getattr(cls, "sample_coupled", None))))
    for slot, old in enumerate(slots):
        if old.name == name:  # registered from Python before: rebind the slot
            slots[slot] = cls
            (lib.sdvpy_compressor_hooks if kind == "compressor" else lib.sdvpy_noise_hooks)(
                slot, *opt)
            return cls
    slot = len(slots)
    slots.append(cls)
    reg = lib.sdvpy_compressor_register if kind == "compressor" else lib.sdvpy_noise_register
    rc = reg(slot, name.encode(), help_.encode(), *opt)
    if rc != lib.SDV_OK:
        slots.pop()
        _check(rc)
    return cls
