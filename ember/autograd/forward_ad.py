"""Forward-mode automatic differentiation, as ``torch.autograd.forward_ad``.

Inside ``with dual_level():``, ``make_dual(primal, tangent)`` gives a tensor that carries
a tangent; every op run on it carries the Jacobian-vector product forward, and
``unpack_dual`` reads it back. As in torch, one level at a time: nesting raises.

How the tangents move. A level is a dispatch mode (``ember/_dispatch.py``), so outside a
level nothing costs anything, and the ops written in Python between ``make_dual`` and
``unpack_dual`` (modules, views, in-place writes) all reach it. For each op with a dual
input it picks a rule from what the op table says of the op, the cheapest that applies:

- a **view** op (``Op.view``) is linear in its input, so the tangent is the same view of
  the input's tangent: a write through the view reaches the base's tangent too;
- a **linear** op (sum, cat, gather...) is applied to the tangents; a **product**
  (matmul, linear, convolution) gets one term per dual input;
- a real **pointwise** op has a diagonal Jacobian, its own transpose: its backward rule
  applied to the tangent is the JVP;
- any other op gets its JVP from its **backward** rule by the double-vjp trick: the
  vector-Jacobian product ``g(u) = J^T u`` is linear in ``u``, so the gradient of
  ``<g(u), v>`` with respect to ``u`` is ``J v``. Backward rules are ember ops, hence
  differentiable: one description of each op serves both modes (an op whose backward is
  not differentiable, as the fused recurrent layers', raises);
- an **in-place** op gets the JVP of its out-of-place form at the values before the
  write, written into the target's tangent (so views of it see the change).

The op runs once, on its inputs lifted to fresh tensors that require grad (aliases of
the inputs in their own graph when those are recorded), so ordinary reverse-mode autograd
running at the same time is unchanged and random ops are drawn once. Tangents of
tensors that a backward pass unpacks (saved inputs and outputs) are found too, so
forward-over-reverse (Hessian-vector products) works.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from .._dtype import is_bfloat16
from .._state import STATE, push_mode, remove_mode
from .._tensor import Tensor, _make
from ._api import grad as _grad
from .graph import _SavedOutput

__all__ = ["UnpackedDualTensor", "enter_dual_level", "exit_dual_level", "make_dual",
           "unpack_dual", "dual_level"]

_LISTS = (list, tuple)


class UnpackedDualTensor(NamedTuple):
    """What ``unpack_dual`` returns: the primal and its tangent (``None`` if not dual)."""

    primal: Tensor
    tangent: Tensor | None


def _differentiable_dtype(arr) -> bool:
    dt = arr.dtype
    return dt.kind in "fc" or is_bfloat16(dt)


class _WeakIdMap:
    """Objects (by identity) to values; an entry dies with its object. Tensors compare
    elementwise, so a ``WeakKeyDictionary`` would not do."""

    __slots__ = ("_items",)

    def __init__(self):
        self._items: dict[int, tuple] = {}

    def get(self, obj):
        entry = self._items.get(id(obj))
        return entry[1] if entry is not None and entry[0]() is obj else None

    def set(self, obj, value) -> None:
        key, items = id(obj), self._items

        def forget(ref, key=key):
            entry = items.get(key)
            if entry is not None and entry[0] is ref:
                del items[key]
        self._items[key] = (weakref.ref(obj, forget), value)

    def clear(self) -> None:
        self._items.clear()


class _ForwardMode:
    """One dual level: where the tangents live, and the dispatch mode that moves them."""

    def __init__(self, level: int):
        self.level = level
        self.tangents = _WeakIdMap()  # tensor -> its tangent
        self.saved = _WeakIdMap()     # array of a node's saved output -> the output's tangent
        self.views = _WeakIdMap()     # view made at this level -> True

    # ---- the tangent of a tensor ----------------------------------------------------

    def get(self, t: Tensor) -> Tensor | None:
        tangent = self.tangents.get(t)
        if tangent is not None:
            return tangent
        if t.grad_fn is not None:  # a node's own output, as backward unpacks it
            tangent = self.saved.get(t._data)
            if tangent is not None:
                return tangent
        if t._base is not None and self.views.get(t):
            base_tangent = self.tangents.get(t._base)
            if base_tangent is not None:
                tangent = _view_of_tangent(base_tangent, t._base, t)
                if tangent is not None:
                    self.tangents.set(t, tangent)
                return tangent
        return None

    def set(self, t: Tensor, tangent: Tensor) -> None:
        self.tangents.set(t, tangent)
        node = t.grad_fn
        saved = getattr(node, "_saved", None)
        if type(saved) is tuple:
            for item in saved:
                if type(item) is _SavedOutput and item.output_nr == t._output_nr:
                    self.saved.set(item.array, tangent)

    def clear(self) -> None:
        self.tangents.clear()
        self.saved.clear()
        self.views.clear()

    # ---- the dispatch mode ----------------------------------------------------------

    def __ember_dispatch__(self, op, args, kwargs):
        duals = [(t, self.get(t)) for t in _tensors(args)]
        if not any(tangent is not None for _, tangent in duals) or not op.differentiable:
            out = op.apply(*args, **kwargs)
            if op.view:
                self._mark_views(out)
            return out
        if op.inplace:
            return self._inplace(op, args, kwargs)
        if op.view and duals[0][0] is args[0] and all(tangent is None for _, tangent in duals[1:]):
            return self._view(op, args, kwargs, duals[0][1])
        if op.name in _LINEAR or op.name in _MULTILINEAR:
            tangent = self._by_rule(op, args, kwargs)
            out = op.apply(*args, **kwargs)
            tangents = (tangent,)
        else:
            out, tangents = self._jvp(op, args, kwargs)
        for o, tangent in zip(_as_tuple(out), tangents):
            if tangent is not None and isinstance(o, Tensor) and _differentiable_dtype(o._data):
                self.set(o, tangent)
        return out

    def _mark_views(self, out) -> None:
        for o in _as_tuple(out):
            if isinstance(o, Tensor) and o._base is not None:
                self.views.set(o, True)

    def _view(self, op, args, kwargs, tangent: Tensor):
        """A view op: the same view of the input's tangent."""
        out = op.apply(*args, **kwargs)
        self._mark_views(out)
        tangent_out = op.apply(tangent, *args[1:], **kwargs)
        for o, t in zip(_as_tuple(out), _as_tuple(tangent_out)):
            if isinstance(o, Tensor) and _differentiable_dtype(o._data):
                self.set(o, t)
        return out

    def _by_rule(self, op, args, kwargs) -> Tensor | None:
        """The tangent of an op of ``_LINEAR`` (the op on the tangents, zeros for the
        floating-point inputs without one) or ``_MULTILINEAR`` (the sum over the dual
        inputs of the op with that input replaced by its tangent and the bias dropped);
        differentiable when the inputs or tangents require grad."""
        float_args = [i for i, a in enumerate(args) if isinstance(a, Tensor)
                      and _differentiable_dtype(a._data)]
        tangents = {i: self._tangent_as_primal(args[i]) for i in float_args}
        grad_mode = STATE.grad_enabled
        STATE.grad_enabled = grad_mode and (any(t._requires_grad for t in _tensors(args)) or any(
            t is not None and t._requires_grad for t in tangents.values()))
        try:
            if op.name in _LINEAR:
                return op.apply(*self._linear_args(args), **kwargs)
            bias = _MULTILINEAR[op.name]
            total = None
            for i, t in tangents.items():
                if t is None:
                    continue
                if i == bias:  # affine in the bias: its tangent, broadcast as the op does
                    return self._jvp(op, args, kwargs, private=True)[1][0]
                term = op.apply(*(t if j == i else None if j == bias else a
                                  for j, a in enumerate(args)), **kwargs)
                total = term if total is None else total + term
            return total
        finally:
            STATE.grad_enabled = grad_mode

    def _tangent_as_primal(self, t: Tensor) -> Tensor | None:
        """``t``'s tangent in ``t``'s dtype (``make_dual`` keeps a tangent's own, as torch)."""
        tangent = self.get(t)
        if tangent is None or tangent._data.dtype == t._data.dtype:
            return tangent
        return tangent.to(t.dtype)

    def _linear_args(self, args) -> list:
        def tangent(a):
            if not isinstance(a, Tensor) or not _differentiable_dtype(a._data):
                return a
            t = self._tangent_as_primal(a)
            return _make(np.zeros_like(a._data)) if t is None else t
        return [type(a)(tangent(x) for x in a) if type(a) in _LISTS else tangent(a)
                for a in args]

    def _jvp(self, op, args, kwargs, private: bool = False) -> tuple:
        """Run ``op`` once on lifted inputs and return its result(s) and the tangent of
        each (``None`` for outputs that have none), by the double-vjp trick. The result is
        recorded in the caller's graph as ``op`` would be, unless ``private``."""
        grad_mode = STATE.grad_enabled
        user_records = not private and grad_mode and any(t._requires_grad
                                                         for t in _tensors(args))
        leaves, tangents, cut = [], [], []

        def lift(t: Tensor) -> Tensor:
            tangent = self.get(t) if _differentiable_dtype(t._data) else None
            if user_records and t._requires_grad:
                # an alias in the caller's graph (reverse mode sees through it), cut off
                # from that graph while the JVP is computed: its engine runs walk only the op
                lifted = t.view_as(t)
                cut.append(lifted.grad_fn)
            elif tangent is not None or t._requires_grad:
                lifted = _make(t._data, tangent is not None)
                lifted._vc = t._vc
            else:
                return t
            if tangent is not None:
                self.tangents.set(lifted, tangent)  # what backward may save and unpack
                leaves.append(lifted)
                tangents.append(tangent)
            return lifted

        lifted, positions = [], []  # positions: of the dual arguments (None: in a list)
        for i, a in enumerate(args):
            n = len(leaves)
            if isinstance(a, Tensor):
                lifted.append(lift(a))
            elif type(a) in _LISTS and a and isinstance(a[0], Tensor):
                lifted.append(type(a)(lift(x) if isinstance(x, Tensor) else x for x in a))
            else:
                lifted.append(a)
            positions.extend([i if isinstance(a, Tensor) else None] * (len(leaves) - n))
        create_graph = grad_mode and (user_records or any(t._requires_grad for t in tangents))
        edges = [node.next_functions for node in cut]
        STATE.grad_enabled = True
        try:
            for node in cut:
                node.next_functions = ((None, 0),)
            out = op.apply(*lifted, **kwargs)
            outs = _as_tuple(out)
            diff = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.grad_fn
                    is not None and _differentiable_dtype(o._data)]
            jvps = None
            if op.kind == "pointwise" and len(diff) == 1 and None not in positions:
                STATE.grad_enabled = create_graph
                jvps = _pointwise_jvp(outs[diff[0]], positions, tangents)
            if jvps is None:
                STATE.grad_enabled = True
                jvps = _double_vjp(op, [outs[i] for i in diff], leaves, tangents, create_graph)
        finally:
            STATE.grad_enabled = grad_mode
            for node, e in zip(cut, edges):
                node.next_functions = e
        result = [None] * len(outs)
        for i, jv in zip(diff, jvps):
            result[i] = jv
        if not user_records:  # the caller recorded nothing: give it tensors without a graph
            outs = tuple(_make(o._data) if isinstance(o, Tensor) else o for o in outs)
            out = outs if isinstance(out, tuple) else outs[0]
        return out, result

    def _inplace(self, op, args, kwargs):
        """An in-place op: the JVP of its out-of-place form at the values before the
        write, written into the target's tangent."""
        target, base_op = args[0], op.__bases__[0]
        if base_op.name in _LINEAR or base_op.name in _MULTILINEAR:
            new = self._by_rule(base_op, args, kwargs)
        else:
            _, (new,) = self._jvp(base_op, args, kwargs, private=True)
        current, node = self.get(target), target.grad_fn
        # a recorded in-place op saves the target's value from before the write (an alias
        # the dispatcher makes): its tangent is the target's from before the write too
        old = _make(current._data.copy()) if current is not None and STATE.grad_enabled and any(
            t._requires_grad for t in _tensors(args)) else None
        op.apply(*args, **kwargs)
        if target.grad_fn is not node:
            self._saved_by(target.grad_fn, args, old)
        if current is None and new is None:
            return target
        if new is None:
            new = _make(np.zeros_like(target._data))
        if current is None:
            current = self._tangent_slot(target, new)
            if current is new:
                return target
        np.copyto(current._data, new._data, casting="unsafe")
        current._vc[0] += 1
        self.set(target, current)  # (for a node's saved output)
        return target

    def _saved_by(self, node, args, old: Tensor | None) -> None:
        """Give the tensors ``node`` (an in-place op's) saved that are none of ``args``
        (the alias of the target before the write) the tangent ``old``."""
        saved = getattr(node, "_saved", None)
        if old is None or type(saved) is not tuple:
            return
        for item in saved:
            if isinstance(item, Tensor) and not any(item is a for a in args) and \
                    self.tangents.get(item) is None:
                self.tangents.set(item, old)

    def _tangent_slot(self, target: Tensor, new: Tensor) -> Tensor:
        """The tangent a non-dual ``target`` takes on an in-place write of a dual value: a
        view of its base's tangent (made, zero, if the base has none) for a view made at
        this level, else ``new`` itself."""
        base = target._base
        if base is not None and self.views.get(target):
            base_tangent = self.tangents.get(base)
            if base_tangent is None:
                base_tangent = _make(np.zeros_like(base._data))
                self.set(base, base_tangent)
            slot = _view_of_tangent(base_tangent, base, target)
            if slot is not None:
                self.set(target, slot)
                return slot
        self.set(target, new)
        return new


