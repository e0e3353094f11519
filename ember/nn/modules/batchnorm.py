"""torch's home of the batch-norm modules (``torch.nn.modules.batchnorm``); ember defines
them with the other norms in ``normalization.py``. Pickles name this path."""

from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm, _NormBase

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "_BatchNorm", "_NormBase"]
