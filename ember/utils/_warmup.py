"""Fill Numba's on-disk cache with the kernels common models use: ``python -m
ember.utils._warmup`` (run by ``make setup``).

Compiling ember's Numba kernels takes seconds each, and a model's first training step
would otherwise pay for all the ones it uses; loading them from the cache costs a small
fraction of that. One training step of small models of the usual kinds runs here, in
float32 (the dtype Numba kernels are specialised on; sizes do not matter, the layer kinds
and channel counts that choose a kernel do): the digits CNN (convolution by Winograd and
by direct kernels, max pooling), a ResNet-style block (batch norm, average pooling), a
GPT block (layer norm, masked softmax, GELU, scaled dot-product attention, embedding,
cross-entropy), an LSTM and a GRU, and the SGD, Adam and AdamW steps; and the threaded
GEMMs (matrices, linear layers' gradients, outer products) and the int8 GEMMs of
quantized linear layers.

Many kernels have a second, threaded variant (a ``prange`` over row spans) that a call
takes when its work is above a size threshold and the machine is not busy
(``ember.ops._parallel.threads_for``, which samples the load every half second). The tiny
models here would only reach the one-thread variants, and a real model's first step on a
quiet machine then compiled the threaded ones (8 kernels, ~9 s for the bench GPT), or a
later step did, at the first moment the load dropped. So the steps run a second time
with every kernel call given all of ember's threads (``_all_threads``).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F

__all__ = ["warm_up"]


def _cnn() -> tuple[nn.Module, ember.Tensor, ember.Tensor]:
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 32, 1),  # (few positions: the batch-folded GEMM)
                          nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32),
                          nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(32, 10))
    x = ember.randn(4, 1, 8, 8)
    return model, x, ember.randint(0, 10, (4,))


class _Block(nn.Module):
    """A pre-LayerNorm transformer block, attention written out and through SDPA."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads))
        mask = ember.ones(t, t, dtype=ember.bool).tril()
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v) + F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class _GPT(nn.Module):
    def __init__(self, vocab: int = 16, width: int = 32, context: int = 8):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.block, self.ln = _Block(width, 2), nn.LayerNorm(width)
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(self, idx: ember.Tensor) -> ember.Tensor:
        x = self.block(self.tok(idx) + self.pos(ember.arange(idx.shape[1])))
        return self.head(self.ln(x + self.lstm(x)[0]))


def _gpt() -> tuple[nn.Module, ember.Tensor, ember.Tensor]:
    seq = ember.from_numpy(np.random.default_rng(0).integers(0, 16, (2, 9)))
    return _GPT(), seq[:, :-1], seq[:, 1:].reshape(-1)


@contextlib.contextmanager
def _all_threads() -> Iterator[None]:
    """Inside: every kernel module's ``threads_for`` (looked up as a module global at each
    call) answers ember's thread count, whatever the work or the machine's load, so that
    calls of any size take the threaded variants; the real one is put back after."""
    from ember.ops import _parallel
    real, n = _parallel.threads_for, ember.get_num_threads()
    users = [m for name, m in list(sys.modules.items())
             if name.startswith("ember.") and getattr(m, "threads_for", None) is real]
    for module in users:
        module.threads_for = lambda work, threshold: n
    try:
        yield
    finally:
        for module in users:
            module.threads_for = real


def _steps() -> None:
    """One training step of each small model with each optimizer, and of an LSTM and a GRU
    over a batch of 8 sequences (the fewest that the recurrent kernels split across
    threads, in blocks of sequences)."""
    for build in (_cnn, _gpt):
        model, x, y = build()
        for opt in (ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                    ember.optim.Adam(model.parameters()), ember.optim.AdamW(model.parameters())):
            opt.zero_grad()
            out = model(x)
            F.cross_entropy(out.reshape(-1, out.shape[-1]), y).backward()
            opt.step()
    x = ember.randn(8, 3, 4)
    for rnn in (nn.LSTM(4, 4, batch_first=True), nn.GRU(4, 4, batch_first=True)):
        rnn(x)[0].sum().backward()


def warm_up() -> float:
    """The small models' steps, on one thread and (with more than one) on all threads;
    the seconds it took."""
    start = time.perf_counter()
    _steps()
    if ember.get_num_threads() > 1:
        with _all_threads():
            _steps()
            _large_elementwise()
            _few_tiles_conv()
            _wide_gpt()
    _gemms()
    _quantized()
    _compiled_inference()
    return time.perf_counter() - start