def _pointwise_jvp(out: Tensor, positions: list, tangents: list) -> list | None:
    """The JVP of a real pointwise op from one call of its backward rule per dual input:
    its Jacobian w.r.t. an input of the output's shape is diagonal, hence its own
    transpose, so the VJP of the tangent is the JVP. ``None`` (use ``_double_vjp``) for
    complex or broadcast inputs."""
    data = out._data
    if data.dtype.kind != "f" or any(t._data.dtype.kind != "f" or t._data.shape != data.shape
                                     for t in tangents):
        return None
    node, total = out.grad_fn, None
    for pos, t in zip(positions, tangents):
        grads = node.op.backward(node, t if t._data.dtype == data.dtype else t.to(out.dtype))
        g = grads[pos] if type(grads) is tuple else grads if pos == 0 else None
        if g is None:
            continue
        if g._data.shape != data.shape:
            return None
        if g._data.dtype != data.dtype:
            g = g.to(out.dtype)
        total = g if total is None else total + g
    return [_own(_make(np.zeros_like(data)) if total is None else total, tangents)]


def _own(jvp: Tensor, tangents: list) -> Tensor:
    """``jvp``, copied if it shares memory with a tangent (an identity's JVP is the tangent
    itself): an in-place write must not reach the input's tangent through it."""
    if any(np.may_share_memory(jvp._data, v._data) for v in tangents):
        return jvp.clone()
    return jvp


