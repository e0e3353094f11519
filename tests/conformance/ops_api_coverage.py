"""Conformance entries for the rest of torch's Python surface that real programs use (issue
15): special functions, quantiles and counting, ``cdist``, spatial transformers
(``affine_grid``/``grid_sample``), ``lp_pool``, ``embedding_bag``, ``torch.fft`` and the
complex-part functions around it."""

from __future__ import annotations

import numpy as np

from tests.conformance.harness import OpInfo, Sample, make


def _unary(lo, hi, shape=(3, 4)):
    def samples(dt, rng):
        return [Sample((make(shape, dt, rng, low=lo, high=hi),)),
                Sample((make((4, 3), dt, rng, low=lo, high=hi, noncontig=True),),
                       name="noncontig")]
    return samples


def _special(name, fn, lo=-2.0, hi=2.0, grad=True, gradgrad=True, atol=1e-5, rtol=1.3e-6):
    return OpInfo(f"special.{name}", fn, _unary(lo, hi), grad=grad, gradgrad=gradgrad,
                  atol=atol, rtol=rtol)


def _binary(lo_a, hi_a, lo_b, hi_b):
    def samples(dt, rng):
        return [Sample((make((3, 4), dt, rng, low=lo_a, high=hi_a),
                        make((3, 4), dt, rng, low=lo_b, high=hi_b))),
                Sample((make((3, 1), dt, rng, low=lo_a, high=hi_a),
                        make((4,), dt, rng, low=lo_b, high=hi_b)), name="broadcast")]
    return samples


def _special_fn(name):
    return lambda L, x: getattr(L.special, name)(x)


_SPECIAL = [
    _special("lgamma", lambda L, x: L.lgamma(x), 0.3, 3.0),
    _special("gammaln-negative", lambda L, x: L.special.gammaln(x), -2.7, -2.2),
    _special("digamma", lambda L, x: L.digamma(x), 0.3, 3.0),
    _special("psi", lambda L, x: L.special.psi(x), 0.3, 3.0),
    _special("polygamma1", lambda L, x: L.polygamma(1, x), 0.3, 3.0),
    _special("polygamma2-method", lambda L, x: x.polygamma(2), 0.5, 3.0, atol=1e-4),
    _special("multigammaln", lambda L, x: L.special.multigammaln(x, 3), 1.2, 3.0),
    _special("mvlgamma-method", lambda L, x: x.mvlgamma(2), 0.7, 3.0),
    _special("i0", lambda L, x: L.i0(x)),
    _special("i0e", lambda L, x: L.special.i0e(x)),
    _special("i1", lambda L, x: L.special.i1(x)),
    _special("i1e", lambda L, x: L.special.i1e(x)),
    _special("ndtr", lambda L, x: L.special.ndtr(x)),
    _special("ndtri", lambda L, x: L.special.ndtri(x), 0.05, 0.95),
    _special("log_ndtr", lambda L, x: L.special.log_ndtr(x), -3.0, 3.0),
    _special("erfcx", lambda L, x: L.special.erfcx(x)),
    _special("sinc", lambda L, x: L.sinc(x)),
    _special("entr", lambda L, x: L.special.entr(x), 0.1, 2.0),
    _special("expit", lambda L, x: L.special.expit(x)),
    _special("logit", lambda L, x: L.special.logit(x, 1e-3), 0.1, 0.9),
    _special("erfinv", lambda L, x: L.special.erfinv(x), -0.9, 0.9),
    _special("log_softmax", lambda L, x: L.special.log_softmax(x, 1)),
    *(_special(n, _special_fn(n), lo, hi, grad=False)
      for n, lo, hi in (("bessel_j0", -3, 3), ("bessel_j1", -3, 3), ("bessel_y0", 0.2, 3),
                        ("bessel_y1", 0.2, 3), ("modified_bessel_i0", -3, 3),
                        ("modified_bessel_i1", -3, 3), ("modified_bessel_k0", 0.2, 3),
                        ("modified_bessel_k1", 0.2, 3), ("scaled_modified_bessel_k0", 0.2, 3),
                        ("scaled_modified_bessel_k1", 0.2, 3), ("spherical_bessel_j0", -3, 3),
                        ("airy_ai", -3, 3))),
    OpInfo("special.xlog1py", lambda L, a, b: L.special.xlog1py(a, b), _binary(-2, 2, -0.9, 2)),
    OpInfo("special.zeta", lambda L, a, b: L.special.zeta(a, b), _binary(1.5, 4, 0.5, 2),
           skip_grad_args=(0,)),
    OpInfo("special.gammainc", lambda L, a, b: L.special.gammainc(a, b),
           _binary(0.5, 3, 0.2, 3), skip_grad_args=(0,), gradgrad=False),
    OpInfo("special.gammaincc", lambda L, a, b: L.special.gammaincc(a, b),
           _binary(0.5, 3, 0.2, 3), skip_grad_args=(0,), gradgrad=False),
]


