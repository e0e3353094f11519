"""Attention written out -- ``softmax(masked_fill(q @ k^T * scale, ~causal, -inf)) @ v`` --
found in a graph and run by ember's fused attention kernels (``ops._kernels_attention``,
what ``F.scaled_dot_product_attention`` runs eagerly), forward and backward.

The kernels compute a block of scores with a BLAS GEMM (scale folded in), take each row's
softmax over only the keys the causal mask lets it see while the block is in cache, and
skip the hidden half in every GEMM; the written-out ops compute all scores, write them,
mask them and read them back (gpt_train's attention: 5 forward and 7 backward passes over
B x H x T x T scores per layer, with fusion 3 and 6).

Forward: a ``matmul(q, permute(k))`` whose result only goes, through a multiplication or
division by a number and a ``masked_fill`` of ``-inf`` (either optional, any order), to
a last-dim ``softmax`` whose output is read by one ``matmul(p, v)`` (and maybe by the
backward graph) becomes one node ``(out, p) = attention(q, k, v)``; the mask must be the
causal one: a constant equal to ``~tril(ones(n, n))``, or ``~tril(ones(t, t))`` computed
in the graph (a dynamic length). The probabilities it returns are the softmax's (zero
where masked), so a backward graph reading them is unchanged. Backward: the rules' nodes
for such an attention (``g @ v^T``, ``p^T @ g``, ``softmax_backward``, the mask's and the
scale's rules, the two products with ``q`` and ``k``) become one node ``(gq, gk, gv)``.
Anything else -- another mask, a value read elsewhere, another dtype -- stays as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._threads import get_num_threads, sync_numba
from ..ops._blas import PARALLEL_FLOPS
from ..ops._parallel import threads_for
from .graph import Graph, Node, Value
from .kernels import attention_rows

__all__ = ["fuse_attention", "fuse_attention_backward", "Attention"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass
class Attention:
    """One rewritten attention: its forward values (the backward rewrite looks for them)."""

    q: Value
    k: Value
    k_t: Value      # permute(k): what the written-out product read
    v: Value
    p: Value        # the probabilities
    mask: Value | None
    scale: float
    causal: bool


class AttentionOp:
    """``(softmax(q @ k^T * scale [causal]) @ v, probabilities)`` as a graph node's op
    (not an entry of ``OPS``); ``forward(ctx, q, k, v)`` as code generation calls it."""

    kind = "fused"
    inplace = False
    _mutated_others = ()
    aten = name = "fused_attention"

    def __init__(self, scale: float, causal: bool, probs: bool = True,
                 heads_last: bool = False):
        self.scale, self.causal = scale, causal
        self.probs, self.heads_last = probs, heads_last

    def forward(self, ctx, q, k, v):
        from ..ops import _kernels_attention as KA
        flops = _flops(q, k, v)
        if self.probs:
            return _on_threads(KA.attention, flops, q, k, v, self.scale, self.causal)
        if flops <= SMALL_FLOPS and q.ndim == 4:
            return attention_rows(q, k, v, self.scale, self.causal, self.heads_last), None
        return _on_threads(KA.attention, flops, q, k, v, self.scale, self.causal)[0], None

    def __repr__(self) -> str:
        return (f"AttentionOp(scale={self.scale}, causal={self.causal}, probs={self.probs}, "
                f"heads_last={self.heads_last})")


class AttentionBackwardOp(AttentionOp):
    """``(gq, gk, gv)`` of ``AttentionOp`` from the output gradient ``g``."""

    aten = name = "fused_attention_backward"

    def forward(self, ctx, g, q, k, v, p):
        from ..ops import _kernels_attention as KA
        return _on_threads(KA.attention_backward, 2 * _flops(q, k, v), g, q, k, v, p,
                           self.scale, self.causal)


# below this many flops (``_flops``) an attention that no one needs the probabilities of
# runs ``kernels.attention_rows``: 1 x 4 heads x 32 x 32 keys, depth 32, 30 us against the
# BLAS kernel's 58 (a fixed ~25 us of thread hand-off and setup), 64 x 64 (2.1e6) 88
# against 107, 80 x 80 (3.3e6) 129 against 131, 96 x 96 179 against 156 (busy machine)
SMALL_FLOPS = 2.6e6


def _flops(q, k, v) -> float:
    """Multiply-adds of an attention's two products, times two."""
    return 2.0 * q.size / q.shape[-1] * k.shape[-2] * (q.shape[-1] + v.shape[-1])


def _on_threads(kernel, flops: float, *args):
    """``kernel(*args)`` on Numba's threads, or on this thread alone when the work is
    small or other processes keep the cores busy (``threads_for``): the kernels share
    heads out with ``prange`` whatever the size, and waking a second thread that is not
    scheduled cost 5-15 ms per call of a 1 x 4 x 64 x 32 attention on a loaded machine,
    against 35 us on one thread."""
    if get_num_threads() == 1 or threads_for(flops, PARALLEL_FLOPS) > 1:
        return kernel(*args)
    import numba
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        sync_numba()  # (back to ember's thread count)


