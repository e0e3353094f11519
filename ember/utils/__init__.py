"""Utilities: data loading, checkpoints, tensorboard, ..."""

from . import data
