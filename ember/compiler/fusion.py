"""Pointwise fusion: chains of elementwise ops become one Numba kernel, one pass over
memory instead of one per op, with no temporaries.

A fusion group grows from a pointwise node (its *root*) into its producers: a producer
joins when it is pointwise, has a scalar rule (``scalar_rules``), makes a value of the
root's shape that nothing outside the group reads (nor the backward graph, nor the
outputs), and has no effects. The group runs at the root's place, so every value it
reads from outside exists by then. Its kernel loops over the root's shape; inputs are
broadcast to it (stride 0), and when all are contiguous and full-size a flat loop runs.
Large arrays are cut into pieces along their first dim of size > 1, run on ember's threads
at once (the kernels release the GIL), when that is faster: Numba compiles one serial
loop in ~0.5 s, where a ``prange`` loop cost ~3 s (gpt_train's cold second step).

A row softmax (``softmax``/``log_softmax`` over the last dim, float) can be a root too:
its pointwise producers (attention's scale and causal mask) become the first pass of one
row kernel, so the scores are read once, not written and read back for each op.

Fusion must never make a program slower: ``FusedOp.forward`` times the kernel against the
unfused ops on the first real inputs and keeps whichever is faster (the choice sticks).
Kernels are written to ``$EMBER_CACHE_DIR/compile`` (default ``~/.cache/ember/compile``)
as modules named by the hash of their source, so Numba's on-disk cache serves them to
later processes; two processes writing one kernel both write the same bytes, atomically.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._schema import parse
from .._threads import get_num_threads, sync_numba
from ..ops._parallel import threads_for
from .graph import Graph, Node, Value
from .scalar_rules import LIBM, RULES

__all__ = ["fuse", "FusedOp"]

_NUMBA_DTYPES = {"float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"}


def _bind(node: Node) -> dict | None:
    """The node's arguments by their signature names, defaults filled in."""
    schema = _schema(node.op.signature)
    if schema is None or len(node.args) > len(schema.arguments):
        return None
    out = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args):
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        elif arg.default is not None:
            try:
                out[arg.name] = ast.literal_eval(arg.default)
            except ValueError:
                return None
        else:
            return None
    return out


@functools.cache
def _schema(signature: str | None):
    return None if signature is None else parse(signature)


def _expression(node: Node, env: dict) -> str | None:
    """The node's element expression, its tensor arguments named by ``env`` (Value id ->
    source; unnamed ones get a placeholder); None when it has no scalar lowering."""
    bound = _bind(node)
    if bound is None:
        return None
    args = {name: env.get(id(val), "_") if type(val) is Value else val
            for name, val in bound.items()}
    return RULES[node.op.name](**args)


