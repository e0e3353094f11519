"""Eager-mode quantization workflows (``torch.ao.quantization.quantize``):
``quantize_dynamic``, and the qconfig propagation and module swapping they share with
static quantization (``prepare``/``convert``)."""

from __future__ import annotations

import copy
import itertools

from ... import nn
from .qconfig import default_dynamic_qconfig

__all__ = ["quantize_dynamic", "propagate_qconfig_", "convert", "swap_module", "prepare",
           "prepare_qat", "quantize", "quantize_qat", "get_default_dynamic_quant_module_mappings"]


def get_default_dynamic_quant_module_mappings() -> dict:
    """Float module type -> dynamically quantized module type."""
    from ..nn.quantized import dynamic as nnqd
    return {nn.Linear: nnqd.Linear, nn.LSTM: nnqd.LSTM, nn.GRU: nnqd.GRU}


def propagate_qconfig_(module: nn.Module, qconfig_dict: dict | None = None,
                       prepare_custom_config_dict=None) -> None:
    """Give every submodule a ``qconfig``: its type's or its name's entry in
    ``qconfig_dict`` (a ``None`` entry opts it out), else its parent's."""
    qconfig_dict = qconfig_dict or {}

    def visit(mod, parent_qconfig, prefix):
        qconfig = qconfig_dict.get(type(mod), parent_qconfig)
        qconfig = qconfig_dict.get(prefix, qconfig)
        qconfig = getattr(mod, "qconfig", qconfig) if "qconfig" in mod.__dict__ else qconfig
        mod.qconfig = qconfig
        for name, child in mod.named_children():
            visit(child, qconfig, prefix + "." + name if prefix else name)

    visit(module, qconfig_dict.get("", getattr(module, "qconfig", None)), "")


def _observed_types() -> set:
    """Module types whose outputs get an observer in ``prepare``: those with a quantized
    twin (and the QAT/fused ones); not DeQuantStub, whose output is float."""
    from . import stubs
    from .mappings import get_default_static_quant_module_mappings
    return set(get_default_static_quant_module_mappings()) - {stubs.DeQuantStub}


def _observe_output(module: nn.Module, inputs, output):
    return module.activation_post_process(output)


def prepare(model: nn.Module, inplace: bool = False, allow_list=None,
            observer_non_leaf_module_list=None, prepare_custom_config_dict=None) -> nn.Module:
    """Give each quantizable module with a qconfig an output observer
    (``activation_post_process``, from ``qconfig.activation``): run calibration data
    through the model afterwards, then ``convert``."""
    from ..nn.quantized import FloatFunctional
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    observed = _observed_types()
    for mod in model.modules():
        qconfig = getattr(mod, "qconfig", None)
        if qconfig is None or type(mod) not in observed:
            continue
        mod.activation_post_process = qconfig.activation()
        if not isinstance(mod, FloatFunctional):  # FloatFunctional calls it itself
            mod.register_forward_hook(_observe_output)
    return model


def prepare_qat(model: nn.Module, mapping: dict | None = None,
                inplace: bool = False) -> nn.Module:
    """Quantization-aware training: swap Linear/Conv2d (and fused pairs) for their QAT
    modules (fake-quantized weights) and fake-quantize every observed output."""
    from .mappings import get_default_qat_module_mappings
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    convert(model, mapping or get_default_qat_module_mappings(), inplace=True,
            remove_qconfig=False)
    return prepare(model, inplace=True)


def quantize(model: nn.Module, run_fn, run_args, mapping=None, inplace: bool = False):
    """Post-training static quantization in one call: prepare, ``run_fn(model,
    *run_args)`` to calibrate, convert."""
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args)
    return convert(model, mapping, inplace=True)


def quantize_qat(model: nn.Module, run_fn, run_args, inplace: bool = False):
    """QAT in one call: prepare_qat, ``run_fn(model, *run_args)`` to train, convert."""
    if not inplace:
        model = copy.deepcopy(model)
    model.train()
    prepare_qat(model, inplace=True)
    run_fn(model, *run_args)
    return convert(model.eval(), inplace=True)


def swap_module(mod: nn.Module, mapping: dict) -> nn.Module:
    """``mapping[type(mod)].from_float(mod)`` when ``mod`` has a qconfig, else ``mod``."""
    if getattr(mod, "qconfig", None) is not None and type(mod) in mapping:
        return mapping[type(mod)].from_float(mod)
    return mod


def convert(module: nn.Module, mapping: dict | None = None, inplace: bool = False,
            remove_qconfig: bool = True, is_reference: bool = False,
            convert_custom_config_dict=None) -> nn.Module:
    """Swap each module with a qconfig for its quantized twin in ``mapping`` (default:
    the static mappings)."""
    if mapping is None:
        from .mappings import get_default_static_quant_module_mappings
        mapping = get_default_static_quant_module_mappings()
    if not inplace:
        module = copy.deepcopy(module)
    _convert(module, mapping)
    if remove_qconfig:
        for m in module.modules():
            m.__dict__.pop("qconfig", None)
    return module


def _convert(module: nn.Module, mapping: dict) -> None:
    for name, child in list(module.named_children()):
        if type(child) not in mapping:
            _convert(child, mapping)
        swapped = swap_module(child, mapping)
        if swapped is not child:
            setattr(module, name, swapped)


def quantize_dynamic(model: nn.Module, qconfig_spec=None, dtype=None, mapping=None,
                     inplace: bool = False) -> nn.Module:
    """``torch.ao.quantization.quantize_dynamic``: the model with its Linear (and LSTM,
    GRU) layers replaced by dynamically quantized ones -- int8 weights, activations
    quantized per call. ``qconfig_spec`` is a set of module types (or names), or a dict
    mapping them to ``QConfig``s."""
    from ...ops.quantized import qint8
    dtype = qint8 if dtype is None else dtype
    if dtype is not qint8:
        raise ValueError(f"Don't know how to quantize with default settings for {dtype}. "
                         "Provide full qconfig please")
    if qconfig_spec is None:
        qconfig_spec = dict.fromkeys(get_default_dynamic_quant_module_mappings(),
                                     default_dynamic_qconfig)
    elif isinstance(qconfig_spec, set):
        qconfig_spec = dict(zip(qconfig_spec, itertools.repeat(default_dynamic_qconfig)))
    if mapping is None:
        mapping = get_default_dynamic_quant_module_mappings()
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    propagate_qconfig_(model, qconfig_spec)
    convert(model, mapping, inplace=True)
    return model
