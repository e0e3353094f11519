"""Higher-level autograd: ``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``hvp``, ``vhp``.

As ``torch.autograd.functional``: each takes a function of tensors and the point at
which to differentiate. Jacobians are built row by row from vector-Jacobian products.
``jvp`` runs the function once on dual tensors (forward mode, ``forward_ad``); with
``strict=True`` or inside a forward-AD level it uses the double-vjp trick instead (the vjp
is linear in its cotangent, so differentiating it again gives the Jacobian-vector
product), as torch's does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._tensor import Tensor, _make
from . import forward_ad
from ._api import grad as _grad
from .grad_mode import enable_grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _tuple(x) -> tuple[tuple, bool]:
    if isinstance(x, Tensor):
        return (x,), False
    return tuple(x), True


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """Fresh leaves that require grad (graph-connected to the originals if create_graph)."""
    out = []
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"The inputs given to the function must be Tensors, got "
                            f"{type(t).__name__}")
        if create_graph and t._requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(True))
    return tuple(out)


def _grad_or_zeros(outputs, inputs, grad_outputs, create_graph, strict, what):
    diff_out = [(o, g) for o, g in zip(outputs, grad_outputs) if o._requires_grad]
    if not diff_out:
        if strict:
            raise RuntimeError(f"The output of the user-provided function is independent of "
                               f"its input; this is not allowed in strict mode ({what}).")
        return tuple(_make(np.zeros_like(i._data)) for i in inputs)
    grads = _grad([o for o, _ in diff_out], inputs, [g for _, g in diff_out],
                  create_graph=create_graph, retain_graph=True, allow_unused=True)
    result = []
    for i, g in zip(inputs, grads):
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent "
                                   f"of input {inputs.index(i)}. This is not allowed in strict "
                                   f"mode ({what}).")
            g = _make(np.zeros_like(i._data))
        result.append(g if create_graph else g.detach())
    return tuple(result)


def _outputs(func, inputs) -> tuple[tuple, bool]:
    out = func(*inputs)
    outs, is_tuple = _tuple(out)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError("The outputs of the user-provided function given to the autograd "
                            f"functional API must be Tensors, got {type(o).__name__}")
    return outs, is_tuple


def _ret(values: tuple, is_tuple: bool):
    return values if is_tuple else values[0]


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T J)``."""
    with enable_grad():
        ins, in_tuple = _tuple(inputs)
        ins = _prepare(ins, create_graph)
        outs, out_tuple = _outputs(func, ins)
        if v is None:
            if any(o._data.size != 1 for o in outs):
                raise RuntimeError("The vector v can only be None if the user-provided function "
                                   "returns a single Tensor with a single element.")
            vs = tuple(_make(np.ones_like(o._data)) for o in outs)
        else:
            vs, _ = _tuple(v)
        grads = _grad_or_zeros(outs, ins, vs, create_graph, strict, "vjp")
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return _ret(outs, out_tuple), _ret(grads, in_tuple)


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``, by forward mode (by the double-vjp trick with ``strict``
    or inside a forward-AD level)."""
    ins, in_tuple = _tuple(inputs)
    vs = _tangents(ins, v, in_tuple)
    if strict or forward_ad._current_level() >= 0:
        return _jvp_double_vjp(func, ins, vs, create_graph, strict)
    with enable_grad(), forward_ad.dual_level():
        outs, out_tuple = _outputs(func, [forward_ad.make_dual(
            i if create_graph else i.detach(), t) for i, t in zip(ins, vs)])
        pairs = [forward_ad.unpack_dual(o) for o in outs]
    outs = tuple(o if create_graph else o.detach() for o, _ in pairs)
    jv = tuple(_make(np.zeros_like(o._data)) if t is None else t if create_graph else t.detach()
               for o, (_, t) in zip(outs, pairs))
    return _ret(outs, out_tuple), _ret(jv, out_tuple)


def _tangents(ins: tuple, v, in_tuple: bool) -> tuple:
    """``v`` as a tuple of tangents for ``ins``, checked as torch's ``_validate_v``; ones
    for a one-element input when ``v`` is None."""
    for t in ins:
        if not isinstance(t, Tensor):
            raise TypeError(f"The inputs given to the function must be Tensors, got "
                            f"{type(t).__name__}")
    if v is None:
        if any(i._data.size != 1 for i in ins):
            raise RuntimeError("The vector v can only be None if the input to the "
                               "user-provided function is a single Tensor with a single "
                               "element.")
        return tuple(_make(np.ones_like(i._data)) for i in ins)
    vs, _ = _tuple(v)
    if len(vs) != len(ins):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(ins)} but got "
                           f"{len(vs)}." if in_tuple else
                           "The given v should contain a single Tensor.")
    for k, (t, i) in enumerate(zip(vs, ins)):
        if tuple(t.shape) != tuple(i.shape):
            prefix = f"Entry {k} in " if in_tuple else ""
            raise RuntimeError(f"{prefix}v has invalid size: should be {i.shape} but got "
                               f"{t.shape}.")
    return vs


def _jvp_double_vjp(func: Callable, ins: tuple, vs: tuple, create_graph: bool, strict: bool):
    """``jvp`` by differentiating the vjp with respect to its cotangent."""
    with enable_grad():
        ins = _prepare(ins, create_graph)
        outs, out_tuple = _outputs(func, ins)
        dummies = tuple(_make(np.zeros_like(o._data)).requires_grad_(True) for o in outs)
        g = _grad_or_zeros(outs, ins, dummies, True, strict, "jvp")
        diff = [(gi, vi) for gi, vi in zip(g, vs) if gi._requires_grad]
        if diff:
            jv = _grad([gi for gi, _ in diff], dummies, [vi for _, vi in diff],
                       create_graph=create_graph, retain_graph=True, allow_unused=True)
        else:
            jv = (None,) * len(dummies)
        jv = tuple(j if j is not None else _make(np.zeros_like(o._data))
                   for j, o in zip(jv, outs))
    if not create_graph:
        outs, jv = tuple(o.detach() for o in outs), tuple(j.detach() for j in jv)
    return _ret(outs, out_tuple), _ret(jv, out_tuple)


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian ``d func(inputs) / d inputs``, shaped ``output.shape + input.shape``."""
    with enable_grad():
        ins, in_tuple = _tuple(inputs)
        ins = _prepare(ins, create_graph)
        outs, out_tuple = _outputs(func, ins)
        rows = []
        for o in outs:
            per_input = [[] for _ in ins]
            for k in range(o._data.size):
                e = np.zeros(o._data.size, dtype=o._data.dtype)
                e[k] = 1
                grads = _grad_or_zeros((o,), ins, (_make(e.reshape(o._data.shape)),),
                                       create_graph, strict, "jacobian")
                for lst, g in zip(per_input, grads):
                    lst.append(g)
            row = []
            for i, lst in zip(ins, per_input):
                shape = o._data.shape + i._data.shape
                if lst:
                    from ..ops.shape import stack
                    row.append(stack(lst).reshape(shape))
                else:
                    row.append(_make(np.zeros(shape, dtype=i._data.dtype)))
            rows.append(tuple(row))
    if not create_graph:
        rows = [tuple(r.detach() for r in row) for row in rows]
    if not out_tuple:
        return _ret(rows[0], in_tuple)
    return tuple(_ret(r, in_tuple) for r in rows)


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient."""
    ins, in_tuple = _tuple(inputs)

    def gradient(*args):
        out = func(*args)
        if not isinstance(out, Tensor) or out._data.size != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor "
                               "with a single element.")
        return _grad_or_zeros((out,), args, (_make(np.ones_like(out._data)),), True, strict,
                              "hessian")

    jac = jacobian(gradient, ins, create_graph=create_graph, strict=strict)
    if in_tuple:
        return jac
    return jac[0][0]


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T H)``."""
    with enable_grad():
        ins, in_tuple = _tuple(inputs)
        ins = _prepare(ins, create_graph)
        out = func(*ins)
        if not isinstance(out, Tensor) or out._data.size != 1:
            raise RuntimeError("The function given to vhp should return a single Tensor with "
                               "a single element.")
        g = _grad_or_zeros((out,), ins, (_make(np.ones_like(out._data)),), True, strict, "vhp")
        vs, _ = _tuple(v) if v is not None else ((_make(np.ones_like(ins[0]._data)),), False)
        res = _grad_or_zeros([x for x in g], ins, vs, create_graph, strict, "vhp") if any(
            x._requires_grad for x in g) else tuple(_make(np.zeros_like(i._data)) for i in ins)
    return (out if create_graph else out.detach()), _ret(res, in_tuple)


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)``; the Hessian is symmetric, so this equals vhp (reverse over
    reverse: in ember about twice as fast as forward over reverse)."""
    return vhp(func, inputs, v, create_graph, strict)
