"""Layer attributions: Grad-CAM over a module's activations, found with forward hooks."""

from __future__ import annotations

from collections.abc import Callable

import ember
import ember.nn.functional as F

from .._tensor import Tensor
from ..autograd import enable_grad, grad, no_grad
from ._common import TargetType, as_tuple, format_args, format_output, run_forward
from .gradient import Attribution

__all__ = ["LayerAttribution", "LayerGradCam", "GradCAM", "layer_gradients_and_eval"]


def layer_gradients_and_eval(forward_func: Callable, layer, inputs: tuple,
                             target: TargetType = None, args: tuple = (),
                             attribute_to_layer_input: bool = False
                             ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The gradients of the selected outputs with respect to ``layer``'s output (or input)
    tensors, and those tensors. A hook swaps them for leaves that require grad, with the
    same values, so this works whatever lies upstream; if the layer runs several times,
    the last call counts."""
    seen: list[tuple[Tensor, ...]] = []

    def leaves(values):
        values, was_tuple = as_tuple(values)
        fresh = tuple(v.detach().requires_grad_() if isinstance(v, Tensor) else v
                      for v in values)
        seen.append(tuple(v for v in fresh if isinstance(v, Tensor)))
        return format_output(was_tuple, fresh)

    handle = (layer.register_forward_pre_hook(lambda m, a: leaves(a))
              if attribute_to_layer_input else
              layer.register_forward_hook(lambda m, a, out: leaves(out)))
    try:
        with enable_grad():
            out = run_forward(forward_func, inputs, target, args)
    finally:
        handle.remove()
    if not seen:
        raise RuntimeError("the layer was not called by the forward function")
    if out[0].numel() != 1:
        raise AssertionError("Target not provided when necessary, cannot take gradient with "
                             "respect to multiple outputs.")
    acts = seen[-1]
    return grad(out.sum(), acts), tuple(a.detach() for a in acts)


class LayerAttribution(Attribution):
    """An attribution for the activations of ``layer``, a module inside ``forward_func``."""

    def __init__(self, forward_func: Callable, layer, device_ids=None) -> None:
        super().__init__(forward_func)
        self.layer = layer
        self.device_ids = device_ids

    @staticmethod
    def interpolate(layer_attribution: Tensor, interpolate_dims: int | tuple,
                    interpolate_mode: str = "nearest") -> Tensor:
        """Upsample a layer attribution (N, C, ...) to the input's spatial size."""
        return F.interpolate(layer_attribution, interpolate_dims, mode=interpolate_mode)


class LayerGradCam(LayerAttribution):
    """Grad-CAM (Selvaraju et al., 2017): the layer's channels weighted by the mean of their
    gradients over the spatial dimensions, summed over channels (one map per example)."""

    def attribute(self, inputs, target: TargetType = None, additional_forward_args=None,
                  attribute_to_layer_input: bool = False, relu_attributions: bool = False,
                  attr_dim_summation: bool = True):
        inputs, _ = as_tuple(inputs)
        grads, acts = layer_gradients_and_eval(self.forward_func, self.layer, inputs, target,
                                               format_args(additional_forward_args),
                                               attribute_to_layer_input)
        out = []
        with no_grad():
            for g, a in zip(grads, acts):
                w = g.mean(dim=tuple(range(2, g.dim())), keepdim=True) if g.dim() > 2 else g
                cam = (w * a).sum(1, keepdim=True) if attr_dim_summation else w * a
                out.append(ember.relu(cam) if relu_attributions else cam)
        return format_output(len(out) > 1, tuple(out))


GradCAM = LayerGradCam
