"""Quantized inference workloads for ``python -m bench`` (also ``python -m bench.quant``).

``qlinear_*``: one dynamically quantized int8 Linear (``quantize_dynamic``) applied to a
batch, ember vs torch's ``torch.ao.nn.quantized.dynamic.Linear`` on the same weights,
with float32 ``nn.Linear`` of both libraries as extra sides. Each step applies the layer
``REPEAT`` times so that a step is long enough to time.

``gpt_decode_*``: greedy decoding with a KV-free GPT (``bench.models``) whose weights
do not fit in the caches, int4/int8 weight-only ember vs float32 ember and float32
torch (added with the weight-only quantization).
"""

from __future__ import annotations

import numpy as np

from bench.run import Side, _libs

REPEAT = 20
SHAPES = ((768, 3072), (4096, 4096))
BATCHES = (1, 16, 128)


def qlinear(in_f: int, out_f: int, batch: int):
    """Sides for one dynamic int8 Linear of ``in_f -> out_f`` on ``batch`` rows."""
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


if __name__ == "__main__":
    from bench.run import main
    main(["--only", *WORKLOADS])
