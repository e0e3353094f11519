"""torch's names for ember's objects, and back.

ember mirrors torch's module tree (``ember.nn.modules.linear`` is
``torch.nn.modules.linear``), so ``torch.X.name`` is usually ``ember.X.name``. Where ember
defines something in another module than torch does (``MultiheadAttention`` lives with the
attention code, torch keeps it in ``activation``), ``_HOMES`` records torch's module.
Its readers: checkpoints (ember writes torch's names into pickles and reads torch's) and
``ember.run``'s alias (``from torch.nn.modules.activation import MultiheadAttention``).
``tests/test_torch_paths.py`` checks every covered torch name against this table.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["torch_name", "ember_object", "relocated"]

_BATCHNORM = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "_BatchNorm", "_NormBase")
_INSTANCENORM = ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "_InstanceNorm")
_LAZY = {"LazyLinear": "linear", "LazyModuleMixin": "lazy",
         **{f"Lazy{k}{n}d": "conv" for k in ("Conv", "ConvTranspose") for n in (1, 2, 3)},
         **{f"LazyBatchNorm{n}d": "batchnorm" for n in (1, 2, 3)},
         **{f"LazyInstanceNorm{n}d": "instancenorm" for n in (1, 2, 3)}}

# "ember module.qualname" -> torch's module, where the two differ
_HOMES: dict[str, str] = {
    "ember.nn.modules.attention.MultiheadAttention": "torch.nn.modules.activation",
    "ember.nn.modules.attention.NonDynamicallyQuantizableLinear": "torch.nn.modules.linear",
    **{f"ember.nn.modules.normalization.{n}": "torch.nn.modules.batchnorm" for n in _BATCHNORM},
    **{f"ember.nn.modules.normalization.{n}": "torch.nn.modules.instancenorm"
       for n in _INSTANCENORM},
    **{f"ember.nn.modules.lazy.{n}": f"torch.nn.modules.{m}" for n, m in _LAZY.items()},
    **{f"ember.nn.modules.lazy.{n}": "torch.nn.parameter"
       for n in ("UninitializedParameter", "UninitializedBuffer", "UninitializedTensorMixin",
                 "is_lazy")},
    **{f"ember.nn.modules.lp_pool.LPPool{n}d": "torch.nn.modules.pooling" for n in (1, 2, 3)},
    "ember.nn.modules.embedding_bag.EmbeddingBag": "torch.nn.modules.sparse",
    "ember.utils.data.collate.default_collate": "torch.utils.data._utils.collate",
    "ember.utils.data.collate.default_convert": "torch.utils.data._utils.collate",
    "ember.utils.data._worker.get_worker_info": "torch.utils.data._utils.worker",
    "ember.autograd._api.backward": "torch.autograd",
    "ember.autograd._api.grad": "torch.autograd",
    "ember.autograd.Variable": "torch.autograd.variable",
}

# (torch module, name) -> ember module, for the objects above
_BACK: dict[tuple[str, str], str] = {(home, key.rsplit(".", 1)[1]): key.rsplit(".", 1)[0]
                                     for key, home in _HOMES.items()}

# torch's C namespaces that its pickles name for built-in functions (``F.gelu`` is
# ``torch._C._nn.gelu``, ``torch.relu`` is ``getattr(torch._C._VariableFunctionsClass,
# "relu")``, ``torch.special.expit`` is ``torch._C._special.special_expit``): ember's
# module and the prefix torch's names carry there.
_TORCH_C = {("torch._C", "_VariableFunctionsClass"): ("ember", ""),
            ("torch._C", "_VariableFunctions"): ("ember", ""),
            ("torch._C._nn", None): ("ember.nn.functional", ""),
            ("torch._C._special", None): ("ember.special", "special_"),
            ("torch._C._linalg", None): ("ember.linalg", "linalg_"),
            ("torch._C._fft", None): ("ember.fft", "fft_")}


def torch_name(obj: Any, name: str | None = None) -> tuple[str, str] | None:
    """``(module, qualname)`` under which torch knows the ember class or function ``obj``;
    None for what is not ember's (or is nested, which pickle names otherwise). Ops defined
    in ``ember.ops.*`` that are ember's top-level functions are torch's (``torch.tanh``)."""
    module = getattr(obj, "__module__", None)
    qualname = name or getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not (module == "ember" or module.startswith("ember.")) \
            or not isinstance(qualname, str) or "." in qualname or "<" in qualname:
        return None
    home = _HOMES.get(f"{module}.{qualname}")
    if home is None and module.startswith("ember.ops."):
        import ember
        home = "ember" if getattr(ember, qualname, None) is obj else None
    return ("torch" + (home or module)[len("ember"):], qualname)


def relocated(torch_module: str, name: str) -> Any:
    """The ember object torch keeps at ``torch_module.name`` when ember defines it in
    another module; None if there is none (or its module is not importable)."""
    ember_module = _BACK.get((torch_module, name))
    if ember_module is None:
        return None
    try:
        return getattr(importlib.import_module(ember_module), name, None)
    except ImportError:
        return None


def ember_object(module: str, name: str) -> Any:
    """The ember object for torch's global ``module.name`` (``name`` may be dotted);
    raises ``LookupError`` naming what ember lacks."""
    if (module, name) in _TORCH_C:
        return importlib.import_module(_TORCH_C[module, name][0])
    found = relocated(module, name)
    if found is not None:
        return found
    ember_module = "ember" + module[len("torch"):]
    if (module, None) in _TORCH_C:
        ember_module, prefix = _TORCH_C[module, None]
        name = name.removeprefix(prefix)
    try:
        obj: Any = importlib.import_module(ember_module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise LookupError(f"{ember_module}.{name}") from None
    return obj
