"""ember: a deep learning framework in Python with PyTorch's programming model.

``import ember as torch`` runs ordinary PyTorch programs on the CPU.
"""

from __future__ import annotations

import gc as _gc

import numpy as _np

from . import _dtype
from ._device import device
from ._dtype import (bfloat16, bool, cdouble, cfloat, complex64, complex128, double, dtype,
                     float, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz,
                     float16, float32, float64, get_default_dtype, half, int, int8,
                     int16, int32, int64, long, promote_types, set_default_dtype, short,
                     uint8)
from ._tensor import Size, Tensor
from . import _torch_function  # noqa: F401  (Tensor.__torch_function__)
from . import autograd
from .autograd import (enable_grad, inference_mode, is_grad_enabled,
                       is_inference_mode_enabled, no_grad, set_grad_enabled)
from .autograd.anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled
from .ops.conversion import *  # noqa: F403
from .ops.creation import *  # noqa: F403
from .ops.elementwise import *  # noqa: F403
from .ops.linalg import *  # noqa: F403
from .ops.decompositions import *  # noqa: F403
from .ops.reductions import *  # noqa: F403
from .ops.shape import *  # noqa: F403
from .ops.indexing import *  # noqa: F403
from .ops.conv import *  # noqa: F403
from .ops.pooling import *  # noqa: F403
from .ops.normalization import *  # noqa: F403
from .ops.quantized import *  # noqa: F403
from .ops.sparse import *  # noqa: F403
from .ops.special import *  # noqa: F403
from .ops.statistics import *  # noqa: F403
from .ops.distance import *  # noqa: F403
from .ops.rnn import *  # noqa: F403
from .ops.complex import *  # noqa: F403
from ._typeinfo import finfo, iinfo
from .random import *  # noqa: F403

from . import linalg  # noqa: E402

__version__ = "0.1.0"

# Subpackages load on first use (``ember.nn`` or ``import ember.nn`` alike), which keeps
# ``import ember`` fast; ``save``/``load`` are forwarded the same way.
_LAZY_MODULES = {"nn", "optim", "utils", "distributed", "profiler", "serialization", "models",
                 "ao", "quantization", "onnx",
                 "explain", "run"}
_LAZY_MODULES |= {"special", "fft", "testing", "hub", "overrides"}
_LAZY_MODULES |= {"compiler", "jit", "export", "_dynamo", "distributions", "func"}
_LAZY_MODULES |= {"_C"}  # the __torch_function__ switches
_LAZY_MODULES |= {"multiprocessing", "sparse"}
_LAZY_ATTRS = {"save": "serialization", "load": "serialization", "compile": "compiler"}


def __getattr__(name: str):
    import importlib
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_ATTRS[name]}"), name)
    raise AttributeError(f"module 'ember' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_ATTRS))

# torch computes inf/nan silently (log(0), 0/0); so do ember's NumPy kernels.
_np.seterr(all="ignore")

# Autograd graphs are acyclic (saved outputs are held without a node -> tensor -> node
# cycle), so reference counting frees them; but every recorded op allocates a few
# container objects, and with Python's default gen-0 threshold (700) the cyclic collector
# rescans the live graph every few hundred ops, which doubled the cost of recording.
if _gc.get_threshold()[0] < 10_000:
    _gc.set_threshold(10_000, *_gc.get_threshold()[1:])

# Freed arrays stay in glibc's heap for the next ones, and NumPy does not ask for huge pages
# (ember/_malloc.py; EMBER_MALLOC_TUNING=0 opts out).
from ._malloc import skip_hugepage_advice as _skip_hugepage_advice  # noqa: E402
from ._malloc import tune_malloc as _tune_malloc  # noqa: E402

_tune_malloc()
_skip_hugepage_advice()


def result_type(tensor1, tensor2) -> dtype:
    """torch.result_type of two tensors or numbers."""
    unwrap = [x._data if isinstance(x, Tensor) else x for x in (tensor1, tensor2)]
    return _dtype.result_type_arrays(*unwrap)


def can_cast(from_: dtype, to: dtype) -> bool:
    return _dtype.can_cast(from_, to)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    return input.is_floating_point()


def numel(input: Tensor) -> int:
    return input.numel()


# devices, threads, amp (creation/random helper)
from . import accelerator, amp, backends, cpu, cuda  # noqa: E402
from ._device import get_default_device, set_default_device  # noqa: E402
from ._formatting import set_printoptions  # noqa: E402
from ._threads import *  # noqa: E402, F403
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402
from ._legacy_tensors import (  # noqa: E402
    BFloat16Tensor, BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor,
    IntTensor, LongTensor, ShortTensor, tensortype)
