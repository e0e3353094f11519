"""What the elementwise op modules share: torch's operand rules (broadcast checks, dtype
promotion, integer handling), the op templates that write an op's spec and backward from a
kernel and a formula, and the factories of torch-signature functions.

- ``_Unary``: ``kernel(x, *params)``; ``_Binary``: ``kernel(a, b)`` on promoted operands;
  ``_NoGrad``/``_NoGradUnary``: ops without a derivative (comparisons, predicates, logical
  and bitwise ops). Each gives its ops' signature, kind and meta.
- ``_ActivationBackward``: torch's fused ``<activation>_backward`` ops: ``grad_output *
  f'(x)`` in one pass, differentiable (for gradients of any order).

The ops live in ``arithmetic`` (arithmetic and math functions, clamp, where, fill),
``comparison`` and ``activations``; ``elementwise`` gathers their public functions.
"""

from __future__ import annotations

import builtins
import sys

import numpy as np

from .._dispatch import Op, dispatch, dispatch_out
from .._dtype import from_numpy_dtype, get_default_dtype, is_bfloat16
from .._tensor import Tensor
from . import _meta
from ._util import float_result, promote, promote_many
from .creation import zeros_like

# ---- shared helpers ------------------------------------------------------------------------

def broadcast_shape(a: tuple, b: tuple) -> tuple:
    """The broadcast shape of two shapes; torch's RuntimeError when they don't broadcast."""
    n = builtins.max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b "
                               f"({y}) at non-singleton dimension {i}")
        out.append(y if x == 1 else x)
    return tuple(out)


def _check_broadcast(*operands) -> None:
    """Raise torch's error unless the array operands broadcast together."""
    shape = None
    for x in operands:
        if type(x) is np.ndarray:
            shape = x.shape if shape is None or shape == x.shape else broadcast_shape(shape,
                                                                                      x.shape)


def _operands(a, b):
    """Check that ``a`` and ``b`` broadcast and promote them to torch's result type."""
    ta, tb = type(a), type(b)
    if ta is np.ndarray:
        if tb is float and a.dtype.kind in "fc":  # a float tensor and a Python float: as is
            return a, b
        if tb is np.ndarray and a.shape != b.shape:
            broadcast_shape(a.shape, b.shape)
    elif ta is float and tb is np.ndarray and b.dtype.kind in "fc":
        return a, b
    a, b = promote(a, b)
    # ml_dtypes turns bfloat16 op Python float into float32 (its types are NumPy's kind
    # "V"; the other ones, float8, have no arithmetic in torch)
    if type(a) is not type(b) and (getattr(a, "dtype", _NO_DTYPE).kind == "V"
                                   or getattr(b, "dtype", _NO_DTYPE).kind == "V"):
        return promote_many(a, b)
    return a, b


_NO_DTYPE = np.dtype(np.bool_)  # what a Python number's dtype kind is compared as


def _float_operands(a, b):
    """Integer operands of an op that computes in floats, both in the default float dtype;
    converted from the originals, as integer promotion wraps numbers (``uint8 / -1``)."""
    return float_result(np.asarray(a)), float_result(np.asarray(b))


def _dtype(x) -> np.dtype:
    """The NumPy dtype of an operand: an array, a MetaArray or a number."""
    dt = getattr(x, "dtype", None)
    return np.asarray(x).dtype if dt is None else dt


def _is_float_dtype(dt) -> bool:
    return dt.kind in "fc" or is_bfloat16(dt)


def _is_float(x) -> bool:
    return _is_float_dtype(_dtype(x))


def _default_float() -> np.dtype:
    return get_default_dtype().np


def _unsupported(name: str, x) -> NotImplementedError:
    """torch's error for a kernel that has no implementation for a dtype."""
    return NotImplementedError(f'"{name}_cpu" not implemented for '
                               f"'{from_numpy_dtype(_dtype(x)).scalar_name}'")


def _reject_bool(name: str, a, b) -> None:
    """torch has no bool kernel for division-like ops: both operands bool is an error."""
    if _dtype(a) == np.bool_ and _dtype(b) == np.bool_:
        raise _unsupported(name, a)


def _check_int_divisor(a, b) -> None:
    """Integer division by zero raises in torch (it has no integer inf), unless the result
    is empty."""
    b = np.asarray(b)
    if b.dtype.kind in "iub" and np.size(a) and b.size and not np.all(b):
        raise RuntimeError("ZeroDivisionError")


