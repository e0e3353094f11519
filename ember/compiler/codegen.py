"""Code generation: a ``Graph`` becomes one readable Python function over NumPy arrays.

Each node is a direct call of its kernel (``op.forward(ctx, *arrays)``), so the
generated code has no Tensor objects, no dispatcher and no autograd recording in it;
fused regions (see ``fusion``) are Numba kernels called the same way. A value is deleted
right after its last use, so activations are freed as early as the program allows.

The source is kept on the function (``fn.__source__``) and registered with ``linecache``
so tracebacks and debuggers show it; ``EMBER_COMPILE_DEBUG=DIR`` also writes it to
``DIR``. With ``NUMBA_DISABLE_JIT=1`` the fused kernels run as plain Python too.
"""

from __future__ import annotations

import linecache
import math
import os

import numpy as np

from .._dispatch import NULL_CTX
from .._dtype import cast, casts_like_numpy
from .._tensor import Tensor
from .dynamic import Sym
from .graph import Graph, Node, Value, tree_map
from .hyper import GLOBAL as HYPER_GLOBAL
from .hyper import Hyper
from .inline import RUNTIME as INLINE_RUNTIME
from .inline import feature_major, inline

__all__ = ["generate", "Ctx"]


class Ctx:
    """A forward kernel's ctx in generated code, where backward needs what it keeps:
    saved arrays (``_to_save``) and attributes."""

    materialize_grads = True

    def __init__(self, needs_input_grad: tuple = ()):
        self.needs_input_grad = needs_input_grad
        self._to_save = ()

    def save_for_backward(self, *items) -> None:
        self._to_save = items

    def mark_non_differentiable(self, *items) -> None:
        pass

    def mark_dirty(self, *items) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


def _array(x):
    """A kept item as an array: a Tensor's data, a NumPy scalar as a 0-d array."""
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _store(dst: np.ndarray, out) -> np.ndarray:
    """An in-place op's write into its target (the dispatcher's ``_write``, on arrays)."""
    if out is not dst:
        if not casts_like_numpy(dst.dtype) and getattr(out, "dtype", None) != dst.dtype:
            out = cast(np.asarray(out), dst.dtype)
        np.copyto(dst, out, casting="unsafe")
    return dst


_RUNTIME = {"np": np, "NULL": NULL_CTX, "Ctx": Ctx, "_array": _array, "_store": _store,
            **INLINE_RUNTIME}


class _Writer:
    """Source lines plus the namespace the generated function runs in."""

    def __init__(self):
        self.lines: list[str] = []
        self.ns: dict = dict(_RUNTIME)
        self._consts: dict[int, str] = {}

    def const(self, obj, prefix: str = "C") -> str:
        name = self._consts.get(id(obj))
        if name is None:
            name = f"{prefix}{len(self._consts)}"
            self._consts[id(obj)] = name
            self.ns[name] = obj
        return name

    def expr(self, x) -> str:
        """Python source for an argument leaf or container."""
        t = type(x)
        if t is Value:
            if x.kind == "const" and f"_fresh_{x.name}" not in self.ns:
                return self.const(x.data)
            return x.name
        if t is Sym:
            return x.source()
        if t is Hyper:
            self.ns.setdefault(HYPER_GLOBAL, None)  # set to the live param_groups later
            return x.source()
        if t is tuple:
            return "(" + "".join(self.expr(i) + ", " for i in x) + ")"
        if t is list:
            return "[" + ", ".join(self.expr(i) for i in x) + "]"
        if x is None or t is bool or t is int or t is str:
            return repr(x)
        if t is float and math.isfinite(x):
            return repr(x)
        return self.const(x)