def _double_vjp(op, outs: list, leaves: list, tangents: list, create_graph: bool) -> list:
    """``J v`` of the recorded ``outs`` w.r.t. ``leaves`` along ``tangents``: the gradient,
    with respect to the cotangents ``u``, of ``<J^T u, v>``; ``None`` for an output that
    does not depend on the leaves."""
    if not outs or not leaves:
        return [None] * len(outs)
    us = [_make(np.ones_like(o._data), True) for o in outs]
    gs = _grad(outs, leaves, us, create_graph=True, allow_unused=True)
    pairs = []
    for g, v in zip(gs, tangents):
        if g is None:
            continue
        if not g._requires_grad:
            if np.any(g._data):  # J^T u of a linear rule would depend on u
                raise RuntimeError(f"Trying to use forward AD with {op.aten} that does not "
                                   "support it: its backward rule is not differentiable")
            continue  # a zero derivative (floor, sign...)
        pairs.append((g, v if v._data.dtype == g._data.dtype else v.to(g.dtype)))
    if not pairs:
        present = any(g is not None for g in gs)
        return [_make(np.zeros_like(o._data)) if present else None for o in outs]
    try:
        jvps = _grad([g for g, _ in pairs], us, [v for _, v in pairs],
                     create_graph=create_graph, allow_unused=True)
    except RuntimeError as exc:
        raise RuntimeError(f"Trying to use forward AD with {op.aten}, whose JVP comes from "
                           f"differentiating its backward rule, which failed: {exc}") from exc
    return [_make(np.zeros_like(o._data)) if j is None else _own(j, tangents)
            for j, o in zip(jvps, outs)]


