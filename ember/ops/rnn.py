"""Recurrent layers as ops: one op runs one layer in one direction over the whole sequence.

``lstm_layer``, ``gru_layer``, ``rnn_tanh_layer`` and ``rnn_relu_layer`` project the whole
input sequence with one GEMM (``x W_ih^T``), then step through time in a Numba kernel
(``_kernels_rnn``): per step the recurrent GEMM ``h W_hh^T`` and the fused gate
nonlinearities, saving the gates for backward. Their backward is one op each
(``*_layer_backward``): backward through time in the kernel, then the input and weight
gradients as big GEMMs over all steps. ``nn.RNN``/``nn.LSTM``/``nn.GRU`` call one such op
per layer and direction; the cells (``torch.lstm_cell`` and its siblings, and the
``nn.*Cell`` modules) call them on a sequence of one step.

The whole time loop of a layer is one kernel call, forward and backward (no Python per
step, buffers allocated once). A step's recurrent GEMM (batch x hidden x gates) is one
CBLAS call from inside the kernel, or, up to ``INNER_MAX`` multiply-adds, the kernel's own
loops (cheaper than a BLAS call there). ``lengths`` (the packed-sequence case) ends each
sequence of the batch at its own length: later steps carry its state and output 0.

Double backward is not supported (the backward ops' own backward raises), as for torch's
fused RNN kernels (cuDNN); differentiate ``torch.nn.LSTMCell``-style code written with
ember ops when higher-order gradients are needed. float16/bfloat16 run in float32.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import Op, dispatch
from .._tensor import Tensor
from . import _blas, _meta
from ._parallel import threads_for

__all__ = ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"]

INNER_MAX = 1 << 10   # up to this many multiply-adds a step's GEMM is the kernel's own loops
LOOP_PARALLEL_FLOPS = 3e6  # a time loop of this many recurrent flops or more: on all threads
MIN_BLOCK = 4              # ... in blocks of at least this many sequences
_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _kernels():
    from . import _kernels_rnn
    return _kernels_rnn


def _work(*arrays):
    """The arrays C-contiguous in the computing dtype (float32 for 16-bit floats)."""
    dt = arrays[0].dtype
    work = np.float32 if dt.itemsize == 2 else dt
    return [None if a is None else np.ascontiguousarray(a, dtype=work) for a in arrays]


def _lengths(lengths, steps: int, batch: int) -> np.ndarray:
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def _check(mode: str, input, hx, cx, w_ih, w_hh, w_hr) -> None:
    """What the kernels assume (the modules check shapes with torch's messages first)."""
    gates = _GATES[mode]
    if input.ndim != 3 or hx.ndim != 2 or w_ih.ndim != 2 or w_hh.ndim != 2:
        raise RuntimeError(f"{mode.lower()} layer: expected a 3-D input and 2-D state and "
                           f"weights, got {input.ndim}-D input, {hx.ndim}-D state")
    if input.shape[0] == 0:
        raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
    hidden = w_hh.shape[0] // gates
    out = w_hr.shape[0] if w_hr is not None else hidden
    if (w_ih.shape != (gates * hidden, input.shape[2]) or w_hh.shape[1] != out
            or hx.shape != (input.shape[1], out)
            or (cx is not None and cx.shape != (input.shape[1], hidden))):
        raise RuntimeError(f"{mode.lower()} layer: inconsistent shapes: input "
                           f"{list(input.shape)}, hx {list(hx.shape)}, weight_ih "
                           f"{list(w_ih.shape)}, weight_hh {list(w_hh.shape)}")
    for t in (hx, cx, w_ih, w_hh, w_hr):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"expected scalar type {input.dtype} but found {t.dtype}")


