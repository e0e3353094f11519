"""Occlusion: attributions from how much the output drops when a window of the input is
replaced by a baseline (Zeiler and Fergus, 2014), with Captum's API."""

from __future__ import annotations

import itertools

import numpy as np

import ember

from ..autograd import no_grad
from ._common import (
    TargetType,
    as_tuple,
    expand_args,
    expand_target,
    format_args,
    format_baselines,
    format_output,
    run_forward,
)
from .gradient import Attribution

__all__ = ["Occlusion"]


def _per_input(windows, strides, inputs: tuple) -> tuple[tuple, tuple]:
    """Window shapes and strides, one per input, as Captum reads them: a single shape (or
    stride) is for a single input."""
    if isinstance(windows[0], int):
        windows = (windows,)
    if strides is None:
        strides = (1,) * len(inputs)
    elif len(inputs) == 1 and not (isinstance(strides, tuple) and len(strides) == 1):
        strides = (strides,)
    for what, value in (("Sliding window shapes", windows), ("Strides", strides)):
        if not isinstance(value, tuple) or len(value) != len(inputs):
            raise AssertionError(f"{what} must be provided for each input tensor.")
    return windows, strides


def _window_masks(shape: tuple, window: tuple, stride) -> list[np.ndarray]:
    """0/1 masks of every window position over one example's ``shape``; windows start
    every ``stride`` and the last ones are cut at the border, as Captum places them."""
    stride = (stride,) * len(shape) if isinstance(stride, int) else tuple(stride)
    if len(window) != len(shape) or len(stride) != len(shape):
        raise AssertionError(f"Sliding window {window} and strides {stride} must have one "
                             f"entry per input dimension {shape}.")
    room = np.subtract(shape, window)
    if (room < 0).any():
        raise AssertionError(f"Sliding window dimensions {window} cannot exceed input "
                             f"dimensions{shape}.")
    if not np.logical_or(room == 0, np.array(stride) <= np.array(window)).all():
        raise AssertionError(f"Stride dimension {stride} cannot be larger than sliding window "
                             f"shape dimension {window}.")
    counts = [int(np.ceil(r / s)) + 1 for r, s in zip(room, stride)]
    masks = []
    for pos in itertools.product(*(range(c) for c in counts)):
        mask = np.zeros(shape)
        mask[tuple(slice(p * s, p * s + w) for p, s, w in zip(pos, stride, window))] = 1
        masks.append(mask)
    return masks


class Occlusion(Attribution):
    """Slides a window over each input, replaces what it covers by the baseline, and gives
    every covered element the drop of the target output, averaged over the windows that
    covered it."""

    def attribute(self, inputs, sliding_window_shapes, strides=None, baselines=None,
                  target: TargetType = None, additional_forward_args=None,
                  perturbations_per_eval: int = 1, show_progress: bool = False):
        inputs, was_tuple = as_tuple(inputs)
        inputs = tuple(x.detach() for x in inputs)
        windows, strides = _per_input(sliding_window_shapes, strides, inputs)
        baselines = format_baselines(baselines, inputs)
        args = format_args(additional_forward_args)
        if perturbations_per_eval < 1:
            raise AssertionError("Perturbations per evaluation must be an integer and at "
                                 "least 1.")
        n = inputs[0].shape[0]
        with no_grad():
            base = run_forward(self.forward_func, inputs, target, args)
            per_example = base.numel() == n
            if not per_example and base.numel() != 1:
                raise AssertionError("the target output must hold one value per example or "
                                     f"one for the batch, got shape {tuple(base.shape)}")
            if not per_example and perturbations_per_eval > 1:
                raise AssertionError("Perturbations per evaluation must be 1 when the output "
                                     "is one value for the whole batch.")
            base = base.reshape(-1)
            results = []
            for i, x in enumerate(inputs):
                masks = _window_masks(tuple(x.shape[1:]), tuple(windows[i]), strides[i])
                total = ember.zeros_like(x)
                for start in range(0, len(masks), perturbations_per_eval):
                    group = [ember.tensor(m, dtype=x.dtype)
                             for m in masks[start:start + perturbations_per_eval]]
                    drops = self._drops(inputs, i, group, baselines[i], base, target, args)
                    for mask, drop in zip(group, drops):
                        total = total + drop.reshape(-1, *([1] * mask.dim())) * mask
                coverage = ember.tensor(np.sum(masks, axis=0), dtype=x.dtype)
                results.append(total / coverage)
        return format_output(was_tuple, tuple(results))

    def _drops(self, inputs, i, masks, baseline, base, target, args) -> list:
        """f(inputs) - f(input ``i`` occluded by each mask), one row of drops per mask;
        the occluded copies run as one batch."""
        k = len(masks)
        x = inputs[i]
        ablated = ember.cat([x * (1 - m) + baseline * m for m in masks])
        batch = tuple(ablated if j == i else ember.cat([y] * k) for j, y in enumerate(inputs))
        out = run_forward(self.forward_func, batch, expand_target(target, k),
                          expand_args(args, k)).reshape(k, -1)
        return list(base - out)
