"""Helpers shared by the distributions: broadcasting parameters, logits <-> probs."""
from __future__ import annotations

from functools import cached_property as lazy_property  # noqa: F401 -- torch's name for it
from numbers import Number

import ember

__all__ = ["broadcast_all", "logits_to_probs", "probs_to_logits", "clamp_probs"]


def broadcast_all(*values):
    """Broadcast tensors and Python numbers to one shape; numbers take the tensors' dtype."""
    tensors = [v for v in values if isinstance(v, ember.Tensor)]
    if not tensors and not all(isinstance(v, Number) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number, "
                         "ember.Tensor or objects implementing __torch_function__.")
    dtype = tensors[0].dtype if tensors else ember.get_default_dtype()
    converted = [v if isinstance(v, ember.Tensor) else ember.tensor(v, dtype=dtype)
                 for v in values]
    return ember.broadcast_tensors(*converted)


def clamp_probs(probs):
    """Keep probabilities inside (0, 1) so that their logs stay finite."""
    eps = ember.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits, is_binary: bool = False):
    """Logits to probabilities: sigmoid for one event, softmax over the last dim otherwise."""
    if is_binary:
        return ember.sigmoid(logits)
    return ember.softmax(logits, dim=-1)


def probs_to_logits(probs, is_binary: bool = False):
    """Probabilities to logits (clamped first so that 0 and 1 give finite values)."""
    ps = clamp_probs(probs)
    if is_binary:
        return ember.log(ps) - ember.log1p(-ps)
    return ember.log(ps)
