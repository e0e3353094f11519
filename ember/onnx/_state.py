"""Whether an ONNX export is under way (``torch.onnx.is_in_onnx_export``): models that
take a different path for export (no data-dependent Python branches, say) read it."""

from __future__ import annotations

import threading

_LOCAL = threading.local()


def is_in_onnx_export() -> bool:
    """True while ``ember.onnx.export`` runs the model (in the exporting thread)."""
    return getattr(_LOCAL, "exporting", False)


class exporting:
    """``with exporting():`` marks the export in this thread (re-entrant)."""

    def __enter__(self):
        self._prev = is_in_onnx_export()
        _LOCAL.exporting = True

    def __exit__(self, *exc):
        _LOCAL.exporting = self._prev
