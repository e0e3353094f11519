"""Gradient attributions: Saliency, InputXGradient, IntegratedGradients, and NoiseTunnel
(SmoothGrad and friends) around any attribution method, with Captum's API."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

import ember

from .._tensor import Tensor
from ..autograd import no_grad
from ._common import (
    TargetType,
    as_tuple,
    expand_args,
    expand_target,
    format_args,
    format_baselines,
    format_output,
    gradients,
    run_forward,
    sum_rows,
)

__all__ = ["Attribution", "Saliency", "InputXGradient", "IntegratedGradients", "NoiseTunnel"]


class Attribution:
    """Base of the attribution methods: holds the model (any callable) being explained."""

    def __init__(self, forward_func: Callable) -> None:
        self.forward_func = forward_func

    def has_convergence_delta(self) -> bool:
        return False


class Saliency(Attribution):
    """The gradient of the output with respect to the input (its absolute value by
    default): Simonyan et al., 2013."""

    def attribute(self, inputs, target: TargetType = None, abs: bool = True,  # noqa: A002
                  additional_forward_args=None):
        inputs, was_tuple = as_tuple(inputs)
        grads = gradients(self.forward_func, inputs, target, format_args(additional_forward_args))
        return format_output(was_tuple, tuple(g.abs() for g in grads) if abs else grads)


class InputXGradient(Attribution):
    """The input times the gradient of the output with respect to it."""

    def attribute(self, inputs, target: TargetType = None, additional_forward_args=None):
        inputs, was_tuple = as_tuple(inputs)
        grads = gradients(self.forward_func, inputs, target, format_args(additional_forward_args))
        return format_output(was_tuple, tuple(g * x.detach() for g, x in zip(grads, inputs)))


_RIEMANN = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def step_sizes_and_alphas(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature weights and points on [0, 1] for the path integral: Gauss-Legendre
    (Captum's default, exact for polynomials of degree < 2 n) or a Riemann sum."""
    if method == "gausslegendre":
        if n_steps < 1:
            raise AssertionError("The number of steps has to be larger than zero")
        points, weights = np.polynomial.legendre.leggauss(n_steps)
        return 0.5 * weights, 0.5 * (1 + points)
    if method not in _RIEMANN:
        raise AssertionError("Approximation method must be one for the following "
                             f"{list(_RIEMANN) + ['gausslegendre']}. Given {method}")
    if n_steps < 2:
        raise AssertionError("The number of steps has to be larger than one")
    sizes = np.full(n_steps, 1 / n_steps)
    kind = method.split("_")[1]
    if kind == "trapezoid":
        sizes[[0, -1]] /= 2
        return sizes, np.linspace(0, 1, n_steps)
    start, stop = {"left": (0, 1 - 1 / n_steps), "right": (1 / n_steps, 1),
                   "middle": (1 / (2 * n_steps), 1 - 1 / (2 * n_steps))}[kind]
    return sizes, np.linspace(start, stop, n_steps)


