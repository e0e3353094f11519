"""The one entry every op goes through.

``dispatch(op, *args, **kwargs)``:

1. hands the call to the innermost active mode, if any (profiler, tracer, anomaly
   checks, user modes), with that mode popped while it runs;
2. unwraps Tensors (also inside a list argument, as for ``cat``) to their arrays;
3. runs ``op.forward(ctx, *arrays, **kwargs)``, the NumPy/Numba kernel;
4. records a graph ``Node`` only when grad mode is on and some input requires grad;
5. wraps the result(s) as Tensors, sharing the version counter for views.

In-place ops (``op.inplace``) run the same forward and write the result into the
target, which then takes the new node as its ``grad_fn``; on a view whose base has a
graph they run as functional steps (the op out of place, ``copy_slices_`` into the base,
``as_strided``), each through the modes. ``_write`` is the one place that overwrites a
tensor and bumps its version counter; ``dispatch_out`` is the one ``out=``, on top of it.
A custom ``autograd.Function`` is an op with ``tensor_forward``: its forward gets the
Tensors themselves and runs with grad mode off, and ``_record`` records its node.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._dtype import can_cast, cast, casts_like_numpy, from_numpy_dtype, is_bfloat16
from ._meta import MetaArray
from ._numpy_errors import torch_error
from ._state import ACTIVE, STATE, push_mode, remove_mode
from ._tensor import Tensor, _data_read, _make
from .autograd.graph import Node, _SavedOutput, accumulate_node, gradient_edge

__all__ = ["Op", "dispatch", "dispatch_out", "DispatchMode"]


class _NullCtx:
    """The ctx forward gets when nothing is recorded: saves and attributes go nowhere
    (so a forward must never read back what it set on ctx)."""

    __slots__ = ()
    materialize_grads = True

    def save_for_backward(self, *items):
        pass

    def mark_non_differentiable(self, *items):
        pass

    def mark_dirty(self, *items):
        pass

    def set_materialize_grads(self, value):
        pass

    def __setattr__(self, name, value):
        pass


NULL_CTX = _NullCtx()
_LISTS = (list, tuple)


KINDS = ("pointwise", "reduction", "view", "shape", "matmul", "opaque", "random", "factory")


class Op:
    """An op, defined once: ``forward(ctx, *args)`` on ndarrays (and Python values) and
    ``backward(ctx, *grads)`` on Tensors, returning one gradient per positional argument.

    Backward rules are written with ember ops, so they are differentiable themselves;
    the engine reduces broadcast gradients to each input's shape and dtype.

    The spec every op declares (read by the conformance suite, the profiler, the FLOP
    counter, autocast, and the compiler and exporters built on them):

    - ``name``: ember's registry key (``OPS[name]``), unique;
    - ``aten``: torch's op name (``mm``, ``native_layer_norm``...); the profiler reports
      ``aten::<aten>``. Defaults to ``name``;
    - ``signature``: the typed signature in torch's schema language, e.g.
      ``"add(Tensor self, Tensor other, Scalar alpha=1) -> Tensor"``: which positional
      arguments of ``forward`` are tensors and which are attributes (``ember/_schema.py``);
    - ``kind``: one of ``KINDS``;
    - ``meta(*args, **kwargs)``: the outputs' ``MetaArray`` (shape, dtype, strides) from
      the inputs' (``MetaArray`` for tensors, plain values for attributes), computing
      nothing: what runs on ``device="meta"``;
    - ``decomposition``: for composites, the op written with primitive ember ops
      (``None`` for primitives and fused kernels).

    Class attributes: ``differentiable`` (False: results never require grad), ``view``
    (the result may share memory with the first input), ``abstract`` (a template, not an
    op: not registered), ``tensor_forward`` (forward takes the Tensors themselves and runs
    ember ops on them with grad mode off: the adapter of a custom ``autograd.Function``,
    not registered either).
    """

    name = "op"
    aten: str | None = None
    signature: str | None = None
    kind = "opaque"
    decomposition = None
    differentiable = True
    view = False
    inplace = False
    tensor_forward = False
    abstract = True
    _backward_name = "OpBackward0"
    _inplace_variant = None
    _mutated_others: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        if "_backward_name" not in cls.__dict__:
            # torch names a node after its op: max_pool2d_with_indices ->
            # MaxPool2DWithIndicesBackward0; ops without a declared aten name by class
            cls._backward_name = (
                "".join(p.title() for p in cls.__dict__["aten"].split("_")) if "aten" in
                cls.__dict__ else cls.__name__.rstrip("_")) + "Backward0"
        if "aten" not in cls.__dict__:
            cls.aten = cls.name
        cls._inplace_variant = None
        cls._mutated_others = _mutated_others(cls)
        if cls.__dict__.get("abstract", False) or cls.inplace or cls.tensor_forward:
            return
        cls.abstract = False
        if cls.name in OPS and OPS[cls.name].__qualname__ != cls.__qualname__:
            raise RuntimeError(f"two ops are named {cls.name!r}: {OPS[cls.name]} and {cls}")
        OPS[cls.name] = cls

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("derivative for this op is not implemented")

    @classmethod
    def meta(cls, *args, **kwargs):
        raise NotImplementedError(f"{cls.name} has no meta function: it cannot run on the "
                                  "meta device")

    @classmethod
    def apply(cls, *args, **kwargs):
        if kwargs and kwargs.get("device") is not None:  # a factory on the meta device
            return dispatch_factory(cls, kwargs.pop("device"), *args, **kwargs)
        return dispatch(cls, *args, **kwargs)

    @classmethod
    def inplace_op(cls) -> type[Op]:
        """The in-place variant (``add_`` for ``add``), made on first use. It shares the
        spec of ``cls`` and is not a separate entry of ``OPS``."""
        if cls._inplace_variant is None:
            variant = type(cls.__name__ + "_", (cls,), {"name": cls.name + "_", "inplace": True,
                                                        "aten": cls.aten + "_"})
            variant._backward_name = cls._backward_name
            cls._inplace_variant = variant
        return cls._inplace_variant


OPS: dict[str, type[Op]] = {}


class DispatchMode:
    """Sees every op while active (``with mode:``). Override ``__ember_dispatch__``; call
    ``op.apply(*args, **kwargs)`` inside it to run the op (the mode is popped meanwhile)."""

    def __ember_dispatch__(self, op, args, kwargs):
        return op.apply(*args, **kwargs)

    def __enter__(self):
        push_mode(self)
        return self

    def __exit__(self, *exc):
        remove_mode(self)


def dispatch(op, *args, **kwargs):
    """Run ``op`` on ``args``: the single path of every tensor operation."""
    try:  # zero-cost in CPython >= 3.11 until something raises
        requires = special = False
        arrays = []
        for a in args:
            if isinstance(a, Tensor):
                d = a._data
                arrays.append(d)
                if type(d) is MetaArray:
                    special = True
                if a._requires_grad:
                    requires = True
            elif type(a) in _LISTS and a and isinstance(a[0], Tensor):
                arrays.append([t._data for t in a])
                for t in a:
                    if t._requires_grad:
                        requires = True
                    if type(t._data) is MetaArray:
                        special = True
            else:
                arrays.append(a)
        if special and op.tensor_forward:
            special = False  # a custom Function: the ops inside its forward meet these tensors
        if requires and op.inplace and not special and STATE.grad_enabled and op.differentiable \
                and getattr(args[0], "_base", None) is not None:
            return _inplace_on_view(op, args, kwargs)  # in steps, each through the modes
        if special:
            handler = _subclass_handler(args)
            if handler is not None:
                return handler(op, tuple({type(t) for t in _tensor_args(args)}), args, kwargs)
        if ACTIVE.modes and STATE.modes:  # the count first: it spares the thread-local read
            mode = STATE.modes.pop()
            try:
                return mode.__ember_dispatch__(op, args, kwargs)
            finally:
                STATE.modes.append(mode)
        if special:
            return _dispatch_meta(op, args, arrays, kwargs, requires)
        record = requires and STATE.grad_enabled and op.differentiable
        if op.inplace:
            return _inplace(op, args, arrays, kwargs, record)
        if record:
            return _record(op, args, arrays, kwargs)
        if op.tensor_forward:
            return _forward_on_tensors(op, NULL_CTX, args, kwargs)
        out = op.forward(NULL_CTX, *arrays, **kwargs)
        if type(out) is np.ndarray:
            t = _make(out)
            if op.view:
                _link_view(t, args[0])
            return t
        return _wrap_many(op, args, out)
    except (MemoryError, ValueError) as exc:
        error = torch_error(exc)  # NumPy's allocation and broadcasting errors as torch's
        if error is None:
            raise
        raise error from exc


def dispatch_factory(op, device, *args, **kwargs):
    """A factory (an op without tensor inputs) on the meta ``device``: modes see the call
    with ``device`` among its keyword arguments (``op.apply`` brings it back here), and
    the result is the op's ``meta`` -- nothing is allocated. (On the CPU, factories are
    plain ``dispatch`` calls.)"""
    if ACTIVE.modes and STATE.modes:
        mode = STATE.modes.pop()
        try:
            return mode.__ember_dispatch__(op, args, {**kwargs, "device": device})
        finally:
            STATE.modes.append(mode)
    return _make(op.meta(*args, **kwargs))


def _subclass_handler(args):
    """The ``__torch_dispatch__`` of the first tensor argument whose type defines one:
    wrapper subclasses (quantized, fake, logging tensors) see the op before any mode, and
    run it on what they wrap."""
    for t in _tensor_args(args):
        handler = type(t).__torch_dispatch__
        if handler is not None:
            return handler
    return None


def _dispatch_meta(op, args, arrays, kwargs, requires):
    """Ops on tensors without memory (meta tensors, wrapper subclasses that did not take
    the op): the op's ``meta`` function gives the outputs' metadata.

    CPU tensors may join meta ones where torch lets them: 0-d tensors (scalars) and
    integer or bool tensors (indices); any other mix is torch's device error.

    Autograd does not record through meta tensors: an output requires grad when an input
    does (and grad mode is on), as a leaf.
    """
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            if a.ndim and a.dtype.kind not in "biu":
                raise RuntimeError("Tensor on device cpu is not on the expected device meta!")
            arrays[i] = MetaArray.like(a)
        elif type(a) is list:
            arrays[i] = [MetaArray.like(x) if isinstance(x, np.ndarray) else x for x in a]
    if op.inplace:
        target = args[0]
        out = op.meta(*arrays, **kwargs)
        if tuple(out.shape) != target._data.shape:
            raise RuntimeError(f"output with shape {list(target._data.shape)} doesn't match the "
                               f"broadcast shape {list(out.shape)}")
        return target
    out = op.meta(*arrays, **kwargs)
    rg = requires and STATE.grad_enabled and op.differentiable
    if isinstance(out, _LISTS):
        return tuple(_meta_tensor(o, rg) for o in out)
    return _meta_tensor(out, rg)


def _meta_tensor(arr, requires_grad: bool) -> Tensor:
    t = _make(arr)
    if requires_grad and (arr.dtype.kind in "fc" or is_bfloat16(arr.dtype)):
        t._requires_grad = True
    return t


def _tensor_args(args):
    for a in args:
        if isinstance(a, Tensor):
            yield a
        elif type(a) in _LISTS:
            yield from (t for t in a if isinstance(t, Tensor))


def _link_view(t: Tensor, src: Tensor) -> None:
    """Make ``t`` (a view op's result) a view of ``src`` if it shares ``src``'s memory.
    A non-empty NumPy view of ``src``'s array, or of the array owning it (as torch's
    views share the storage, whatever part of it they address), does: tested first, as
    ``np.may_share_memory`` for the rest took ~0.5 us a view op."""
    arr, data = t._data, src._data
    base = arr.base
    if (base is None or not arr.size or (base is not data and base is not data.base)) \
            and not np.may_share_memory(arr, data):
        return
    t._vc = src._vc
    t._base = src if src._base is None else src._base


def _wrap_many(op, args, out):
    if not isinstance(out, _LISTS):
        return _make(np.asarray(out))
    outs = tuple(_make(o if type(o) is np.ndarray else np.asarray(o)) for o in out)
    if op.view:
        for t in outs:
            _link_view(t, args[0])
    return outs


def _edges_and_layout(args):
    """Graph edges of the tensor arguments (flattened), how they sit in ``args``, their
    shapes/dtypes, which positional arguments need a gradient, and (when no argument is a
    list of tensors) the positions of the tensor arguments.

    The three last depend only on what kind each argument is; they are built once per
    pattern of kinds and shared by the nodes (fewer objects per node: the cyclic garbage
    collector has fewer to scan)."""
    edges, in_meta, kinds = [], [], []
    for a in args:
        if isinstance(a, Tensor):
            fn = a.grad_fn  # gradient_edge(a), inline: the common cases first
            if fn is not None:
                edges.append((fn, a._output_nr))
            elif a._requires_grad:
                edges.append((accumulate_node(a), 0))
            else:
                edges.append(_NO_EDGE)
            data = a._data
            meta = (data.shape, data.dtype)
            in_meta.append(_METAS.get(meta) or _interned(meta))
            kinds.append(fn is not None or a._requires_grad)
        elif type(a) in _LISTS and a and isinstance(a[0], Tensor):
            group = [gradient_edge(t) for t in a]
            edges.extend(group)
            in_meta.extend((t._data.shape, t._data.dtype) for t in a)
            kinds.append((len(a), any(e[0] is not None for e in group)))
        else:
            kinds.append(None)
    kinds = tuple(kinds)
    layout = _LAYOUTS.get(kinds)
    if layout is None:
        layout = _layout_of(kinds)
        if len(_LAYOUTS) < 4096:  # list lengths vary without bound
            _LAYOUTS[kinds] = layout
    return (tuple(edges), layout[0], tuple(in_meta), layout[1], layout[2])


_NO_EDGE = (None, 0)  # the edge of a tensor that needs no gradient

# (kind of each argument) -> (layout, needs_input_grad, positions), as _edges_and_layout
# returns them. A kind is True/False for a tensor that needs a gradient or not, (length,
# needs) for a list of tensors, None for anything else.
_LAYOUTS: dict[tuple, tuple] = {}


# (shape, dtype) pairs of the nodes' inputs and outputs, one object per distinct pair (up to
# a bound): a recorded op then leaves no new pair for the cyclic collector to scan.
_METAS: dict[tuple, tuple] = {}


def _interned(meta: tuple) -> tuple:
    if len(_METAS) < 4096:
        _METAS[meta] = meta
    return meta


# (shape, dtype) -> the ``_out_meta`` of a node with that one output, shared likewise.
_ONE_META: dict[tuple, tuple] = {}


def _one_meta(meta: tuple) -> tuple:
    one = (_METAS.get(meta) or _interned(meta),)
    if len(_ONE_META) < 4096:
        _ONE_META[meta] = one
    return one


def _layout_of(kinds: tuple) -> tuple:
    layout = tuple(-1 if type(k) is bool else None if k is None else k[0] for k in kinds)
    needs = tuple(k if type(k) is bool else False if k is None else k[1] for k in kinds)
    positions = None if any(type(k) is tuple for k in kinds) else tuple(
        i for i, k in enumerate(kinds) if k is not None)
    return layout, needs, positions


def _forward_on_tensors(op, ctx, args, kwargs):
    """``forward`` of a ``tensor_forward`` op (a custom Function) on the Tensors themselves,
    with grad mode off so that the ember ops inside record nothing."""
    prev = STATE.grad_enabled
    STATE.grad_enabled = False
    try:
        return op.forward(ctx, *args, **kwargs)
    finally:
        STATE.grad_enabled = prev


def _record(op, args, arrays, kwargs, target: Tensor | None = None):
    """Run ``op`` recording a graph node: the node is forward's ctx, has an edge per tensor
    argument, and becomes the ``grad_fn`` of the floating-point outputs."""
    node = Node(op)
    (node.next_functions, node._layout, node._in_meta, node.needs_input_grad,
     node._positions) = _edges_and_layout(args)
    if op.tensor_forward:
        out = _forward_on_tensors(op, node, args, kwargs)
        multi = type(out) is tuple  # a Function's list result is one (non-tensor) output
    else:
        out = op.forward(node, *arrays, **kwargs)
        if type(out) is np.ndarray and node._non_diff is None:  # the usual case, in short
            dt = out.dtype
            if dt.kind in "fc" or is_bfloat16(dt):
                t = _make(out, True)
                t.grad_fn = node
            else:
                t = _make(out)
            meta = (out.shape, dt)
            node._out_meta = _ONE_META.get(meta) or _one_meta(meta)
            if op.view:
                _link_view(t, args[0])
            if target is not None:
                return node, t, out
            if node._to_save is not None:
                _resolve_saved(node, args, arrays, (t,), (out,))
            return t
        multi = isinstance(out, _LISTS)
    outs = out if multi else (out,)
    non_diff = node._non_diff
    tensors = []
    meta = []
    for i, o in enumerate(outs):
        if type(o) is np.ndarray:
            t = _make(o)
        elif isinstance(o, Tensor):
            t = _function_output(o, node, args)
        elif op.tensor_forward:  # a Function may return any Python object as well
            tensors.append(o)
            meta.append(((), np.float32))
            continue
        else:
            t = _make(np.asarray(o))
        dt = t._data.dtype
        if (dt.kind in "fc" or is_bfloat16(dt)) and not (
                non_diff and any(o is n for n in non_diff)):
            t._requires_grad = True
            t.grad_fn = node
            t._output_nr = i
        else:
            t._requires_grad = False
        tensors.append(t)
        meta.append((t._data.shape, dt))
    node._out_meta = tuple(meta)
    if op.view:
        for t in tensors:
            _link_view(t, args[0])
    if target is not None:
        return node, tensors[0], outs[0]
    if node._to_save is not None:
        _resolve_saved(node, args, arrays, tensors, outs)
    return tuple(tensors) if multi else tensors[0]



def _function_output(o: Tensor, node: Node, args) -> Tensor:
    """The tensor a custom Function's output becomes: itself (a new tensor, or an input it
    modified in place and marked dirty, which now has the node as ``grad_fn``), or, for an
    input returned unchanged, a new alias of it (the input keeps its own history)."""
    if node._dirty and any(o is d for d in node._dirty):
        o._vc[0] += 1  # torch counts marking dirty as a write of its own
        if o.grad_fn is None and o._requires_grad:
            raise RuntimeError("a leaf Variable that requires grad has been used in an in-place "
                               "operation.")
        return o
    if any(o is a for a in args):
        alias = _make(o._data)
        alias._vc = o._vc
        return alias
    return o


def _resolve_saved(node: Node, args, arrays, outputs, raw_outputs) -> None:
    """Turn what forward saved (arrays) back into the tensors they belong to.

    ``raw_outputs`` are the objects forward returned (NumPy gives scalars, not arrays,
    for 0-d results), matched by identity like the inputs."""
    saved, versions = [], []
    n = len(arrays)
    i = 0
    for item in node._to_save:
        if type(item) is np.ndarray:  # the usual case: forward's input arrays, in order
            a = args[i] if i < n and item is arrays[i] else _find_input(item, args, arrays)
            if isinstance(a, Tensor):
                saved.append(a)
                versions.append(a._vc[0])
            else:
                _resolve_other(node, item, args, arrays, outputs, raw_outputs, saved, versions)
        elif item is None or type(item) is float or type(item) is int:
            saved.append(item)
            versions.append(None)
        else:
            _resolve_other(node, item, args, arrays, outputs, raw_outputs, saved, versions)
        i += 1
    node._saved = tuple(saved)
    node._saved_versions = tuple(versions)
    node._to_save = None


def _resolve_other(node: Node, item, args, arrays, outputs, raw_outputs, saved: list,
                   versions: list) -> None:
    """``_resolve_saved`` of one item other than an input array or a number: a Tensor (a
    custom Function's), an output, or an array forward made (kept as a constant)."""
    if isinstance(item, Tensor):
        if item.grad_fn is node:  # a custom Function's own output
            saved.append(_SavedOutput(item._data, item._output_nr, item._vc, item._vc[0]))
            versions.append(None)
        else:
            saved.append(item)
            versions.append(item._vc[0])
        return
    if isinstance(item, _ARRAYS):
        match = _find_input(item, args, arrays)
        if match is not None:
            saved.append(match)
            versions.append(match._vc[0])
            return
        for t, raw in zip(outputs, raw_outputs):
            if raw is item:
                saved.append(_SavedOutput(t._data, t._output_nr, t._vc, t._vc[0]))
                versions.append(None)
                return
        saved.append(_make(np.asarray(item)))
        versions.append(0)
        return
    saved.append(item)
    versions.append(None)


_ARRAYS = (np.ndarray, np.generic)


def _find_input(arr, args, arrays):
    for a, x in zip(args, arrays):
        if x is arr and isinstance(a, Tensor):
            return a
        if type(x) is list:
            for t, y in zip(a, x):
                if y is arr:
                    return t
    return None


def _inplace(op, args, arrays, kwargs, record):
    target = args[0]
    if not isinstance(target, Tensor):
        raise TypeError(f"{op.name}() expects a Tensor as its first argument")
    if not record:
        _write(op, target, op.forward(NULL_CTX, *arrays, **kwargs))
        if op._mutated_others:
            _bump_mutated(op, args)
        return target
    if target.grad_fn is None and target._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    # Backward needs the value from before the write: record the op on an alias of it.
    old = _make(target._data.copy(), target._requires_grad)
    old.grad_fn, old._output_nr, old._acc = target.grad_fn, target._output_nr, target._acc
    args = (old,) + args[1:]
    arrays[0] = old._data
    node, result, raw = _record(op, args, arrays, kwargs, target=target)
    _write(op, target, result._data)
    target.grad_fn, target._output_nr, target._requires_grad = node, 0, True
    if node._to_save is not None:
        result._vc = target._vc
        _resolve_saved(node, args, arrays, [result], [raw])
    return target


def _mutated_others(op) -> tuple:
    """Positions of the arguments other than the first that ``op``'s signature marks as
    written (``Tensor(b!) exp_avg``): the in-place path bumps their versions too."""
    if op.signature is None:
        return ()
    from ._schema import parse
    return tuple(i for i, a in enumerate(parse(op.signature).arguments)
                 if i and a.mutated and not a.kwarg_only)


def _bump_mutated(op, args) -> None:
    for i in op._mutated_others:
        if i < len(args) and isinstance(args[i], Tensor):
            args[i]._vc[0] += 1


def _inplace_on_view(op, args, kwargs) -> Tensor:
    """``op`` in place on a view, recording: the graph of the view's base must take the
    written region from the op (torch's CopySlices node). Done in steps that each go
    through the dispatcher, so modes see a functional program: ``clone`` of the view (the
    op's backward may need the values from before the write), the op out of place,
    ``copy_slices_`` writing the result into the base (its new ``grad_fn``), and
    ``as_strided``, whose node becomes the view's ``grad_fn``."""
    target = args[0]
    base = target._base
    if base.grad_fn is None and base._requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    geometry = _view_geometry(target, base)
    result = dispatch(op.__bases__[0], dispatch(OPS["clone"], target), *args[1:], **kwargs)
    _check_cast(result._data.dtype, target._data.dtype)
    if result._data.shape != target._data.shape:
        raise RuntimeError(f"output with shape {list(target._data.shape)} doesn't match the "
                           f"broadcast shape {list(result._data.shape)}")
    dispatch(CopySlices.inplace_op(), base, result, *geometry)
    fresh = dispatch(OPS["asstrided"], base, *geometry)
    target.grad_fn, target._output_nr, target._requires_grad = fresh.grad_fn, 0, True
    return target


def _view_geometry(view: Tensor, base: Tensor) -> tuple:
    """(size, stride, offset) of ``view`` within ``base``'s memory, in elements."""
    arr, src = view._data, base._data
    item = arr.itemsize
    if not src.flags.c_contiguous or any(s < 0 for s in arr.strides):
        raise RuntimeError("ember records in-place operations on views only for views of "
                           "contiguous tensors with non-negative strides; use the out-of-place "
                           "op and assign the result instead")
    offset = (arr.__array_interface__["data"][0] - src.__array_interface__["data"][0]) // item
    return tuple(arr.shape), tuple(st // item for st in arr.strides), offset


class CopySlices(Op):
    """``input`` with the region (size, stride, storage_offset, in elements of its
    contiguous memory) replaced by ``src``: how an in-place op on a view rewrites the graph
    of the view's base. torch's autograd node of that name; its functional form is
    ``aten::as_strided_scatter``. Backward reaches the view ops by name in ``OPS`` (the
    ops layer registers them; this one cannot import it)."""

    name = "copy_slices"
    aten = "as_strided_scatter"
    signature = ("as_strided_scatter(Tensor input, Tensor src, int[] size, int[] stride, "
                 "int storage_offset) -> Tensor")
    kind = "opaque"
    _backward_name = "torch::autograd::CopySlices"  # node.name(), as torch names it

    @staticmethod
    def meta(input, src, size, stride, storage_offset):
        return MetaArray(input.shape, input.dtype)

    @staticmethod
    def forward(ctx, input, src, size, stride, storage_offset):
        out = np.array(input, copy=True, order="C")
        mask = np.ones(out.shape, dtype=bool)
        for arr, value in ((out, src), (mask, False)):
            np.lib.stride_tricks.as_strided(arr.reshape(-1)[storage_offset:], size,
                                            tuple(st * arr.itemsize for st in stride))[...] = value
        ctx.mask, ctx.geometry = mask, (tuple(size), tuple(stride), storage_offset)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * _make(ctx.mask), dispatch(OPS["asstrided"], g.clone(), *ctx.geometry)


def _write(op, target: Tensor, out) -> None:
    """Write ``out`` (an op's result) into ``target`` and bump its version: the one place
    where an op overwrites a tensor's memory (in-place ops and ``out=``)."""
    dst = target._data
    _check_cast(out.dtype if hasattr(out, "dtype") else np.asarray(out).dtype, dst.dtype)
    if np.shape(out) != dst.shape:
        raise RuntimeError(f"output with shape {list(dst.shape)} doesn't match the broadcast "
                           f"shape {list(np.shape(out))}")
    if out is not dst and type(dst) is not MetaArray:
        if not casts_like_numpy(dst.dtype) and getattr(out, "dtype", None) != dst.dtype:
            out = cast(np.asarray(out), dst.dtype)  # torch's float8 conversion
        np.copyto(dst, out, casting="unsafe")
    target._vc[0] += 1


def _check_cast(src, dst) -> None:
    """torch's rule for writing a result of NumPy dtype ``src`` into a tensor of ``dst``."""
    if src != dst and not can_cast(from_numpy_dtype(src), from_numpy_dtype(dst)):
        raise RuntimeError(f"result type {from_numpy_dtype(src).scalar_name} can't be cast to "
                           f"the desired output type {from_numpy_dtype(dst).scalar_name}")


def dispatch_out(op, out, *args, **kwargs):
    """``dispatch(op, *args, **kwargs)``, written into ``out`` when it is given: the one
    ``out=`` of every op, with torch's semantics. ``op`` is an ``Op``, or for a composite
    the function that computes it from ``args`` (named after it in errors; its attribute
    ``kind``, if any, is read as an Op's: ``mm.kind = "matmul"``).

    ``out`` is a Tensor, or a tuple of them for an op with several results (``sort``).
    With grad mode on, no argument (``out`` included) of a differentiable op may require
    grad: ``out=`` variants are not differentiable. Each result must cast to its ``out``
    (``result type Float can't be cast to the desired output type Long``); matmul-kind ops
    want the same dtype, as torch's; ops with other rules of their own check them before
    calling. An ``out`` of another shape is resized, with torch's deprecation warning
    unless it was empty or the op has no tensor inputs (factories). ``out`` may be an
    input, but not overlap one partially. Returns ``out``, its version bumped.
    """
    if out is None:  # the hot path: an Op is a class, a composite a function
        return dispatch(op, *args, **kwargs) if isinstance(op, type) else op(*args, **kwargs)
    is_op = isinstance(op, type) and issubclass(op, Op)
    name, op_kind = (op.aten, op.kind) if is_op else (op.__name__, getattr(op, "kind", None))
    outs = out if type(out) is tuple else (out,)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(o).__name__}")
    inputs = tuple(_tensor_args(args))
    # torch exempts the ops it marks non-differentiable (nonzero, searchsorted); factories it
    # checks in its autograd fallback, named aten::zeros
    differentiable = not is_op or op.differentiable or op_kind == "factory"
    if STATE.grad_enabled and differentiable and any(t._requires_grad for t in outs + inputs):
        if op_kind == "factory":
            name = f"aten::{name}"
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                           "automatic differentiation, but one of the arguments requires grad.")
    for o in outs:
        _check_no_partial_overlap(o._data, inputs)
        if ACTIVE.modes:
            _data_read(o, "out=")  # a write no op records: a compiler's capture stops here
    result = dispatch(op, *args, **kwargs) if is_op else op(*args, **kwargs)
    results = tuple(result) if isinstance(result, tuple) else (result,)
    if len(results) != len(outs):
        raise TypeError(f"{name}(): expected out= to be a tuple of {len(results)} Tensors")
    for o, r in zip(outs, results):
        src, dst = r._data, o._data
        if (type(src) is MetaArray) != (type(dst) is MetaArray):
            raise RuntimeError(f"Expected out tensor to have device {r.device}, but got "
                               f"{o.device} instead")
        if op_kind == "matmul" and src.dtype != dst.dtype:
            raise RuntimeError(f"Expected out tensor to have dtype {_c_name(src.dtype)}, but got "
                               f"{_c_name(dst.dtype)} instead")
        _check_cast(src.dtype, dst.dtype)
        if dst.shape != src.shape:
            if dst.size and inputs:  # factories and samplers of a size resize silently
                warnings.warn(_RESIZE_MSG.format(list(dst.shape), list(src.shape)), UserWarning,
                              stacklevel=3)
            o._data = (MetaArray if type(dst) is MetaArray else np.empty)(src.shape, dst.dtype)
        _write(op, o, src)
    return out


