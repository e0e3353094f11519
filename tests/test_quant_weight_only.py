"""Weight-only int4 (packed nibbles, asymmetric per group) and int8 (symmetric per channel)
Linear layers: the Numba kernels against their NumPy references, the quantisation error
bounded by half a step, ``quantize_`` swapping layers, checkpoints, sizes."""

from __future__ import annotations

import io

import numpy as np
import pytest

import ember
from ember.ao.nn.quantized.weight_only import (
    Int4WeightOnlyEmbedding,
    Int4WeightOnlyLinear,
    Int8WeightOnlyEmbedding,
    Int8WeightOnlyLinear,
    quantize_int4_groupwise,
    quantize_int8_per_channel,
)
from ember.ops import _kernels_quant as kq
from ember.ops import _parallel


@pytest.mark.parametrize("kernel,k,n,group", [
    (name, k, n, group) for name, (_, multiple) in kq.INT4_GEMV_KERNELS.items()
    for k, n, group in [(64, 9, 32), (256, 20, 64), (384, 33, 128), (512, 17, 256)]
    if group % multiple == 0])
def test_int4_kernels_equal_reference(kernel, k, n, group):
    """Each GEMV kernel this CPU runs (the AVX-512 ones where it has AVX-512VL) for each
    group size it takes, and the tile dequantisation, against dequantise-then-matmul in
    NumPy."""
    gemv = kq.INT4_GEMV_KERNELS[kernel][0]
    rng = np.random.default_rng(k + n)
    q = rng.integers(0, 16, (n, k)).astype(np.uint8)
    packed = kq.pack_int4(q, group)
    assert packed.shape == (n, k // 2) and packed.dtype == np.uint8
    np.testing.assert_array_equal(kq.unpack_int4(packed, group), q)
    scales = rng.uniform(0.01, 0.1, (n, k // group)).astype(np.float32)
    zeros = rng.uniform(-1, 1, (n, k // group)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    x = rng.standard_normal(k).astype(np.float32)
    out = np.empty(n, np.float32)
    gemv(x, packed, scales, zeros, group, bias, out)
    want = kq.int4_linear_reference(x[None], packed, scales, zeros, group, bias)[0]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    dense = np.empty((n, k), np.float32)
    kq.int4_dequantize_rows(packed, scales, zeros, group, dense)
    np.testing.assert_allclose(x @ dense.T + bias, want, rtol=1e-4, atol=1e-4)


def test_int8_weight_kernels_equal_reference():
    rng = np.random.default_rng(0)
    wq = rng.integers(-128, 128, (37, 96)).astype(np.int8)
    scale = rng.uniform(0.001, 0.01, 37).astype(np.float32)
    bias = rng.standard_normal(37).astype(np.float32)
    x = rng.standard_normal(96).astype(np.float32)
    want = (wq.astype(np.float32) @ x) * scale + bias
    out = np.empty(37, np.float32)
    kq.int8_gemv(x, wq, scale, bias, out)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    dense = np.empty((37, 96), np.float32)
    kq.int8_dequantize_rows(wq, scale, dense)
    np.testing.assert_array_equal(dense, wq.astype(np.float32) * scale[:, None])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows", [1, 3, 9])
def test_layers_agree_with_the_dequantised_weight(rows, threads, monkeypatch):
    """One row (the GEMV), a few (int4 with AVX-512: the fused kernel, 3 rows of x padded
    to four) and more (tiles dequantised in parallel, then BLAS; tiles of 8 rows: 9 tiles,
    the last partial) equal ``x @ dequantised(W).T + b`` in torch, on one thread and on
    two (the parallel split forced even for this small layer)."""
    import torch
    monkeypatch.setattr(kq, "TILE_BYTES", 4 * 256 * 8)
    monkeypatch.setattr(kq, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(_parallel, "_free_cores", lambda: 2)
    had = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        lin = ember.nn.Linear(256, 70)
        x = ember.randn(rows, 256)
        for layer in (Int4WeightOnlyLinear.from_float(lin, 64),
                      Int8WeightOnlyLinear.from_float(lin)):
            got = layer(x).numpy()
            want = torch.nn.functional.linear(torch.from_numpy(x.numpy()),
                                              torch.from_numpy(layer.dequantize_weight().numpy()),
                                              torch.from_numpy(layer.bias.numpy()))
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    finally:
        ember.set_num_threads(had)


def test_batches_without_cblas_take_the_numpy_path(monkeypatch):
    """Where NumPy's BLAS exports no CBLAS ``sgemm`` the batched product falls back on
    NumPy, blocks of ``BLOCK_BYTES`` of weights at a time, with the same result."""
    from ember.ops import _kernels_gemm, quantized_mm
    lin = ember.nn.Linear(128, 40)
    x = ember.randn(5, 128)
    layer = Int4WeightOnlyLinear.from_float(lin, 32)
    want = layer(x).numpy()
    monkeypatch.setattr(_kernels_gemm, "_FUNCTIONS", [{}])
    monkeypatch.setattr(quantized_mm, "BLOCK_BYTES", 4 * 128 * 16)  # 3 blocks, the last partial
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-5, atol=1e-5)


def test_round_to_nearest_within_half_a_step():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 256)).astype(np.float32)
    for group in (32, 64, 128):
        q, scales, zeros = quantize_int4_groupwise(w, group)
        assert q.max() <= 15 and q.min() == 0  # each group's minimum maps to 0
        deq = (q.reshape(16, -1, group) * scales[..., None] + zeros[..., None]).reshape(w.shape)
        step = np.repeat(scales, group, axis=1)
        assert np.all(np.abs(deq - w) <= step / 2 + 1e-6)
    q8, s8 = quantize_int8_per_channel(w)
    np.testing.assert_allclose(s8, np.abs(w).max(1) / 127.5, rtol=1e-6)
    assert np.all(np.abs(q8 * s8[:, None] - w) <= s8[:, None] / 2 + 1e-6)


def _model():
    ember.manual_seed(0)
    return ember.nn.Sequential(ember.nn.Linear(128, 64), ember.nn.GELU(),
                               ember.nn.Linear(64, 10), ember.nn.Linear(10, 3))


@pytest.mark.parametrize("config,cls", [
    (lambda: ember.ao.int4_weight_only(group_size=32), Int4WeightOnlyLinear),
    (lambda: ember.ao.int4_weight_only(group_size=64), Int4WeightOnlyLinear),
    (lambda: ember.ao.int8_weight_only(), Int8WeightOnlyLinear)])
def test_quantize_swaps_linears_and_matches_the_dequantised_model(config, cls):
    model = _model()
    x = ember.randn(5, 7, 128)
    with ember.no_grad():
        want_float = model(x).numpy()
    ember.ao.quantize_(model, config())
    assert isinstance(model[0], cls) and isinstance(model[2], cls)
    # 10 input features are no multiple of any group: that layer stays float (torchao)
    assert isinstance(model[3], ember.nn.Linear if cls is Int4WeightOnlyLinear else cls)
    # the layers compute exactly x @ dequantised(W).T + b
    ref = ember.nn.Sequential(ember.nn.Linear(128, 64), ember.nn.GELU(),
                              ember.nn.Linear(64, 10), ember.nn.Linear(10, 3))
    for i in (0, 2):
        ref[i].weight.data = model[i].dequantize_weight()
        ref[i].bias.data = model[i].bias
    ref[3].load_state_dict(_model()[3].state_dict())
    if cls is Int8WeightOnlyLinear:
        ref[3].weight.data, ref[3].bias.data = model[3].dequantize_weight(), model[3].bias
    with ember.no_grad():
        got = model(x).numpy()
        np.testing.assert_allclose(got, ref(x).numpy(), rtol=1e-4, atol=1e-5)
    assert np.abs(got - want_float).max() < 0.05
    # checkpoints: a fresh quantized model loads the state dict and computes the same
    buf = io.BytesIO()
    ember.save(model.state_dict(), buf)
    fresh = ember.ao.quantize_(_model(), config())
    fresh.load_state_dict(ember.load(io.BytesIO(buf.getvalue())))
    with ember.no_grad():
        np.testing.assert_array_equal(fresh(x).numpy(), got)


def test_int4_checkpoint_is_about_seven_times_smaller():
    model = ember.nn.Sequential(ember.nn.Linear(1024, 1024, bias=False))
    sizes = {}
    for name, config in (("float32", None), ("int4", ember.ao.int4_weight_only(128))):
        if config is not None:
            ember.ao.quantize_(model, config)
        buf = io.BytesIO()
        ember.save(model.state_dict(), buf)
        sizes[name] = len(buf.getvalue())
    assert 6.5 < sizes["float32"] / sizes["int4"] < 8


def test_group_size_must_be_supported():
    with pytest.raises(ValueError, match="group_size"):
        ember.ao.int4_weight_only(group_size=48)


@pytest.mark.parametrize("config,cls", [
    (lambda: ember.ao.int4_weight_only(group_size=32), Int4WeightOnlyEmbedding),
    (lambda: ember.ao.int8_weight_only(), Int8WeightOnlyEmbedding)])
def test_embeddings_quantize_with_a_filter(config, cls):
    """torchao's way: a ``filter_fn`` that takes ``nn.Embedding`` quantizes the table too
    (the default filter leaves it float); lookups equal torch's ``F.embedding`` of the
    dequantised table, within half a step of the float rows; checkpoints round-trip."""
    import torch
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Embedding(100, 64), ember.nn.Linear(64, 8))
    idx = ember.tensor([[3, 99, 0], [7, 7, 42]])
    float_rows = model[0].weight.detach().numpy()[idx.numpy()]
    default = ember.ao.quantize_(ember.nn.Sequential(ember.nn.Embedding(100, 64)), config())
    assert type(default[0]) is ember.nn.Embedding
    ember.ao.quantize_(model, config(), filter_fn=lambda m, fqn: isinstance(
        m, (ember.nn.Linear, ember.nn.Embedding)))
    assert isinstance(model[0], cls)
    table = torch.from_numpy(model[0].dequantize_weight().numpy())
    rows = model[0](idx).numpy()
    np.testing.assert_array_equal(
        rows, torch.nn.functional.embedding(torch.from_numpy(idx.numpy()), table).numpy())
    emb = model[0]
    step = np.repeat(emb.scales.numpy(), 32, axis=1) if cls is Int4WeightOnlyEmbedding \
        else emb.scale.numpy()[:, None]
    assert np.all(np.abs(rows - float_rows) <= step[idx.numpy()] / 2 + 1e-6)
    buf = io.BytesIO()
    ember.save(model.state_dict(), buf)
    fresh = ember.ao.quantize_(
        ember.nn.Sequential(ember.nn.Embedding(100, 64), ember.nn.Linear(64, 8)), config(),
        filter_fn=lambda m, fqn: True)
    fresh.load_state_dict(ember.load(io.BytesIO(buf.getvalue())))
    np.testing.assert_array_equal(fresh[0](idx).numpy(), rows)


def test_quantized_embedding_rejects_bad_indices_as_torch():
    emb = Int4WeightOnlyEmbedding.from_float(ember.nn.Embedding(10, 32), group_size=32)
    with pytest.raises(IndexError, match="index out of range"):
        emb(ember.tensor([10]))
    with pytest.raises(IndexError, match="index out of range"):
        emb(ember.tensor([-1]))
    with pytest.raises(RuntimeError, match="indices"):
        emb(ember.tensor([1.0]))
    with pytest.raises(ValueError, match="max_norm"):
        Int8WeightOnlyEmbedding.from_float(ember.nn.Embedding(10, 32, max_norm=1.0))


@pytest.mark.skipif("avx512" not in kq.INT4_GEMV_KERNELS, reason="needs AVX-512VL")
def test_fused_small_batch_kernel_takes_rows_in_fours():
    """The fused int4 kernel on 6 rows (a full pass of four, then two padded) equals
    dequantise-then-matmul."""
    rng = np.random.default_rng(1)
    q = rng.integers(0, 16, (21, 256)).astype(np.uint8)
    packed = kq.pack_int4(q, 64)
    scales = rng.uniform(0.01, 0.1, (21, 4)).astype(np.float32)
    zeros = rng.uniform(-1, 1, (21, 4)).astype(np.float32)
    bias = rng.standard_normal(21).astype(np.float32)
    x = rng.standard_normal((6, 256)).astype(np.float32)
    out = np.empty((6, 21), np.float32)
    kq._int4_gemm_avx512_words(x, packed, scales, zeros, 64, bias, out)
    want = kq.int4_linear_reference(x, packed, scales, zeros, 64, bias)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("config", [lambda: ember.ao.int8_weight_only(),
                                    lambda: ember.ao.int4_weight_only(group_size=64)],
                         ids=["int8", "int4"])
def test_gpt2_conv1d_layers_quantize(config):
    """GPT-2's Conv1D layers (weight stored in x out) are linears to quantize_: every one is
    swapped, and the quantized model's logits stay close to the float model's."""
    from ember.models.gpt2 import Conv1D, GPT2Config, GPT2LMHeadModel
    ember.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=64, n_layer=2,
                                       n_head=4)).eval()
    ids = ember.tensor([[1, 5, 9, 2, 7]])
    before = model(ids).detach().numpy()
    ember.ao.quantize_(model, config())
    assert not any(isinstance(m, Conv1D) for m in model.modules())
    after = model(ids).detach().numpy()
    assert np.abs(after - before).max() < 0.05 * np.abs(before).max()


