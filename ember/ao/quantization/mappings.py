"""Which float (or QAT) module becomes which quantized module."""

from __future__ import annotations

from ... import nn

__all__ = ["get_default_static_quant_module_mappings", "get_default_qat_module_mappings"]


def get_default_static_quant_module_mappings() -> dict:
    from ..nn import intrinsic as nni
    from ..nn import qat as nnqat
    from ..nn import quantized as nnq
    from . import stubs
    return {
        stubs.QuantStub: nnq.Quantize, stubs.DeQuantStub: nnq.DeQuantize,
        nn.Linear: nnq.Linear, nn.Conv2d: nnq.Conv2d, nn.ReLU: nnq.ReLU,
        nni.LinearReLU: nnq.LinearReLU, nni.ConvReLU2d: nnq.ConvReLU2d,
        nnq.FloatFunctional: nnq.QFunctional,
        nnqat.Linear: nnq.Linear, nnqat.Conv2d: nnq.Conv2d,
        nnqat.LinearReLU: nnq.LinearReLU, nnqat.ConvReLU2d: nnq.ConvReLU2d,
    }


def get_default_qat_module_mappings() -> dict:
    from ..nn import intrinsic as nni
    from ..nn import qat as nnqat
    return {nn.Linear: nnqat.Linear, nn.Conv2d: nnqat.Conv2d,
            nni.LinearReLU: nnqat.LinearReLU, nni.ConvReLU2d: nnqat.ConvReLU2d}