def _kernels():
    from . import _kernels_elementwise
    return _kernels_elementwise


def _numba_unary(name: str):
    """A Numba kernel of ``_kernels_elementwise``; half types are computed in float32."""
    def kernel(x):
        fn = getattr(_kernels(), name)
        if x.dtype == np.float32 or x.dtype == np.float64:
            return fn(x)
        return fn(x.astype(np.float32)).astype(x.dtype)
    kernel.__name__ = name
    return kernel


_erf, _erfc, _erfinv = (_numba_unary(n) for n in ("erf", "erfc", "erfinv"))


_SPLIT_MIN = 1 << 17  # ``_kernels_elementwise._PARALLEL_MIN``, checked before importing it


def _threaded(op: str, a, b):
    """``a op b`` (``op``: "add", "sub", "mul" or "div") split across threads by
    ``_kernels_elementwise.binary`` for large C-contiguous float arrays (NumPy's ufuncs run
    on one thread); None where the ufunc takes it: small arrays, other operands, one
    thread. The values are the ufunc's (the same IEEE operation per element)."""
    if (a.size if type(a) is np.ndarray else 0) < _SPLIT_MIN \
            and (b.size if type(b) is np.ndarray else 0) < _SPLIT_MIN:
        return None
    kernels = _kernels()
    return kernels.binary(kernels.ARITHMETIC[op], a, b)


def _threaded_unary(name: str, numpy_fn):
    """The kernel ``numpy_fn`` (NumPy's ufunc for op ``name``), split across threads by
    ``_kernels_elementwise.unary`` for large C-contiguous float arrays."""
    def kernel(x):
        if x.size >= _SPLIT_MIN:
            kernels = _kernels()
            out = kernels.unary(kernels.UNARY[name], x)
            if out is not None:
                return out
        return numpy_fn(x)
    kernel.__name__ = name
    return kernel


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


# ---- templates -----------------------------------------------------------------------------

def _auto_signature(cls, args: str) -> None:
    """Give a concrete op made from a template its signature ``<aten>(<args>) -> Tensor``
    (unless it declares one; in-place variants share their base op's)."""
    if cls.__dict__.get("abstract", False) or cls.inplace or "signature" in cls.__dict__:
        return
    cls.signature = f"{cls.aten}({args}) -> Tensor"


class _Unary(Op):
    """``out = kernel(x, *params)`` for one tensor and fixed parameters.

    ``params`` declares the parameters in schema language (``"float negative_slope"``), for
    the signature. ``gradient(g, x, out, *params)`` is the input's gradient in ember ops
    (None: zero, as for ``floor``); ``saves`` names what it reads ("x", "out", both or
    neither). ``ints`` says what integer and bool inputs do: "float" (computed in the
    default float dtype), "int" (kept; bool rejected), "intbool" (kept) or "reject" (torch
    has no kernel).
    """

    abstract = True
    kind = "pointwise"

    ints = "float"
    saves = "x"
    params = ""
    gradient = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, ", ".join(["Tensor a"] + ([cls.params] if cls.params else [])))

    @staticmethod
    def kernel(x, *params):
        raise NotImplementedError

    @classmethod
    def result_dtype(cls, a) -> np.dtype:
        """The output dtype for input ``a`` (array or MetaArray); torch's error for integer
        inputs the op has no kernel for."""
        dt = a.dtype
        if _is_float_dtype(dt):
            return dt
        if cls.ints == "float":
            return _default_float()
        if cls.ints == "reject" or (cls.ints == "int" and dt == np.bool_):
            raise _unsupported(cls.name, a)
        return dt

    @classmethod
    def meta(cls, a, *params):
        return _meta.like(a, cls.result_dtype(a))

    @classmethod
    def forward(cls, ctx, a, *params):
        dt = cls.result_dtype(a)
        if dt != a.dtype:
            a = a.astype(dt)
        if is_bfloat16(dt):  # computed in float32, as torch does for reduced precision
            out = np.asarray(cls.kernel(a.astype(np.float32), *params)).astype(dt)
        else:
            out = cls.kernel(a, *params)
        saves = cls.saves
        ctx.save_for_backward(a if "x" in saves else None, out if "out" in saves else None)
        ctx.params = params
        return out

    @classmethod
    def backward(cls, ctx, g):
        if cls.gradient is None:
            return zeros_like(g)
        x, out = ctx.saved_tensors
        return cls.gradient(g, x, out, *ctx.params)


