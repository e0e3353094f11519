"""``torch.utils.hooks``: ``RemovableHandle`` (what every ``register_*_hook`` returns) and
``unserializable_hook``.

The handle class is the one ``nn.Module`` hooks already return; tensor and autograd-node
hooks use a lighter handle of the same interface (``remove()``, context manager, ``id``).
"""

from __future__ import annotations

from ..nn.modules.module import RemovableHandle

__all__ = ["RemovableHandle", "unserializable_hook", "warn_if_has_hooks"]


def unserializable_hook(f):
    """Mark a tensor hook as not to be serialized (torch's decorator; a marker here)."""
    f.__torch_unserializable__ = True
    return f


def warn_if_has_hooks(tensor) -> None:
    """torch warns when a tensor with backward hooks is serialized; hooks are never saved."""
    import warnings
    for hook in getattr(tensor, "_hooks", None) or {}:
        if not hasattr(hook, "__torch_unserializable__"):
            warnings.warn(f"backward hook {hook} on tensor will not be serialized.  If this is "
                          "expected, you can decorate the function with "
                          "@torch.utils.hooks.unserializable_hook to suppress this warning",
                          stacklevel=2)
