"""Conformance entries for ``nn.functional``: linear layers, activations, softmax,
embedding, distances, every loss (with each reduction) and the layers of
``nn/_functional_nd.py`` that are plain functions of tensors."""

from __future__ import annotations

import numpy as np

from tests.conformance.harness import OpInfo, Sample, make

REDUCTIONS = ("none", "mean", "sum")


def F(lib):
    return lib.nn.functional


def _unary(dt, rng, low=-2.0, high=2.0):
    return [
        Sample((make((3, 4), dt, rng, low, high),)),
        Sample((make((4, 3), dt, rng, low, high, noncontig=True),), name="noncontig"),
        Sample((make((), dt, rng, low, high),), name="0-d"),
        Sample((make((0, 2), dt, rng, low, high),), name="empty"),
    ]


def _activation(name, call, **bounds):
    return OpInfo(f"F.{name}", call, lambda dt, rng: _unary(dt, rng, **bounds))


ACTIVATIONS = [
    _activation("relu", lambda L, a: F(L).relu(a)),
    _activation("relu_inplace", lambda L, a: F(L).relu(a * 1, inplace=True)),
    _activation("gelu", lambda L, a: F(L).gelu(a)),
    _activation("gelu_tanh", lambda L, a: F(L).gelu(a, approximate="tanh")),
    _activation("silu", lambda L, a: F(L).silu(a)),
    _activation("softplus", lambda L, a: F(L).softplus(a, beta=2.0, threshold=3.0)),
    _activation("leaky_relu", lambda L, a: F(L).leaky_relu(a, 0.2)),
    _activation("elu", lambda L, a: F(L).elu(a, alpha=0.7)),
    _activation("selu", lambda L, a: F(L).selu(a)),
    _activation("celu", lambda L, a: F(L).celu(a, alpha=1.5)),
    _activation("mish", lambda L, a: F(L).mish(a)),
    _activation("hardtanh", lambda L, a: F(L).hardtanh(a, -0.5, 1.5)),
    _activation("relu6", lambda L, a: F(L).relu6(a * 4)),
    _activation("hardswish", lambda L, a: F(L).hardswish(a), low=-4.0, high=4.0),
    _activation("hardsigmoid", lambda L, a: F(L).hardsigmoid(a), low=-4.0, high=4.0),
    _activation("softsign", lambda L, a: F(L).softsign(a)),
    _activation("logsigmoid", lambda L, a: F(L).logsigmoid(a)),
    _activation("tanhshrink", lambda L, a: F(L).tanhshrink(a)),
    _activation("softshrink", lambda L, a: F(L).softshrink(a, 0.3)),
    _activation("hardshrink", lambda L, a: F(L).hardshrink(a, 0.3)),
    OpInfo("F.glu", lambda L, a, dim: F(L).glu(a, dim), lambda dt, rng: [
        Sample((make((3, 4), dt, rng), -1)),
        Sample((make((4, 3), dt, rng, noncontig=True), 0), name="noncontig"),
        Sample((make((3, 3), dt, rng), 1), name="odd"),
        Sample((make((), dt, rng), 0), name="0-d"),
    ]),
]


def _softmax_samples(dt, rng):
    return [
        Sample((make((3, 4), dt, rng),), {"dim": -1}),
        Sample((make((2, 3, 4), dt, rng),), {"dim": 1}),
        Sample((make((4, 3), dt, rng, noncontig=True),), {"dim": 0}, name="noncontig"),
        Sample((make((), dt, rng),), {"dim": 0}, name="0-d"),
        Sample((make((0, 3), dt, rng),), {"dim": -1}, name="empty"),
    ]