# ---- quantiles and counting ------------------------------------------------------------------

def _quantile(dt, rng):
    x = make((3, 5, 4), dt, rng)
    q = np.array([0.1, 0.5, 0.93], dtype=dt)
    return [
        Sample((x, 0.3), dict(dim=1, keepdim=True)),
        Sample((x, q), dict(dim=-1, interpolation="lower"), name="tensor-q-lower"),
        Sample((x, q), dict(interpolation="higher"), name="all-higher"),
        Sample((x, 0.62), dict(dim=0, interpolation="midpoint"), name="midpoint"),
        Sample((x, 0.5), dict(dim=2, interpolation="nearest"), name="nearest"),
        Sample((x, 0.5), dict(keepdim=True), name="keepdim-all"),
        Sample((x, 1.5), dict(dim=0), name="q-out-of-range"),
        Sample((make((3, 4), "int64", rng), 0.5), name="int-input"),
    ]


def _nanquantile(dt, rng):
    x = make((3, 6), dt, rng)
    x[0, 1] = x[2, 4] = x[2, 0] = np.nan
    return [Sample((x, 0.4), dict(dim=1)),
            Sample((x, np.array([0.0, 0.7, 1.0], dtype=dt)), dict(dim=-1, keepdim=True,
                                                                   interpolation="nearest"),
                   name="tensor-q")]


def _bincount(dt, rng):
    idx = rng.integers(0, 6, size=9)
    return [Sample((idx, None), dict(minlength=8)),
            Sample((idx, make((9,), dt, rng)), name="weights"),
            Sample((np.zeros(0, np.int64), None), dict(minlength=3), name="empty"),
            Sample((np.array([1, -1]), None), name="negative")]


def _hist(dt, rng):
    x = make((4, 5), dt, rng)
    return [Sample((x,), dict(bins=7)),
            Sample((x,), dict(bins=4, min=-1, max=1), name="range"),
            Sample((make((3,), "int64", rng),), dict(bins=3), name="int")]


def _histogram(dt, rng):
    x = make((4, 5), dt, rng)
    return [Sample((x, 6, None), {}),
            Sample((x, 4, make((4, 5), dt, rng, positive=True)), dict(range=(-1.0, 1.0),
                                                                   density=True),
                   name="weighted-density"),
            Sample((x, np.array([-2.0, -0.5, 0.0, 1.5], dtype=dt), None), name="edges")]


_STATISTICS = [
    OpInfo("quantile", lambda L, x, q, **kw: L.quantile(x, q, **kw),
           _quantile, skip_grad_args=(1,)),
    OpInfo("nanquantile", lambda L, x, q, **kw: L.nanquantile(x, q, **kw), _nanquantile,
           skip_grad_args=(1,)),
    OpInfo("bincount", lambda L, i, w, **kw: L.bincount(i, w, **kw), _bincount, grad=False),
    OpInfo("histc", lambda L, x, **kw: L.histc(x, **kw), _hist, grad=False),
    OpInfo("histogram", lambda L, x, bins, w, **kw: tuple(L.histogram(x, bins, weight=w, **kw)),
           _histogram, grad=False),
]


# ---- distances, spatial transformers, pooling, bags --------------------------------------------

def _cdist(dt, rng):
    a, b = make((2, 4, 3), dt, rng), make((2, 5, 3), dt, rng)
    return [Sample((a, b), dict(p=2.0)),
            Sample((a, b), dict(p=1.0), name="p1"),
            Sample((a, b), dict(p=3.0), name="p3"),
            Sample((a, b), dict(p=float("inf")), name="pinf"),
            Sample((a, b), dict(p=0.0), name="p0"),
            Sample((a, b), dict(compute_mode="use_mm_for_euclid_dist"), name="mm"),
            Sample((make((27, 3), dt, rng), b[0]), {}, name="mm-if-necessary"),
            Sample((a, make((5, 2), dt, rng)), {}, name="columns-mismatch")]