def _view_of_tangent(base_tangent: Tensor, base: Tensor, view: Tensor) -> Tensor | None:
    """The region of ``base_tangent`` that ``view`` is of ``base`` (same layout needed);
    ``None`` where the layouts differ."""
    src, arr, tan = base._data, view._data, base_tangent._data
    if not (type(src) is np.ndarray and type(tan) is np.ndarray and src.flags.c_contiguous
            and tan.flags.c_contiguous and src.dtype == arr.dtype == tan.dtype
            and src.shape == tan.shape and all(s >= 0 for s in arr.strides)):
        return None
    offset = arr.__array_interface__["data"][0] - src.__array_interface__["data"][0]
    region = np.lib.stride_tricks.as_strided(tan.reshape(-1)[offset // arr.itemsize:],
                                             arr.shape, arr.strides)
    out = _make(region)
    out._vc, out._base = base_tangent._vc, base_tangent
    return out


def _tensors(args):
    for a in args:
        if isinstance(a, Tensor):
            yield a
        elif type(a) in _LISTS:
            yield from (t for t in a if isinstance(t, Tensor))


def _as_tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


# Ops that are linear in their floating-point tensor inputs taken together (the others
# are indices, masks): the tangent is the op applied to the tangents.
_LINEAR = frozenset({"sum", "mean", "cumsum", "cat", "stack", "flip", "roll", "repeat",
                     "blockdiag", "gather", "indexselect", "tril", "clone", "neg", "_to_copy"})

# Ops that are linear in each tensor input separately (products), name -> the position of
# the bias argument they add (None if none): the tangent is a sum of products.
_MULTILINEAR = {"matmul": None, "linear": 2, "convolution": 2, "convtranspose": 2,
                "convweight": None}


# ---- the public API ----------------------------------------------------------------

_CURRENT: list[_ForwardMode] = []  # the active level (at most one, as in torch)


def _current_level() -> int:
    """The active level, ``-1`` when none is."""
    return _CURRENT[-1].level if _CURRENT else -1


def _mode(level: int | None, what: str) -> _ForwardMode | None:
    if not _CURRENT:
        return None
    mode = _CURRENT[-1]
    if level is not None and level != mode.level:
        raise RuntimeError(f"Invalid level given to {what}")
    return mode


@contextmanager
def _suspended(mode: _ForwardMode):
    """Run ops without the level seeing them (building the dual and primal aliases)."""
    present = mode in STATE.modes
    if present:
        remove_mode(mode)
    try:
        yield
    finally:
        if present:
            push_mode(mode)


def enter_dual_level() -> int:
    """Start a new forward-AD level and return its index. Only one can be active."""
    if _CURRENT:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    mode = _ForwardMode(0)
    _CURRENT.append(mode)
    push_mode(mode)
    return mode.level


def exit_dual_level(*, level: int | None = None) -> None:
    """End the level (the current one by default): its dual tensors lose their tangents."""
    if level is None:
        level = _current_level()
    if level < 0:
        raise RuntimeError("Dual level must be a positive number.")
    if not _CURRENT or _CURRENT[-1].level != level:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that "
                           "was created. This is not supported.")
    mode = _CURRENT.pop()
    if mode in STATE.modes:
        remove_mode(mode)
    mode.clear()


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of ``tensor`` (gradients flow back to it) that carries ``tangent`` at the
    level. ``tangent`` is kept as is when it has ``tensor``'s layout, else copied into it."""
    if level is None and not _CURRENT:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, "
                           "make sure to enter_dual_level() first.")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual(): expected tensor and tangent to be Tensors")
    for what, t in (("primal", tensor), ("tangent", tangent)):
        if not (t.is_floating_point() or t.is_complex()):
            raise ValueError(f"Expected {what} to be floating point or complex, but got: "
                             f"{t.dtype}")
    mode = _mode(level, "_make_dual")
    if mode is None:
        raise RuntimeError("Invalid level given to _make_dual")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than "
                           f"that of the original Tensor, this is not supported. Tensor is of "
                           f"size {list(tensor.shape)} while the given forward gradient is of "
                           f"size {list(tangent.shape)}.")
    if mode.get(tensor) is not None:
        raise RuntimeError(f"Making a dual Tensor based on a Tensor that already has a forward "
                           f"gradient at the same level {mode.level} is not supported.")
    with _suspended(mode):
        if tangent._data.strides != tensor._data.strides:  # views of both must agree
            tangent = _make(np.empty_like(tensor._data, dtype=tangent._data.dtype)).copy_(
                tangent)  # (recorded if the tangent requires grad)
        dual = tensor.view_as(tensor)
    mode.set(dual, tangent)
    return dual


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor``: the primal a view without the tangent, the
    tangent ``None`` when ``tensor`` is not dual at the level (or no level is active)."""
    mode = _mode(level, "_unpack_dual")
    tangent = mode.get(tensor) if mode is not None else None
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    with _suspended(mode):
        primal = tensor.view_as(tensor)
    return UnpackedDualTensor(primal, tangent)


class dual_level:  # noqa: N801  (torch's name)
    """Context manager (and decorator) for a forward-AD level: dual tensors made inside
    lose their tangents when it exits. ``with dual_level() as level:`` gives its index."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc) -> None:
        exit_dual_level()

    def __call__(self, func):
        from functools import wraps

        @wraps(func)
        def wrapper(*args, **kwargs):
            with dual_level():
                return func(*args, **kwargs)
        return wrapper
