"""Random number generation: ``Generator``, the default generator, and the sampling ops.

An ``ember.Generator`` wraps a NumPy ``Generator`` on the PCG64 bit generator. Every
sampling function takes ``generator=`` and otherwise draws from ``default_generator``,
so ``ember.manual_seed(s)`` makes a whole program reproducible (optimizers, ``nn.init``
and dropout draw from it too, through ``_np_generator``).

Deliberate difference from torch: the streams are NumPy's, not torch's Mersenne-Twister
/ Philox streams, so ``manual_seed(0); rand(3)`` gives other numbers than in torch (the
distributions, shapes, dtypes and errors are torch's). ``get_state()`` is a small uint8
tensor encoding the PCG64 state, not torch's 5056-byte state.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import os

import numpy as np

from ._device import CPU, check_device
from ._dispatch import Op, dispatch, dispatch_out
from ._dtype import dtype as _dtype_cls
from ._dtype import (
    from_numpy_dtype,
    get_default_dtype,
    int64,
    is_bfloat16,
    is_half,
    uint8,
)
from ._meta import MetaArray
from ._tensor import Tensor, _make, tensor_method
from .ops import _meta
from .ops.creation import (
    Factory,
    _like,
    _out_dtype,
    _parse_size,
    _size_arg,
    factory_result,
)

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "fork_rng", "rand", "randn", "randint", "randperm",
           "normal", "bernoulli", "multinomial", "poisson", "rand_like", "randn_like",
           "randint_like"]

_U64 = (1 << 64) - 1
_STATE_BYTES = 48  # seed (8) | PCG64 state (16) | increment (16) | has_uint32 (4) | uint32 (4)


class Generator:
    """A source of random numbers: ``Generator().manual_seed(0)``."""

    def __init__(self, device="cpu"):
        check_device(device)
        self._seed = 67280421310721  # torch's default seed for a fresh Generator
        self._np = np.random.Generator(np.random.PCG64(self._seed))

    @property
    def device(self):
        return CPU

    def manual_seed(self, seed) -> Generator:
        """Reseed; returns the generator (``Generator().manual_seed(0)``)."""
        seed = builtins.int(seed)
        if not -(1 << 63) <= seed <= _U64:
            raise ValueError("Overflow when unpacking long long")
        self._seed = seed & _U64
        self._np = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        s = builtins.int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The generator's state as a uint8 tensor (see ``set_state``)."""
        st = self._np.bit_generator.state
        raw = (self._seed.to_bytes(8, "little") + st["state"]["state"].to_bytes(16, "little")
               + st["state"]["inc"].to_bytes(16, "little")
               + st["has_uint32"].to_bytes(4, "little") + st["uinteger"].to_bytes(4, "little"))
        return _make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state from ``get_state``."""
        if not isinstance(new_state, Tensor) or new_state.dtype is not uint8:
            raise TypeError("RNG state must be a torch.ByteTensor")
        if new_state.numel() != _STATE_BYTES:
            raise RuntimeError(f"Expected a CPUGeneratorImplState of size {_STATE_BYTES} but "
                               f"found the input RNG state size to be {new_state.numel()}")
        raw = new_state._data.tobytes()

        def field(lo, hi):
            return builtins.int.from_bytes(raw[lo:hi], "little")

        bit = np.random.PCG64()
        bit.state = {"bit_generator": "PCG64",
                     "state": {"state": field(8, 24), "inc": field(24, 40)},
                     "has_uint32": field(40, 44), "uinteger": field(44, 48)}
        self._seed = field(0, 8)
        self._np = np.random.Generator(bit)
        return self

    def clone_state(self) -> Generator:
        """A new generator in the same state."""
        return Generator().set_state(self.get_state())

    def __repr__(self) -> str:
        return f"<ember.Generator object at {hex(id(self))}>"


default_generator = Generator()
default_generator.seed()  # as torch: each process starts from a fresh seed


def _np_generator(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (default: the default generator); for
    ember's own random draws (optimizers, ``nn.init``, dropout, data loading)."""
    return (generator or default_generator)._np


