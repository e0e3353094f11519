"""The Tensor: a ``numpy.ndarray`` plus autograd metadata.

Shape, strides, offset and memory come from the array, so views and in-place writes
through views are NumPy's own. What ember adds is the autograd record (``requires_grad``,
``grad``, ``grad_fn``), the version counter shared by a tensor and its views (bumped by
every in-place op, checked when a saved tensor is used in backward), and the methods.

Math methods are installed by the op modules in ``ember/ops`` (each op is defined
once, next to its backward rule); this file holds what is not an op.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dtype
from ._device import CPU, META, check_device, device
from ._meta import MetaArray
from ._state import ACTIVE, STATE

# Called with each new subclass of Tensor; the __torch_function__ protocol (a higher
# layer) registers itself here.
_SUBCLASS_HOOKS: list = []


class Tensor:
    """A multi-dimensional array that can record the operations applied to it."""

    __slots__ = ("_data", "_requires_grad", "grad", "grad_fn", "_output_nr", "_vc", "_base",
                 "_acc", "_hooks", "_post_acc_hooks", "_retains_grad", "_inference", "__weakref__")

    # ---- construction -----------------------------------------------------------------

    def __new__(cls, *args, **kwargs):
        # Legacy constructor: torch.Tensor([1, 2]) is a float tensor, torch.Tensor(2, 3)
        # an uninitialised one. Internal code builds tensors through _make instead.
        self = object.__new__(cls)
        if cls is Tensor or args or kwargs:
            if len(args) == 1 and not isinstance(args[0], int):
                data = args[0]
                arr = data._data.copy() if isinstance(data, Tensor) else \
                    np.array(data, dtype=_dtype.get_default_dtype().np)
            else:
                shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
                arr = np.empty(tuple(shape), dtype=_dtype.get_default_dtype().np)
            _init(self, arr, False)
        return self

    def __init__(self, *args, **kwargs):
        pass  # all done in __new__ (which the constructor arguments are meant for)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for hook in _SUBCLASS_HOOKS:  # __torch_function__'s (ember/_torch_function.py)
            hook(cls)

    # ---- metadata ---------------------------------------------------------------------

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> _dtype.dtype:
        return _dtype.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> device:
        return META if type(self._data) is MetaArray else CPU

    @property
    def is_meta(self) -> bool:
        """Whether the tensor is on the meta device: shape, dtype and strides, no memory."""
        return type(self._data) is MetaArray

    @property
    def is_cpu(self) -> bool:
        return type(self._data) is not MetaArray

    is_cuda = False
    # torch's other backends and layouts, which programs test before choosing a path
    is_xpu = is_mps = is_mkldnn = is_vulkan = is_ipu = is_xla = is_mtia = is_maia = False
    is_nested = is_sparse_csr = False
    is_sparse = False
    is_quantized = False
    layout = "strided"

    # A subclass that wraps other tensors (quantized, fake, logging tensors) defines
    # ``__torch_dispatch__(cls, op, types, args, kwargs)`` as a classmethod and builds its
    # instances with ``_make_wrapper_subclass``: the dispatcher then hands it every op
    # that has one of its instances as an argument, before any mode sees the op.
    __torch_dispatch__ = None

    @staticmethod
    def _make_wrapper_subclass(cls, size, *, strides=None, dtype=None, device=None,
                               requires_grad: bool = False, **kwargs):
        """An instance of ``cls`` with the given metadata and no memory of its own (torch's
        ``Tensor._make_wrapper_subclass``): the subclass keeps the real data itself."""
        dt = (dtype or _dtype.get_default_dtype()).np
        itemsize = np.dtype(dt).itemsize
        arr = MetaArray(tuple(size), dt, None if strides is None else
                        tuple(st * itemsize for st in strides))
        t = object.__new__(cls)
        _init(t, arr, requires_grad)
        return t

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def stride(self, dim: int | None = None):
        arr = self._data
        if arr.size == 0 and not any(arr.strides):
            strides = _contiguous_strides(arr.shape)  # NumPy gives empty arrays 0 strides
        else:
            strides = tuple(s // arr.itemsize for s in arr.strides)
        return strides if dim is None else strides[_wrap_dim(dim, arr.ndim)]

    def storage_offset(self) -> int:
        base = _root_array(self._data)
        return (self._data.__array_interface__["data"][0]
                - base.__array_interface__["data"][0]) // self._data.itemsize

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0]

    def untyped_storage(self) -> _Storage:
        return _Storage(_root_array(self._data))

    def is_contiguous(self, memory_format=None) -> bool:
        return self._data.flags.c_contiguous

    def is_floating_point(self) -> bool:
        kind = self._data.dtype.kind
        return kind == "f" or (kind == "V" and _dtype.from_numpy_dtype(
            self._data.dtype).is_floating_point)  # ml_dtypes' bfloat16 and float8

    def is_complex(self) -> bool:
        return self._data.dtype.kind == "c"

    def is_signed(self) -> bool:
        return self.dtype.is_signed

    def get_device(self) -> int:
        return -1

    @property
    def _version(self) -> int:
        return self._vc[0]

    def is_inference(self) -> bool:
        """Whether the tensor was made inside ``inference_mode()``."""
        return self._inference

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None:
            if value:
                return
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        if value and not (self.is_floating_point() or self.is_complex()):
            raise RuntimeError("only Tensors of floating point and complex dtype can require "
                               f"gradients (got {self.dtype})")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def data(self) -> Tensor:
        """The same memory as a tensor outside the graph (``x.data``)."""
        out = _make(self._data)
        out._vc = [0]  # torch: .data does not share the version counter
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data

    def _is_view(self) -> bool:
        return self._base is not None

    # ---- conversion to Python / NumPy ---------------------------------------------------

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if ACTIVE.modes:
            _data_read(self, "numpy")
        if type(self._data) is MetaArray:
            raise TypeError("can't convert meta device type tensor to numpy. Use Tensor.cpu() "
                            "to copy the tensor to host memory first.")
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if ACTIVE.modes:
            _data_read(self, "__array__")
        arr = self._data
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def item(self) -> Any:
        if ACTIVE.modes:
            _data_read(self, "item")
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               "to Scalar")
        if type(self._data) is MetaArray:
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        value = self._data.reshape(()).item()
        return float(value) if _dtype.is_bfloat16(self._data.dtype) else value

    def tolist(self) -> Any:
        if ACTIVE.modes:
            _data_read(self, "tolist")
        if type(self._data) is MetaArray:
            raise NotImplementedError("Cannot copy out of meta tensor; no data!")
        if _dtype.is_bfloat16(self._data.dtype):
            return self._data.astype(np.float32).tolist()
        return self._data.tolist()

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if not self._data.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __contains__(self, element) -> bool:
        """``element in t``: whether any element equals it (not a search over rows)."""
        if not isinstance(element, Tensor | int | float | complex | bool):
            raise RuntimeError("Tensor.__contains__ only supports Tensor or scalar, but you "
                               f"passed in a {type(element)}.")
        return bool((self == element).any())

    def __reversed__(self) -> Tensor:
        """``reversed(t)``: ``t`` flipped along its first dim (0-d: itself)."""
        return self if not self._data.ndim else self.flip(0)

    __hash__ = object.__hash__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and type(self._data) is not MetaArray:
            return format(self.item(), spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __repr__(self) -> str:
        if ACTIVE.modes:
            _data_read(self, "__repr__")
        from ._formatting import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    # ---- devices ------------------------------------------------------------------------

    def cpu(self, memory_format=None) -> Tensor:
        if type(self._data) is MetaArray:
            raise NotImplementedError("Cannot copy out of meta tensor; no data!")
        return self

    def cuda(self, device=None, non_blocking: bool = False, **kwargs) -> Tensor:
        check_device("cuda")
        return self  # pragma: no cover  (check_device raises)

    def pin_memory(self) -> Tensor:
        return self

    def is_pinned(self) -> bool:
        return False

    def share_memory_(self) -> Tensor:
        """Move the memory into shared memory (in place; a no-op once there) so that
        processes forked later, or given this tensor, write to the same memory
        (``ember.multiprocessing``). A view takes the tensor it views along; other
        views taken before keep the old memory."""
        if type(self._data) is not MetaArray:
            from ._shared_memory import share_tensor
            share_tensor(self)
        return self

    def is_shared(self) -> bool:
        from ._shared_memory import block_of
        return type(self._data) is not MetaArray and block_of(self._data) is not None

    # ---- autograd -----------------------------------------------------------------------

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def retain(grad):
            t = ref()
            if t is not None and t._retains_grad:
                # a copy, so the retained grad never aliases the gradient flowing on
                t.grad = grad.clone() if t.grad is None else t.grad + grad
            return None
        self.grad_fn._register_tensor_prehook(self._output_nr, retain, retains_grad=True)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a
        replacement gradient. Returns a handle with ``remove()``."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn._register_tensor_prehook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = {}
        return _RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]):
        """Call ``hook(tensor)`` after a leaf's ``.grad`` has been accumulated."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = {}
        return _RemovableHandle(self._post_acc_hooks, hook)

    def detach(self) -> Tensor:
        """A tensor sharing memory (and version counter) with this one, outside the graph."""
        out = _make(self._data)
        out._vc = self._vc
        out._base = self if self._base is None else self._base
        return out

    def detach_(self) -> Tensor:
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---- copying and pickling -----------------------------------------------------------

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.")
        new = type(self).__new__(type(self))
        _init(new, self._data.copy(), self._requires_grad)
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        if hasattr(self, "__dict__"):
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol):
        return (_rebuild, (type(self), self._data, self._requires_grad))