def check_out_dtype(out, np_dtype) -> None:
    """torch's check of ops that want ``out`` of exactly ``np_dtype`` (a given ``dtype=``,
    the dtype of sort's indices), made by the public function before ``dispatch_out``."""
    if isinstance(out, Tensor) and out._data.dtype != np_dtype:
        raise RuntimeError(f"Expected out tensor to have dtype {_c_name(np_dtype)}, but got "
                           f"{_c_name(out._data.dtype)} instead")


def _c_name(np_dtype) -> str:
    """The C++ type name torch's "Expected out tensor to have dtype ..." message uses."""
    name = from_numpy_dtype(np_dtype).scalar_name
    return _C_NAMES.get(name, name)


_C_NAMES = {"Float": "float", "Double": "double", "Half": "c10::Half",
            "BFloat16": "c10::BFloat16", "Long": "long int", "Int": "int", "Short": "short int",
            "Char": "signed char", "Byte": "unsigned char", "Bool": "bool",
            "ComplexFloat": "c10::complex<float>", "ComplexDouble": "c10::complex<double>"}

_RESIZE_MSG = ("An output with one or more elements was resized since it had shape {}, which "
               "does not match the required output shape {}. This behavior is deprecated, and "
               "in a future PyTorch release outputs will not be resized unless they have zero "
               "elements. You can explicitly reuse an out tensor t by resizing it, inplace, to "
               "zero elements with t.resize_(0).")


def _check_no_partial_overlap(dst, inputs) -> None:
    """torch refuses an ``out`` that shares only part of its memory with an input (the same
    memory entirely is fine); like torch it decides this for dense layouts only."""
    for t in inputs:
        src = t._data
        if type(src) is MetaArray or type(dst) is MetaArray or not np.may_share_memory(src, dst):
            continue
        if not (src.flags.c_contiguous and dst.flags.c_contiguous):
            continue
        same = (src.__array_interface__["data"][0] == dst.__array_interface__["data"][0]
                and src.nbytes == dst.nbytes)
        if not same:
            raise RuntimeError("unsupported operation: some elements of the input tensor and the "
                               "written-to tensor refer to a single memory location. Please "
                               "clone() the tensor before performing the operation.")