def _swapped(v: Value, name: str = "permute") -> Value | None:
    """The Value ``v`` is ``permute(x)`` of, with the last two dims swapped, else None."""
    node = v.producer
    if v.kind != "node" or node is None or node.name != name or len(node.args) != 2:
        return None
    dims, n = tuple(node.args[1]), len(v.shape)
    want = tuple(range(n - 2)) + (n - 1, n - 2)
    if tuple(d % n for d in dims) != want or type(node.args[0]) is not Value:
        return None
    return node.args[0]


def _number(x) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _scaling(node: Node, x: Value) -> float | None:
    """The factor of ``mul(x, c)``/``mul(c, x)``/``div(x, c)`` by a number ``c``."""
    a = node.args
    if node.kwargs or len(a) != 2:
        return None
    if node.name == "mul" and a[0] is x and _number(a[1]):
        return float(a[1])
    if node.name == "mul" and a[1] is x and _number(a[0]):
        return float(a[0])
    if node.name == "div" and a[0] is x and _number(a[1]) and a[1] != 0:
        return 1.0 / a[1]
    return None


def _causal(mask: Value, n: int) -> bool:
    """Whether ``mask`` (True: filled) hides what causal attention over ``n`` keys hides:
    the constant ``~tril(ones(n, n))``, or ``~tril(ones(t, t))`` made in the graph."""
    if mask.kind == "const":
        d = np.asarray(mask.data)
        return d.dtype == np.bool_ and d.shape == (n, n) and \
            np.array_equal(d, ~np.tril(np.ones((n, n), np.bool_)))
    node = mask.producer
    if mask.kind != "node" or node is None or node.name not in ("bitwise_not", "logical_not") \
            or mask.shape != (n, n):
        return False
    tril = node.args[0].producer if type(node.args[0]) is Value else None
    if tril is None or tril.name != "tril" or tril.kwargs or tuple(tril.args[1:]) not in (
            (), (0,), (0, False)):
        return False
    ones = tril.args[0].producer if type(tril.args[0]) is Value else None
    if ones is None or ones.name != "ones" or ones.kwargs or len(ones.args) != 2:
        return False
    size = tuple(ones.args[0])
    return len(size) == 2 and size[0] == size[1] and np.dtype(ones.args[1]) == np.bool_


def _only_user(users: dict, v: Value, escapes: set) -> Node | None:
    readers = users.get(v, ())
    return readers[0] if len(readers) == 1 and id(v) not in escapes else None


def fuse_attention(g: Graph, keep: list | None = None) -> list[Attention]:
    """Replace written-out attentions in the forward graph ``g`` (see the module
    docstring); ``keep``: values a backward graph reads. Returns those replaced."""
    escapes = {id(v) for v in [*g.outputs, *(keep or ())] if v is not None}
    users = g.users()
    found, drop, place = [], set(), {}
    for node in g.nodes:
        m = _match(node, users, escapes)
        if m is not None:
            att, chain, pv = m
            y = pv.outputs[0]
            op = AttentionOp(att.scale, att.causal, probs=id(att.p) in escapes,
                             heads_last=_heads_last(y, users, escapes))
            out = Node(op, (att.q, att.k, att.v), {}, outputs=(y, att.p),
                       location=pv.location, multi=True)
            for v in out.outputs:
                v.producer = out
            drop.update(id(n) for n in chain)
            place[id(pv)] = out
            found.append(att)
    if found:
        g.nodes = [place.get(id(n), n) for n in g.nodes if id(n) not in drop]
    return found


def _heads_last(y: Value, users: dict, escapes: set) -> bool:
    """Whether the attention output ``y`` (B, H, T, D) is read only by a
    ``permute(y, (0, 2, 1, 3))``: then made with its memory (B, T, H, D), that permute
    is contiguous and the reshape to (B, T, H * D) after it a view."""
    node = _only_user(users, y, escapes)
    return node is not None and len(y.shape) == 4 and node.name == "permute" and \
        len(node.args) == 2 and not node.kwargs and \
        tuple(d % 4 for d in node.args[1]) == (0, 2, 1, 3)


