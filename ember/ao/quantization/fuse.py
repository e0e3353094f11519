"""``fuse_modules``: merge conv+bn(+relu) and linear(+bn)(+relu) into one module before
quantization. A BatchNorm (eval mode) is folded into the preceding weight and bias; a
ReLU makes a fused ``ConvReLU2d``/``LinearReLU`` whose quantized twin clamps its output."""

from __future__ import annotations

import copy

from ... import nn
from ...autograd import no_grad
from ..nn import intrinsic as nni

__all__ = ["fuse_modules", "fuse_conv_bn_eval", "fuse_linear_bn_eval"]


def _fold_bn(module: nn.Module, bn: nn.Module, channel_shape) -> nn.Module:
    """A copy of ``module`` (Conv/Linear) with the eval-mode ``bn`` folded in."""
    if module.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(module)
    with no_grad():
        inv_std = (bn.running_var + bn.eps).rsqrt()
        gamma = bn.weight if bn.weight is not None else inv_std * 0 + 1
        beta = bn.bias if bn.bias is not None else inv_std * 0
        factor = gamma * inv_std
        bias = module.bias if module.bias is not None else bn.running_mean * 0
        fused.weight = nn.Parameter(module.weight * factor.reshape(channel_shape))
        fused.bias = nn.Parameter((bias - bn.running_mean) * factor + beta)
    return fused


def fuse_conv_bn_eval(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    return _fold_bn(conv, bn, (-1, 1, 1, 1))


def fuse_linear_bn_eval(linear: nn.Linear, bn: nn.Module) -> nn.Linear:
    return _fold_bn(linear, bn, (-1, 1))


def _fuse(mods: list) -> nn.Module:
    kinds = tuple(type(m) for m in mods)
    bn_kinds = (nn.BatchNorm1d, nn.BatchNorm2d)
    head = mods[0]
    rest = list(mods[1:])
    if rest and isinstance(rest[0], bn_kinds):
        head = fuse_conv_bn_eval(head, rest[0]) if isinstance(head, nn.Conv2d) else \
            fuse_linear_bn_eval(head, rest[0])
        rest = rest[1:]
    if not rest:
        return head
    if len(rest) == 1 and isinstance(rest[0], nn.ReLU):
        if isinstance(head, nn.Conv2d):
            return nni.ConvReLU2d(head, rest[0])
        if isinstance(head, nn.Linear):
            return nni.LinearReLU(head, rest[0])
    raise NotImplementedError(f"Cannot fuse modules: {kinds}")


def _get(model: nn.Module, name: str) -> nn.Module:
    for part in name.split("."):
        model = getattr(model, part)
    return model


def _set(model: nn.Module, name: str, value: nn.Module) -> None:
    *parents, last = name.split(".")
    for part in parents:
        model = getattr(model, part)
    setattr(model, last, value)


def fuse_modules(model: nn.Module, modules_to_fuse: list, inplace: bool = False,
                 fuser_func=None, fuse_custom_config_dict=None) -> nn.Module:
    """Fuse each list of submodule names (``[["conv", "bn", "relu"], ["fc", "relu"]]``):
    the first name gets the fused module, the others become ``nn.Identity``."""
    if not inplace:
        model = copy.deepcopy(model)
    groups = modules_to_fuse if modules_to_fuse and isinstance(modules_to_fuse[0], list | tuple) \
        else [modules_to_fuse]
    for names in groups:
        fused = _fuse([_get(model, n) for n in names])
        _set(model, names[0], fused)
        for name in names[1:]:
            _set(model, name, nn.Identity())
    return model
