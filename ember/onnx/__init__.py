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


def export(model, args=(), f=None, *, kwargs=None, input_names=None, output_names=None,
           dynamic_axes=None, dynamic_shapes=None, opset_version=None, export_params=True,
           do_constant_folding=True, external_data=False, **kw):
    """Export ``model`` called on ``args`` (and ``kwargs``) to ONNX, written to ``f`` (a path
    or a binary file object) when given; returns the ``onnx.ModelProto``.

    torch's signature and defaults (opset 18 by default; 17 to 23). ``dynamic_axes`` (torch's
    ``{name: {axis: label}}`` or ``{name: [axes]}``) or ``dynamic_shapes`` (per argument,
    ``{axis: name or Dim}``) make axes dynamic; axes that share a label are one size.
    ``external_data`` writes the weights beside the file (always done past protobuf's 2 GB
    limit). An op that cannot be exported raises ``UnsupportedOperatorError`` naming it and
    the line of the model that called it. Other torch keywords (``verbose``, ``dynamo``,
    ``training``...) are accepted and ignored; the model is exported in eval mode.
    """
    from ._export import export as _export
    return _export(model, args, f, kwargs=kwargs, input_names=input_names,
                   output_names=output_names, dynamic_axes=dynamic_axes,
                   dynamic_shapes=dynamic_shapes, opset_version=opset_version,
                   export_params=export_params, do_constant_folding=do_constant_folding,
                   external_data=external_data, **kw)


def load(f):
    """The ONNX model ``f`` (a path, a binary file object or an ``onnx.ModelProto``) as an
    ``nn.Module`` whose forward runs the graph with ember ops (see ``_reader``)."""
    from ._reader import load as _load
    return _load(f)