def _affine(dt, rng):
    return [Sample((make((2, 2, 3), dt, rng),), dict(size=[2, 3, 4, 5], align_corners=False)),
            Sample((make((2, 2, 3), dt, rng),), dict(size=[2, 1, 3, 2], align_corners=True),
                   name="align"),
            Sample((make((1, 3, 4), dt, rng),), dict(size=[1, 1, 2, 3, 2], align_corners=False),
                   name="3d")]


def _grid(mode, padding, align):
    def samples(dt, rng):
        return [Sample((make((2, 2, 4, 5), dt, rng), make((2, 3, 2, 2), dt, rng, -1.2, 1.2)),
                       dict(mode=mode, padding_mode=padding, align_corners=align)),
                Sample((make((1, 2, 3, 4, 3), dt, rng), make((1, 2, 2, 2, 3), dt, rng, -1.1,
                                                              1.1)),
                       dict(mode=mode, padding_mode=padding, align_corners=align), name="3d")]
    return samples


def _lp(dt, rng):
    return [Sample((make((2, 3, 6, 5), dt, rng, positive=True),), dict(norm_type=2.0,
                                                                        kernel_size=2)),
            Sample((make((2, 3, 7, 6), dt, rng, positive=True),),
                   dict(norm_type=3.0, kernel_size=(3, 2), stride=2, ceil_mode=True),
                   name="ceil")]


def _lp1(dt, rng):
    return [Sample((make((2, 3, 7), dt, rng, positive=True),), dict(norm_type=1.5,
                                                                     kernel_size=3, stride=2))]


def _bag(dt, rng):
    w = make((10, 3), dt, rng)
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9])
    return [Sample((idx, w, np.array([0, 3, 3, 6]), None), dict(mode="mean")),
            # (the last offset is the input's end, as torch documents: positions after it
            # give dtype- and mode-dependent results in torch; ember drops them)
            Sample((idx, w, np.array([0, 2, 8]), make((8,), dt, rng)),
                   dict(mode="sum", include_last_offset=True), name="weighted-last"),
            Sample((idx.reshape(2, 4), w, None, None), dict(mode="max", padding_idx=4),
                   name="2d-max-padding"),
            Sample((idx.reshape(2, 4), w, None, None), dict(mode="mean", padding_idx=2),
                   name="2d-mean-padding"),
            Sample((idx, w, np.array([1, 4]), None), {}, name="bad-offsets")]


_NN = [
    OpInfo("cdist", lambda L, a, b, **kw: L.cdist(a, b, **kw), _cdist, gradgrad=False),
    OpInfo("nn.affine_grid",
           lambda L, t, **kw: L.nn.functional.affine_grid(t, **kw), _affine),
    *(OpInfo(f"nn.grid_sample-{m}-{p}-{a}",
             lambda L, x, g, **kw: L.nn.functional.grid_sample(x, g, **kw), _grid(m, p, a),
             gradgrad=False)
      for m in ("bilinear", "nearest") for p in ("zeros", "border", "reflection")
      for a in (False, True)),
    OpInfo("nn.lp_pool2d", lambda L, x, **kw: L.nn.functional.lp_pool2d(x, **kw), _lp),
    OpInfo("nn.lp_pool1d", lambda L, x, **kw: L.nn.functional.lp_pool1d(x, **kw), _lp1),
    OpInfo("nn.embedding_bag",
           lambda L, i, w, o, psw, **kw: L.nn.functional.embedding_bag(
               i, w, o, per_sample_weights=psw, **kw), _bag),
]


# ---- torch.fft and complex parts -----------------------------------------------------------------

def _complex(shape, dt, rng):
    cdt = np.complex64 if dt == "float32" else np.complex128
    return (make(shape, dt, rng) + 1j * make(shape, dt, rng)).astype(cdt)


def _fft_real(dt, rng):
    return [Sample((make((4, 6), dt, rng),), {}),
            Sample((make((3, 5), dt, rng, noncontig=True),), dict(norm="ortho"),
                   name="noncontig-ortho"),
            Sample((make((4, 6), dt, rng),), dict(norm="forward"), name="forward")]


def _fft_complex(dt, rng):
    return [Sample((_complex((4, 6), dt, rng),), {}),
            Sample((_complex((3, 5), dt, rng),), dict(norm="ortho"), name="ortho"),
            Sample((_complex((4, 6), dt, rng),), dict(norm="forward"), name="forward")]


def _as_real(L, t):
    return L.view_as_real(t.resolve_conj()) if t.is_complex() else t