# a number in an expression (not part of a name, an attribute or an index)
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*(?:e[-+]?\d+)?|\d+e[-+]?\d+|\d+)(?![\w.(])")


def _element(node: Node, env: dict) -> str:
    """The node's element expression cast to its output dtype. Where its float inputs
    are float32, so are the numbers in it: a Python scalar meets a float32 tensor as a
    float32 in eager ops (a weak scalar), and float64 constants would make the whole
    chain compute in float64 (half the SIMD width: a 20-op chain 1.01 -> 0.46 ms)."""
    expr = _expression(node, env)
    floats = {str(v.dtype) for v in node.inputs if v.dtype.kind == "f"}
    if floats == {"float32"}:
        expr = _NUMBER.sub(r"f32(\1)", expr)
    dt = str(node.outputs[0].dtype)
    return f"{'bool' if dt == 'bool' else 'np.' + dt}({expr})"


def _lowerable(node: Node) -> bool:
    op = node.op
    if op.kind != "pointwise" or op.inplace or op._mutated_others or node.multi:
        return False
    if op.name not in RULES or op.name in LIBM or _expression(node, {}) is None:
        return False
    if any(str(v.dtype) not in _NUMBA_DTYPES for v in [*node.inputs, *node.outputs]):
        return False
    return all(v.meta.ndim <= node.outputs[0].meta.ndim for v in node.inputs)


def _row_root(node: Node) -> bool:
    """A softmax or log-softmax over the last dim of a float array, in its own dtype."""
    op = node.op
    if op.name not in ("softmax", "logsoftmax") or node.multi or len(node.args) < 2:
        return False
    out = node.outputs[0]
    dtype = node.args[2] if len(node.args) > 2 else node.kwargs.get("dtype")
    dim = node.args[1]
    return dtype is None and not node.kwargs.keys() - {"dtype"} and type(dim) is int and \
        out.meta.ndim >= 1 and dim in (-1, out.meta.ndim - 1) and \
        str(out.dtype) in ("float32", "float64") and type(node.args[0]) is Value


def fuse(g: Graph, keep: list | None = None, min_ops: int = 2) -> int:
    """Replace pointwise chains of at least ``min_ops`` ops by fused nodes; returns how many
    groups were made. ``keep``: values read from outside the graph (by a backward graph)."""
    escapes = {id(v) for v in g.outputs if v is not None}
    escapes |= {id(v) for v in keep or () if v is not None}
    users = g.users()
    here = {id(n) for n in g.nodes}  # (a backward graph reads forward values too)
    member_of: dict[int, list[Node]] = {}
    groups = []
    for root in reversed(g.nodes):
        if id(root) in member_of or not (_lowerable(root) or _row_root(root)) or \
                _has_aux(root, keep):
            continue
        shape = root.outputs[0].shape
        group = [root]
        member_of[id(root)] = group
        frontier = [root]
        while frontier:
            node = frontier.pop()
            for v in node.inputs:
                p = v.producer
                if p is None or v.kind != "node" or id(p) not in here or id(p) in member_of \
                        or not _lowerable(p):
                    continue
                if v.shape != shape or id(v) in escapes or getattr(p, "needs_input_grad", None) \
                        is not None and _has_aux(p, keep):
                    continue
                if any(id(u) not in member_of or member_of[id(u)] is not group
                       for u in users.get(v, ())):
                    continue
                group.append(p)
                member_of[id(p)] = group
                frontier.append(p)
        if len(group) >= min_ops:
            groups.append(group)
        else:
            del member_of[id(root)]
    for group in groups:
        _replace(g, group)
    return len(groups)


def _has_aux(node: Node, keep) -> bool:
    return any(v is not None and v.kind == "aux" and v.producer is node for v in keep or ())


def _replace(g: Graph, group: list[Node]) -> None:
    members = {id(n) for n in group}
    order = [n for n in g.nodes if id(n) in members]  # execution order
    root = order[-1]
    inputs: list[Value] = []
    for n in order:
        for v in n.inputs:
            if (v.producer is None or id(v.producer) not in members) and v not in inputs:
                inputs.append(v)
    fused = FusedOp(order, inputs, root.outputs[0], row=_row_root(root))
    node = Node(fused, tuple(inputs), {}, outputs=root.outputs, location=root.location)
    root.outputs[0].producer = node
    g.nodes = [node if n is root else n for n in g.nodes if id(n) not in members or n is root]


class FusedOp:
    """A fusion group as an op the code generator calls like any other:
    ``forward(ctx, *arrays)``. Not an entry of ``OPS``."""

    kind = "fused"
    inplace = False
    _mutated_others = ()

    def __init__(self, nodes: list[Node], inputs: list[Value], out: Value, row: bool = False):
        self.nodes, self.inputs, self.out, self.row = nodes, inputs, out, row
        self.name = "fused_" + "_".join(n.name for n in nodes)[:60]
        self.aten = self.name
        self.source = (_row_source if row else _kernel_source)(nodes, inputs, out)
        self._kernels = None
        self._split = False  # large arrays in pieces on ember's threads (see ``_pieces``)
        self._use_fused: bool | None = None

    def forward(self, ctx, *arrays):
        if self._use_fused is None:
            self._use_fused = self._decide(arrays)
        if self._use_fused:
            return self._run_fused(arrays)
        return self._run_unfused(arrays)

    def _run_fused(self, arrays):
        flat, nd = self._kernels
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        out = np.empty(shape, self.out.dtype)
        if not out.ndim:
            nd(out.reshape(1), *(a.reshape(1) for a in arrays))
            return out
        if self.row:  # (rows of the broadcast inputs)
            kernel, view, xs = flat, out, [np.broadcast_to(a, shape) for a in arrays]
            rows = lambda o: o.reshape(-1, shape[-1])  # noqa: E731
        elif all(a.shape == shape and a.flags.c_contiguous for a in arrays):
            kernel, view, xs = flat, out.reshape(-1), [a.reshape(-1) for a in arrays]
            rows = None
        else:
            kernel, view, xs = nd, out, [np.broadcast_to(a, shape) for a in arrays]
            rows = None
        if self._split:
            _pieces(kernel, view, xs, rows, last=self.row)
        else:
            kernel(rows(view) if rows else view, *xs)
        return out

    def _run_unfused(self, arrays):
        from .._dispatch import NULL_CTX
        env = {id(v): a for v, a in zip(self.inputs, arrays)}
        result = None
        for n in self.nodes:
            args = [env.get(id(a), a) if type(a) is Value else a for a in n.args]
            kwargs = {k: env.get(id(a), a) if type(a) is Value else a
                      for k, a in n.kwargs.items()}
            result = n.op.forward(NULL_CTX, *args, **kwargs)
            if not n.outputs[0].shape:
                result = np.asarray(result)
            env[id(n.outputs[0])] = result
        return result

    def _decide(self, arrays) -> bool:
        """Fused or not: time both on these inputs (a kernel that fails to compile, or
        loses, is not used); and for large arrays, in pieces on ember's threads or not."""
        try:
            self._kernels = load_kernels(self.source)
            self._run_fused(arrays)  # compiles
        except Exception:  # noqa: BLE001 -- e.g. a dtype combination Numba rejects
            return False
        fused = _best_time(lambda: self._run_fused(arrays))
        if max((a.size for a in arrays), default=0) >= _PARALLEL_MIN and \
                get_num_threads() > 1:
            self._split = True
            split = _best_time(lambda: self._run_fused(arrays))
            self._split = split < fused
            fused = min(fused, split)
        unfused = _best_time(lambda: self._run_unfused(arrays))
        return fused <= unfused

    def __repr__(self) -> str:
        return f"FusedOp({self.name})"


_PARALLEL_MIN = 1 << 16  # elements below which a parallel loop's start-up does not pay
_POOL: list = []  # the worker threads of ``_pieces`` (made on first use)


def _pieces(kernel, out, xs, rows, last: bool) -> None:
    """``kernel(out, *xs)`` as pieces along the first dim of size > 1 (not the last dim
    with ``last``: a row kernel's rows stay whole), one per thread of ``threads_for``;
    ``rows`` reshapes a piece of ``out`` as the kernel takes it (None: as it is)."""
    dims = out.ndim - 1 if last else out.ndim
    axis = next((d for d in range(dims) if out.shape[d] > 1), None)
    n = 1 if axis is None else min(threads_for(out.size, _PARALLEL_MIN), out.shape[axis])
    if n == 1:
        kernel(rows(out) if rows else out, *xs)
        return
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=max(1, get_num_threads() - 1),
                                        thread_name_prefix="ember-fused"))
    cuts = [out.shape[axis] * k // n for k in range(n + 1)]

    def piece(k: int) -> None:
        at = (slice(None),) * axis + (slice(cuts[k], cuts[k + 1]),)
        o = out[at]
        kernel(rows(o) if rows else o, *(x[at] for x in xs))
    futures = [_POOL[0].submit(piece, k) for k in range(1, n)]
    piece(0)
    for f in futures:
        f.result()


def _best_time(fn, reps: int = 3) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# NumPy's error model: a division by zero gives inf or nan (as eager ops do) instead of
# raising, and without that check per division LLVM vectorises the loop (a 20-op float32
# chain over 1M values: 4.7 -> 0.85 ms)
_JIT = '@njit(cache=True, nogil=True, error_model="numpy")'


def _kernel_source(nodes: list[Node], inputs: list[Value], out: Value) -> str:
    """Numba source of the group: ``flat(out, *xs)`` over 1-D arrays and ``nd(out, *xs)``
    over arrays of the output's rank, both computing the same element expression (without
    the GIL: ``_pieces`` runs them on several threads)."""
    names = {id(v): f"x{i}" for i, v in enumerate(inputs)}
    ndim = max(out.meta.ndim, 1)

    def body(index: str, indent: str) -> list[str]:
        lines = [f"{indent}e{i} = x{i}[{index}]" for i in range(len(inputs))]
        env = {id(v): f"e{i}" for i, v in enumerate(inputs)}
        for k, n in enumerate(nodes):
            lines.append(f"{indent}t{k} = {_element(n, env)}")
            env[id(n.outputs[0])] = f"t{k}"
        lines.append(f"{indent}out[{index}] = t{len(nodes) - 1}")
        return lines

    args = ", ".join(["out", *names.values()])
    src = ["import math", "import numpy as np", "from numba import njit", "",
           "f32 = np.float32", "", "", _JIT, f"def flat({args}):",
           "    for i in range(out.shape[0]):"]
    src += body("i", "        ")
    src += ["", "", _JIT, f"def nd({args}):"]
    idx = [f"i{d}" for d in range(ndim)]
    for d in range(ndim):
        src.append("    " * (d + 1) + f"for i{d} in range(out.shape[{d}]):")
    src += body(", ".join(idx), "    " * (ndim + 1))
    return "\n".join(src) + "\n"


def _row_source(nodes: list[Node], inputs: list[Value], out: Value) -> str:
    """Numba source of a row group: ``flat(out, *xs)`` with ``out`` the output as
    (rows, n) and the inputs broadcast to its shape. Each row is
    the prologue's element expression written to ``out``, then the eager softmax kernel's
    passes over that row while it is in cache (its helpers: the same rounding)."""
    ndim = out.meta.ndim
    names = [f"x{i}" for i in range(len(inputs))]
    index = ", ".join([f"i{d}" for d in range(ndim - 1)] + ["j"])
    body = [f"            e{i} = x{i}[{index}]" for i in range(len(inputs))]
    env = {id(v): f"e{i}" for i, v in enumerate(inputs)}
    *prologue, root = nodes
    for k, n in enumerate(prologue):
        body.append(f"            t{k} = {_element(n, env)}")
        env[id(n.outputs[0])] = f"t{k}"
    body.append(f"            out[r, j] = {env[id(root.args[0])]}")
    unravel, inner = [], "r"
    for d in reversed(range(1, ndim - 1)):
        unravel.append(f"        i{d} = {inner} % x0.shape[{d}]")
        inner = f"({inner} // x0.shape[{d}])"
    unravel += [f"        i0 = {inner}"] if ndim > 1 else []
    finish = ["        _subtract_twice(out, r, m, t(math.log(total)))"] if root.op.log else [
        "        inv = t(1.0) / total", "        for j in range(n):",
        "            out[r, j] = buf[j] * inv"]

    def kernel(name: str) -> list[str]:
        return [_JIT,
                f"def {name}({', '.join(['out', *names])}):",
                "    n = out.shape[1]", "    t = out.dtype.type",
                "    buf = np.empty(n, out.dtype)",
                "    for r in range(out.shape[0]):", *unravel,
                "        for j in range(n):", *body,
                "        m = _row_max(out, r)", "        _exp_shifted(out, r, m, buf)",
                "        total = _sum_own(buf)", *finish, "", ""]

    src = ["import math", "import numpy as np", "from numba import njit",
           "f32 = np.float32",
           "from ember.ops._kernels_transformer import _exp_shifted, _row_max, _subtract_twice,"
           " _sum_own", "", ""]
    src += kernel("flat") + ["nd = flat"]
    return "\n".join(src) + "\n"


def _cache_dir() -> str:
    root = os.environ.get("EMBER_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "ember")
    path = os.path.join(root, "compile")
    os.makedirs(path, exist_ok=True)
    return path


@functools.cache
def load_kernels(source: str) -> tuple:
    """``(flat, nd)`` of a kernel module, written once under its source hash."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"ember_fused_{digest}"
    path = os.path.join(_cache_dir(), name + ".py")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    sync_numba()  # ember's thread count, before a parallel kernel runs
    return module.flat, module.nd
