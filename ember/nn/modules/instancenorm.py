"""torch's home of the instance-norm modules (``torch.nn.modules.instancenorm``); ember
defines them with the other norms in ``normalization.py``. Pickles name this path."""

from .normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, _InstanceNorm

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "_InstanceNorm"]
