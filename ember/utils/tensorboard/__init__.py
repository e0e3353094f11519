"""``ember.utils.tensorboard``: TensorBoard logging, as ``torch.utils.tensorboard``.

Needs the ``tensorboard`` package (``pip install 'ember[tensorboard]'``); ``import ember``
never imports it.
"""

try:
    import tensorboard  # noqa: F401
except ImportError as e:
    raise ImportError("ember.utils.tensorboard needs the tensorboard package: "
                      "pip install tensorboard (or 'ember[tensorboard]')") from e

from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