def test_compile_captures_quantized_models_as_one_graph():
    """The int4/int8 weight-only Embedding and Linear layers and the dynamic int8 Linear
    are ops: ``ember.compile.explain`` finds one graph without breaks, and the compiled
    model follows new inputs (one row: the GEMVs; more: the tiled products)."""
    ember.manual_seed(0)
    nn = ember.nn
    net = nn.Sequential(nn.Embedding(50, 64), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32),
                        nn.Linear(32, 16))
    net[0] = Int4WeightOnlyEmbedding.from_float(net[0], group_size=32)
    net[1] = Int4WeightOnlyLinear.from_float(net[1], 64)
    net[3] = Int8WeightOnlyLinear.from_float(net[3])
    net[4] = ember.ao.quantization.quantize_dynamic(nn.Sequential(net[4]), {nn.Linear},
                                                    dtype=ember.qint8)[0]
    report = ember.compile.explain(net, ember.randint(0, 50, (2, 5)))
    assert report.graph_break_count == 0
    assert report.ops_per_graph == [["int4_weight_only_embedding", "int4_weight_only_linear",
                                     "relu", "_weight_int8pack_mm", "linear_dynamic"]]
    compiled = ember.compile(net)
    for shape in ((1, 1), (2, 5), (2, 5)):
        idx = ember.randint(0, 50, shape)
        np.testing.assert_array_equal(compiled(idx).numpy(), net(idx).numpy())