LAYERS = [
    OpInfo("F.softmax", lambda L, a, **kw: F(L).softmax(a, **kw), _softmax_samples),
    OpInfo("F.log_softmax", lambda L, a, **kw: F(L).log_softmax(a, **kw), _softmax_samples),
    OpInfo("F.linear", lambda L, *a: F(L).linear(*a), lambda dt, rng: [
        Sample((make((3, 4), dt, rng), make((5, 4), dt, rng), make((5,), dt, rng))),
        Sample((make((2, 3, 4), dt, rng), make((2, 4), dt, rng)), name="batched-no-bias"),
        Sample((make((2, 3, 4), dt, rng, noncontig=True), make((2, 4), dt, rng),
                make((2,), dt, rng)), name="batched"),
        Sample((make((3, 4), dt, rng), make((5, 4), dt, rng)), name="no-bias"),
        Sample((make((4,), dt, rng), make((3, 4), dt, rng)), name="1-d-no-bias"),
        Sample((make((4,), dt, rng), make((3, 4), dt, rng, noncontig=True),
                make((3,), dt, rng)), name="1-d"),
        Sample((make((0, 4), dt, rng), make((2, 4), dt, rng), make((2,), dt, rng)),
               name="empty"),
        Sample((make((3, 4), dt, rng), make((5, 3), dt, rng)), name="mismatch"),
    ]),
    OpInfo("F.bilinear", lambda L, *a: F(L).bilinear(*a), lambda dt, rng: [
        Sample((make((3, 2), dt, rng), make((3, 4), dt, rng), make((2, 2, 4), dt, rng),
                make((2,), dt, rng))),
        Sample((make((2, 1, 2), dt, rng), make((2, 1, 3), dt, rng), make((3, 2, 3), dt, rng)),
               name="batched-no-bias"),
    ]),
    OpInfo("F.embedding", lambda L, i, w: F(L).embedding(i, w), lambda dt, rng: [
        Sample((np.array([[0, 2, 4], [4, 1, 0]]), make((5, 3), dt, rng))),
        Sample((np.array(3), make((5, 2), dt, rng, noncontig=True)), name="0-d"),
        Sample((np.array([5]), make((5, 2), dt, rng)), name="out-of-range"),
    ], skip_grad_args=(0,)),
    OpInfo("F.one_hot", lambda L, t, n: F(L).one_hot(t, n), lambda dt, rng: [
        Sample((np.array([0, 3, 1]), -1)),
        Sample((np.array([[0, 2], [1, 1]]), 4), name="2-d"),
        Sample((np.array(2), 3), name="0-d"),
        Sample((np.array([0, 3]), 3), name="too-small"),
    ], dtypes=("float64",), grad=False),
    OpInfo("F.normalize", lambda L, a, **kw: F(L).normalize(a, **kw), lambda dt, rng: [
        Sample((make((3, 4), dt, rng),)),
        Sample((make((3, 4), dt, rng, noncontig=True),), {"p": 1.0, "dim": -1}),
        Sample((make((2, 3, 2), dt, rng),), {"p": 3.0, "dim": 0}),
        Sample((make((0, 3), dt, rng),), name="empty"),
    ]),
    OpInfo("F.cosine_similarity", lambda L, a, b, **kw: F(L).cosine_similarity(a, b, **kw),
           lambda dt, rng: [
               Sample((make((3, 4), dt, rng), make((3, 4), dt, rng))),
               Sample((make((3, 4), dt, rng), make((4,), dt, rng)), {"dim": -1},
                      name="broadcast"),
               Sample((make((4, 3), dt, rng, noncontig=True), make((4, 3), dt, rng)),
                      {"dim": 0, "eps": 1e-3}, name="noncontig"),
           ]),
    OpInfo("F.pairwise_distance", lambda L, a, b, **kw: F(L).pairwise_distance(a, b, **kw),
           lambda dt, rng: [
               Sample((make((3, 4), dt, rng), make((3, 4), dt, rng))),
               Sample((make((3, 4), dt, rng), make((4,), dt, rng)), {"p": 1.0},
                      name="broadcast"),
               Sample((make((4, 3), dt, rng, noncontig=True), make((4, 3), dt, rng)),
                      {"p": 3.0, "keepdim": True}, name="noncontig"),
               Sample((make((4,), dt, rng), make((4,), dt, rng)), {"eps": 0.0}, name="1-d"),
           ]),
    OpInfo("F.pdist", lambda L, a, **kw: F(L).pdist(a, **kw), lambda dt, rng: [
        Sample((make((4, 3), dt, rng),)),
        Sample((make((3, 4), dt, rng, noncontig=True),), {"p": 1.0}, name="noncontig"),
        Sample((make((4, 2), dt, rng),), {"p": float("inf")}, name="inf"),
        Sample((make((1, 3), dt, rng),), name="one-row"),
        Sample((make((3,), dt, rng),), name="1-d"),
    ]),
    OpInfo("F.layer_norm", lambda L, a, shape, *wb, **kw: F(L).layer_norm(a, shape, *wb, **kw),
           lambda dt, rng: [
               Sample((make((2, 3, 4), dt, rng), (4,), make((4,), dt, rng),
                       make((4,), dt, rng))),
               Sample((make((3, 2, 2), dt, rng, noncontig=True), (2, 2)), {"eps": 1e-3},
                      name="noncontig"),
               Sample((make((2, 3), dt, rng), (4,)), name="bad-shape"),
           ]),
    OpInfo("F.conv2d", lambda L, *a, **kw: F(L).conv2d(*a, **kw), lambda dt, rng: [
        Sample((make((1, 2, 4, 4), dt, rng), make((2, 2, 2, 2), dt, rng),
                make((2,), dt, rng))),
        Sample((make((2, 2, 3, 3), dt, rng), make((2, 1, 2, 2), dt, rng)),
               {"stride": 2, "padding": 1, "groups": 2}, name="strided-groups"),
        Sample((make((1, 1, 4, 3), dt, rng), make((1, 1, 2, 2), dt, rng)),
               {"dilation": 2, "padding": "same"}, name="dilated-same"),
        Sample((make((1, 3, 4, 4), dt, rng), make((1, 2, 2, 2), dt, rng)), name="channels"),
        Sample((make((2, 4, 5, 5), dt, rng), make((8, 1, 3, 3), dt, rng), make((8,), dt, rng)),
               {"stride": 2, "padding": 1, "groups": 4}, name="depthwise-multiplier"),
        Sample((make((1, 2, 7), dt, rng), make((2, 1, 3), dt, rng)),
               {"padding": 2, "dilation": 2, "groups": 2}, name="depthwise-1d"),
    ]),
    # Winograd F(2x2, 3x3): float32 3x3 stride-1 convolutions, >= 16 channels in and out
    # per group
    # (float64, and so gradcheck, runs these shapes by im2col)
    OpInfo("F.conv2d_winograd", lambda L, *a, **kw: F(L).conv2d(*a, **kw), lambda dt, rng: [
        Sample((make((2, 16, 5, 4), dt, rng), make((16, 16, 3, 3), dt, rng),
                make((16,), dt, rng)), {"padding": 1}),
        Sample((make((1, 16, 6, 7), dt, rng), make((16, 16, 3, 3), dt, rng)), name="valid"),
        Sample((make((1, 32, 4, 3), dt, rng), make((32, 16, 3, 3), dt, rng)),
               {"padding": 1, "groups": 2}, name="grouped"),
    ], dtypes=("float32",), gradgrad=False),
    OpInfo("F.max_pool2d", lambda L, a, **kw: F(L).max_pool2d(a, **kw), lambda dt, rng: [
        Sample((make((1, 2, 4, 4), dt, rng),), {"kernel_size": 2}),
        Sample((make((2, 3, 3), dt, rng),), {"kernel_size": 3, "stride": 1, "padding": 1},
               name="unbatched-padded"),
        Sample((make((1, 1, 5, 5), dt, rng),), {"kernel_size": 2, "ceil_mode": True,
                                                "dilation": 2}, name="ceil-dilated"),
    ]),
    OpInfo("F.avg_pool2d", lambda L, a, **kw: F(L).avg_pool2d(a, **kw), lambda dt, rng: [
        Sample((make((1, 2, 4, 4), dt, rng),), {"kernel_size": 2}),
        Sample((make((2, 3, 3), dt, rng),), {"kernel_size": 3, "stride": 1, "padding": 1,
                                             "count_include_pad": False},
               name="unbatched-padded"),
        Sample((make((1, 1, 5, 5), dt, rng),), {"kernel_size": 2, "ceil_mode": True,
                                                "divisor_override": 3}, name="ceil-divisor"),
    ]),
    OpInfo("F.avg_pool1d_3d", lambda L, a, **kw: getattr(F(L), f"avg_pool{a.ndim - 2}d")(a, **kw),
           lambda dt, rng: [
               Sample((make((2, 3, 7), dt, rng),), {"kernel_size": 3, "stride": 2, "padding": 1,
                                                    "ceil_mode": True}, name="1d"),
               Sample((make((1, 2, 4, 5, 3), dt, rng),), {"kernel_size": 2, "padding": 1,
                                                          "count_include_pad": False},
                      name="3d"),
           ]),
    OpInfo("F.max_pool1d_3d", lambda L, a, **kw: getattr(F(L), f"max_pool{a.ndim - 2}d")(a, **kw),
           lambda dt, rng: [
               Sample((make((2, 3, 7), dt, rng),), {"kernel_size": 3, "stride": 2, "padding": 1},
                      name="1d"),
               Sample((make((1, 2, 4, 5, 3), dt, rng),), {"kernel_size": 2, "padding": 1,
                                                          "dilation": (1, 2, 1)}, name="3d"),
           ]),
    OpInfo("F.batch_norm_eval", lambda L, a, m, v, *wb: F(L).batch_norm(a, m, v, *wb,
                                                                        training=False),
           lambda dt, rng: [
               Sample((make((3, 4), dt, rng), make((4,), dt, rng),
                       make((4,), dt, rng, positive=True), make((4,), dt, rng),
                       make((4,), dt, rng))),
               Sample((make((2, 3, 2, 2), dt, rng), make((3,), dt, rng),
                       make((3,), dt, rng, positive=True)), name="4-d-no-affine"),
           ], skip_grad_args=(1, 2)),
    OpInfo("F.scaled_dot_product_attention",
           lambda L, q, k, v, *m, **kw: F(L).scaled_dot_product_attention(q, k, v, *m, **kw),
           lambda dt, rng: [
               Sample((make((1, 2, 3, 4), dt, rng), make((1, 2, 3, 4), dt, rng),
                       make((1, 2, 3, 4), dt, rng))),
               Sample((make((2, 3, 4), dt, rng), make((2, 2, 4), dt, rng),
                       make((2, 2, 3), dt, rng)), {"is_causal": True, "scale": 0.3},
                      name="causal"),
               Sample((make((1, 3, 2), dt, rng), make((1, 4, 2), dt, rng),
                       make((1, 4, 2), dt, rng), make((3, 4), dt, rng)), name="float-mask"),
           ]),
]