def _op_class(name: str, template: type[Op], attrs: dict) -> type[Op]:
    """A subclass of ``template`` for torch's op ``name`` (``leaky_relu`` -> ``LeakyRelu``),
    belonging to the module that calls the factory (as ``namedtuple`` does)."""
    module = sys._getframe(2).f_globals["__name__"]
    cls_name = "".join(part.capitalize() for part in name.split("_"))
    return type(cls_name, (template,), {"name": name, "__module__": module, **attrs})


def _unary(name: str, kernel, gradient=None, saves: str = "x", ints: str = "float",
           params: str = ""):
    """A ``_Unary`` op class for torch's op ``name`` (``leaky_relu`` -> ``LeakyRelu``)."""
    return _op_class(name, _Unary, {
        "kernel": staticmethod(kernel), "saves": saves, "ints": ints,
        "params": params, "gradient": None if gradient is None else staticmethod(gradient)})


class _Binary(Op):
    """``out = kernel(a, b)`` on promoted operands (either may be a number).

    ``grads(g, a, b, out, needs)`` returns both gradients in ember ops, computing only those
    ``needs`` (``ctx.needs_input_grad``) asks for; None: torch has no derivative. ``ints``:
    "keep", "float" or "reject", as for ``_Unary``."""

    abstract = True
    kind = "pointwise"

    ints = "keep"
    grads = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, "Tensor a, Tensor b")

    @staticmethod
    def kernel(a, b):
        raise NotImplementedError

    @classmethod
    def meta(cls, a, b):
        dt = _meta.result_dtype(a, b)
        if cls.ints != "keep" and not _is_float_dtype(dt):
            if cls.ints == "reject":
                raise _unsupported(cls.name, a if hasattr(a, "dtype") else b)
            dt = _default_float()
        return _meta.pointwise(a, b, dtype=dt)

    @classmethod
    def forward(cls, ctx, a, b):
        _check_broadcast(a, b)
        x, y = promote_many(a, b)
        if cls.ints != "keep" and not _is_float(x):
            if cls.ints == "reject":
                raise _unsupported(cls.name, x)
            x, y = _float_operands(a, b)
        out = cls.kernel(x, y)
        ctx.save_for_backward(a, b, out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        if cls.grads is None:
            raise RuntimeError(f"derivative for aten::{cls.name} is not implemented")
        a, b, out = ctx.saved_tensors
        return cls.grads(g, a, b, out, ctx.needs_input_grad)


class _NoGrad(Op):
    """A non-differentiable binary op (comparisons, logical and bitwise ops):
    ``kernel(a, b)``, its result laid out by ``meta_rule(a, b)``."""

    abstract = True
    kind = "pointwise"
    differentiable = False
    signature_args = "Tensor a, Tensor b"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, cls.signature_args)

    @staticmethod
    def kernel(a, b):
        raise NotImplementedError

    @staticmethod
    def meta_rule(a, b):
        raise NotImplementedError

    @classmethod
    def meta(cls, a, b):
        return cls.meta_rule(a, b)

    @classmethod
    def forward(cls, ctx, a, b):
        return cls.kernel(a, b)


class _NoGradUnary(_NoGrad):
    """A non-differentiable unary op (predicates, ``logical_not``, ``bitwise_not``)."""

    abstract = True
    signature_args = "Tensor a"

    @classmethod
    def meta(cls, a):
        return cls.meta_rule(a)

    @classmethod
    def forward(cls, ctx, a):
        return cls.kernel(a)


def _nograd(name: str, kernel, meta_rule, unary: bool = False) -> type[Op]:
    return _op_class(name, _NoGradUnary if unary else _NoGrad, {
        "kernel": staticmethod(kernel), "meta_rule": staticmethod(meta_rule)})


def _fusable(*arrays) -> bool:
    """Whether the one-pass Numba kernels take these arrays: C-contiguous, one shape, and
    all float32 or all float64."""
    x = arrays[0]
    return (x.dtype == np.float32 or x.dtype == np.float64) and all(
        a.flags.c_contiguous and a.dtype == x.dtype and a.shape == x.shape for a in arrays)


