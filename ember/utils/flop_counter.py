"""Count the FLOPs a program runs, per op and per module: torch.utils.flop_counter's API.

``FlopCounterMode`` is a dispatcher mode: every op reaches it, and ops with a formula in
``flop_registry`` (matrix products, convolutions and their adjoints, attention, einsum) add
``formula(*input shapes, out_shape=...)`` to each module whose forward is running.
``flop_registry`` is keyed by torch's op names as the op table declares them (``op.aten``,
as torch's registry is keyed by ``aten`` ops): a formula is registered for an op class (or
an ``aten`` name) and found for every op of that name, so no list of names is kept here. Backward
rules are ember ops run through the dispatcher, so backward FLOPs are counted too, and are
credited to the modules whose forward recorded the graph node being differentiated (the
counter is a node observer of the autograd engine, so it knows which node's backward runs).

Formulas follow torch's: a matrix product is ``2*M*N*K`` per batch element, elementwise
ops are free. Two differences: ember counts matrix-vector and dot products (torch's ``mv``
and ``dot`` have no formula), and an op is counted as ember runs it (SDPA's backward is its
four matrix products, as torch's CPU math path).
"""

from __future__ import annotations

import functools
import math
import warnings
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .._dispatch import DispatchMode
from .._tensor import Tensor
from ..autograd.graph import Node, _node_observers
from ..ops.attention import ScaledDotProductAttention, ScaledDotProductAttentionBackward
from ..ops.conv import Convolution, ConvTranspose, ConvWeight
from ..ops.linalg import Einsum, Linear, LinearBackward, Matmul, _einsum_sizes, _parse_einsum
from ..profiler._nodes import grad_fn_of, new_nodes

__all__ = ["FlopCounterMode", "register_flop_formula", "flop_registry", "mm_flop", "bmm_flop",
           "matmul_flop", "conv_flop_count", "sdpa_flop_count", "einsum_flop"]

flop_registry: dict[str, Callable] = {}   # op.aten -> formula


def _shapes(x):
    """Tensors (also in lists and tuples) replaced by their shapes, other values kept."""
    if isinstance(x, Tensor):
        return tuple(x._data.shape)
    if isinstance(x, list | tuple):
        return type(x)(_shapes(a) for a in x)
    return x


def _shape_wrapper(formula: Callable) -> Callable:
    @functools.wraps(formula)
    def with_shapes(*args, out_val=None, **kwargs):
        return formula(*_shapes(args), out_shape=_shapes(out_val), **_shapes(kwargs))
    return with_shapes


def _aten(target) -> str:
    """The registry key of an op class (its ``aten`` name) or of an ``aten`` name."""
    return target if isinstance(target, str) else target.aten


def register_flop_formula(targets, get_raw: bool = False) -> Callable:
    """Register ``formula(*arg_shapes, out_shape=..., **kwargs) -> int`` for an op class or
    ``aten`` name (or a list of them); ``get_raw=True`` passes the Tensors themselves
    (``out_val=`` the result) instead of their shapes."""
    def register(formula: Callable) -> Callable:
        wrapped = formula if get_raw else _shape_wrapper(formula)
        for target in targets if isinstance(targets, list | tuple) else (targets,):
            key = _aten(target)
            if key in flop_registry:
                raise RuntimeError(f"duplicate registrations for {key}")
            flop_registry[key] = wrapped
        return formula
    return register


# ---- formulas -------------------------------------------------------------------------

