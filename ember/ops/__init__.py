"""The op modules: every op is an ``Op`` subclass in one of them, registered in ``OPS``.

``import ember`` loads the tensor-level modules; the ``nn`` ones (losses, attention,
embedding, resampling) load with ``ember.nn``. ``all_ops()`` loads every module, so the
registry is complete for whoever reads it whole (the conformance suite, the compiler, the
exporters).
"""

from __future__ import annotations

import importlib

MODULES = ("conversion", "creation", "elementwise", "arithmetic", "comparison", "activations",
           "linalg", "reductions", "shape", "indexing",
           "conv", "pooling", "normalization", "loss", "attention", "embedding", "resample",
           "optim", "rnn", "special", "statistics", "complex", "spectral", "decompositions",
           "quantize", "quantized_mm")


def all_ops() -> dict:
    """``OPS``, with every op module imported."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
    importlib.import_module("ember.random")
    importlib.import_module("ember.linalg")
    from .._dispatch import OPS
    return OPS