class _ActivationBackward(Op):
    """``grad_output * f'(x)`` for an activation ``f``: torch's ``<f>_backward`` op, one pass
    over the arrays, so that the activation's backward is one dispatched op.

    ``x`` is the activation's input, or its output for activations whose derivative is
    written in it (sigmoid, tanh, relu). The computation is the NumPy ufunc of the op's name
    in ``_kernels_elementwise`` (Numba, one pass), or ``kernel(g, x, *params)`` (NumPy) for
    ops that have none; ``contiguous`` names the kernel of ``_kernels_transformer`` that
    takes C-contiguous float32/float64 arrays of one shape (GELU, SiLU: split across
    threads on large inputs). Reduced precision is computed in float32, as torch does.

    The op is differentiable: the gradient for ``grad_output`` is this op again, the one
    for ``x`` is ``gg * grad_output * curvature(x, *params)``, with ``curvature`` (``f''``,
    None when it is zero) written in ember ops, so gradients of every order work.
    """

    abstract = True
    kind = "pointwise"
    params = ""
    kernel = None
    contiguous = None
    curvature = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _auto_signature(cls, ", ".join(["Tensor grad_output", "Tensor x"]
                                       + ([cls.params] if cls.params else [])))

    @classmethod
    def meta(cls, grad_output, x, *params):
        return _meta.pointwise(grad_output, x)

    @classmethod
    def forward(cls, ctx, grad_output, x, *params):
        ctx.save_for_backward(grad_output, x)
        ctx.params = params
        g = grad_output
        if cls.contiguous is not None and _fusable(x, g):
            from . import _kernels_transformer as K
            return K.activation_backward(g, x, cls.contiguous(*params))
        dt = np.result_type(g, x)
        if dt.itemsize < 4:  # bfloat16, float16
            return cls._compute(g.astype(np.float32), x.astype(np.float32), params).astype(dt)
        return cls._compute(g, x, params)

    @classmethod
    def _compute(cls, g, x, params):
        if cls.kernel is None:
            return getattr(_kernels(), cls.name)(g, x, *params)
        return np.asarray(cls.kernel(g, x, *params)).astype(np.result_type(g, x), copy=False)

    @classmethod
    def backward(cls, ctx, gg):
        g, x = ctx.saved_tensors
        need_g, need_x = ctx.needs_input_grad[:2]
        gx = None
        if need_x:
            gx = zeros_like(x) if cls.curvature is None else \
                gg * g * cls.curvature(x, *ctx.params)
        return (dispatch(cls, gg, x, *ctx.params) if need_g else None), gx


def _backward_op(name: str, curvature=None, params: str = "", kernel=None, contiguous=None):
    """An ``_ActivationBackward`` op class for torch's op ``name``."""
    return _op_class(name, _ActivationBackward, {
        "params": params, **{k: staticmethod(f) for k, f in (
            ("curvature", curvature), ("kernel", kernel), ("contiguous", contiguous))
            if f is not None}})


def _backward_by(op: type[Op], n_params: int | None = None):
    """The ``gradient`` of a ``_Unary`` whose derivative is the fused op ``op``, applied to
    what the activation saved (its input or its output) and its first ``n_params``
    parameters (all by default)."""
    def gradient(g, x, out, *params):
        return dispatch(op, g, out if x is None else x, *params[:n_params])
    return gradient


# ---- functions with torch's signatures ---------------------------------------------------

def _unary_function(op: type[Op]):
    """``name(input, *, out=None)`` running ``op`` (named after it)."""
    def fn(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        return dispatch(op, input) if out is None else dispatch_out(op, out, input)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = f"Elementwise ``{op.name}``, as ``torch.{op.name}``."
    return fn


def _require_tensor(name: str, x, position: int) -> None:
    """torch's TypeError for a number where its signature wants a Tensor."""
    if not isinstance(x, Tensor):
        arg = ("input", "other")[position - 1]
        raise TypeError(f"{name}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(x).__name__}")


def _binary_function(op: type[Op], number_input: bool = False, number_other: bool = True):
    """``name(input, other, *, out=None)`` running ``op`` (named after it); which operands
    may be numbers follows torch's overloads."""
    def fn(input, other, *, out: Tensor | None = None) -> Tensor:
        if not number_input:
            _require_tensor(op.name, input, 1)
        if not number_other:
            _require_tensor(op.name, other, 2)
        return dispatch(op, input, other) if out is None else dispatch_out(op, out, input, other)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = f"Elementwise ``{op.name}``, as ``torch.{op.name}``."
    return fn
