"""``torch.special``: special functions under torch's names.

The ops live in ``ember/ops/special.py`` (SciPy kernels) and, for the functions that are
also ordinary tensor math (``erf``, ``expit``, ``logsumexp``...), in the op modules that
already have them; this module only gives them their ``torch.special`` names.

Not covered: the orthogonal-polynomial families (``chebyshev_polynomial_t``,
``hermite_polynomial_h``, ...), which real programs rarely call.
"""

from __future__ import annotations

from .ops.arithmetic import erf, erfc, erfinv, exp2, expm1, log1p, logit, round, sigmoid, xlogy
from .ops.reductions import log_softmax, logsumexp, softmax
from .ops.special import (
    _no_grad_functions,
    digamma,
    i0,
    lgamma,
    mvlgamma,
    polygamma,
    sinc,
    special_entr,
    special_erfcx,
    special_gammainc,
    special_gammaincc,
    special_i0e,
    special_i1,
    special_i1e,
    special_log_ndtr,
    special_ndtr,
    special_ndtri,
    special_xlog1py,
    special_zeta,
)

expit = sigmoid
gammaln = lgamma
psi = digamma
multigammaln = mvlgamma
entr, erfcx, gammainc, gammaincc = special_entr, special_erfcx, special_gammainc, \
    special_gammaincc
i0e, i1, i1e = special_i0e, special_i1, special_i1e
ndtr, ndtri, log_ndtr = special_ndtr, special_ndtri, special_log_ndtr
xlog1py, zeta = special_xlog1py, special_zeta
airy_ai = _no_grad_functions["special_airy_ai"]
bessel_j0 = _no_grad_functions["special_bessel_j0"]
bessel_j1 = _no_grad_functions["special_bessel_j1"]
bessel_y0 = _no_grad_functions["special_bessel_y0"]
bessel_y1 = _no_grad_functions["special_bessel_y1"]
modified_bessel_i0 = _no_grad_functions["special_modified_bessel_i0"]
modified_bessel_i1 = _no_grad_functions["special_modified_bessel_i1"]
modified_bessel_k0 = _no_grad_functions["special_modified_bessel_k0"]
modified_bessel_k1 = _no_grad_functions["special_modified_bessel_k1"]
scaled_modified_bessel_k0 = _no_grad_functions["special_scaled_modified_bessel_k0"]
scaled_modified_bessel_k1 = _no_grad_functions["special_scaled_modified_bessel_k1"]
spherical_bessel_j0 = _no_grad_functions["special_spherical_bessel_j0"]

__all__ = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "digamma", "entr", "erf",
    "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln",
    "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp",
    "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "sinc", "softmax", "spherical_bessel_j0", "xlog1py", "xlogy",
    "zeta"]
