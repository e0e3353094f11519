"""Conformance entries for the spatial and sequence layers' functional ops (conv, pooling,
normalization, padding, interpolation, attention)."""

from __future__ import annotations

from tests.conformance.harness import OpInfo, Sample, make


def _conv(dt, rng):
    return [
        Sample((make((1, 2, 4, 4), dt, rng), make((2, 1, 2, 2), dt, rng), make((2,), dt, rng)),
               dict(stride=2, padding=1, groups=2)),
        Sample((make((2, 2, 3, 3), dt, rng, noncontig=True), make((1, 2, 2, 2), dt, rng), None),
               dict(dilation=1, padding="same"), name="noncontig"),
        Sample((make((0, 2, 3, 3), dt, rng), make((1, 2, 2, 2), dt, rng), None), name="empty"),
        Sample((make((1, 3, 3, 3), dt, rng), make((1, 2, 2, 2), dt, rng), None),
               name="channel-mismatch"),
    ]


def _conv_t(dt, rng):
    return [Sample((make((1, 2, 3, 2), dt, rng), make((2, 1, 2, 2), dt, rng),
                    make((2,), dt, rng)), dict(stride=2, padding=1, output_padding=1, groups=2))]


def _planes(dt, rng):
    return [Sample((make((1, 2, 4, 3), dt, rng),)),
            Sample((make((2, 3, 4), dt, rng, noncontig=True),), name="unbatched-noncontig")]


def _norm(dt, rng):
    return [Sample((make((2, 3, 4), dt, rng), make((4,), dt, rng), make((4,), dt, rng))),
            Sample((make((4, 3), dt, rng, noncontig=True), make((3,), dt, rng),
                    make((3,), dt, rng)), name="noncontig")]


def _attn(dt, rng):
    return [Sample((make((2, 3, 2), dt, rng), make((2, 4, 2), dt, rng), make((2, 4, 3), dt, rng))),
            Sample((make((3, 2), dt, rng), make((4, 2), dt, rng), make((4, 3), dt, rng)),
                   dict(is_causal=True), name="unbatched-causal")]


def _bn(L, x, w, b):
    return L.nn.functional.batch_norm(x.transpose(0, 1), None, None, w, b, True)


OPS = [
    OpInfo("nn.conv2d", lambda L, x, w, b, **kw: L.nn.functional.conv2d(x, w, b, **kw), _conv),
    OpInfo("nn.conv_transpose2d",
           lambda L, x, w, b, **kw: L.nn.functional.conv_transpose2d(x, w, b, **kw), _conv_t),
    OpInfo("nn.max_pool2d", lambda L, x: L.nn.functional.max_pool2d(x, 2, 1, 1), _planes),
    OpInfo("nn.avg_pool2d", lambda L, x: L.nn.functional.avg_pool2d(
        x, 3, 2, 1, ceil_mode=True, count_include_pad=False), _planes),
    OpInfo("nn.adaptive_avg_pool2d", lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, (3, 2)),
           _planes),
    OpInfo("nn.adaptive_max_pool2d", lambda L, x: L.nn.functional.adaptive_max_pool2d(x, 2),
           _planes),
    OpInfo("nn.layer_norm", lambda L, x, w, b: L.nn.functional.layer_norm(x, w.shape, w, b),
           _norm),
    OpInfo("nn.rms_norm", lambda L, x, w, b: L.nn.functional.rms_norm(x, w.shape, w * b), _norm),
    OpInfo("nn.group_norm", lambda L, x, w, b: L.nn.functional.group_norm(
        x.transpose(0, -1).unsqueeze(0), 1, w[:1].expand(x.shape[-1]), None),
        lambda dt, rng: _norm(dt, rng)[:1]),
    OpInfo("nn.batch_norm_train", _bn, lambda dt, rng: [Sample((make((3, 2, 2), dt, rng),
                                                                 make((3,), dt, rng),
                                                                 make((3,), dt, rng)))]),
    OpInfo("nn.pad_reflect", lambda L, x: L.nn.functional.pad(x, (1, 2, 2, 0), mode="reflect"),
           _planes),
    OpInfo("nn.pad_constant", lambda L, x: L.nn.functional.pad(x, (1, -1, 0, 2), value=0.5),
           _planes),
    OpInfo("nn.interpolate_bilinear", lambda L, x: L.nn.functional.interpolate(
        x, scale_factor=1.5, mode="bilinear", align_corners=False),
        lambda dt, rng: _planes(dt, rng)[:1]),
    OpInfo("nn.interpolate_nearest", lambda L, x: L.nn.functional.interpolate(x, size=(5, 2)),
           lambda dt, rng: _planes(dt, rng)[:1]),
    OpInfo("nn.scaled_dot_product_attention",
           lambda L, q, k, v, **kw: L.nn.functional.scaled_dot_product_attention(q, k, v, **kw),
           _attn),
]
