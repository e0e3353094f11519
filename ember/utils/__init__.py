"""Utilities: data loading, checkpoints, tensorboard, ..."""
