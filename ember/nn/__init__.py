"""``ember.nn``: modules, parameters, functional, init — as ``torch.nn``."""

from . import functional, init, parallel, utils  # noqa: F401
from .modules import *  # noqa: F403
from .parameter import *  # noqa: F403
