"""A small stand-in for torchvision (see ../README.md): synthetic datasets, transforms."""

from . import datasets, transforms, utils

__version__ = "0.0-corpus-stub"
__all__ = ["datasets", "transforms", "utils"]