def _large_elementwise() -> None:
    """relu forward and backward, and arithmetic, on inputs large enough (``2**17``
    elements) for their Numba span kernels, which the small models' activations are too
    small to reach."""
    x = ember.randn(1 << 17, requires_grad=True)
    F.relu(x).backward(ember.ones_like(x))  # a contiguous gradient, as a model's
    x = ember.randn(512, 256)
    for y in (x, 0.5, ember.randn(256)):  # same shapes, a number, a row broadcast
        x + y, x * y
    x.neg()
    x.masked_fill(ember.ones(256, dtype=ember.bool), 0.0)  # a mask repeated over rows


def _wide_gpt() -> None:
    """Forward and backward of the small GPT at width 128 and context 128 on 16 sequences
    (a common small model's size): the threaded batched GEMMs of its attention and layer
    norm on threads, which the small steps' shapes stay below."""
    model = _GPT(width=128, context=128)
    seq = ember.from_numpy(np.random.default_rng(0).integers(0, 16, (16, 129)))
    F.cross_entropy(model(seq[:, :-1]).reshape(-1, 16), seq[:, 1:].reshape(-1)).backward()


def _few_tiles_conv() -> None:
    """A 3x3 convolution, forward and backward, on a 4x4 map: Winograd on one block of
    tiles, whose threads share the work by channels (ResNet's 512-channel layers on 4x4
    maps), kernels the small CNN's larger maps do not reach."""
    x = ember.randn(1, 16, 4, 4, requires_grad=True)
    w = ember.randn(32, 16, 3, 3, requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()


def _compiled_inference() -> None:
    """The kernels ``ember.compile`` calls in inference programs on a few rows (a linear
    layer, attention whose probabilities nothing reads), float32 as models run."""
    from ember.compiler import kernels
    kernels.linear_rows(np.ones((5, 8), np.float32), np.ones((6, 8), np.float32), None)
    qkv = np.ones((1, 3, 24), np.float32)  # (B, T, 3 * H * D), split into heads as a model
    q, k, v = (qkv[:, :, i * 8:(i + 1) * 8].reshape(1, 3, 2, 4).transpose(0, 2, 1, 3)
               for i in range(3))
    kernels.attention_rows(q, k, v, 0.5, True, True)


def _quantized() -> None:
    """A dynamically quantized int8 Linear on one row and on 16 (the int8 GEMM kernels:
    VNNI for few rows, AMX tiles for more, where the CPU has them)."""
    from ember.ao.quantization import quantize_dynamic
    model = quantize_dynamic(nn.Sequential(nn.Linear(64, 64)), {nn.Linear}, dtype=ember.qint8)
    with ember.no_grad():
        for rows in (1, 16):
            model(ember.randn(rows, 64))


def _gemms() -> None:
    """The kernels that share big GEMMs out among threads (small models' GEMMs run on one
    thread, so the steps above do not reach them): matrices, batches of them, sums over a
    batch (convolution weight gradients), a few rows times a linear layer's weight, and
    batches of small products that one thread cuts or turns round for BLAS's small kernel."""
    from ember.ops import _kernels_gemm
    for dt in (np.float32, np.float64):
        a, b = np.ones((4, 3), dt), np.ones((3, 2), dt)
        _kernels_gemm.matmul(a, b, 2)
        _kernels_gemm.matmul(a[None], b[None], 2)
        _kernels_gemm.matmul_sum(a[None], b[None], 2)
        _kernels_gemm.few_rows(a, np.ones((2, 3), dt), 1)
        _kernels_gemm.few_rows(a, np.ones((128, 3), dt), 2)  # (its parallel form)
        _kernels_gemm.linear_grads(np.ones((4, 2), dt), a, b.T.copy(), True, 2, a.shape)
        _kernels_gemm.outer(a[:, :1], b[:1], 2)
        bt = np.ones((2, 2, 3), dt).swapaxes(-1, -2)  # a batch of transposed right operands
        _kernels_gemm.matmul(a[None], b[None], 1)  # one thread: cut for BLAS's small kernel
        _kernels_gemm.matmul(a[None], bt, 1)
        _kernels_gemm.matmul(a[None], bt, 2)


if __name__ == "__main__":
    print(f"ember: Numba kernels compiled and cached in {warm_up():.1f} s")
