"""``ember.nn.functional``: the functional forms of the layers, activations and losses."""

from __future__ import annotations

from ._functional_nd import *  # noqa: F403  (conv, pooling, normalization, attention, ...)