def manual_seed(seed) -> Generator:
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator nondeterministically; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, _caller: str = "fork_rng",
             _devices_kw: str = "devices", device_type: str = "cuda"):
    """Restore the default generator's state on exit (ember has no device generators)."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


# ---- sampling kernels (NumPy) ------------------------------------------------------------

# Significand digits per float dtype: half types draw U[0, 1) as k / 2**digits so that no
# sample rounds up to 1; random_() draws integers in [0, 2**digits].
_DIGITS = {2: 11, 4: 24, 8: 53}  # by itemsize, kind "f"; bfloat16: 8


def _digits(dt: np.dtype) -> builtins.int | None:
    """Significand digits of a float dtype (None for other dtypes)."""
    if dt.kind == "f":
        return _DIGITS[dt.itemsize]
    return 8 if is_bfloat16(dt) else None


def _not_implemented(kernel: str, dt: np.dtype) -> NotImplementedError:
    return NotImplementedError(f'"{kernel}" not implemented for '
                               f"'{from_numpy_dtype(dt).scalar_name}'")


def _uniform(rng: np.random.Generator, shape, dt: np.dtype, low=0.0, high=1.0) -> np.ndarray:
    """U[low, high) in dtype ``dt`` (complex: real and imaginary parts each uniform)."""
    if dt.kind == "c":
        parts = _uniform(rng, (*shape, 2), np.dtype(np.float64 if dt.itemsize == 16
                                                    else np.float32), low, high)
        return parts.view(dt)[..., 0]
    if is_half(dt):
        bits = _digits(dt)
        u = rng.integers(0, 1 << bits, size=shape).astype(np.float32) / (1 << bits)
    elif dt == np.float32 or dt == np.float64:
        u = rng.random(shape, dtype=dt)
    else:
        raise _not_implemented("check_uniform_bounds", dt)
    return (u * (high - low) + low).astype(dt, copy=False) if (low, high) != (0.0, 1.0) \
        else u.astype(dt, copy=False)


def _normal(rng: np.random.Generator, shape, dt: np.dtype) -> np.ndarray:
    """Standard normal draws in dtype ``dt`` (complex: variance 1/2 per part, as torch)."""
    if dt.kind == "c":
        parts = _normal(rng, (*shape, 2), np.dtype(np.float64 if dt.itemsize == 16
                                                   else np.float32))
        return (parts * np.sqrt(0.5).astype(parts.dtype)).view(dt)[..., 0]
    if not math.prod(shape):  # torch checks the dtype only when there is work to do
        return np.empty(shape, dt)
    if dt == np.float64 or dt == np.float32:
        return rng.standard_normal(shape, dtype=dt)
    if is_half(dt):
        return rng.standard_normal(shape, dtype=np.float32).astype(dt)
    raise _not_implemented("normal_kernel_cpu", dt)


def _check_float(dt: np.dtype, kernel: str) -> None:
    if not (dt.kind == "f" or is_bfloat16(dt)):
        raise _not_implemented(kernel, dt)


# ---- factories ---------------------------------------------------------------------------
# Factory ops (see ops/creation.py) drawing from ``generator`` (None: the default one).

class _RandomFactory(Factory):
    """``sample(rng, size, dtype)``: a new array of random draws."""

    abstract = True
    kind = "random"

    @classmethod
    def forward(cls, ctx, size, dtype, generator=None):
        return cls.sample(_np_generator(generator), size, dtype)

    @staticmethod
    def meta(size, dtype, generator=None):
        return _meta.new(size, dtype)


class Rand(_RandomFactory):
    signature = "rand(int[] size, dtype dtype, Generator? generator=None) -> Tensor"
    sample = staticmethod(_uniform)


class Randn(_RandomFactory):
    signature = "randn(int[] size, dtype dtype, Generator? generator=None) -> Tensor"
    sample = staticmethod(_normal)


class Randint(Factory):
    kind = "random"
    signature = ("randint.low(int[] size, dtype dtype, Generator? generator, int low, int high) "
                 "-> Tensor")

    @staticmethod
    def forward(ctx, size, dtype, generator, low, high):
        return _integers(_np_generator(generator), low, high, size, dtype)

    @staticmethod
    def meta(size, dtype, generator, low, high):
        _check_integer_bounds(low, high, dtype)
        return _meta.new(size, dtype)


class Randperm(Factory):
    kind = "random"
    signature = "randperm(int n, dtype dtype, Generator? generator=None) -> Tensor"

    @staticmethod
    def forward(ctx, n, dtype, generator=None):
        return _np_generator(generator).permutation(n).astype(dtype)

    @staticmethod
    def meta(n, dtype, generator=None):
        return _meta.new((n,), dtype)


def _factory(op, args, size, name, dtype, out, device, requires_grad, generator) -> Tensor:
    check_device(device)
    shape = _size_arg(args, size, name)
    dt = _out_dtype(dtype, out, get_default_dtype())
    return factory_result(op, device, out, requires_grad, shape, dt.np, generator)


def rand(*args, size=None, generator: Generator | None = None, out: Tensor | None = None,
         dtype: _dtype_cls | None = None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Samples from U[0, 1)."""
    return _factory(Rand, args, size, "rand", dtype, out, device, requires_grad, generator)


