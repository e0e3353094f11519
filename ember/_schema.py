"""Op signatures in torch's schema language, parsed.

Every op declares ``signature``, e.g.::

    "add(Tensor self, Tensor other, Scalar alpha=1) -> Tensor"
    "max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)"
    "cat(Tensor[] tensors, int dim=0) -> Tensor"

The argument list is the op's ``forward`` arguments after ``ctx``, in order, so the schema
says which of them are tensors (``Tensor``, ``Tensor?``, ``Tensor[]``) and which are
attributes, with their types and defaults. Arguments after ``*`` are keyword-only.
Types ember uses beyond torch's: ``Any`` (a Python object the op takes as is, such as a
callable), ``dtype`` (NumPy dtype of an internal op).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = ["Argument", "Schema", "parse"]

_TENSOR_TYPES = ("Tensor", "Tensor?", "Tensor[]", "Tensor?[]")
_ARG = re.compile(r"^\s*(?P<type>[A-Za-z_][\w\[\]?]*(?:\([a-z!]+\))?(?:\[\d*\])?\??)\s+"
                  r"(?P<name>\w+)\s*(?:=\s*(?P<default>.+?))?\s*$")


@dataclass(frozen=True)
class Argument:
    name: str
    type: str               # "Tensor", "int[]", "Scalar?", ... (alias annotations dropped)
    default: str | None     # the default's source text, None when required
    kwarg_only: bool = False
    alias: str | None = None  # "a" in ``Tensor(a) self``: outputs that alias this input
    mutated: bool = False     # ``Tensor(a!)``: the op writes into this argument

    @property
    def is_tensor(self) -> bool:
        return self.type in _TENSOR_TYPES

    @property
    def is_tensor_list(self) -> bool:
        return self.type in ("Tensor[]", "Tensor?[]")


@dataclass(frozen=True)
class Schema:
    name: str               # "max.dim": torch's op name and overload
    arguments: tuple[Argument, ...]
    returns: tuple[Argument, ...]

    @property
    def tensor_arguments(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.is_tensor)

    @property
    def attributes(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if not a.is_tensor)

    @property
    def positional(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if not a.kwarg_only)

    def __str__(self) -> str:
        def arg(a: Argument) -> str:
            mark = f"({a.alias}{'!' if a.mutated else ''})"
            t = a.type if a.alias is None else a.type.replace("Tensor", f"Tensor{mark}", 1)
            return f"{t} {a.name}" + ("" if a.default is None else f"={a.default}")
        args, star = [], False
        for a in self.arguments:
            if a.kwarg_only and not star:
                args.append("*")
                star = True
            args.append(arg(a))
        rets = [arg(r).strip() for r in self.returns]
        ret = rets[0] if len(rets) == 1 else f"({', '.join(rets)})"
        return f"{self.name}({', '.join(args)}) -> {ret}"


def _split(text: str) -> list[str]:
    """Split on top-level commas (defaults like ``[0, 1]`` contain commas)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def _argument(text: str, kwarg_only: bool, what: str) -> Argument:
    m = _ARG.match(text)
    if m is None:
        # a bare return type ("Tensor") has no name
        if what == "return" and re.fullmatch(r"[A-Za-z_][\w\[\]?()a-z!]*", text):
            m = _ARG.match(text + " _")
        if m is None:
            raise ValueError(f"cannot parse {what} {text!r}")
    typ, alias = m.group("type"), None
    am = re.search(r"\(([a-z]+)(!?)\)", typ)
    if am:
        alias, typ = am.group(1), typ.replace(am.group(0), "")
    name = "" if m.group("name") == "_" else m.group("name")
    return Argument(name, typ, m.group("default"), kwarg_only, alias,
                    bool(am and am.group(2)))


@cache
def parse(signature: str) -> Schema:
    """``Schema`` of a signature string; ValueError naming what cannot be read."""
    m = re.fullmatch(r"\s*([\w.]+)\((.*)\)\s*->\s*(.+?)\s*", signature)
    if m is None:
        raise ValueError(f"not a signature: {signature!r}")
    name, args_text, ret_text = m.groups()
    args, kwarg_only = [], False
    for part in _split(args_text):
        if part == "*":
            kwarg_only = True
            continue
        args.append(_argument(part, kwarg_only, "argument"))
    if ret_text.startswith("(") and ret_text.endswith(")"):
        rets = [_argument(p, False, "return") for p in _split(ret_text[1:-1])]
    elif ret_text == "()":
        rets = []
    else:
        rets = [_argument(ret_text, False, "return")]
    names = [a.name for a in args]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate argument names in {signature!r}")
    return Schema(name, tuple(args), tuple(rets))