class _Layer(Op):
    """One layer, one direction: ``(output (T, B, H_out), h_n[, c_n])``."""

    abstract = True
    kind = "opaque"
    mode: str
    backward_op: type[Op]

    @classmethod
    def meta(cls, input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
        _check(cls.mode, input, hx, cx, w_ih, w_hh, w_hr)
        dt = input.dtype
        outs = (_meta.new((input.shape[0],) + tuple(hx.shape), dt), _meta.new(hx.shape, dt))
        return outs + ((_meta.new(cx.shape, dt),) if cls.mode == "LSTM" else ())

    @classmethod
    def forward(cls, ctx, input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
        _check(cls.mode, input, hx, cx, w_ih, w_hh, w_hr)
        x, h0, c0, wi, wh, bi, bh, wr = _work(input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr)
        steps, batch, features = x.shape
        lens = _lengths(lengths, steps, batch)
        xw = project(x, wi)
        outs, workspace = _FORWARD[cls.mode](xw, h0, c0, wh, bi, bh, wr, lens, reverse)
        ctx.save_for_backward(input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, *workspace)
        ctx.reverse = reverse
        return tuple(o.astype(input.dtype, copy=False) for o in outs)

    @classmethod
    def backward(cls, ctx, grad_output, grad_hy, grad_cy=None):
        saved = ctx.saved_tensors
        input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, lengths = saved[:9]
        grads = list(dispatch(cls.backward_op, grad_output, grad_hy, grad_cy, input, hx, cx,
                              w_ih, w_hh, b_ih, b_hh, w_hr, lengths, list(saved[9:]),
                              ctx.reverse))
        if cls.mode != "LSTM":
            grads[2:2] = [None]                      # no cell state
        gx, ghx, gcx, gw_ih, gw_hh, gb_ih, gb_hh = grads[:7]
        gw_hr = grads[7] if w_hr is not None else None
        return (gx, ghx, gcx, gw_ih, gw_hh, gb_ih if b_ih is not None else None,
                gb_hh if b_hh is not None else None, gw_hr, None, None)


class _LayerBackward(Op):
    """Backward through time of ``_Layer``: the gradients of its input, initial state(s),
    weights and biases (the two biases get equal gradients but for the GRU's; the LSTM's
    projection gradient is empty without a projection)."""

    abstract = True
    kind = "opaque"
    mode: str

    @classmethod
    def meta(cls, grad_output, grad_hy, grad_cy, input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr,
             lengths, workspace, reverse):
        dt = input.dtype
        gate = (w_hh.shape[0],)
        outs = [_meta.new(input.shape, dt), _meta.new(hx.shape, dt)]
        if cls.mode == "LSTM":
            outs.append(_meta.new(cx.shape, dt))
        outs += [_meta.new(w_ih.shape, dt), _meta.new(w_hh.shape, dt), _meta.new(gate, dt),
                 _meta.new(gate, dt)]
        if cls.mode == "LSTM":
            outs.append(_meta.new(w_hr.shape if w_hr is not None else (0,), dt))
        return tuple(outs)

    @classmethod
    def forward(cls, ctx, grad_output, grad_hy, grad_cy, input, hx, cx, w_ih, w_hh, b_ih, b_hh,
                w_hr, lengths, workspace, reverse):
        x, go, wi, wh, wr = _work(input, grad_output, w_ih, w_hh, w_hr)
        steps, batch, _ = x.shape
        dh = np.zeros(hx.shape, x.dtype) if grad_hy is None else grad_hy.astype(x.dtype)
        dc = None
        if cls.mode == "LSTM":
            dc = np.zeros(cx.shape, x.dtype) if grad_cy is None else grad_cy.astype(x.dtype)
        lens = _lengths(lengths, steps, batch)
        dgx, dgh, state_grads, hs, extra = _BACKWARD[cls.mode](go, wh, wr, dh, dc, workspace,
                                                               lens, reverse)
        outs = [*input_weight_grads(dgx, dgh, x, wi, hs, reverse), *extra]
        outs[1:1] = state_grads
        return tuple(o.astype(input.dtype, copy=False) for o in outs)

    @classmethod
    def backward(cls, ctx, *grads):
        raise RuntimeError(f"{cls.aten}: double backward through a fused recurrent layer is "
                           "not supported (as torch's fused RNN kernels)")


# ---- the GEMMs over all steps -------------------------------------------------------------

def project(x: np.ndarray, w_ih: np.ndarray) -> np.ndarray:
    """The input projection of all steps, ``x W_ih^T``: ``(T, B, G)`` from ``x (T, B, F)``."""
    steps, batch, features = x.shape
    return _blas.matmul(x.reshape(steps * batch, features), w_ih.T).reshape(steps, batch, -1)


def input_weight_grads(dgx: np.ndarray, dgh: np.ndarray, x: np.ndarray, w_ih: np.ndarray,
                       hs: np.ndarray, reverse: bool) -> list[np.ndarray]:
    """``[grad x, grad W_ih, grad W_hh, grad b_ih, grad b_hh]`` from the gate gradients by
    step of the input side (``dgx``) and of the recurrent side (``dgh``; the same array but
    for the GRU), one GEMM each over all steps."""
    steps, batch, features = x.shape
    in_order = np.ascontiguousarray(dgx[::-1]) if reverse else dgx   # time order, as x
    flat_in = in_order.reshape(steps * batch, -1)
    flat_x = x.reshape(steps * batch, features)
    # (the input side is a linear layer's backward: both GEMMs and the bias's sum side by
    # side on ember's threads where that pays)
    grads = _blas.linear_grads(flat_in, flat_x, w_ih, True, x.shape)
    if grads is None:
        gx = _blas.matmul(flat_in, w_ih).reshape(steps, batch, features)
        gw_ih = _blas.matmul(flat_in.T, flat_x)
        gb_ih = dgx.sum((0, 1))
    else:
        gx, gw_ih, gb_ih = grads
    flat_h = dgh.reshape(steps * batch, -1)
    gw_hh = _blas.matmul(flat_h.T, hs[:steps].reshape(steps * batch, -1))
    gb_hh = dgh.sum((0, 1)) if dgh is not dgx else gb_ih.copy()
    return [gx, gw_ih, gw_hh, gb_ih, gb_hh]


# ---- the per-cell loops -------------------------------------------------------------------

def _gemm_fn(batch: int, w_hh: np.ndarray):
    """The CBLAS GEMM the kernels call for a step's recurrent GEMM (``_kernels_gemm``'s), or
    None to have them multiply themselves: a step of at most ``INNER_MAX`` multiply-adds,
    or no CBLAS found."""
    if batch * w_hh.shape[0] * w_hh.shape[1] <= INNER_MAX:
        return None
    from . import _kernels_gemm
    _blas._blas_libs()                     # NumPy's BLAS at one thread
    return _kernels_gemm._cblas().get(w_hh.dtype)


def _batch_parts(steps: int, batch: int, w_hh: np.ndarray) -> int:
    """Blocks of the batch whose time loops run side by side (``_kernels_rnn``'s
    ``*_batches``): ember's threads (``_parallel.threads_for``) for a loop of
    ``LOOP_PARALLEL_FLOPS`` or more, at most one per ``MIN_BLOCK`` sequences; 1 is the
    serial kernel. torch splits each step's GEMM among its threads; the serial loop left
    2-thread LSTM training at 1.4x torch's time (256->256 x2, batch 16)."""
    if batch < 2 * MIN_BLOCK:
        return 1
    work = 2.0 * steps * batch * w_hh.shape[0] * w_hh.shape[1]
    return min(threads_for(work, LOOP_PARALLEL_FLOPS), batch // MIN_BLOCK)


def _states(first: np.ndarray, steps: int) -> np.ndarray:
    hs = np.empty((steps + 1,) + first.shape, first.dtype)
    hs[0] = first
    return hs


def _lstm_forward(xw, h0, c0, w_hh, b_ih, b_hh, w_hr, lens, reverse):
    steps, batch, gates = xw.shape
    if b_ih is not None:
        xw += b_ih + b_hh
    hidden = gates // 4
    hs, cs = _states(h0, steps), _states(c0, steps)
    tcs = np.empty((steps, batch, hidden), xw.dtype)
    acts = np.empty_like(xw)
    out = np.empty((steps,) + h0.shape, xw.dtype)
    proj = w_hr is not None
    hpre = np.empty((steps, batch, hidden if proj else 0), xw.dtype)
    w_hh_t = _kernels().transpose(w_hh)
    w_hr_t = _kernels().transpose(w_hr) if proj else np.empty((0, 0), xw.dtype)
    fn, parts = _gemm_fn(batch, w_hh), _batch_parts(steps, batch, w_hh)
    if parts > 1:
        _kernels().lstm_forward_batches(fn, xw, w_hh_t, w_hr_t, hs, cs, tcs, acts, hpre, out,
                                        lens, reverse, parts)
    else:
        _kernels().lstm_forward(fn, xw, w_hh_t, w_hr_t, hs, cs, tcs, acts, hpre, out, lens,
                                reverse, 0, batch)
    return (out, hs[steps].copy(), cs[steps].copy()), (acts, hs, cs, tcs, hpre)


def _lstm_backward(go, w_hh, w_hr, dh, dc, workspace, lens, reverse):
    acts, hs, cs, tcs, hpre = workspace
    steps, batch, gates = acts.shape
    proj = w_hr is not None
    dgates = np.empty_like(acts)
    dhs = np.empty((steps,) + (dh.shape if proj else (batch, 0)), dh.dtype)
    wr = w_hr if proj else np.empty((0, 0), dh.dtype)
    fn, parts = _gemm_fn(batch, w_hh), _batch_parts(steps, batch, w_hh)
    if parts > 1:
        _kernels().lstm_backward_batches(fn, go, w_hh, wr, acts, cs, tcs, dgates, dhs, dh, dc,
                                         lens, reverse, parts)
    else:
        _kernels().lstm_backward(fn, go, w_hh, wr, acts, cs, tcs, dgates, dhs, dh, dc, lens,
                                 reverse, 0, batch)
    gw_hr = (_blas.matmul(dhs.reshape(steps * batch, -1).T, hpre.reshape(steps * batch, -1))
             if proj else np.empty((0,), dh.dtype))
    return dgates, dgates, (dh, dc), hs, (gw_hr,)


def _gru_forward(xw, h0, c0, w_hh, b_ih, b_hh, w_hr, lens, reverse):
    steps, batch, gates = xw.shape
    if b_ih is not None:
        xw += b_ih
    hs = _states(h0, steps)
    acts = np.empty_like(xw)
    ghn = np.empty((steps,) + h0.shape, xw.dtype)
    out = np.empty_like(ghn)
    w_hh_t = _kernels().transpose(w_hh)
    bh = b_hh if b_hh is not None else np.zeros(gates, xw.dtype)
    fn, parts = _gemm_fn(batch, w_hh), _batch_parts(steps, batch, w_hh)
    if parts > 1:
        _kernels().gru_forward_batches(fn, xw, w_hh_t, bh, hs, acts, ghn, out, lens, reverse,
                                       parts)
    else:
        _kernels().gru_forward(fn, xw, w_hh_t, bh, hs, acts, ghn, out, lens, reverse, 0, batch)
    return (out, hs[steps].copy()), (acts, ghn, hs)


def _gru_backward(go, w_hh, w_hr, dh, dc, workspace, lens, reverse):
    acts, ghn, hs = workspace
    steps, batch, _ = acts.shape
    dxg, dhg = np.empty_like(acts), np.empty_like(acts)
    fn, parts = _gemm_fn(batch, w_hh), _batch_parts(steps, batch, w_hh)
    if parts > 1:
        _kernels().gru_backward_batches(fn, go, w_hh, acts, ghn, hs, dxg, dhg, dh, lens, reverse,
                                        parts)
    else:
        _kernels().gru_backward(fn, go, w_hh, acts, ghn, hs, dxg, dhg, dh, lens, reverse, 0,
                                batch)
    return dxg, dhg, (dh,), hs, ()


def _rnn_forward(relu: bool):
    def run(xw, h0, c0, w_hh, b_ih, b_hh, w_hr, lens, reverse):
        steps, batch, _ = xw.shape
        if b_ih is not None:
            xw += b_ih + b_hh
        hs = _states(h0, steps)
        out = np.empty_like(xw)
        w_hh_t = _kernels().transpose(w_hh)
        _kernels().rnn_forward(_gemm_fn(batch, w_hh), xw, w_hh_t, hs, out, lens, reverse, relu)
        return (out, hs[steps].copy()), (hs,)
    return run


def _rnn_backward(relu: bool):
    def run(go, w_hh, w_hr, dh, dc, workspace, lens, reverse):
        (hs,) = workspace
        dgates = np.empty_like(go)
        _kernels().rnn_backward(_gemm_fn(go.shape[1], w_hh), go, w_hh, hs, dgates, dh, lens,
                                reverse, relu)
        return dgates, dgates, (dh,), hs, ()
    return run


_FORWARD = {"LSTM": _lstm_forward, "GRU": _gru_forward, "RNN_TANH": _rnn_forward(False),
            "RNN_RELU": _rnn_forward(True)}
_BACKWARD = {"LSTM": _lstm_backward, "GRU": _gru_backward, "RNN_TANH": _rnn_backward(False),
             "RNN_RELU": _rnn_backward(True)}


# ---- the ops ------------------------------------------------------------------------------

def _layer_ops(cls_name: str, name: str, mode: str) -> type[_Layer]:
    """The forward/backward op pair of one cell type."""
    lstm = mode == "LSTM"
    sig = (name + "(Tensor input, Tensor hx, Tensor? cx, Tensor w_ih, Tensor w_hh, Tensor? b_ih,"
           " Tensor? b_hh, Tensor? w_hr, Tensor? lengths, bool reverse) -> (Tensor output, "
           "Tensor h_n" + (", Tensor c_n)" if lstm else ")"))
    bsig = (name + "_backward(Tensor grad_output, Tensor? grad_hy, Tensor? grad_cy, "
            "Tensor input, Tensor hx, Tensor? cx, Tensor w_ih, Tensor w_hh, Tensor? b_ih, "
            "Tensor? b_hh, Tensor? w_hr, Tensor? lengths, Tensor[] workspace, bool reverse) -> "
            "(Tensor grad_input, Tensor grad_hx, " + ("Tensor grad_cx, " if lstm else "")
            + "Tensor grad_w_ih, Tensor grad_w_hh, Tensor grad_b_ih, Tensor grad_b_hh"
            + (", Tensor grad_w_hr)" if lstm else ")"))
    backward = type(cls_name + "Backward", (_LayerBackward,), {
        "name": name + "_backward", "aten": name + "_backward", "signature": bsig,
        "mode": mode, "__module__": __name__})
    return type(cls_name, (_Layer,), {"name": name, "aten": name, "signature": sig,
                                      "mode": mode, "backward_op": backward,
                                      "__module__": __name__})


LstmLayer = _layer_ops("LstmLayer", "lstm_layer", "LSTM")
GruLayer = _layer_ops("GruLayer", "gru_layer", "GRU")
RnnTanhLayer = _layer_ops("RnnTanhLayer", "rnn_tanh_layer", "RNN_TANH")
RnnReluLayer = _layer_ops("RnnReluLayer", "rnn_relu_layer", "RNN_RELU")
_OPS = {"LSTM": LstmLayer, "GRU": GruLayer, "RNN_TANH": RnnTanhLayer, "RNN_RELU": RnnReluLayer}


def rnn_layer(mode: str, input: Tensor, hx: Tensor, cx: Tensor | None, w_ih: Tensor,
              w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              w_hr: Tensor | None = None, lengths: Tensor | None = None,
              reverse: bool = False) -> tuple:
    """One recurrent layer in one direction over ``input (T, B, F)`` from the state ``hx``
    (and ``cx`` for the LSTM): ``(output (T, B, H_out), h_n[, c_n])``. ``mode`` is
    ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``; ``lengths`` (int64, ``(B,)``)
    ends each sequence early; ``reverse`` runs from the last step to the first."""
    return dispatch(_OPS[mode], input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, lengths,
                    bool(reverse))


def _step(mode: str, input: Tensor, hx: Tensor, cx, w_ih, w_hh, b_ih, b_hh) -> tuple:
    if input.ndim != 2:
        raise RuntimeError(f"{mode.lower()}_cell: expected a 2-D input (batch, features), got "
                           f"{input.ndim}-D")
    return rnn_layer(mode, input.unsqueeze(0), hx, cx, w_ih, w_hh, b_ih, b_hh)[1:]


def lstm_cell(input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (``torch.lstm_cell``): ``(h, c)`` from ``input (B, F)`` and
    ``hx = (h, c)``."""
    return _step("LSTM", input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh)


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step (``torch.gru_cell``)."""
    return _step("GRU", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman step with tanh (``torch.rnn_tanh_cell``)."""
    return _step("RNN_TANH", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman step with relu (``torch.rnn_relu_cell``)."""
    return _step("RNN_RELU", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]