def randn(*args, size=None, generator: Generator | None = None, out: Tensor | None = None,
          dtype: _dtype_cls | None = None, layout=None, device=None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Samples from the standard normal distribution."""
    return _factory(Randn, args, size, "randn", dtype, out, device, requires_grad, generator)


_C_NAMES = {np.dtype(np.bool_): "bool", np.dtype(np.uint8): "unsigned char",
            np.dtype(np.int8): "signed char", np.dtype(np.int16): "short int",
            np.dtype(np.int32): "int", np.dtype(np.int64): "long int"}


def _check_integer_bounds(low: int, high: int, dt: np.dtype) -> None:
    """torch's checks of [low, high) for integer draws stored in ``dt``."""
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    if dt in _C_NAMES:
        lo, hi = (0, 1) if dt == np.bool_ else (np.iinfo(dt).min, np.iinfo(dt).max)
        if not lo <= low <= hi:
            raise RuntimeError(f"from is out of bounds for {_C_NAMES[dt]}")
        if not lo <= high - 1 <= hi:
            raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[dt]}")


def _integers(rng: np.random.Generator, low: int, high: int, shape, dt: np.dtype) -> np.ndarray:
    """Integers from [low, high) stored in ``dt``, with torch's bounds checks."""
    _check_integer_bounds(low, high, dt)
    return rng.integers(low, high, size=shape, dtype=np.int64).astype(dt, copy=False)


def randint(low=0, high=None, size=None, *, generator: Generator | None = None,
            out: Tensor | None = None, dtype: _dtype_cls | None = None, layout=None,
            device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high): ``randint(10, (3,))``,
    ``randint(2, 10, (3,))``. The dtype is int64 unless ``dtype`` is given."""
    if size is None and high is not None and not hasattr(high, "__index__"):
        low, high, size = 0, low, high  # randint(high, size)
    elif high is None and size is not None:
        low, high = 0, low  # randint(high, size=size)
    if size is None or high is None:
        raise TypeError("randint() missing required arguments: 'high' and 'size'")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' (position 2) must be tuple of ints, not "
                        f"{type(size).__name__}")
    check_device(device)
    shape = _parse_size((size,), "randint")
    dt = _out_dtype(dtype, out, int64)
    return factory_result(Randint, device, out, requires_grad, shape, dt.np, generator,
                          builtins.int(low), builtins.int(high))


def randperm(n: int, *, generator: Generator | None = None, out: Tensor | None = None,
             dtype: _dtype_cls | None = None, layout=None, device=None,
             requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` is given)."""
    check_device(device)
    _parse_size((n,), "randperm")
    dt = _out_dtype(dtype, out, int64)
    return factory_result(Randperm, device, out, requires_grad, n, dt.np, generator)


