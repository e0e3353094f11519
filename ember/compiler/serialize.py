"""Programs on disk: a captured graph plus its weights in one versioned file that loads
without the model's Python source and without unpickling anything.

The file is a zip archive (like torch's ``.pt``) holding ``program.json`` -- the format
name and version, the graph (ops by their ``OPS`` names, arguments as JSON with tagged
values for tensors, tuples, slices, dtypes, sizes of dynamic dims...), the input and
output specs -- and ``arrays.npz``, the weights and constant arrays, read with
``allow_pickle=False``. A file from a newer format version is refused with a message
saying so; an op name this ember does not know is refused naming it.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from .._dispatch import OPS
from .._meta import MetaArray
from .dynamic import DimRef, Sym
from .graph import Graph, Node, Slot, Value

__all__ = ["FORMAT", "VERSION", "write_program", "read_program"]

FORMAT = "ember.program"
VERSION = 1


class _Encoder:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, arr: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(arr)
        return key

    def enc(self, x) -> Any:
        from ..ops.indexing import _Slot as IndexSlot
        t = type(x)
        if t is Value:
            return {"$v": x.name}
        if x is None or t in (bool, int, str):
            return x
        if t is float:
            return x if math.isfinite(x) else {"$f": repr(x)}
        if t is list:
            return [self.enc(i) for i in x]
        if t is tuple:
            return {"$t": [self.enc(i) for i in x]}
        if t is dict:
            return {"$d": {k: self.enc(v) for k, v in x.items()}}
        if t is slice:
            return {"$slice": [self.enc(x.start), self.enc(x.stop), self.enc(x.step)]}
        if x is Ellipsis:
            return {"$ellipsis": True}
        if isinstance(x, np.dtype):
            return {"$dtype": x.str if x.kind != "V" else x.name}
        if isinstance(x, np.ndarray):
            return {"$a": self.array(x)}
        if isinstance(x, np.generic):
            return {"$scalar": self.array(np.asarray(x))}
        if t is Slot:
            return {"$slot": x.index}
        if t is IndexSlot:
            return {"$islot": x.i}
        if t is Sym:
            return {"$sym": [x.const, [[c, [[r.value.name, r.axis] for r in refs]]
                                       for c, refs in x.terms]]}
        from .._dtype import dtype as ember_dtype
        if isinstance(x, ember_dtype):
            return {"$edtype": str(x).removeprefix("ember.")}
        raise TypeError(f"cannot save a program argument of type {t.__name__} ({x!r})")


def _meta(v: Value) -> dict:
    return {"name": v.name, "kind": v.kind, "shape": list(v.shape), "dtype": _dtype_name(v.dtype),
            "target": v.target}


def _dtype_name(dt: np.dtype) -> str:
    return dt.name


def write_program(path_or_file, graph: Graph, weights: dict[str, np.ndarray],
                  extra: dict | None = None) -> None:
    """Write ``graph`` (unfused) and ``weights`` (by qualified name) as one program file;
    atomically when ``path_or_file`` is a path (a crash leaves the old file)."""
    enc = _Encoder()
    doc = {
        "format": FORMAT, "version": VERSION,
        "inputs": [_meta(v) for v in graph.inputs],
        "params": [_meta(v) for v in graph.params.values()],
        "nodes": [{"op": n.op.name, "args": enc.enc(n.args), "kwargs": enc.enc(n.kwargs),
                   "outputs": [_meta(o) for o in n.outputs], "multi": n.multi,
                   "location": n.location} for n in graph.nodes],
        "consts": [{**_meta(v), "data": enc.array(v.data)} for v in _consts(graph)],
        "outputs": [v.name for v in graph.outputs],
        "out_spec": enc.enc(graph.out_spec),
        "extra": extra or {},
    }
    for name, arr in weights.items():
        enc.arrays["w:" + name] = np.ascontiguousarray(arr)
    buf = io.BytesIO()
    np.savez(buf, **enc.arrays)
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w", zipfile.ZIP_STORED) as z:
        z.writestr("program.json", json.dumps(doc))
        z.writestr("arrays.npz", buf.getvalue())
    data = payload.getvalue()
    if isinstance(path_or_file, (str, os.PathLike)):
        folder = os.path.dirname(os.path.abspath(path_or_file))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path_or_file)
        except BaseException:
            os.unlink(tmp)
            raise
    else:
        path_or_file.write(data)


def _consts(g: Graph) -> list[Value]:
    seen, out = set(), []
    for n in g.nodes:
        for v in n.inputs:
            if v.kind == "const" and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    for v in g.outputs:
        if v is not None and v.kind == "const" and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def read_program(path_or_file) -> tuple[Graph, dict[str, np.ndarray], dict]:
    """``(graph, weights, extra)`` from a program file."""
    from ..ops import all_ops
    all_ops()
    with zipfile.ZipFile(path_or_file) as z:
        names = set(z.namelist())
        if "program.json" not in names:
            raise RuntimeError("not an ember program file (no program.json): was it written "
                               "by ember.jit.save / ember.export.save?")
        doc = json.loads(z.read("program.json"))
        arrays = dict(np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False))
    if doc.get("format") != FORMAT:
        raise RuntimeError(f"not an ember program file (format {doc.get('format')!r})")
    if doc["version"] > VERSION:
        raise RuntimeError(f"this program file has format version {doc['version']}, newer than "
                           f"this ember reads ({VERSION}); upgrade ember to load it")
    values: dict[str, Value] = {}

    def value(meta: dict, producer=None) -> Value:
        v = Value(meta["name"], meta["kind"], MetaArray(meta["shape"], _np_dtype(meta["dtype"])),
                  producer, target=meta.get("target"))
        values[v.name] = v
        return v

    g = Graph()
    g.inputs = [value(m) for m in doc["inputs"]]
    g.params = {m["target"]: value(m) for m in doc["params"]}
    for m in doc["consts"]:
        value(m).data = arrays[m["data"]]
    dec = _Decoder(values, arrays)
    for nd in doc["nodes"]:
        name = nd["op"]
        base = name[:-1] if name not in OPS and name.endswith("_") else name
        if base not in OPS:
            raise RuntimeError(f"program uses op {name!r}, which this ember does not have")
        op = OPS[base] if base == name else OPS[base].inplace_op()
        node = Node(op, dec.dec(nd["args"]), dec.dec(nd["kwargs"]), multi=nd["multi"],
                    location=nd["location"])
        node.outputs = tuple(value(m, node) for m in nd["outputs"])
        for i, o in enumerate(node.outputs):
            o.index = i
        g.nodes.append(node)
    g.outputs = [values[n] for n in doc["outputs"]]
    g.out_spec = dec.dec(doc["out_spec"])
    weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w:")}
    return g, weights, doc.get("extra", {})


class _Decoder:
    def __init__(self, values: dict, arrays: dict):
        self.values, self.arrays = values, arrays

    def dec(self, x):
        if isinstance(x, list):
            return [self.dec(i) for i in x]
        if not isinstance(x, dict):
            return x
        (tag, body), = x.items()
        if tag == "$v":
            return self.values[body]
        if tag == "$f":
            return float(body)
        if tag == "$t":
            return tuple(self.dec(i) for i in body)
        if tag == "$d":
            return {k: self.dec(v) for k, v in body.items()}
        if tag == "$slice":
            return slice(*(self.dec(i) for i in body))
        if tag == "$ellipsis":
            return Ellipsis
        if tag == "$dtype":
            return _np_dtype(body)
        if tag == "$a":
            return self.arrays[body]
        if tag == "$scalar":
            return self.arrays[body][()]
        if tag == "$slot":
            return Slot(body)
        if tag == "$islot":
            from ..ops.indexing import _Slot as IndexSlot
            return IndexSlot(body)
        if tag == "$sym":
            const, terms = body
            return Sym(const, tuple((c, tuple(DimRef(self.values[n], a) for n, a in refs))
                                    for c, refs in terms))
        if tag == "$edtype":
            import ember
            return getattr(ember, body)
        raise RuntimeError(f"unknown tag {tag!r} in a program file")


def _np_dtype(name: str) -> np.dtype:
    """A NumPy dtype by name, ml_dtypes' (bfloat16, float8) through ember's dtypes."""
    try:
        return np.dtype(name)
    except TypeError:
        import ember
        return np.dtype(getattr(ember, name).np)
