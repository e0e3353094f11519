"""``replace_all_batch_norm_modules_``: batch norms that keep no running statistics.

A running-statistics update writes one buffer from every sample of a ``vmap``; torch.func
asks for such modules to be switched to batch statistics only, as this does in place.
"""

from __future__ import annotations

from ..nn.modules.normalization import _BatchNorm

__all__ = ["replace_all_batch_norm_modules_"]


def replace_all_batch_norm_modules_(root):
    """Every ``_BatchNorm`` in ``root`` stops tracking running statistics (its
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` become None); returns
    ``root``."""
    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root
