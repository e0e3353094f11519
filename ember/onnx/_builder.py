"""The ONNX graph under construction: names for the IR's values, constants, nodes, and the
dynamic sizes (``SymInt``) that shape arguments may hold.

A ``SymInt`` is an int of the captured program that depends on dynamic input dims: either
``k * d1 * d2 ...`` (a product: batch * sequence, heads * batch) or ``a1*d1 + ... + c`` (a
sum: past + new length). The exporter finds them by capturing the model at several sizes
(``_dynamic``); ``Builder.ints`` turns a list of ints and SymInts into an int64 tensor,
reading each dim from the graph input's ``Shape`` at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass(frozen=True)
class Dim:
    """Axis ``axis`` of graph input number ``input``, named ``name`` in the ONNX file."""

    input: int
    axis: int
    name: str


@dataclass(frozen=True)
class SymInt:
    """``coef * prod(dims) + offset`` (``terms`` empty) or ``sum(a * d for d, a in terms) +
    offset`` (``dims`` empty): an int that depends on dynamic input dims. ``value`` is its
    value in the export's own capture (what shape arithmetic on the IR's metadata used)."""

    value: int
    coef: int = 1
    dims: tuple = ()
    terms: tuple = ()
    offset: int = 0

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value


@dataclass
class Builder:
    """Nodes, initializers and names of the ONNX graph being written."""

    opset: int
    inputs_by_index: dict = field(default_factory=dict)  # input number -> ONNX name
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    domains: set = field(default_factory=set)
    names: dict = field(default_factory=dict)            # IR Value -> ONNX name
    _consts: dict = field(default_factory=dict)
    _dims: dict = field(default_factory=dict)
    _count: int = 0

    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"/{hint}_{self._count}"

    def node(self, op_type: str, inputs: list, n_out: int = 1, domain: str = "",
             outputs: list | None = None, **attrs) -> list[str]:
        """Append a node; returns its output names (``""`` inputs are omitted optionals)."""
        outs = outputs or [self.fresh(op_type) for _ in range(n_out)]
        if domain:
            self.domains.add(domain)
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=f"{op_type}_{len(self.nodes)}",
                                           domain=domain or None,
                                           **{k: v for k, v in attrs.items() if v is not None}))
        return outs

    def one(self, op_type: str, inputs: list, domain: str = "", **attrs) -> str:
        return self.node(op_type, inputs, 1, domain, **attrs)[0]

    def const(self, value, dtype=None, name: str | None = None) -> str:
        """An initializer holding ``value`` (small ones shared by value)."""
        arr = np.asarray(value, dtype=dtype)
        key = None
        if name is None and arr.size <= 16:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = name or self.fresh("const")
        self.initializers.append(numpy_helper.from_array(_onnx_array(arr), name))
        if key is not None:
            self._consts[key] = name
        return name

    def add_initializer(self, name: str, arr: np.ndarray) -> None:
        self.initializers.append(numpy_helper.from_array(_onnx_array(arr), name))

    # ---- dynamic sizes ----------------------------------------------------------------

    def dim(self, d: Dim) -> str:
        """The int64 ``[1]`` tensor holding input dim ``d`` at run time."""
        if d not in self._dims:
            shape = self.one("Shape", [self.inputs_by_index[d.input]], start=d.axis,
                             end=d.axis + 1)
            self._dims[d] = shape
        return self._dims[d]

    def sym(self, s: SymInt) -> str:
        """An int64 ``[1]`` tensor computing ``s``."""
        if s.terms:
            parts = [self.dim(d) if a == 1 else self.one("Mul", [self.dim(d), self.const([a],
                                                                                  np.int64)])
                     for d, a in s.terms]
        else:
            parts = [self.dim(d) for d in s.dims]
        out = parts[0]
        for p in parts[1:]:
            out = self.one("Add" if s.terms else "Mul", [out, p])
        if not s.terms and s.coef != 1:
            out = self.one("Mul", [out, self.const([s.coef], np.int64)])
        if s.offset:
            out = self.one("Add", [out, self.const([s.offset], np.int64)])
        return out

    def ints(self, values) -> str:
        """A 1-D int64 tensor of ``values`` (ints and SymInts)."""
        values = list(values)
        if not any(isinstance(v, SymInt) for v in values):
            return self.const(np.array(values, dtype=np.int64).reshape(-1))
        pieces, run = [], []
        for v in values:
            if isinstance(v, SymInt):
                if run:
                    pieces.append(self.const(np.array(run, np.int64)))
                    run = []
                pieces.append(self.sym(v))
            else:
                run.append(int(v))
        if run:
            pieces.append(self.const(np.array(run, np.int64)))
        return pieces[0] if len(pieces) == 1 else self.one("Concat", pieces, axis=0)

    def scalar_int(self, v) -> str:
        """A 0-d int64 tensor of ``v`` (an int or a SymInt)."""
        if isinstance(v, SymInt):
            return self.one("Squeeze", [self.sym(v), self.const([0], np.int64)])
        return self.const(np.int64(v))


def _onnx_array(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype != np.bool_ else arr.astype(np.bool_)


def onnx_type(np_dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype))


def value_info(name: str, np_dtype, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_type(np_dtype), list(shape))


def prod(xs) -> int:
    return math.prod(int(x) for x in xs)


__all__ = ["Builder", "Dim", "SymInt", "onnx_type", "value_info", "TensorProto"]
