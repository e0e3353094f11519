"""Special functions (``torch.lgamma``, ``torch.digamma``, ``torch.special.*``): gamma-family,
Bessel, error-function and normal-distribution functions.

The kernels are SciPy's ``scipy.special`` ufuncs (imported on first use, never by ``import
ember``): they are the well-kept reference implementations torch's own are checked against.
Half-precision inputs are computed in float32 and cast back, as torch does. Gradients are
written in ember ops from the functions' known derivatives, so every order works where the
derivative is itself one of these functions (``lgamma`` -> ``digamma`` -> ``polygamma``).
Where torch has no derivative (``bessel_j0``, ``zeta``'s first argument...), neither do we.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import dispatch, dispatch_out
from .._tensor import Tensor
from ._operators import install_methods
from ._pointwise import _Binary, _binary_function, _unary, _unary_function
from .arithmetic import cos, exp, log, log1p, sign, sin, where
from .comparison import isnan

_SQRT_2PI = math.sqrt(2 * math.pi)
_INV_SQRT_2PI = 1 / _SQRT_2PI
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_HALF_LOG_PI = 0.5 * math.log(math.pi)


def _sc():
    from scipy import special
    return special


def _scipy(name: str):
    """The ``scipy.special`` ufunc ``name`` as a kernel that keeps the input's dtype
    (float16 in float32, as torch computes reduced precision)."""
    def kernel(x, *params):
        dt = x.dtype
        if dt.itemsize < 4:
            x = x.astype(np.float32)
        return np.asarray(getattr(_sc(), name)(*params, x)).astype(dt, copy=False)
    kernel.__name__ = name
    return kernel


def _polygamma_kernel(x, n):
    dt = x.dtype
    work = x.astype(np.float64)
    out = _sc().psi(work) if n == 0 else _sc().polygamma(n, work)
    return np.asarray(out).astype(dt)


def _sinc(x):
    return np.sinc(x).astype(x.dtype, copy=False)


def _entr(x):
    with np.errstate(all="ignore"):
        out = np.where(x > 0, -x * np.log(np.where(x > 0, x, 1)), np.where(x == 0, 0, -np.inf))
    return np.where(np.isnan(x), x, out).astype(x.dtype, copy=False)


# ---- gradients (ember ops) -----------------------------------------------------------------

def _sinc_grad(g, x, y):
    px = x * math.pi
    d = (cos(px) * px - sin(px)) / (px * x)
    return g * where(x == 0, 0.0, d)


def _entr_grad(g, x, y):
    return g * -(log(x) + 1)


Lgamma = _unary("lgamma", _scipy("gammaln"), lambda g, x, y: g * digamma(x))
Polygamma = _unary("polygamma", _polygamma_kernel,
                   lambda g, x, y, n: g * polygamma(n + 1, x), params="int n")
Digamma = _unary("digamma", _scipy("psi"), lambda g, x, y: g * polygamma(1, x))
I0 = _unary("i0", _scipy("i0"), lambda g, x, y: g * special_i1(x))
SpecialI0e = _unary("special_i0e", _scipy("i0e"),
                    lambda g, x, y: g * (special_i1e(x) - sign(x) * y), "xout")
SpecialI1 = _unary("special_i1", _scipy("i1"),
                   lambda g, x, y: g * where(x == 0, 0.5, i0(x) - y / x), "xout")
SpecialI1e = _unary("special_i1e", _scipy("i1e"),
                    lambda g, x, y: g * where(x == 0, 0.5,
                                              special_i0e(x) - y * (sign(x) + 1 / x)), "xout")
SpecialNdtr = _unary("special_ndtr", _scipy("ndtr"),
                     lambda g, x, y: g * exp(-0.5 * x * x) * _INV_SQRT_2PI)
SpecialNdtri = _unary("special_ndtri", _scipy("ndtri"),
                      lambda g, x, y: g * exp(0.5 * y * y) * _SQRT_2PI, "out")
SpecialLogNdtr = _unary("special_log_ndtr", _scipy("log_ndtr"),
                        lambda g, x, y: g * exp(-0.5 * x * x - y) * _INV_SQRT_2PI, "xout")
SpecialErfcx = _unary("special_erfcx", _scipy("erfcx"),
                      lambda g, x, y: g * (2 * x * y - _TWO_OVER_SQRT_PI), "xout")
Sinc = _unary("sinc", _sinc, _sinc_grad)
SpecialEntr = _unary("special_entr", _entr, _entr_grad)


def _spherical_j0(x):
    with np.errstate(all="ignore"):
        out = np.where(x == 0, 1.0, np.sin(x) / np.where(x == 0, 1, x))
    return out.astype(x.dtype, copy=False)


def _airy_ai(x):
    return np.asarray(_sc().airy(x.astype(np.float64))[0]).astype(x.dtype)


def _not_implemented(name: str):
    def gradient(g, x, y):
        raise RuntimeError(f"the derivative for '{name}' is not implemented.")
    return gradient


# torch has no derivative for these: the op records, and backward raises torch's error
_NO_GRAD_OPS = {name: _unary(name, kernel, _not_implemented(name), saves="") for name, kernel in {
    "special_bessel_j0": _scipy("j0"), "special_bessel_j1": _scipy("j1"),
    "special_bessel_y0": _scipy("y0"), "special_bessel_y1": _scipy("y1"),
    "special_modified_bessel_i0": _scipy("i0"), "special_modified_bessel_i1": _scipy("i1"),
    "special_modified_bessel_k0": _scipy("k0"), "special_modified_bessel_k1": _scipy("k1"),
    "special_scaled_modified_bessel_k0": _scipy("k0e"),
    "special_scaled_modified_bessel_k1": _scipy("k1e"),
    "special_spherical_bessel_j0": _spherical_j0, "special_airy_ai": _airy_ai}.items()}


class SpecialXlog1py(_Binary):
    ints = "float"

    @staticmethod
    def kernel(a, b):
        return _sc().xlog1py(a, b).astype(np.result_type(a, b), copy=False)

    @staticmethod
    def grads(g, a, b, out, needs):
        ga = where((a == 0) & ~isnan(b), 0.0, g * log1p(b)) if needs[0] else None
        return ga, (g * a / (1 + b) if needs[1] else None)


class SpecialZeta(_Binary):
    ints = "float"

    @staticmethod
    def kernel(a, b):
        dt = np.result_type(a, b)
        return np.asarray(_sc().zeta(np.asarray(a, np.float64), np.asarray(b, np.float64))
                          ).astype(dt)

    @staticmethod
    def grads(g, a, b, out, needs):
        if needs[0]:
            raise RuntimeError("the derivative for 'self' is not implemented.")
        return None, (g * -a * special_zeta(a + 1, b) if needs[1] else None)


class _Gammainc(_Binary):
    abstract = True
    ints = "float"
    sign = 1.0

    @classmethod
    def kernel(cls, a, b):
        dt = np.result_type(a, b)
        fn = _sc().gammainc if cls.sign > 0 else _sc().gammaincc
        return np.asarray(fn(np.asarray(a, np.float64), np.asarray(b, np.float64))).astype(dt)

    @classmethod
    def grads(cls, g, a, b, out, needs):
        if needs[0]:
            raise RuntimeError("the derivative for 'self' is not implemented.")
        d = exp((a - 1) * log(b) - b - lgamma(a))
        return None, (g * d * cls.sign if needs[1] else None)


class SpecialGammainc(_Gammainc):
    sign = 1.0


class SpecialGammaincc(_Gammainc):
    sign = -1.0


# ---- public functions ------------------------------------------------------------------------

(lgamma, digamma, i0, sinc, special_i0e, special_i1, special_i1e, special_ndtr, special_ndtri,
 special_log_ndtr, special_erfcx, special_entr) = map(_unary_function, (
     Lgamma, Digamma, I0, Sinc, SpecialI0e, SpecialI1, SpecialI1e, SpecialNdtr, SpecialNdtri,
     SpecialLogNdtr, SpecialErfcx, SpecialEntr))
special_xlog1py, special_zeta, special_gammainc, special_gammaincc = (
    _binary_function(op, number_input=True)
    for op in (SpecialXlog1py, SpecialZeta, SpecialGammainc, SpecialGammaincc))
_no_grad_functions = {name: _unary_function(op) for name, op in _NO_GRAD_OPS.items()}


def polygamma(n: int, input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The ``n``-th derivative of the digamma function, as ``torch.polygamma``."""
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return dispatch(Polygamma, input, n) if out is None else \
        dispatch_out(Polygamma, out, input, n)


def mvlgamma(input: Tensor, p: int, *, out: Tensor | None = None) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``, as ``torch.mvlgamma``:
    ``p(p-1)/4 log(pi) + sum_i lgamma(x - i/2)``, built from ``lgamma`` (so differentiable
    to every order)."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if bool(((input <= (p - 1) / 2)).any()):
        raise RuntimeError("All elements must be greater than (p-1)/2")
    total = lgamma(input)
    for i in range(1, p):
        total = total + lgamma(input - i / 2)
    result = total + p * (p - 1) / 2 * _HALF_LOG_PI
    if out is not None:
        out.copy_(result)
        return out
    return result


def _polygamma_method(self: Tensor, n: int) -> Tensor:
    return polygamma(n, self)


__all__ = ["lgamma", "digamma", "polygamma", "mvlgamma", "i0", "sinc"]

install_methods({"lgamma": lgamma, "digamma": digamma, "i0": i0, "sinc": sinc,
                 "mvlgamma": mvlgamma, "polygamma": _polygamma_method})