def test_quantized_products_run_on_the_meta_device():
    """The ops' meta functions: the shape and dtype of an int4 product on meta tensors,
    and torch's error for a mismatched input."""
    from ember.ops import quantized_mm

    def meta(*shape, dtype=ember.float32):
        return ember.empty(*shape, dtype=dtype, device="meta")

    weights = (meta(24, 64, dtype=ember.uint8), meta(24, 2), meta(24, 2))
    out = quantized_mm.int4_weight_only_linear(meta(3, 5, 128), *weights, 64, meta(24))
    assert out.is_meta and out.shape == (3, 5, 24) and out.dtype == ember.float32
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        quantized_mm.int4_weight_only_linear(meta(2, 100), *weights, 64)


def test_profiler_and_flop_counter_see_the_quantized_products():
    """The profiler names the int4/int8 products as ops, and the FLOP counter counts them
    as ``linear`` (``2*M*N*K``)."""
    from ember.utils.flop_counter import FlopCounterMode
    lin = ember.nn.Linear(128, 48)
    net = ember.nn.Sequential(Int4WeightOnlyLinear.from_float(lin, 64),
                              Int8WeightOnlyLinear.from_float(ember.nn.Linear(48, 16)))
    x = ember.randn(3, 128)
    with FlopCounterMode(display=False) as counter:
        net(x)
    assert counter.get_total_flops() == 2 * 3 * (128 * 48 + 48 * 16)
    with ember.profiler.profile() as prof:
        net(x)
    names = {e.key for e in prof.key_averages()}
    assert {"aten::int4_weight_only_linear", "aten::_weight_int8pack_mm"} <= names


def test_per_token_linears_compile_as_one_graph_that_follows_its_inputs():
    """The per-token int8 layer is an op (linear_dynamic_per_token): a compiled model is
    one graph and equals eager on fresh inputs (its outputs were once captured as
    constants: the layer computed outside the dispatcher)."""
    from ember.ao.quantization.quant_api import int8_dynamic_activation_int8_weight

    ember.manual_seed(0)
    m = ember.nn.Sequential(ember.nn.Linear(16, 8), ember.nn.ReLU(), ember.nn.Linear(8, 4))
    ember.ao.quantize_(m, int8_dynamic_activation_int8_weight())
    compiled = ember.compile(m)
    for _ in range(3):
        x = ember.randn(5, 16)
        np.testing.assert_array_equal(compiled(x).numpy(), m(x).numpy())
    report = ember.compile.explain(m, ember.randn(5, 16))
    assert report.graph_count == 1 and report.graph_break_count == 0
    assert str(report).count("linear_dynamic_per_token") == 2