# ---- losses --------------------------------------------------------------------------------

def _reductions(args_fn, **extra):
    """One sample per reduction (with the same ``extra`` kwargs) of ``args_fn(dt, rng)``."""
    def samples(dt, rng):
        return [Sample(args_fn(dt, rng), {"reduction": r, **extra}, name=r) for r in REDUCTIONS]
    return samples


def _loss(name, call, *sample_groups, **info):
    """An OpInfo whose samples are the union of ``sample_groups`` (each a samples fn)."""
    def samples(dt, rng):
        return [s for group in sample_groups for s in group(dt, rng)]
    return OpInfo(f"F.{name}", call, samples, **info)


def _pair(shape=(3, 4), low=-2.0, high=2.0, tlow=-2.0, thigh=2.0):
    return lambda dt, rng: (make(shape, dt, rng, low, high), make(shape, dt, rng, tlow, thigh))


def _classes(dt, rng, n=3, c=4):
    return make((n, c), dt, rng), rng.integers(0, c, n)


def _probs(dt, rng, n=3, c=4):
    p = make((n, c), dt, rng, 0.1, 1.0)
    return make((n, c), dt, rng), p / p.sum(-1, keepdims=True)


def _signs(dt, rng, shape=(3, 4)):
    return np.where(rng.random(shape) > 0.5, 1.0, -1.0).astype(dt)


