"""torchao's one-call API: ``quantize_(model, int4_weight_only(group_size=128))`` swaps
every ``nn.Linear`` (or those ``filter_fn`` accepts, embeddings too for the weight-only
configs) for a quantized one (weight-only, or with ``int8_dynamic_activation_int8_weight``
int8 activations per token too), in place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ... import nn

__all__ = ["quantize_", "int4_weight_only", "int8_weight_only", "Int4WeightOnlyConfig",
           "Int8WeightOnlyConfig", "int8_dynamic_activation_int8_weight",
           "Int8DynamicActivationInt8WeightConfig"]


@dataclass(frozen=True)
class Int4WeightOnlyConfig:
    """int4 weights, asymmetric per group of ``group_size`` (32, 64, 128 or 256)."""

    group_size: int = 128

    def __post_init__(self):
        if self.group_size not in (32, 64, 128, 256):
            raise ValueError(f"group_size must be one of 32, 64, 128, 256, got "
                             f"{self.group_size}")

    def applies_to(self, mod: nn.Module) -> bool:
        if isinstance(mod, nn.Embedding):
            return mod.embedding_dim % self.group_size == 0 and mod.max_norm is None
        return mod.in_features % self.group_size == 0

    def convert(self, mod: nn.Module) -> nn.Module:
        from ..nn.quantized.weight_only import Int4WeightOnlyEmbedding, Int4WeightOnlyLinear
        cls = Int4WeightOnlyEmbedding if isinstance(mod, nn.Embedding) else Int4WeightOnlyLinear
        return cls.from_float(mod, self.group_size)


@dataclass(frozen=True)
class Int8WeightOnlyConfig:
    """int8 weights, symmetric per output channel."""

    def applies_to(self, mod: nn.Module) -> bool:
        return not isinstance(mod, nn.Embedding) or mod.max_norm is None

    def convert(self, mod: nn.Module) -> nn.Module:
        from ..nn.quantized.weight_only import Int8WeightOnlyEmbedding, Int8WeightOnlyLinear
        cls = Int8WeightOnlyEmbedding if isinstance(mod, nn.Embedding) else Int8WeightOnlyLinear
        return cls.from_float(mod)


@dataclass(frozen=True)
class Int8DynamicActivationInt8WeightConfig:
    """int8 weights per output channel, int8 activations quantized per token each call."""

    def applies_to(self, mod: nn.Module) -> bool:
        return isinstance(mod, nn.Linear)

    def convert(self, mod: nn.Linear) -> nn.Module:
        from ..nn.quantized.dynamic_per_token import Int8DynActInt8WeightLinear
        return Int8DynActInt8WeightLinear.from_float(mod)


def int8_dynamic_activation_int8_weight() -> Int8DynamicActivationInt8WeightConfig:
    return Int8DynamicActivationInt8WeightConfig()


def int4_weight_only(group_size: int = 128) -> Int4WeightOnlyConfig:
    return Int4WeightOnlyConfig(group_size)


def int8_weight_only() -> Int8WeightOnlyConfig:
    return Int8WeightOnlyConfig()


def _is_linear(mod: nn.Module, fqn: str) -> bool:
    """``nn.Linear``, or a layer that is one in another layout and says so with
    ``to_linear()`` (GPT-2's ``Conv1D``)."""
    return type(mod) is nn.Linear or callable(getattr(mod, "to_linear", None))


def quantize_(model: nn.Module, config, filter_fn: Callable | None = None) -> nn.Module:
    """Replace, in place, each submodule ``filter_fn(module, name)`` accepts (default: every
    ``nn.Linear``, and layers with a ``to_linear()``; the weight-only configs also take
    ``nn.Embedding``) with its quantized twin; layers whose shape the config cannot take
    (in_features not a multiple of the group) stay float, as in torchao."""
    filter_fn = filter_fn or _is_linear

    def visit(mod: nn.Module, prefix: str) -> None:
        for name, child in list(mod.named_children()):
            fqn = f"{prefix}.{name}" if prefix else name
            accepted = filter_fn(child, fqn)
            if accepted and callable(getattr(child, "to_linear", None)):
                child = child.to_linear()
            if accepted and isinstance(child, (nn.Linear, nn.Embedding)) \
                    and config.applies_to(child):
                setattr(mod, name, config.convert(child))
            else:
                visit(child, fqn)
    visit(model, "")
    return model
