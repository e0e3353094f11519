"""Export to ONNX and run ONNX models: ``ember.onnx``, as ``torch.onnx``.

- ``export(model, args, f, ...)`` writes a model as an ONNX file (torch's signature), from
  the compiler's capture of one call (``ember.compile``'s graph IR), checked by the
  ``onnx`` package's checker; onnxruntime runs the result.
- ``load(f)`` returns an ``nn.Module`` that runs an ONNX model's graph with ember ops, so
  a model from elsewhere can be run, fine-tuned or inspected with ember's tools.

``onnx`` (and ``onnxruntime`` to run exported files) is an optional dependency
(``pip install ember[onnx]``), imported only when these functions are called.
"""

from __future__ import annotations

from . import errors
from ._state import is_in_onnx_export
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "load", "is_in_onnx_export", "errors", "OnnxExporterError",
           "UnsupportedOperatorError"]


def load(f):
    """The ONNX model ``f`` (a path, a binary file object or an ``onnx.ModelProto``) as an
    ``nn.Module`` whose forward runs the graph with ember ops (see ``_reader``)."""
    from ._reader import load as _load
    return _load(f)