def _elementwise_edge(dt, rng):
    return [
        Sample((make((3, 4), dt, rng), make((4,), dt, rng)), {"reduction": "mean"},
               name="broadcast"),
        Sample((make((4, 3), dt, rng, noncontig=True), make((4, 3), dt, rng)),
               {"reduction": "sum"}, name="noncontig"),
        Sample((make((), dt, rng), make((), dt, rng)), {"reduction": "none"}, name="0-d"),
        Sample((make((0, 2), dt, rng), make((0, 2), dt, rng)), {"reduction": "mean"},
               name="empty"),
    ]


def _ctc_args(dt, rng):
    logits = make((5, 2, 4), dt, rng)
    return logits, np.array([[1, 1, 2], [3, 2, 0]]), (5, 4), (3, 2)


def _ctc_concat(dt, rng):
    return make((5, 2, 4), dt, rng), np.array([1, 2, 3]), np.array([5, 3]), np.array([1, 2])


LOSSES = [
    _loss("mse_loss", lambda L, x, y, **kw: F(L).mse_loss(x, y, **kw), _reductions(_pair()),
          _elementwise_edge),
    _loss("l1_loss", lambda L, x, y, **kw: F(L).l1_loss(x, y, **kw), _reductions(_pair()),
          _elementwise_edge),
    _loss("smooth_l1_loss", lambda L, x, y, **kw: F(L).smooth_l1_loss(x, y, beta=0.5, **kw),
          _reductions(_pair()), _elementwise_edge),
    _loss("huber_loss", lambda L, x, y, **kw: F(L).huber_loss(x, y, delta=0.7, **kw),
          _reductions(_pair()), _elementwise_edge),
    _loss("soft_margin_loss", lambda L, x, y, **kw: F(L).soft_margin_loss(x, y, **kw),
          _reductions(lambda dt, rng: (make((3, 4), dt, rng), _signs(dt, rng))),
          skip_grad_args=(1,)),
    _loss("hinge_embedding_loss",
          lambda L, x, y, **kw: F(L).hinge_embedding_loss(x, y, margin=0.5, **kw),
          _reductions(lambda dt, rng: (make((3, 4), dt, rng), _signs(dt, rng))),
          skip_grad_args=(1,)),
    _loss("poisson_nll_loss", lambda L, x, y, **kw: F(L).poisson_nll_loss(x, y, **kw),
          _reductions(_pair(tlow=0.0, thigh=3.0)),
          _reductions(_pair(low=0.1, high=2.0, tlow=0.0, thigh=4.0), log_input=False,
                      full=True)),
    _loss("binary_cross_entropy",
          lambda L, x, y, *w, **kw: F(L).binary_cross_entropy(x, y, *w, **kw),
          _reductions(_pair(low=0.05, high=0.95, tlow=0.0, thigh=1.0)),
          lambda dt, rng: [Sample((*_pair(low=0.05, high=0.95, tlow=0.0, thigh=1.0)(dt, rng),
                                   make((3, 4), dt, rng, positive=True)), name="weight")],
          skip_grad_args=(2,)),
    _loss("binary_cross_entropy_with_logits",
          lambda L, x, y, w=None, pw=None, **kw: F(L).binary_cross_entropy_with_logits(
              x, y, w, pos_weight=pw, **kw),
          _reductions(_pair(tlow=0.0, thigh=1.0)),
          lambda dt, rng: [Sample((*_pair(tlow=0.0, thigh=1.0)(dt, rng),
                                   make((4,), dt, rng, positive=True),
                                   make((4,), dt, rng, positive=True)),
                                  {"reduction": r}, name=f"weights-{r}") for r in REDUCTIONS],
          skip_grad_args=(2, 3)),
    _loss("kl_div", lambda L, x, y, **kw: F(L).kl_div(x, y, **kw),
          _reductions(_probs), _reductions(_probs, log_target=True),
          lambda dt, rng: [Sample(_probs(dt, rng), {"reduction": "batchmean"},
                                  name="batchmean")]),
    _loss("cross_entropy", lambda L, x, t, *w, **kw: F(L).cross_entropy(x, t, *w, **kw),
          _reductions(_classes), _reductions(_classes, label_smoothing=0.2),
          _reductions(_probs), _reductions(_probs, label_smoothing=0.1),
          lambda dt, rng: [
              Sample((*_classes(dt, rng), make((4,), dt, rng, positive=True)),
                     {"ignore_index": 1}, name="weight-ignore"),
              Sample((make((2, 3, 2), dt, rng), rng.integers(0, 3, (2, 2))), name="k-dim"),
              Sample((make((4,), dt, rng), np.array(2)), name="unbatched"),
              Sample((make((3, 4), dt, rng), np.array([0, 1, 4])), name="out-of-range"),
          ], skip_grad_args=(2,)),
    _loss("nll_loss", lambda L, x, t, *w, **kw: F(L).nll_loss(x, t, *w, **kw),
          _reductions(_classes),
          lambda dt, rng: [
              Sample((*_classes(dt, rng), make((4,), dt, rng, positive=True)),
                     {"ignore_index": 0}, name="weight-ignore"),
              Sample((make((2, 3, 2), dt, rng), rng.integers(0, 3, (2, 2))), name="k-dim"),
              Sample((make((3, 4), dt, rng), np.array([0, 1])), name="bad-target"),
          ], skip_grad_args=(2,)),
    _loss("cosine_embedding_loss",
          lambda L, a, b, y, **kw: F(L).cosine_embedding_loss(a, b, y, margin=0.2, **kw),
          _reductions(lambda dt, rng: (make((3, 4), dt, rng), make((3, 4), dt, rng),
                                       np.array([1, -1, -1]))),
          lambda dt, rng: [Sample((make((4,), dt, rng), make((4,), dt, rng), np.array(-1)),
                                  name="1-d")]),
    _loss("margin_ranking_loss",
          lambda L, a, b, y, **kw: F(L).margin_ranking_loss(a, b, y, margin=0.3, **kw),
          _reductions(lambda dt, rng: (make((5,), dt, rng), make((5,), dt, rng),
                                       _signs(dt, rng, (5,))))),
    _loss("triplet_margin_loss",
          lambda L, a, p, n, **kw: F(L).triplet_margin_loss(a, p, n, **kw),
          _reductions(lambda dt, rng: tuple(make((3, 4), dt, rng) for _ in range(3))),
          _reductions(lambda dt, rng: tuple(make((3, 4), dt, rng) for _ in range(3)), p=1,
                      swap=True, margin=2.0)),
    _loss("triplet_margin_with_distance_loss",
          lambda L, a, p, n, **kw: F(L).triplet_margin_with_distance_loss(
              a, p, n, distance_function=lambda u, v: (u - v).abs().sum(-1), **kw),
          _reductions(lambda dt, rng: tuple(make((3, 4), dt, rng) for _ in range(3)),
                      swap=True)),
    _loss("multilabel_soft_margin_loss",
          lambda L, x, y, *w, **kw: F(L).multilabel_soft_margin_loss(x, y, *w, **kw),
          _reductions(lambda dt, rng: (make((3, 4), dt, rng),
                                       (rng.random((3, 4)) > 0.5).astype(dt),
                                       make((4,), dt, rng, positive=True)))),
    _loss("multi_margin_loss",
          lambda L, x, t, *w, **kw: F(L).multi_margin_loss(x, t, *w, **kw),
          _reductions(_classes), _reductions(_classes, p=2, margin=0.5),
          lambda dt, rng: [
              Sample((*_classes(dt, rng), 1, 1.0, make((4,), dt, rng, positive=True)),
                     name="weight"),
              Sample((make((4,), dt, rng), np.array(1)), name="1-d"),
          ], skip_grad_args=(4,)),
    _loss("multilabel_margin_loss",
          lambda L, x, t, **kw: F(L).multilabel_margin_loss(x, t, **kw),
          _reductions(lambda dt, rng: (make((3, 4), dt, rng),
                                       np.array([[3, 0, -1, 1], [2, 2, 0, -1], [0, 1, 2, 3]]))),
          lambda dt, rng: [Sample((make((4,), dt, rng), np.array([1, -1, 0, 0])), name="1-d")]),
    _loss("gaussian_nll_loss",
          lambda L, x, y, v, **kw: F(L).gaussian_nll_loss(x, y, v, **kw),
          _reductions(lambda dt, rng: (make((3, 4), dt, rng), make((3, 4), dt, rng),
                                       make((3, 4), dt, rng, positive=True))),
          lambda dt, rng: [
              Sample((make((3, 4), dt, rng), make((3, 4), dt, rng),
                      make((3,), dt, rng, positive=True)), {"full": True}, name="homoscedastic"),
              Sample((make((3, 4), dt, rng), make((3, 4), dt, rng),
                      make((1, 4), dt, rng, positive=True)), name="broadcast"),
              Sample((make((3, 4), dt, rng), make((3, 4), dt, rng),
                      make((2, 4), dt, rng, positive=True)), name="bad-var"),
          ]),
    _loss("ctc_loss",
          lambda L, x, t, il, tl, **kw: F(L).ctc_loss(x.log_softmax(-1), t, il, tl, **kw),
          _reductions(_ctc_args), _reductions(_ctc_args, blank=3),
          lambda dt, rng: [
              Sample(_ctc_concat(dt, rng), {"zero_infinity": True}, name="concat"),
              Sample((make((3, 1, 4), dt, rng), np.array([[1, 1, 1]]), (3,), (3,)),
                     {"reduction": "sum", "zero_infinity": True}, name="impossible"),
              Sample((make((5, 4), dt, rng), np.array([2, 1]), np.array(5), np.array(2)),
                     name="unbatched"),
              Sample((make((5, 4), dt, rng), np.array([2, 1]), 5, 2), name="int-lengths"),
          ], gradgrad=False),
]

# ctc_loss has no double backward in torch (its gradient is an opaque kernel) nor in ember.
# multi_margin_loss, multilabel_margin_loss and pdist have none in torch; ember's composites
# do, and gradgradcheck checks them.

OPS = ACTIVATIONS + LAYERS + LOSSES
