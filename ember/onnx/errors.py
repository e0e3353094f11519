"""The ONNX exporter's exceptions, with torch.onnx.errors' names and bases."""

from __future__ import annotations

__all__ = ["OnnxExporterError", "OnnxExporterWarning", "UnsupportedOperatorError"]


class OnnxExporterWarning(UserWarning):
    """Warnings in the ONNX exporter."""


class OnnxExporterError(RuntimeError):
    """Errors raised by the ONNX exporter (and by ``ember.onnx.load`` for a model it cannot
    run). The base class of every exporter error."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op that has no ONNX lowering (export), or an ONNX node ember cannot run (load).

    ``UnsupportedOperatorError(name, version, supported_version)`` is torch's signature;
    ember adds ``location``: the ``file:line`` of the user's code that called the op, so
    the message points at the line to change.
    """

    def __init__(self, name: str, version: int, supported_version: int | None = None,
                 location: str | None = None) -> None:
        if supported_version is not None:
            msg = (f"Exporting the operator '{name}' to ONNX opset version {version} is not "
                   f"supported. Support for this operator was added in version "
                   f"{supported_version}, try exporting with this version")
        else:
            msg = (f"Exporting the operator '{name}' to ONNX opset version {version} is not "
                   "supported")
        if location:
            msg += f" (called at {location})"
        super().__init__(msg)
        self.name, self.version, self.location = name, version, location

    @classmethod
    def onnx_node(cls, op_type: str, opset: int, node: str) -> UnsupportedOperatorError:
        """The error of ``ember.onnx.load`` for a node whose operator it cannot run."""
        err = cls.__new__(cls)
        RuntimeError.__init__(err, f"ember.onnx.load cannot run the ONNX operator "
                                   f"'{op_type}' (opset {opset}) of node '{node}'")
        err.name, err.version, err.location = op_type, opset, f"node '{node}'"
        return err
