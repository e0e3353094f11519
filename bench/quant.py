"""Quantized inference workloads for ``python -m bench`` (also ``python -m bench.quant``).

``qlinear_*``: one dynamically quantized int8 Linear (``quantize_dynamic``) applied to a
batch, ember vs torch's ``torch.ao.nn.quantized.dynamic.Linear`` on the same weights,
with float32 ``nn.Linear`` of both libraries as extra sides. Each step applies the layer
``REPEAT`` times so that a step is long enough to time.

``gpt_decode_*``: greedy decoding with KV caches of a GPT-2-small-shaped model whose
weights do not fit in the caches (``bench.llm_decode``'s), int4 (group 128, 64, 32) /
int8 weight-only ember vs float32 torch (transformers), with float32 ember as an extra
side, and the sizes of the quantized and float32 ``model.safetensors``.
Tokens/s = DECODE_TOKENS / step time.
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

DECODE_PROMPT, DECODE_TOKENS = 16, 16
_DECODE_MODELS: dict = {}


def _decode_models():
    """``bench.llm_decode``'s GPT-2-small-shaped random Llama (162M parameters, 650 MB in
    float32: far more than the caches hold, so each token reads every weight from memory)
    in transformers (torch) and ember, built once for all ``gpt_decode_*`` workloads."""
    if not _DECODE_MODELS:
        import argparse

        from bench import llm_decode
        args = argparse.Namespace(**llm_decode.PRESETS["gpt2-small"])
        _, _, hf, model, _ = llm_decode._models(args, [])
        _DECODE_MODELS.update(hf=hf, model=model)
    return _DECODE_MODELS


def gpt_decode(config: str):
    """Greedy decoding of ``DECODE_TOKENS`` tokens after a ``DECODE_PROMPT``-token prompt,
    each with its KV cache: ember with weight-only ``config`` (``int8``, ``int4-G``; the
    Linear layers and the embedding table) vs float32 torch (transformers' model, a bare
    loop of its cached forward); float32 ember as an extra side. Prints the sizes of the
    two ``model.safetensors``."""
    import tempfile

    from bench import llm_decode
    from bench.run import Side, _libs
    from ember.models.llama import LlamaForCausalLM
    ember, torch = _libs()
    models = _decode_models()
    with tempfile.TemporaryDirectory() as d:
        models["hf"].save_pretrained(d, safe_serialization=True)
        quant = ember.ao.quantize_(LlamaForCausalLM.from_pretrained(d),
                                   llm_decode._quant_config(ember, config),
                                   filter_fn=lambda mod, fqn: True)
    float_mb, quant_mb = (llm_decode._safetensors_mb(m) for m in (models["model"], quant))
    print(f"gpt_decode {config}: model.safetensors {quant_mb:.1f} MB vs float32 "
          f"{float_mb:.1f} MB ({float_mb / quant_mb:.2f}x smaller)")
    ids = np.random.default_rng(0).integers(0, 50257, size=(1, DECODE_PROMPT))

    def ember_side(model):
        return Side(lambda: float(model.generate(ember.tensor(ids), DECODE_TOKENS).numpy()
                                  [0, DECODE_PROMPT:].sum()))
    torch_side = Side(lambda: float(llm_decode._torch_loop(torch, models["hf"], ids,
                                                           DECODE_TOKENS)[0, DECODE_PROMPT:]
                                    .sum()))
    return {"ember": ember_side(quant), "torch": torch_side,
            "ember_f32": ember_side(models["model"])}, False


DECODE_CONFIGS = ("int4-128", "int4-64", "int4-32", "int8")
WORKLOADS.update({f"gpt_decode_{c.replace('-', '_g')}": (lambda c=c: gpt_decode(c))
                  for c in DECODE_CONFIGS})
ROUNDS = {f"gpt_decode_{c.replace('-', '_g')}": 3 for c in DECODE_CONFIGS}


if __name__ == "__main__":
    from bench.run import main
    main(["--only", *WORKLOADS])
