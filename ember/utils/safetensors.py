"""safetensors files for ember tensors, with the API of ``safetensors.torch``.

Built on the ``safetensors`` package's own serializer and parser (an optional extra:
``pip install ember[safetensors]``); this module only maps ember tensors to its raw
tensor specs and back, bfloat16 included.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._dtype import from_numpy_dtype
from .._tensor import Tensor, _make, _root_array

__all__ = ["save", "save_file", "load", "load_file", "save_model", "load_model"]

_FROM_HEADER = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "I32": "int32",
                "I64": "int64", "F16": "float16", "BF16": "bfloat16", "F32": "float32",
                "F64": "float64", "C64": "complex64"}


def _package():
    try:
        import safetensors
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ember.utils.safetensors needs the 'safetensors' package: "
                          "pip install 'ember[safetensors]'") from exc
    return safetensors


def _specs(tensors: dict[str, Tensor]) -> tuple[dict, list]:
    """Validate like safetensors.torch and describe each tensor's memory."""
    st = _package()
    if not isinstance(tensors, dict):
        raise ValueError(f"Expected a dict of [str, torch.Tensor] but received {type(tensors)}")
    roots: dict[int, list[str]] = {}
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"Key `{name}` is invalid, expected torch.Tensor but received "
                             f"{type(t)}")
        roots.setdefault(id(_root_array(t._data)), []).append(name)
    shared = [sorted(names) for names in roots.values() if len(names) > 1]
    if shared:
        raise RuntimeError(f"Some tensors share memory, this will lead to duplicate memory on "
                           f"disk and potential differences when loading them again: {shared}. "
                           "Save clones of them, or use save_model.")
    specs, keep_alive = {}, []
    for name, t in tensors.items():
        arr = t._data
        if not arr.flags.c_contiguous:
            raise ValueError(f"You are trying to save a non contiguous tensor: `{name}` which is "
                             "not allowed. Call `.contiguous()` on it before saving.")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        keep_alive.append(arr)
        specs[name] = st.TensorSpec(dtype=from_numpy_dtype(arr.dtype).name, shape=list(arr.shape),
                                    data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    return specs, keep_alive


def save(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (contiguous, not sharing memory)."""
    specs, keep_alive = _specs(tensors)
    out = bytes(_package().serialize(specs, metadata=metadata))
    del keep_alive
    return out


def save_file(tensors: dict[str, Tensor], filename: str | os.PathLike,
              metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to a safetensors file."""
    specs, keep_alive = _specs(tensors)
    _package().serialize_file(specs, filename, metadata=metadata)
    del keep_alive


def _to_tensors(items) -> dict[str, Tensor]:
    from .. import _dtype
    out = {}
    for name, info in items:
        dtype = getattr(_dtype, _FROM_HEADER.get(info["dtype"], info["dtype"]))
        arr = np.frombuffer(bytearray(info["data"]), dtype=dtype.np).reshape(info["shape"])
        out[name] = _make(arr)
    return out


def load(data: bytes) -> dict[str, Tensor]:
    """Tensors from safetensors bytes."""
    return _to_tensors(_package().deserialize(data))


def load_file(filename: str | os.PathLike, device: str | int = "cpu") -> dict[str, Tensor]:
    """Tensors from a safetensors file (in file order)."""
    from .._device import check_device
    check_device(device)
    with open(filename, "rb") as f:
        return load(f.read())


def save_model(model: Any, filename: str | os.PathLike, metadata: dict[str, str] | None = None,
               force_contiguous: bool = True) -> None:
    """Save a module's state dict, storing each shared tensor once (as safetensors.torch)."""
    state, seen = {}, set()
    for name, t in model.state_dict().items():
        key = (t.data_ptr(), t._data.shape, t._data.strides)
        if key in seen:
            continue
        seen.add(key)
        state[name] = t.contiguous().clone() if force_contiguous else t
    save_file(state, filename, metadata)


def load_model(model: Any, filename: str | os.PathLike, strict: bool = True,
               device: str | int = "cpu") -> tuple[list[str], list[str]]:
    """Load a safetensors file into ``model``; returns (missing, unexpected) keys."""
    state = load_file(filename, device)
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in state]
    if strict and (missing or result.unexpected_keys):
        raise RuntimeError(f"Error(s) in loading state_dict for {type(model).__name__}: "
                           f"missing keys {missing}, unexpected keys {result.unexpected_keys}")
    return missing, list(result.unexpected_keys)