def _data_read(t: Tensor, what: str) -> None:
    """Tell the active dispatch modes that Python reads ``t``'s data (``what``: ``item``,
    ``tolist``...): a compiler's capture breaks its graph there. A mode opts in by defining
    ``__ember_data_read__(tensor, what)``."""
    for mode in reversed(STATE.modes):
        hook = getattr(mode, "__ember_data_read__", None)
        if hook is not None:
            hook(t, what)


def _init(t: Tensor, arr: np.ndarray, requires_grad: bool) -> None:
    """Set every slot of a new tensor ``t`` (``_make`` sets the same ones inline)."""
    t._data = arr
    t._requires_grad = requires_grad
    t.grad = None
    t.grad_fn = None
    t._output_nr = 0
    t._vc = [0]
    t._base = None
    t._acc = None
    t._hooks = None
    t._post_acc_hooks = None
    t._retains_grad = False
    t._inference = STATE.inference if ACTIVE.inference else False


def _make(arr: np.ndarray, requires_grad: bool = False) -> Tensor:
    """Wrap an ndarray (no copy) in a fresh Tensor; the hot path of every op, so it sets
    the slots itself rather than calling ``_init`` (0.1 us of ~0.3 per op)."""
    t = _new(Tensor)
    t._data = arr
    t._requires_grad = requires_grad
    t.grad = None
    t.grad_fn = None
    t._output_nr = 0
    t._vc = [0]
    t._base = None
    t._acc = None
    t._hooks = None
    t._post_acc_hooks = None
    t._retains_grad = False
    t._inference = STATE.inference if ACTIVE.inference else False
    return t


