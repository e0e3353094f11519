"""Finite-difference checks of gradients: ``gradcheck`` and ``gradgradcheck``, as torch's.

The analytical Jacobian is built row by row from vector-Jacobian products (one backward
per output element) and compared with central differences of the function itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._tensor import Tensor, _make

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,) if not isinstance(x, list) else tuple(x)


def _diff_inputs(inputs):
    return [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t._requires_grad]


def _outputs(fn, inputs):
    return [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor) and
            (o.is_floating_point() or o.is_complex())]


def _numerical_jacobian(fn, inputs, idx: int, eps: float) -> list[np.ndarray]:
    """d(outputs)/d(inputs[idx]) by central differences, one matrix per output."""
    from .grad_mode import no_grad
    data = inputs[idx]._data
    with no_grad():
        jac = [np.zeros((o._data.size, data.size)) for o in _outputs(fn, inputs)]
        for k in range(data.size):
            pos = np.unravel_index(k, data.shape)
            orig = data[pos].copy()
            data[pos] = orig + eps
            plus = [o._data.astype(np.float64) for o in _outputs(fn, inputs)]
            data[pos] = orig - eps
            minus = [o._data.astype(np.float64) for o in _outputs(fn, inputs)]
            data[pos] = orig
            for j, (p, m) in enumerate(zip(plus, minus)):
                jac[j][:, k] = (p - m).reshape(-1) / (2 * eps)
    return jac


def _analytical_jacobian(fn, inputs, idx_list) -> tuple[list, list]:
    """Rows from vjps: jac[input][output] has shape (out.numel(), in.numel())."""
    from ._api import grad
    outs = _outputs(fn, inputs)
    diff = [inputs[i] for i in idx_list]
    jac = [[np.zeros((o._data.size, t._data.size)) for o in outs] for t in diff]
    reentrant = []
    for j, out in enumerate(outs):
        if not out._requires_grad:
            continue
        for k in range(out._data.size):
            g = np.zeros(out._data.shape, dtype=out._data.dtype)
            g.reshape(-1)[k] = 1
            grads = grad((out,), diff, (_make(g),), retain_graph=True, allow_unused=True)
            grads2 = grad((out,), diff, (_make(g),), retain_graph=True, allow_unused=True)
            for i, (a, b) in enumerate(zip(grads, grads2)):
                if a is not None:
                    jac[i][j][k] = a._data.reshape(-1)
                    if b is None or not np.allclose(a._data, b._data, atol=0, rtol=0):
                        reentrant.append(i)
    return jac, reentrant


def gradcheck(func: Callable, inputs, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, fast_mode: bool = False,
              masked: bool | None = None, check_backward_ad: bool = True,
              check_forward_ad: bool = False) -> bool:
    """Check ``func``'s gradients w.r.t. the inputs that require grad against finite
    differences (use float64 inputs)."""
    inputs = _as_tuple(inputs)
    idx_list = _diff_inputs(inputs)
    if not idx_list:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    for i in idx_list:
        if inputs[i]._data.dtype not in (np.float64, np.complex128):
            import warnings
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          "point. gradcheck works best with float64 inputs.", stacklevel=2)
    try:
        analytical, reentrant = _analytical_jacobian(func, inputs, idx_list)
        if reentrant and nondet_tol == 0:
            raise GradcheckError("Backward is not reentrant, i.e., running backward with same "
                                 "input and grad_output multiple times gives different values")
        for pos, i in enumerate(idx_list):
            numerical = _numerical_jacobian(func, inputs, i, eps)
            for j, (a, n) in enumerate(zip(analytical[pos], numerical)):
                if not np.allclose(a, n, rtol=rtol, atol=atol):
                    raise GradcheckError(
                        f"Jacobian mismatch for output {j} with respect to input {i},\n"
                        f"numerical:{n}\nanalytical:{a}\n")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(func: Callable, inputs, grad_outputs=None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception: bool = True, nondet_tol: float = 0.0,
                  check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
                  check_batched_grad: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, fast_mode: bool = False,
                  masked: bool = False) -> bool:
    """Check second derivatives: gradcheck of the vector-Jacobian product of ``func``."""
    from ._api import grad
    inputs = _as_tuple(inputs)
    n_in = len(inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        outs = _outputs(func, inputs)
        grad_outputs = tuple(
            _make(rng.standard_normal(o._data.shape).astype(o._data.dtype), True) for o in outs
            if o._requires_grad)
    grad_outputs = _as_tuple(grad_outputs)
    idx_list = _diff_inputs(inputs)

    def vjp(*args):
        from .grad_mode import enable_grad
        ins, gos = args[:n_in], args[n_in:]
        with enable_grad():
            outs = [o for o in _outputs(func, ins) if o._requires_grad]
            diff = [ins[i] for i in idx_list]
            grads = grad(outs, diff, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(vjp, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol)