def generate(graph: Graph, name: str, *, returns: list[Value] | None = None,
             aux_needed: set[Value] | None = None, packed: bool = False,
             layouts: bool = False) -> tuple:
    """Compile ``graph`` into a Python function ``name(*inputs) -> tuple of arrays``.

    ``returns`` (default: the graph's outputs) are the values returned, in order -- the
    forward of a training graph also returns what its backward reads. With ``packed``,
    ``graph.inputs`` come as one list, which the function empties once it has taken them:
    then each array is freed after its last use (a backward's saved activations). Returns
    the function; its source is ``fn.__source__``. With ``layouts`` (an inference
    graph), linear layers whose readers take any layout are made feature-major
    (``inline.feature_major``)."""
    returns = graph.outputs if returns is None else returns
    aux_needed = aux_needed or set()
    w = _Writer()
    params = [v.name for v in graph.all_inputs()]
    if packed:
        params = ["_packed", *params[len(graph.inputs):]]
    w.lines.append(f"def {name}({', '.join(params)}):")
    if packed and graph.inputs:
        w.lines.append(f"    {''.join(v.name + ', ' for v in graph.inputs)}= _packed")
        w.lines.append("    _packed.clear()")
    # constants a call writes or returns: a fresh copy per call, so none is ever changed
    fresh = {id(v): v for v in returns if v is not None and v.kind == "const"}
    for node in graph.nodes:
        if node.op.inplace or node.op._mutated_others:
            fresh.update((id(v), v) for v in node.inputs if v.kind == "const")
    for v in fresh.values():
        w.lines.append(f"    {v.name} = {w.const(v.data)}.copy()")
        w.ns[f"_fresh_{v.name}"] = True
    last_use = _last_uses(graph, returns)
    aux_of: dict[Node, list[Value]] = {}
    for v in aux_needed:
        aux_of.setdefault(v.producer, []).append(v)
    chosen = feature_major(graph, returns) if layouts else frozenset()
    for i, node in enumerate(graph.nodes):
        _emit_node(w, node, aux_of.get(node, ()), chosen)
        dead = [v.name for v in last_use.get(i, ()) if v.kind in ("node", "aux")]
        if dead:
            w.lines.append(f"    del {', '.join(dead)}")
    outs = ", ".join("None" if v is None else v.name for v in returns)
    w.lines.append(f"    return ({outs}{',' if len(returns) == 1 else ''})")
    source = "\n".join(w.lines) + "\n"
    return _load(source, name, w.ns)


def _emit_node(w: _Writer, node: Node, aux: list[Value], chosen: set[int]) -> None:
    kernel = w.const(node.op.forward, prefix="K")
    ctx = "NULL"
    if aux:
        ctx = f"c_{node.outputs[0].name}"
        w.lines.append(f"    {ctx} = Ctx({getattr(node, 'needs_input_grad', ())!r})")
    args = [w.expr(a) for a in node.args]
    if node.op.inplace:
        target = args[0]
        if aux:  # backward reads the value from before the write: compute on a copy
            args[0] = f"{target}.copy()"
    call = None if aux or node.op.inplace else inline(node, args, kernel, chosen)
    if call is None:
        call = f"{kernel}({', '.join([ctx, *args])}"
        call += "".join(f", {k}={w.expr(v)}" for k, v in node.kwargs.items()) + ")"
    comment = f"  # {node.name}" + (f"  {node.location}" if node.location else "")
    outs = node.outputs
    if node.op.inplace:
        w.lines.append(f"    {outs[0].name} = _store({target}, {call}){comment}")
    elif node.multi:
        names = [o.name for o in outs]
        w.lines.append(f"    {', '.join(names)}{',' if len(names) == 1 else ''} = {call}"
                       f"{comment}")
        for o in outs:
            if not o.shape:
                w.lines.append(f"    {o.name} = np.asarray({o.name})")
    elif not outs[0].shape:
        w.lines.append(f"    {outs[0].name} = np.asarray({call}){comment}")
    else:
        w.lines.append(f"    {outs[0].name} = {call}{comment}")
    for v in aux:
        kind, key, path = v.aux
        src = f"{ctx}._to_save[{key}]" if kind == "saved" else f"{ctx}.{key}"
        src += "".join(f"[{j}]" for j in path)
        w.lines.append(f"    {v.name} = _array({src})")


def _last_uses(graph: Graph, returns: list) -> dict[int, list[Value]]:
    """Node index -> the values whose last reader it is (never those returned)."""
    keep = {id(v) for v in returns if v is not None}
    last: dict[int, tuple[int, Value]] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last[id(v)] = (i, v)
        for v in node.outputs:  # an output nobody reads dies where it is made
            last.setdefault(id(v), (i, v))
    out: dict[int, list[Value]] = {}
    for key, (i, v) in last.items():
        if key not in keep and v.kind in ("node", "aux"):
            out.setdefault(i, []).append(v)
    return out


_COUNTER = [0]


def _load(source: str, name: str, ns: dict):
    _COUNTER[0] += 1
    filename = f"<ember.compile:{name}:{_COUNTER[0]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    debug_dump(f"{name}_{_COUNTER[0]}.py", source)
    exec(compile(source, filename, "exec"), ns)  # noqa: S102 -- our own generated code
    fn = ns[name]
    fn.__source__ = source
    return fn


def debug_dump(filename: str, text: str) -> None:
    """Write ``text`` to ``$EMBER_COMPILE_DEBUG/filename`` when that variable is set."""
    debug = os.environ.get("EMBER_COMPILE_DEBUG")
    if debug:
        os.makedirs(debug, exist_ok=True)
        with open(os.path.join(debug, filename), "w") as f:
            f.write(text)


def rebuild(out_spec, arrays: list):
    """The function's result from the flat outputs (``Slot`` leaves)."""
    from .graph import Slot
    return tree_map(lambda x: arrays[x.index] if type(x) is Slot else x, out_spec)