def _fft(name, call, samples):
    return OpInfo(f"fft.{name}", lambda L, x, **kw: _as_real(L, call(L, x, **kw)), samples)


_FFT = [
    _fft("fft-real", lambda L, x, **kw: L.fft.fft(x, n=8, dim=0, **kw), _fft_real),
    _fft("fft", lambda L, x, **kw: L.fft.fft(x, n=4, **kw), _fft_complex),
    _fft("ifft", lambda L, x, **kw: L.fft.ifft(x, **kw), _fft_complex),
    _fft("ifft-real", lambda L, x, **kw: L.fft.ifft(x, n=7, **kw), _fft_real),
    _fft("fft2", lambda L, x, **kw: L.fft.fft2(x, s=(3, 8), **kw), _fft_complex),
    _fft("ifft2", lambda L, x, **kw: L.fft.ifft2(x, **kw), _fft_complex),
    _fft("fftn", lambda L, x, **kw: L.fft.fftn(x, **kw), _fft_complex),
    _fft("ifftn", lambda L, x, **kw: L.fft.ifftn(x, s=(-1, 4), **kw), _fft_real),
    _fft("rfft", lambda L, x, **kw: L.fft.rfft(x, **kw), _fft_real),
    _fft("rfft-n", lambda L, x, **kw: L.fft.rfft(x, n=9, dim=0, **kw), _fft_real),
    _fft("rfft2", lambda L, x, **kw: L.fft.rfft2(x, **kw), _fft_real),
    _fft("rfftn", lambda L, x, **kw: L.fft.rfftn(x, s=(5, 4), **kw), _fft_real),
    _fft("irfft", lambda L, x, **kw: L.fft.irfft(x, **kw), _fft_complex),
    _fft("irfft-n", lambda L, x, **kw: L.fft.irfft(x, n=7, dim=0, **kw), _fft_complex),
    _fft("irfft2", lambda L, x, **kw: L.fft.irfft2(x, **kw), _fft_complex),
    _fft("irfftn", lambda L, x, **kw: L.fft.irfftn(x, s=(3, 5), **kw), _fft_complex),
    # (x * 1: torch's gradient through the conjugation inside hfft is a lazily conjugated
    # tensor, which the harness cannot read as an array)
    _fft("hfft", lambda L, x, **kw: L.fft.hfft(x * 1, n=9, **kw), _fft_complex),
    _fft("ihfft", lambda L, x, **kw: L.fft.ihfft(x, **kw), _fft_real),
    _fft("fftshift", lambda L, x, **kw: L.fft.fftshift(x), _fft_real),
    _fft("ifftshift", lambda L, x, **kw: L.fft.ifftshift(x, dim=1), _fft_real),
    _fft("rfft-complex-input", lambda L, x, **kw: L.fft.rfft(x, **kw), _fft_complex),
]


def _pair(dt, rng):
    return [Sample((make((3, 4), dt, rng), make((3, 4), dt, rng))),
            Sample((make((3, 1), dt, rng), make((4,), dt, rng)), name="broadcast")]


def _complex_in(dt, rng):
    return [Sample((_complex((3, 4), dt, rng),)), Sample((make((3, 4), dt, rng),), name="real")]


_COMPLEX = [
    OpInfo("real-imag", lambda L, z: L.real(z) * 2 + (z.imag if z.is_complex() else 0),
           _complex_in),
    OpInfo("view_as_real", lambda L, z: L.view_as_real(z) ** 2,
           lambda dt, rng: [Sample((_complex((3, 4), dt, rng),))]),
    OpInfo("view_as_complex", lambda L, x: L.view_as_real(L.view_as_complex(x) * 1.5),
           lambda dt, rng: [Sample((make((3, 2), dt, rng),)),
                            Sample((make((3, 3), dt, rng),), name="last-dim-not-2")]),
    OpInfo("complex", lambda L, a, b: L.view_as_real(L.complex(a, b)), _pair),
    OpInfo("polar", lambda L, a, b: L.view_as_real(L.polar(a, b)),
           lambda dt, rng: [Sample((make((3, 4), dt, rng, positive=True),
                                    make((3, 4), dt, rng)))]),  # torch requires abs >= 0
    # (double backward of complex angle goes through complex mul, whose ember backward
    # does not conjugate yet)
    OpInfo("angle", lambda L, z: L.angle(z), _complex_in, gradgrad=False),
]

OPS = [*_SPECIAL, *_STATISTICS, *_NN, *_FFT, *_COMPLEX]