def _match(s: Node, users: dict, escapes: set):
    """``(Attention, nodes replaced but the last, the p @ v node)`` from the scores'
    product ``s``, or None."""
    if s.name != "matmul" or s.kwargs or len(s.args) != 2 or s.multi:
        return None
    q, k_t = s.args
    if type(q) is not Value or type(k_t) is not Value or len(q.shape) < 3 or \
            len(k_t.shape) != len(q.shape):
        return None
    k = _swapped(k_t)
    if k is None:
        return None
    chain, x, scale, mask = [s], s.outputs[0], 1.0, None
    while True:
        node = _only_user(users, x, escapes)
        if node is None or node.multi:
            return None
        factor = _scaling(node, x)
        if factor is not None and scale == 1.0 and factor > 0:
            scale = factor
        elif node.name == "maskedfill" and mask is None and node.args[0] is x and \
                not node.kwargs and len(node.args) == 3 and type(node.args[1]) is Value \
                and node.args[2] == float("-inf"):
            mask = node.args[1]
        elif node.name == "softmax":
            break
        else:
            return None
        chain.append(node)
        x = node.outputs[0]
    if node.args[0] is not x or node.args[1] not in (-1, len(x.shape) - 1) or node.kwargs \
            or (len(node.args) > 2 and node.args[2] is not None):
        return None
    chain.append(node)
    p = node.outputs[0]
    readers = users.get(p, ())
    if len(readers) != 1 or readers[0].name != "matmul" or readers[0].args[0] is not p or \
            readers[0].kwargs or type(readers[0].args[1]) is not Value:
        return None
    pv, v = readers[0], readers[0].args[1]
    if not (q.dtype == k.dtype == v.dtype == p.dtype and q.dtype in _FLOATS) or \
            not q.shape[:-2] == k.shape[:-2] == v.shape[:-2] or \
            q.shape[-1] != k.shape[-1] or v.shape[-2] != k.shape[-2]:
        return None
    causal = mask is not None
    if causal and (q.shape[-2] != k.shape[-2] or not _causal(mask, k.shape[-2])):
        return None
    return Attention(q, k, k_t, v, p, mask, scale, causal), chain, pv


def fuse_attention_backward(bw: Graph, found: list[Attention]) -> int:
    """Replace the backward rules' nodes of the attentions ``found`` in the backward graph
    ``bw`` by one node each; returns how many."""
    if not found:
        return 0
    users = bw.users()
    order = {id(n): i for i, n in enumerate(bw.nodes)}
    escapes = {id(v) for v in bw.outputs if v is not None}
    by_p = {id(a.p): a for a in found}
    drop, place, done = set(), {}, 0
    for node in bw.nodes:
        att = by_p.get(id(node.args[1])) if node.name == "softmaxbackward" and \
            len(node.args) == 3 and type(node.args[1]) is Value else None
        m = att and _match_backward(node, att, users, escapes)
        if not m:
            continue
        g, chain, grads = m
        last = max(chain, key=lambda n: order[id(n)])
        if any(order[id(u)] < order[id(last)] for v in grads for u in users.get(v, ())):
            continue  # a gradient read before the new node's place
        gq, gk, gv = grads
        new = Node(AttentionBackwardOp(att.scale, att.causal), (g, att.q, att.k, att.v, att.p),
                   {}, outputs=(gq, gk, gv), location=node.location, multi=True)
        for v in new.outputs:
            v.producer = new
        drop.update(id(n) for n in chain)
        place[id(last)] = new
        done += 1
    if done:
        bw.nodes = [place.get(id(n), n) for n in bw.nodes if id(n) not in drop or
                    id(n) in place]
    return done


def _match_backward(sb: Node, att: Attention, users: dict, escapes: set):
    """``(g, nodes replaced, (gq, gk, gv))`` around the softmax rule ``sb``, or None."""
    gp = sb.args[0]
    prod = gp.producer if type(gp) is Value else None
    if prod is None or prod.name != "matmul" or _only_user(users, gp, escapes) is not sb or \
            _swapped(prod.args[1]) is not att.v or type(prod.args[0]) is not Value:
        return None
    g = prod.args[0]
    gv_node = next((n for n in users.get(g, ()) if n.name == "matmul" and n.args[1] is g
                    and type(n.args[0]) is Value and _swapped(n.args[0]) is att.p), None)
    if gv_node is None:
        return None
    chain, x, scale, masked = [prod, gv_node, sb], sb.outputs[0], 1.0, False
    while True:
        readers = users.get(x, ())
        if id(x) in escapes or not readers:
            return None
        if len(readers) == 2:
            break
        node = readers[0]
        factor = _scaling(node, x)
        if factor is not None and scale == 1.0:
            scale = factor
        elif node.name == "maskedfill" and not masked and node.args[0] is x and \
                node.args[1] is att.mask and node.args[2] == 0:
            masked = True
        else:
            return None
        chain.append(node)
        x = node.outputs[0]
    if masked != att.causal or not math.isclose(scale, att.scale, rel_tol=1e-12):
        return None
    gq_node = next((n for n in readers if n.args[0] is x and len(n.args) == 2 and
                    type(n.args[1]) is Value and _swapped(n.args[1]) is att.k_t), None)
    gkt_node = next((n for n in readers if n.args[1] is x and len(n.args) == 2 and
                     type(n.args[0]) is Value and _swapped(n.args[0]) is att.q), None)
    if gq_node is None or gkt_node is None or gq_node.name != "matmul" or \
            gkt_node.name != "matmul":
        return None
    gk_node = _only_user(users, gkt_node.outputs[0], escapes)
    if gk_node is None or _swapped(gk_node.outputs[0]) is not gkt_node.outputs[0]:
        return None
    chain += [gq_node, gkt_node, gk_node]
    return g, chain, (gq_node.outputs[0], gk_node.outputs[0], gv_node.outputs[0])
