"""Quantized inference workloads for ``python -m bench`` (also ``python -m bench.quant``).

``qlinear_*``: one dynamically quantized int8 Linear (``quantize_dynamic``) applied to a
batch, ember vs torch's ``torch.ao.nn.quantized.dynamic.Linear`` on the same weights,
with float32 ``nn.Linear`` of both libraries as extra sides. Each step applies the layer
``REPEAT`` times so that a step is long enough to time.

``gpt_decode_*``: greedy decoding with a KV-free GPT (``bench.models``) whose weights
do not fit in the caches, int4/int8 weight-only ember vs float32 torch, with float32
ember as an extra side. Tokens/s = DECODE_TOKENS / step time.
"""

from __future__ import annotations

import numpy as np

REPEAT = 20
SHAPES = ((768, 3072), (4096, 4096))
BATCHES = (1, 16, 128)


def qlinear(in_f: int, out_f: int, batch: int):
    """Sides for one dynamic int8 Linear of ``in_f -> out_f`` on ``batch`` rows."""
    from bench.run import Side, _libs
    ember, torch = _libs()
    import warnings
    warnings.filterwarnings("ignore", message=".*quantized tensor creation.*")
    torch.manual_seed(0)
    t_lin = torch.nn.Linear(in_f, out_f)
    e_lin = ember.nn.Linear(in_f, out_f)
    e_lin.load_state_dict({k: ember.tensor(v.detach().numpy())
                           for k, v in t_lin.state_dict().items()})
    t_q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(t_lin), {torch.nn.Linear},
                                                 dtype=torch.qint8)
    e_q = ember.ao.quantization.quantize_dynamic(ember.nn.Sequential(e_lin), {ember.nn.Linear},
                                                 dtype=ember.qint8)
    x0 = np.random.default_rng(0).standard_normal((batch, in_f)).astype(np.float32)

    def side(lib, model):
        x = lib.from_numpy(x0.copy())

        def step():
            with lib.no_grad():
                for _ in range(REPEAT):
                    y = model(x)
            return float(y[0, :8].sum())
        return Side(step)
    return {"ember": side(ember, e_q), "torch": side(torch, t_q),
            "ember_f32": side(ember, e_lin), "torch_f32": side(torch, t_lin)}, False


WORKLOADS = {f"qlinear_{i}x{o}_b{b}": (lambda i=i, o=o, b=b: qlinear(i, o, b))
             for i, o in SHAPES for b in BATCHES}

# A GPT of 201M parameters (805 MB in float32): more than the caches hold, so decoding
# one token reads every weight from memory.
GPT_SIZE = dict(vocab=4096, width=1536, heads=12, layers=6, context=64)
DECODE_TOKENS = 8


def _greedy(lib, model, tokens: int):
    from bench.run import Side

    def step():
        with lib.no_grad():
            idx = lib.zeros(1, 1, dtype=lib.long)
            for _ in range(tokens):
                nxt = model(idx)[:, -1].argmax(-1, keepdim=True)
                idx = lib.cat([idx, nxt], dim=1)
        return float(idx.sum().item())
    return Side(step)


def gpt_decode(bits: int, group_size: int = 128):
    """Greedy decoding of ``DECODE_TOKENS`` tokens (prefix re-run each token: batch 1,
    1..8 rows): ember with int4 (``group_size``) or int8 weight-only Linear layers vs
    float32 torch; float32 ember as an extra side."""
    from bench import models
    from bench.run import _libs
    ember, torch = _libs()
    torch.manual_seed(0)
    t_model = models.gpt(torch, **GPT_SIZE).eval()
    e_float = models.gpt(ember, **GPT_SIZE).eval()
    models.copy_weights(t_model, e_float)
    e_quant = models.gpt(ember, **GPT_SIZE).eval()
    models.copy_weights(t_model, e_quant)
    config = ember.ao.int4_weight_only(group_size) if bits == 4 else \
        ember.ao.int8_weight_only()
    ember.ao.quantize_(e_quant, config)
    return {"ember": _greedy(ember, e_quant, DECODE_TOKENS),
            "torch": _greedy(torch, t_model, DECODE_TOKENS),
            "ember_f32": _greedy(ember, e_float, DECODE_TOKENS)}, False


WORKLOADS["gpt_decode_int4"] = lambda: gpt_decode(4)
WORKLOADS["gpt_decode_int8"] = lambda: gpt_decode(8)
ROUNDS = {"gpt_decode_int4": 5, "gpt_decode_int8": 5}


if __name__ == "__main__":
    from bench.run import main
    main(["--only", *WORKLOADS])