class IntegratedGradients(Attribution):
    """The integral of the gradients along the straight path from a baseline to the input,
    times (input - baseline): Sundararajan et al., 2017. By completeness the attributions of
    an example sum to f(input) - f(baseline); ``return_convergence_delta`` reports how far
    the quadrature is from that."""

    def __init__(self, forward_func: Callable, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self.multiplies_by_inputs = multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(self, inputs, baselines=None, target: TargetType = None,
                  additional_forward_args=None, n_steps: int = 50,
                  method: str = "gausslegendre", internal_batch_size: int | None = None,
                  return_convergence_delta: bool = False):
        inputs, was_tuple = as_tuple(inputs)
        baselines = format_baselines(baselines, inputs)
        args = format_args(additional_forward_args)
        sizes, alphas = step_sizes_and_alphas(method, n_steps)
        n = inputs[0].shape[0]
        chunk = n_steps
        if internal_batch_size is not None:
            if internal_batch_size < n:
                warnings.warn("Internal batch size cannot be less than the number of input "
                              "examples. Defaulting to internal batch size of "
                              f"{n} equal to the number of examples.", stacklevel=2)
            chunk = max(1, internal_batch_size // n)
        total = None
        for start in range(0, n_steps, chunk):
            part = self._path_gradients(inputs, baselines, target, args,
                                        sizes[start:start + chunk], alphas[start:start + chunk])
            total = part if total is None else tuple(a + b for a, b in zip(total, part))
        if self.multiplies_by_inputs:
            total = tuple(g * (x.detach() - b) for g, x, b in zip(total, inputs, baselines))
        attributions = format_output(was_tuple, total)
        if not return_convergence_delta:
            return attributions
        delta = self.compute_convergence_delta(attributions, baselines, format_output(
            was_tuple, inputs), target, additional_forward_args)
        return attributions, delta

    def _path_gradients(self, inputs, baselines, target, args, sizes, alphas) -> tuple:
        """Sum over the given steps of step size times the gradient at baseline +
        alpha (input - baseline); all steps run as one batch."""
        k = len(alphas)
        scaled = tuple(ember.cat([b + float(a) * (x.detach() - b) for a in alphas])
                       for x, b in zip(inputs, baselines))
        grads = gradients(self.forward_func, scaled, expand_target(target, k),
                          expand_args(args, k))
        out = []
        for g, x in zip(grads, inputs):
            w = ember.tensor(sizes, dtype=g.dtype).reshape(k, 1)
            out.append((g.reshape(k, -1) * w).reshape(k, *x.shape).sum(0))
        return tuple(out)

    def compute_convergence_delta(self, attributions, start_point, end_point,
                                  target: TargetType = None,
                                  additional_forward_args=None) -> Tensor:
        """Per example: the sum of the attributions minus (f(end_point) - f(start_point))."""
        end_point, _ = as_tuple(end_point)
        start_point = format_baselines(start_point, end_point)
        attributions, _ = as_tuple(attributions)
        args = format_args(additional_forward_args)
        start = tuple(ember.full_like(x, b) if not isinstance(b, Tensor) else
                      b.expand_as(x) for b, x in zip(start_point, end_point))
        with no_grad():
            f_end = sum_rows(run_forward(self.forward_func, end_point, target, args))
            f_start = sum_rows(run_forward(self.forward_func, start, target, args))
            total = sum(sum_rows(a) for a in attributions)
            return total - (f_end - f_start)


class NoiseTunnel(Attribution):
    """Averages an attribution method over copies of the input with Gaussian noise
    (standard deviation ``stdevs``): ``'smoothgrad'`` the mean, ``'smoothgrad_sq'`` the
    mean of squares, ``'vargrad'`` the variance (Smilkov et al., 2017; Adebayo et al.,
    2018)."""

    def __init__(self, attribution_method: Attribution) -> None:
        super().__init__(attribution_method.forward_func)
        self.attribution_method = attribution_method

    def has_convergence_delta(self) -> bool:
        return self.attribution_method.has_convergence_delta()

    def attribute(self, inputs, nt_type: str = "smoothgrad", nt_samples: int = 5,
                  nt_samples_batch_size: int | None = None, stdevs: float | tuple = 1.0,
                  draw_baseline_from_distrib: bool = False, **kwargs):
        if nt_type not in ("smoothgrad", "smoothgrad_sq", "vargrad"):
            raise AssertionError(f"Noise types must be either `smoothgrad`, `smoothgrad_sq` or "
                                 f"`vargrad`. Given {nt_type}")
        if draw_baseline_from_distrib:
            raise NotImplementedError("draw_baseline_from_distrib is not supported")
        inputs, was_tuple = as_tuple(inputs)
        stdevs = stdevs if isinstance(stdevs, tuple) else (stdevs,) * len(inputs)
        if len(stdevs) != len(inputs):
            raise AssertionError(f"The number of input tensors in {len(inputs)} must be equal "
                                 f"to the number of stdevs values {len(stdevs)}")
        want_delta = bool(kwargs.get("return_convergence_delta")) and \
            self.has_convergence_delta()
        batch = nt_samples if nt_samples_batch_size is None else \
            min(nt_samples, nt_samples_batch_size)
        sums = squares = None
        deltas = []
        for start in range(0, nt_samples, batch):
            k = min(batch, nt_samples - start)
            noisy = tuple(self._add_noise(x.detach(), s, k) for x, s in zip(inputs, stdevs))
            res = self.attribution_method.attribute(format_output(was_tuple, noisy),
                                                    **self._expand_kwargs(kwargs, inputs, k))
            if want_delta:
                res, delta = res
                deltas.append(delta)
            res, _ = as_tuple(res)
            with no_grad():
                grouped = [r.reshape(r.shape[0] // k, k, *r.shape[1:]) for r in res]
                part = [g.sum(1) for g in grouped]
                part_sq = [(g * g).sum(1) for g in grouped]
            sums = part if sums is None else [a + b for a, b in zip(sums, part)]
            squares = part_sq if squares is None else [a + b for a, b in zip(squares, part_sq)]
        mean = tuple(s / nt_samples for s in sums)
        mean_sq = tuple(s / nt_samples for s in squares)
        out = {"smoothgrad": mean, "smoothgrad_sq": mean_sq,
               "vargrad": tuple(q - m * m for m, q in zip(mean, mean_sq))}[nt_type]
        out = format_output(was_tuple, out)
        return (out, ember.cat(deltas)) if want_delta else out

    @staticmethod
    def _add_noise(x: Tensor, stdev: float, k: int) -> Tensor:
        """Each example repeated ``k`` times in place, plus N(0, stdev^2) noise."""
        x = x.repeat_interleave(k, dim=0)
        return x + ember.randn(x.shape, dtype=x.dtype) * stdev

    @staticmethod
    def _expand_kwargs(kwargs: dict, inputs: tuple, k: int) -> dict:
        """Targets, extra forward arguments and per-example baselines repeated to match
        the ``k`` noisy copies of each example."""
        out = dict(kwargs)
        if "target" in out:
            out["target"] = expand_target(out["target"], k, interleave=True)
        if out.get("additional_forward_args") is not None:
            out["additional_forward_args"] = expand_args(
                format_args(out["additional_forward_args"]), k, interleave=True)
        if out.get("baselines") is not None:
            out["baselines"] = tuple(
                b.repeat_interleave(k, dim=0) if isinstance(b, Tensor) and
                b.shape[0] == x.shape[0] and b.shape[0] > 1 else b
                for b, x in zip(format_baselines(out["baselines"], inputs), inputs))
        return out