def mm_flop(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """``(m, k) @ (k, n)``: ``2*m*n*k``."""
    m, k = a_shape
    k2, n = b_shape
    assert k == k2
    return 2 * m * n * k


def bmm_flop(a_shape, b_shape, out_shape=None, **kwargs) -> int:
    """``(b, m, k) @ (b, k, n)``: ``2*b*m*n*k``."""
    b, m, k = a_shape
    b2, k2, n = b_shape
    assert b == b2 and k == k2
    return 2 * b * m * n * k


@register_flop_formula(Matmul)
def matmul_flop(a_shape, b_shape, *, out_shape, **kwargs) -> int:
    """Any ``matmul``: 2 FLOPs (a multiply and an add) per output element per step of the
    contracted dimension, broadcast batch dims included."""
    return 2 * math.prod(out_shape) * a_shape[-1]


@register_flop_formula(Linear)
def _linear_flop(x_shape, w_shape, *args, out_shape, **kwargs) -> int:
    """``x @ W^T``: ``2*M*N*K`` (torch's addmm count; the bias add is free)."""
    return 2 * math.prod(x_shape[:-1]) * w_shape[0] * w_shape[1]


@register_flop_formula(LinearBackward)
def _linear_backward_flop(g_shape, x_shape, w_shape, input_grad, weight_grad, *args,
                          out_shape, **kwargs) -> int:
    """``g @ W`` and ``g^T @ x``, those asked for (torch's two mm counts; the bias's sum
    is free)."""
    return (bool(input_grad) + bool(weight_grad)) * _linear_flop(x_shape, w_shape,
                                                                   out_shape=out_shape)


def conv_flop_count(x_shape, w_shape, out_shape, transposed: bool = False) -> int:
    """``2 * N * C_out * C_in/groups * prod(kernel)`` per output position (per input
    position when ``transposed``), as torch's ``conv_flop_count``."""
    batch = x_shape[0]
    spatial = (x_shape if transposed else out_shape)[2:]
    c_out, c_in, *kernel = w_shape
    return 2 * math.prod(spatial) * math.prod(kernel) * batch * c_out * c_in


def _swap01(shape) -> tuple:
    return (shape[1], shape[0]) + tuple(shape[2:])


@register_flop_formula(Convolution)
def _conv_flop(x_shape, w_shape, *args, out_shape, **kwargs) -> int:
    return conv_flop_count(x_shape, w_shape, out_shape)


@register_flop_formula(ConvTranspose)
def _conv_transpose_flop(x_shape, w_shape, *args, out_shape, **kwargs) -> int:
    """The transposed convolution: forward of ``conv_transpose`` and the input gradient of
    a convolution (torch's ``convolution_backward`` grad_input term)."""
    return conv_flop_count(x_shape, w_shape, out_shape, transposed=True)


@register_flop_formula(ConvWeight)
def _conv_weight_flop(x_shape, g_shape, w_shape, *args, out_shape, **kwargs) -> int:
    """The weight gradient, counted as torch's ``convolution_backward`` grad_weight term (a
    convolution of the input by the output gradient over the batch; torch's count ignores
    ``groups`` there, so grouped convolutions count ``groups`` times the work done)."""
    return conv_flop_count(_swap01(x_shape), _swap01(g_shape), _swap01(w_shape))


def sdpa_flop_count(query_shape, key_shape, value_shape) -> int:
    """``q @ k^T`` and ``attn @ v``: ``2*B*S_q*S_k*(D_q + D_v)``, batch dims broadcast."""
    *qb, s_q, d_q = query_shape
    *kb, s_k, _ = key_shape
    *vb, _, d_v = value_shape
    batch = math.prod(max(sizes) for sizes in _aligned(qb, kb, vb))
    return 2 * batch * s_q * s_k * (d_q + d_v)


def _aligned(*dims):
    n = max(len(d) for d in dims)
    return zip(*[(1,) * (n - len(d)) + tuple(d) for d in dims])


@register_flop_formula(ScaledDotProductAttention)
def _sdpa_flop(q_shape, k_shape, v_shape, *args, out_shape, **kwargs) -> int:
    return sdpa_flop_count(q_shape, k_shape, v_shape)


@register_flop_formula(ScaledDotProductAttentionBackward)
def _sdpa_backward_flop(g_shape, g_probs_shape, q_shape, k_shape, v_shape, *args, out_shape,
                        **kwargs) -> int:
    """Four matmuls (``g @ v^T``, ``gs @ k``, ``gs^T @ q``, ``p^T @ g``): twice the forward's,
    as torch's ``sdpa_backward_flop_count``; without an output gradient, only the two
    through ``q`` and ``k``."""
    flops = 2 * sdpa_flop_count(q_shape, k_shape, v_shape)
    return flops if g_shape is not None else flops * q_shape[-1] // (q_shape[-1] + v_shape[-1])


@register_flop_formula(["_weight_int8pack_mm", "int4_weight_only_linear", "linear_dynamic",
                        "quantized_linear"])
def _quantized_linear_flop(x_shape, *args, out_shape, **kwargs) -> int:
    """A quantized Linear (``ember/ops/quantized_mm.py``): ``2*M*N*K`` as ``linear``
    (ember's: torch's registry has no quantized ops)."""
    return 2 * math.prod(out_shape) * x_shape[-1]


@register_flop_formula("quantized_conv2d")
def _quantized_conv_flop(x_shape, self_scale, self_zero_point, w_shape, *args, out_shape,
                         **kwargs) -> int:
    """A quantized Conv2d: ``2 * C_in*KH*KW`` per output element (its weight is
    ``(C_out, C_in*KH*KW)``)."""
    return 2 * math.prod(out_shape) * w_shape[1]


@register_flop_formula(Einsum)
def einsum_flop(shapes, equation: str, *, out_shape, **kwargs) -> int:
    """Operands contracted left to right, as torch's einsum does with ``bmm``: each pair that
    sums over a letter costs ``2 * prod(sizes of the pair's letters)``; a pair that sums
    over nothing is an elementwise product, free like torch's ``mul``."""
    subs, out = _parse_einsum(equation, list(shapes))
    sizes = _einsum_sizes(subs, list(shapes))
    total = 0
    acc = subs[0]
    for i in range(1, len(subs)):
        letters = set(acc) | set(subs[i])
        later = set(out).union(*subs[i + 1:])
        kept = letters & later
        if letters - kept:
            total += 2 * math.prod(sizes[c] for c in letters)
        acc = "".join(sorted(kept))
    return total


def count_flops(op, args: tuple, kwargs: dict, out, registry: dict | None = None) -> int:
    """FLOPs of one op call (0 for ops without a formula for its ``aten`` name)."""
    formula = (flop_registry if registry is None else registry).get(op.aten)
    if formula is None:
        return 0
    return formula(*args, out_val=out, **kwargs)


# ---- the mode ---------------------------------------------------------------------------

def _get_suffix_str(number: int) -> str:
    return ["", "K", "M", "B", "T"][max(0, min(4, (len(str(number)) - 2) // 3))]


def _with_suffix(number: int, suffix: str) -> str:
    return f"{number / 1000 ** ['', 'K', 'M', 'B', 'T'].index(suffix):.3f}{suffix}"


def _percent(num: int, denom: int) -> str:
    return "0%" if denom == 0 else f"{num / denom:.2%}"


def _op_label(op) -> str:
    """``aten.mm``: how torch's table names an op."""
    return f"aten.{op.aten}"


def _simple_table(rows: list[list[str]], headers: list[str], aligns: str) -> str:
    """tabulate's "simple" format (what torch prints): columns two spaces apart, each at
    least its header plus 2 wide, a dashed rule under the header."""
    widths = [max([len(h) + 2] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, aligns, widths))
    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] +
                     [line(r) for r in rows])


class FlopCounterMode:
    """Count FLOPs inside ``with FlopCounterMode() as fc:``; ``fc.get_total_flops()``,
    ``fc.get_flop_counts()`` (``{"Global": {op: flops}, "Net.fc1": {...}}``) and
    ``fc.get_table(depth)`` read them, and the table is printed on exit if ``display``.

    Counts are keyed by op class (its ``aten`` name is torch's key). Modules are tracked
    with global forward hooks, so ``mods`` is not needed (as in torch, passing it warns).
    ``custom_mapping`` maps op classes or ``aten`` names to extra formulas.
    """

    def __init__(self, mods=None, depth: int = 2, display: bool = True,
                 custom_mapping: dict | None = None):
        self.flop_counts: dict[str, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
        self.depth = depth
        self.display = display
        if mods is not None:
            warnings.warn("mods argument is not needed anymore, you can stop passing it",
                          stacklevel=2)
        custom = {_aten(k): v if getattr(v, "_get_raw", False) else _shape_wrapper(v)
                  for k, v in (custom_mapping or {}).items()}
        self.flop_registry = {**flop_registry, **custom}
        self.parents: frozenset[str] = frozenset({"Global"})
        self._names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._named_children: weakref.WeakSet = weakref.WeakSet()
        self._node_parents: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._saved_parents: list[frozenset[str]] = []
        self._mode: _FlopCounterMode | None = None
        self._handles: list = []

    def get_total_flops(self) -> int:
        return sum(self.flop_counts["Global"].values())

    def get_flop_counts(self) -> dict[str, dict[Any, int]]:
        """``{module name: {op: flops}}``; "Global" holds everything."""
        return {k: dict(v) for k, v in self.flop_counts.items()}

    def get_table(self, depth: int | None = None) -> str:
        """Modules (to ``depth`` levels) with their FLOPs per op, as torch's table."""
        depth = self.depth if depth is None else depth
        if depth is None:
            depth = 999999
        total = self.get_total_flops()
        suffix = _get_suffix_str(total)
        subsumed = False

        def rows_of(name: str, indent: int) -> list[list[str]]:
            nonlocal subsumed
            counts = self.flop_counts[name]
            flops = sum(counts.values())
            subsumed |= flops >= total
            pad = " " * indent
            rows = [[pad + name, _with_suffix(flops, suffix), _percent(flops, total)]]
            rows += [[pad + " - " + _op_label(op), _with_suffix(v, suffix), _percent(v, total)]
                     for op, v in counts.items()]
            return rows

        rows = []
        for name in sorted(self.flop_counts):
            if name == "Global" or name.count(".") + 1 > depth:
                continue
            rows += rows_of(name, name.count("."))
        if "Global" in self.flop_counts and not subsumed:
            for r in rows:
                r[0] = " " + r[0]
            rows = rows_of("Global", 0) + rows
        if not rows:
            rows = [["Global", "0", "0%"]]
        return _simple_table(rows, ["Module", "FLOP", "% Total"], "<>>")

    def __enter__(self) -> FlopCounterMode:
        from ..nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )
        self.flop_counts.clear()
        self.parents = frozenset({"Global"})
        self._handles = [register_module_forward_pre_hook(self._enter_module),
                         register_module_forward_hook(self._leave_module)]
        self._mode = _FlopCounterMode(self)
        self._mode.__enter__()
        _node_observers.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _node_observers.remove(self)
        self._mode.__exit__(*exc)
        self._mode = None
        for h in self._handles:
            h.remove()
        self._handles = []
        if self.display:
            print(self.get_table(self.depth))

    # -- module tracking: names as torch's ModuleTracker gives them ("Net", "Net.fc1")

    def _module_name(self, module) -> str:
        names = self._names
        if module not in names:
            names[module] = type(module).__name__
        name = names[module]
        if module not in self._named_children:
            for child_name, child in module.named_children():
                names[child] = f"{name}.{child_name}"
                self._module_name(child)
            self._named_children.add(module)
        return name

    def _enter_module(self, module, args) -> None:
        self.parents = self.parents | {self._module_name(module)}

    def _leave_module(self, module, args, output) -> None:
        self.parents = self.parents - {self._module_name(module)}

    def _count(self, op, args, kwargs, out) -> None:
        flops = count_flops(op, args, kwargs, out, self.flop_registry)
        if flops:
            for name in self.parents:
                self.flop_counts[name][op] += flops

    # -- backward: a node's backward counts for the modules that ran its forward (the
    # engine calls these around each node it runs)

    def enter_backward(self, node: Node) -> None:
        self._saved_parents.append(self.parents)
        self.parents = self._node_parents.get(node, self.parents)

    def leave_backward(self, node: Node) -> None:
        if self._saved_parents:   # none: the counter started inside this node's backward
            self.parents = self._saved_parents.pop()


class _FlopCounterMode(DispatchMode):
    def __init__(self, counter: FlopCounterMode):
        self.counter = counter

    def __ember_dispatch__(self, op, args, kwargs):
        counter = self.counter
        old = grad_fn_of(args)
        out = op.apply(*args, **kwargs)
        counter._count(op, args, kwargs, out)
        if len(counter.parents) > 1:
            for node in new_nodes(out, old):
                counter._node_parents[node] = counter.parents
        return out