def _in_layout(like: np.ndarray, make) -> np.ndarray:
    """``make(shape)`` (a new C-ordered array) with its axes laid out as ``like``'s, as
    torch lays out ``*_like`` results (``preserve_format``): drawn in ``like``'s memory
    order, then viewed in its axis order."""
    if like.flags.c_contiguous:
        return make(like.shape)
    strides = _meta.like(like).strides
    order = sorted(range(like.ndim), key=lambda i: -strides[i])  # outermost axis first
    return make(tuple(like.shape[i] for i in order)).transpose(np.argsort(order))


class _RandomLike(Factory):
    """Random draws in the shape and layout of ``input`` (its metadata only is read)."""

    abstract = True
    kind = "random"

    @staticmethod
    def meta(input, generator, *params_and_dtype):
        return _meta.like(input, params_and_dtype[-1])


class RandLike(_RandomLike):
    name = "rand_like"
    signature = "rand_like(Tensor input, Generator? generator, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, input, generator, dtype):
        rng = _np_generator(generator)
        return _in_layout(input, lambda shape: _uniform(rng, shape, dtype))


class RandnLike(_RandomLike):
    name = "randn_like"
    signature = "randn_like(Tensor input, Generator? generator, dtype dtype) -> Tensor"

    @staticmethod
    def forward(ctx, input, generator, dtype):
        rng = _np_generator(generator)
        return _in_layout(input, lambda shape: _normal(rng, shape, dtype))


class RandintLike(_RandomLike):
    name = "randint_like"
    signature = ("randint_like.low_dtype(Tensor input, Generator? generator, int low, int high, "
                 "dtype dtype) -> Tensor")

    @staticmethod
    def forward(ctx, input, generator, low, high, dtype):
        rng = _np_generator(generator)
        return _in_layout(input, lambda shape: _integers(rng, low, high, shape, dtype))

    @staticmethod
    def meta(input, generator, low, high, dtype):
        _check_integer_bounds(low, high, dtype)
        return _meta.like(input, dtype)