_new = object.__new__


def _rebuild(cls, arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = object.__new__(cls)
    _init(t, arr, requires_grad)
    return t


def _root_array(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def _contiguous_strides(shape: tuple) -> tuple:
    """torch's strides for a contiguous tensor (size-0 dims count as 1)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _wrap_dim(dim: int, ndim: int) -> int:
    """Normalise a possibly negative dim, with torch's IndexError when out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim + n if dim < 0 else dim


class Size(tuple):
    """``torch.Size``: a tuple of dimension sizes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ember.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        out = tuple.__getitem__(self, item)
        return Size(out) if isinstance(item, slice) else out

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))


class _Storage:
    """The memory under a tensor; enough of torch's UntypedStorage to compare identity."""

    __slots__ = ("_array",)

    def __init__(self, array: np.ndarray):
        self._array = array

    def data_ptr(self) -> int:
        return self._array.__array_interface__["data"][0]

    def nbytes(self) -> int:
        return self._array.nbytes

    def size(self) -> int:
        return self._array.nbytes


class _RemovableHandle:
    """Handle returned by hook registration; ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict, hook):
        _RemovableHandle._next_id += 1
        self.id = _RemovableHandle._next_id
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def tensor_method(name: str | None = None):
    """Install a function as a Tensor method (used by the op modules)."""
    def install(fn):
        setattr(Tensor, name or fn.__name__, fn)
        return fn
    return install