def rand_like(input: Tensor, *, generator: Generator | None = None,
              dtype: _dtype_cls | None = None, layout=None, device=None,
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """``rand`` in the shape, layout (and dtype) of ``input``."""
    return _like(RandLike, input, dtype, requires_grad, device, generator)


def randn_like(input: Tensor, *, generator: Generator | None = None,
               dtype: _dtype_cls | None = None, layout=None, device=None,
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """``randn`` in the shape, layout (and dtype) of ``input``."""
    return _like(RandnLike, input, dtype, requires_grad, device, generator)


def randint_like(input: Tensor, low=0, high=None, *, generator: Generator | None = None,
                 dtype: _dtype_cls | None = None, layout=None, device=None,
                 requires_grad: bool = False, memory_format=None) -> Tensor:
    """``randint`` in the shape, layout (and dtype) of ``input``: ``randint_like(x, 10)``."""
    if high is None:
        low, high = 0, low
    return _like(RandintLike, input, dtype, requires_grad, device, generator, builtins.int(low),
                 builtins.int(high))


# ---- sampling ops with tensor parameters ----------------------------------------------------
# torch gives these a zero gradient (the samples are not reparameterised), so their
# results require grad when a parameter does, and backward returns zeros.

def _zero_grads(ctx, g):
    zero = _make(np.zeros(g._data.shape, g._data.dtype))
    return tuple(zero if need else None for need in ctx.needs_input_grad)


def _normal_dtype(mean, std) -> np.dtype:
    """The dtype of normal samples with parameters ``mean`` and ``std`` (arrays or
    MetaArrays, one of them possibly a number): the first array's; floating point only."""
    params = [p for p in (mean, std) if isinstance(p, np.ndarray | MetaArray)]
    for p in params:
        _check_float(p.dtype, "normal_kernel_cpu")
    return params[0].dtype


class Normal(Op):
    """N(mean, std²) samples with tensor parameters broadcast together (either may be a
    Python number instead, as in torch's ``normal.Tensor_float``)."""

    kind = "random"
    signature = ("normal.Tensor_Tensor(Tensor mean, Tensor std, *, Generator? generator=None) "
                 "-> Tensor")

    @staticmethod
    def forward(ctx, mean, std, generator=None):
        dt = _normal_dtype(mean, std)
        if np.any(np.asarray(std) < 0):
            raise RuntimeError(f"normal expects std >= 0.0, but found std {np.min(std)}")
        z = _normal(_np_generator(generator), np.broadcast_shapes(np.shape(mean),
                                                                  np.shape(std)), dt)
        return (z * std + mean).astype(dt, copy=False)

    @staticmethod
    def meta(mean, std, generator=None):
        dt = _normal_dtype(mean, std)
        if not isinstance(std, MetaArray) and std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        return _meta.new(_meta.broadcast_shapes(np.shape(mean), np.shape(std)), dt)

    backward = staticmethod(_zero_grads)


class NormalFloat(_RandomFactory):
    """N(mean, std²) samples with number parameters, in ``size`` and ``dtype``."""

    name = "normal_float"
    aten = "normal"
    signature = ("normal.float_float(float mean, float std, int[] size, dtype dtype, "
                 "Generator? generator=None) -> Tensor")

    @staticmethod
    def forward(ctx, mean, std, size, dtype, generator=None):
        _check_std(std)
        return (_normal(_np_generator(generator), size, dtype) * std + mean).astype(dtype)

    @staticmethod
    def meta(mean, std, size, dtype, generator=None):
        _check_std(std)
        return _meta.new(size, dtype)


def _check_std(std: float) -> None:
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")


def normal(mean, std=1.0, size=None, *, generator: Generator | None = None,
           out: Tensor | None = None, dtype: _dtype_cls | None = None, layout=None,
           device=None, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """Samples from N(mean, std²). ``mean`` and ``std`` are tensors (broadcast together)
    or numbers; with two numbers ``size`` is required: ``normal(0., 1., (2, 3))``.

    As in torch, ``normal`` is not among the constructors that follow the default device:
    with two numbers it makes a CPU tensor unless ``device`` is given."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        return dispatch_out(Normal, out, mean, std, generator=generator)
    if size is None:
        raise TypeError(f"normal() received an invalid combination of arguments - got "
                        f"({type(mean).__name__}, {type(std).__name__}), but expected a "
                        "Tensor mean or std, or a size")
    _check_std(std)
    check_device(device)
    shape = _size_arg((), size, "normal")
    dt = _out_dtype(dtype, out, get_default_dtype())
    if device is None and out is None:
        device = CPU  # not one of the constructors that follow the default device
    return factory_result(NormalFloat, device, out, requires_grad, mean, std, shape, dt.np,
                          generator)


class Bernoulli(Op):
    """0/1 samples with probabilities ``input`` (or the number ``p``), in input's dtype."""

    kind = "random"
    signature = "bernoulli(Tensor input, float? p=None, *, Generator? generator=None) -> Tensor"

    @staticmethod
    def forward(ctx, input, p=None, generator=None):
        _check_float(input.dtype, "bernoulli_tensor_cpu_p_")
        probs = input if p is None else p
        if np.any((probs < 0) | (probs > 1)):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
        u = _np_generator(generator).random(input.shape)
        return (u < probs).astype(input.dtype)

    @staticmethod
    def meta(input, p=None, generator=None):
        _check_float(input.dtype, "bernoulli_tensor_cpu_p_")
        if p is not None and not 0 <= p <= 1:
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
        shape, dt = input.shape, input.dtype  # (u < probs) with u a new C-ordered array
        return MetaArray(shape, dt, _meta.layout(shape, dt.itemsize, _meta.new(shape, np.float64),
                                                 input if p is None else p))

    backward = staticmethod(_zero_grads)


@tensor_method()
def bernoulli(input: Tensor, p: float | None = None, *, generator: Generator | None = None,
              out: Tensor | None = None) -> Tensor:
    """0/1 samples with probabilities ``input`` (or the number ``p``), in input's dtype."""
    return dispatch_out(Bernoulli, out, input, p, generator=generator)


class Poisson(Op):
    """Poisson samples with rates ``input``, in input's dtype."""

    kind = "random"
    signature = "poisson(Tensor input, Generator? generator=None) -> Tensor"

    @staticmethod
    def forward(ctx, input, generator=None):
        _check_float(input.dtype, "poisson_cpu")
        if np.any(input < 0):
            raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
        return _np_generator(generator).poisson(input).astype(input.dtype)

    @staticmethod
    def meta(input, generator=None):
        _check_float(input.dtype, "poisson_cpu")
        return _meta.new(input.shape, input.dtype)

    backward = staticmethod(_zero_grads)


def poisson(input: Tensor, generator: Generator | None = None) -> Tensor:
    """Poisson samples with rates ``input``, in input's dtype."""
    return dispatch(Poisson, input, generator=generator)


class Multinomial(Op):
    """Indices drawn from the categorical distributions in the rows of ``input``."""

    kind = "random"
    signature = ("multinomial(Tensor input, int num_samples, bool replacement=False, *, "
                 "Generator? generator=None) -> Tensor")
    differentiable = False

    @staticmethod
    def forward(ctx, input, num_samples, replacement=False, generator=None):
        _check_multinomial(input, num_samples, replacement)
        _check_weights(input)
        rng = _np_generator(generator)
        w = np.atleast_2d(input).astype(np.float64)
        if replacement:
            cdf = np.cumsum(w, axis=-1)
            u = rng.random((w.shape[0], num_samples)) * cdf[:, -1:]
            last = w.shape[1] - 1 - np.argmax(w[:, ::-1] > 0, axis=-1)
            idx = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
            idx = np.minimum(idx, last[:, None])
        else:  # Efraimidis-Spirakis: the k smallest Exp(1)/w (torch's own algorithm);
            # zero weights come last, as in torch once the positive ones are used up
            with np.errstate(divide="ignore", invalid="ignore"):
                keys = np.where(w > 0, rng.standard_exponential(w.shape) / w, np.inf)
            idx = np.argsort(keys, axis=-1, kind="stable")[:, :num_samples]
        return idx.astype(np.int64).reshape(input.shape[:-1] + (num_samples,))

    @staticmethod
    def meta(input, num_samples, replacement=False, generator=None):
        _check_multinomial(input, num_samples, replacement)
        return _meta.new(input.shape[:-1] + (num_samples,), np.int64)


def _check_multinomial(input, num_samples: int, replacement: bool) -> None:
    """torch's checks of the metadata (what the meta device can check too)."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not (input.dtype.kind == "f" or is_bfloat16(input.dtype)):
        raise RuntimeError("multinomial only supports floating-point dtypes for input, got: "
                           f"{from_numpy_dtype(input.dtype).scalar_name}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")


def _check_weights(input: np.ndarray) -> None:
    w = input.astype(np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if np.any(w.sum(axis=-1) <= 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")


@tensor_method()
def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None, out: Tensor | None = None) -> Tensor:
    """Indices sampled from the categorical distributions in the rows of ``input``
    (non-negative weights, not necessarily normalised)."""
    return dispatch_out(Multinomial, out, input, num_samples, replacement,
                        generator=generator)


# ---- in-place samplers (Tensor methods) -----------------------------------------------------
# Each is an Op run in place through the dispatcher, so leaf checks, version counters
# and modes behave as for any in-place op; the new values do not depend on the old ones.
# On the meta device they check their parameters and draw nothing.

class _Fill(Op):
    """Base of the in-place samplers: ``check(dtype, *params)`` validates the parameters
    (always, as torch does, also on empty and meta tensors), then ``sample(rng, shape,
    dtype, *params)`` draws, rejecting the dtypes its kernel lacks (as in torch, only
    when there is something to draw). Subclasses spell out ``forward``'s parameters (the
    signature names them) and pass them on to ``fill``."""

    abstract = True
    kind = "random"

    @staticmethod
    def check(dt, *params):
        pass

    @classmethod
    def sample(cls, rng, shape, dt, *params):
        raise NotImplementedError

    @classmethod
    def fill(cls, a, generator, *params):
        cls.check(a.dtype, *params)
        if not a.size:
            return a
        return cls.sample(_np_generator(generator), a.shape, a.dtype, *params)

    @classmethod
    def meta(cls, a, *params, generator=None):
        cls.check(a.dtype, *params)
        return MetaArray.like(a)

    @staticmethod
    def backward(ctx, g):
        return (None,) * len(ctx.needs_input_grad)


class Uniform(_Fill):
    signature = "uniform(Tensor a, float low, float high, *, Generator? generator=None) -> Tensor"

    @classmethod
    def forward(cls, ctx, a, low, high, generator=None):
        return cls.fill(a, generator, low, high)

    @staticmethod
    def check(dt, low, high):
        if dt.kind not in "fc" and not is_bfloat16(dt):
            raise _not_implemented("check_uniform_bounds", dt)
        if low > high:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                               f"from={low:g} > to={high:g}")

    sample = staticmethod(_uniform)


class NormalFill(_Fill):
    name = "normal_fill"
    aten = "normal"
    signature = "normal(Tensor a, float mean, float std, *, Generator? generator=None) -> Tensor"

    @classmethod
    def forward(cls, ctx, a, mean, std, generator=None):
        return cls.fill(a, generator, mean, std)

    @staticmethod
    def check(dt, mean, std):
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")

    @staticmethod
    def sample(rng, shape, dt, mean, std):
        return (_normal(rng, shape, dt) * std + mean).astype(dt)


class Random(_Fill):
    signature = ("random.from(Tensor a, int low, int? high, *, Generator? generator=None) "
                 "-> Tensor")

    @classmethod
    def forward(cls, ctx, a, low, high, generator=None):
        return cls.fill(a, generator, low, high)

    @staticmethod
    def check(dt, low, high):
        _check_integer_bounds(low, _random_high(dt, high), dt)

    @staticmethod
    def sample(rng, shape, dt, low, high):
        return _integers(rng, low, _random_high(dt, high), shape, dt)


def _random_high(dt: np.dtype, high: int | None) -> int:
    """``random_``'s exclusive upper bound: ``high``, or by default 2**digits + 1 for
    floats and the dtype's maximum + 1 for integers."""
    if high is not None:
        return high
    if _digits(dt) is not None:
        return (1 << _digits(dt)) + 1
    if dt == np.bool_:
        return 2
    return builtins.int(np.iinfo(dt).max) + 1


class BernoulliFill(_Fill):
    name = "bernoulli_fill"
    aten = "bernoulli"
    signature = "bernoulli.Tensor(Tensor a, Tensor p, *, Generator? generator=None) -> Tensor"

    @classmethod
    def forward(cls, ctx, a, p, generator=None):
        return cls.fill(a, generator, p)

    @staticmethod
    def check(dt, p):
        if not isinstance(p, np.ndarray | MetaArray) and not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")

    @staticmethod
    def sample(rng, shape, dt, p):
        return (rng.random(shape) < np.broadcast_to(p, shape)).astype(dt)


class Exponential(_Fill):
    signature = "exponential(Tensor a, float lambd, *, Generator? generator=None) -> Tensor"

    @classmethod
    def forward(cls, ctx, a, lambd, generator=None):
        return cls.fill(a, generator, lambd)

    @staticmethod
    def check(dt, lambd):
        if lambd <= 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")

    @staticmethod
    def sample(rng, shape, dt, lambd):
        if not (dt.kind == "f" or is_bfloat16(dt)):
            raise RuntimeError("Exponential distribution is a continuous probability "
                               "distribution. dtype must be a floating point but you specified "
                               f"{from_numpy_dtype(dt).scalar_name}")
        return (rng.standard_exponential(shape) / lambd).astype(dt)


class Geometric(_Fill):
    signature = "geometric(Tensor a, float p, *, Generator? generator=None) -> Tensor"

    @classmethod
    def forward(cls, ctx, a, p, generator=None):
        return cls.fill(a, generator, p)

    @staticmethod
    def check(dt, p):
        if not 0 < p < 1:
            raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")

    @staticmethod
    def sample(rng, shape, dt, p):
        if dt.kind not in "fiu" and not is_bfloat16(dt):
            raise _not_implemented("geometric_cpu", dt)
        return rng.geometric(p, shape).astype(dt)


class LogNormal(_Fill):
    aten = "log_normal"
    signature = ("log_normal(Tensor a, float mean, float std, *, Generator? generator=None) "
                 "-> Tensor")

    @classmethod
    def forward(cls, ctx, a, mean, std, generator=None):
        return cls.fill(a, generator, mean, std)

    @staticmethod
    def check(dt, mean, std):
        if std <= 0:
            raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std:g}")

    @staticmethod
    def sample(rng, shape, dt, mean, std):
        _check_float(dt, "log_normal_cpu")
        return np.exp(rng.standard_normal(shape) * std + mean).astype(dt)


class Cauchy(_Fill):
    signature = ("cauchy(Tensor a, float median, float sigma, *, Generator? generator=None) "
                 "-> Tensor")

    @classmethod
    def forward(cls, ctx, a, median, sigma, generator=None):
        return cls.fill(a, generator, median, sigma)

    @staticmethod
    def check(dt, median, sigma):
        if sigma <= 0:
            raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
        if not (dt.kind == "f" or is_bfloat16(dt)):
            raise RuntimeError("Cauchy distribution is a continuous probability distribution. "
                               "dtype must be a floating point but you specified "
                               f"{_C_NAMES.get(dt, dt.name)}")

    @staticmethod
    def sample(rng, shape, dt, median, sigma):
        return (median + sigma * rng.standard_cauchy(shape)).astype(dt)


def _fill(op: type[_Fill], self: Tensor, *params, generator) -> Tensor:
    return dispatch(op.inplace_op(), self, *params, generator=generator)


@tensor_method()
def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples from U[from, to)."""
    return _fill(Uniform, self, from_, to, generator=generator)


@tensor_method()
def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples from N(mean, std²)."""
    return _fill(NormalFill, self, mean, std, generator=generator)


@tensor_method()
def random_(self, from_: int | None = None, to: int | None = None, *, generator=None) -> Tensor:
    """Fill with integers from [from, to); ``random_(to)`` means [0, to); with no bounds,
    [0, 2**digits] for floats and [0, max] for integers."""
    if to is None and from_ is not None:
        from_, to = 0, from_
    return _fill(Random, self, builtins.int(from_ or 0), None if to is None else builtins.int(to),
                 generator=generator)


@tensor_method()
def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fill with 0/1 samples, 1 with probability ``p`` (a number or a tensor broadcast to
    this one's shape)."""
    if isinstance(p, Tensor):
        p = p.expand(self.shape)
    return _fill(BernoulliFill, self, p, generator=generator)


@tensor_method()
def exponential_(self, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples from the exponential distribution with rate ``lambd``."""
    return _fill(Exponential, self, lambd, generator=generator)


@tensor_method()
def geometric_(self, p: float, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    return _fill(Geometric, self, p, generator=generator)


@tensor_method()
def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """Fill with exp(N(mean, std²))."""
    return _fill(LogNormal, self, mean, std, generator=generator)


@tensor_method()
def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples from the Cauchy distribution."""
    return _fill(Cauchy, self, median, sigma, generator=generator)
