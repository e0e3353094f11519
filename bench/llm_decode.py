"""Greedy decoding speed of a random Llama: ``python -m bench.llm_decode [--json PATH]``.

The same weights (written by ``transformers``' ``save_pretrained``, loaded by
``ember.models.llama``) decode the same prompt in ember with its KV cache, in ember without
it (whole sequence re-run each step), in ``transformers``' ``generate`` on torch (its
dynamic KV cache), and in a bare loop of the ``transformers`` model's cached forward and
argmax (the torch model's cost without ``generate``'s per-step machinery), interleaved
round by round in one process. tokens/s is new tokens over the whole call (prompt
included), median (and best) over the rounds. Both libraries run on ``--threads`` threads
(default 1: on a shared machine, idle worker threads of one library spinning would slow
the other). The float32 runs must produce the same tokens.

``--quant int8,int4-32,int4-64,int4-128`` adds ember runs of the model with weight-only
int8 / int4 (group size) Linear layers and embedding table (``ember.ao.quantize_`` with a
``filter_fn`` taking both), each reported with the share of its tokens equal to float32's
(a random model's logits are close together, so few survive 4 bits) and the size of its
``model.safetensors``.
``--preset gpt2-small`` decodes a GPT-2-small-shaped Llama whose weights are far larger
than the caches: 12 layers of width 768, 12 heads, vocabulary 50257, SwiGLU of width 2048
(GPT-2's MLP parameter count), untied head -- 162M parameters, 650 MB in float32.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

PRESETS = {"gpt2-small": dict(vocab=50257, hidden=768, intermediate=2048, layers=12, heads=12,
                              kv_heads=12, no_cache_side=False)}


def _models(args, quant: list[str]):
    """(torch, ember, transformers model, ember float32 model, {quant name: ember model})."""
    import torch
    import transformers

    import ember
    from ember.models.llama import LlamaForCausalLM

    def load(d):
        model = LlamaForCausalLM.from_pretrained(d)
        # the embedding too, unless the head reads its float table (tied embeddings)
        tied = model.config.tie_word_embeddings
        quantized = {name: ember.ao.quantize_(
            LlamaForCausalLM.from_pretrained(d), _quant_config(ember, name),
            filter_fn=lambda mod, fqn: not (tied and isinstance(mod, ember.nn.Embedding)))
            for name in quant}
        return model, quantized

    if args.model:  # a trained Llama directory (python -m ember.examples.train_gpt)
        hf = transformers.LlamaForCausalLM.from_pretrained(args.model).float().eval()
        return (torch, ember, hf) + load(args.model)
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                                   intermediate_size=args.intermediate or args.hidden * 8 // 3,
                                   num_hidden_layers=args.layers,
                                   num_attention_heads=args.heads,
                                   num_key_value_heads=args.kv_heads,
                                   max_position_embeddings=1024)
    hf = transformers.LlamaForCausalLM(cfg).float().eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d, safe_serialization=True)
        return (torch, ember, hf) + load(d)


def _quant_config(ember, name: str):
    """``int8`` -> int8 weight-only, ``int4-G`` -> int4 weight-only of group size G."""
    if name == "int8":
        return ember.ao.int8_weight_only()
    if name.startswith("int4-"):
        return ember.ao.int4_weight_only(int(name[5:]))
    raise ValueError(f"unknown --quant entry {name!r} (int8 or int4-G)")


def _safetensors_mb(model) -> float:
    """The size of the model's state dict written as one ``model.safetensors`` (MB)."""
    from ember.utils.safetensors import save_file

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
        return os.path.getsize(path) / 1e6


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="model shape (overrides below)")
    p.add_argument("--model", default=None,
                   help="a Hugging Face Llama directory to decode with instead of a random model "
                   "(e.g. out/stdlib-llama from python -m ember.examples.train_gpt)")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--intermediate", type=int, default=0, help="default hidden * 8 / 3")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quant", default="", help="comma-separated: int8, int4-32, int4-128, ...")
    p.add_argument("--no-cache-side", action=argparse.BooleanOptionalAction, default=True,
                   help="also time ember without its KV cache")
    p.add_argument("--generate-side", action=argparse.BooleanOptionalAction, default=True,
                   help="also time transformers' generate")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    if args.preset:
        p.set_defaults(**PRESETS[args.preset])
        args = p.parse_args(argv)
    quant = [q for q in args.quant.split(",") if q]
    torch, ember, hf, model, quantized = _models(args, quant)
    torch.set_num_threads(args.threads)
    ember.set_num_threads(args.threads)
    vocab = hf.config.vocab_size
    ids = np.random.default_rng(0).integers(0, vocab, size=(1, args.prompt))

    def ember_run(m, **kw):
        return lambda: m.generate(ember.tensor(ids), args.new, **kw).numpy()

    runs = {"torch_forward_loop": lambda: _torch_loop(torch, hf, ids, args.new),
            "ember_kv_cache": ember_run(model)}
    if args.generate_side:
        runs["transformers_torch"] = lambda: _hf_generate(torch, hf, ids, args.new)
    if args.no_cache_side:
        runs["ember_no_cache"] = ember_run(model, use_cache=False)
    runs.update({f"ember_{name}": ember_run(m) for name, m in quantized.items()})
    outputs = {name: run() for name, run in runs.items()}  # warm-up (Numba compiles)
    reference = outputs["torch_forward_loop"]
    for name, out in outputs.items():
        if not name.startswith(tuple(f"ember_{q}" for q in quant)) \
                and not np.array_equal(out, reference):
            raise AssertionError(f"{name} tokens differ from torch's")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    tps = {n: args.new / statistics.median(t) for n, t in times.items()}
    result = {"config": vars(args), "load_average": os.getloadavg()[0], "tokens_per_s": tps,
              "best_tokens_per_s": {n: args.new / min(t) for n, t in times.items()},
              "over_torch_loop": {n: v / tps["torch_forward_loop"] for n, v in tps.items()},
              "tokens_equal_to_float32": {
                  f"ember_{q}": float(np.mean(outputs[f"ember_{q}"][0, args.prompt:]
                                              == reference[0, args.prompt:])) for q in quant},
              "safetensors_mb": {"float32": _safetensors_mb(model),
                                 **{q: _safetensors_mb(m) for q, m in quantized.items()}}}
    if "ember_no_cache" in tps:
        result["kv_cache_speedup"] = tps["ember_kv_cache"] / tps["ember_no_cache"]
    _print(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


def _print(result: dict) -> None:
    sizes = result["safetensors_mb"]
    print(f"load average {result['load_average']:.1f}; model.safetensors float32 "
          f"{sizes['float32']:.1f} MB")
    for name, v in result["tokens_per_s"].items():
        quant = name[6:]
        extra = ""
        if quant in sizes:
            extra = (f"  tokens = float32's: {result['tokens_equal_to_float32'][name]:.0%}, "
                     f"{sizes[quant]:.1f} MB ({sizes['float32'] / sizes[quant]:.2f}x smaller)")
        print(f"{name:20s} {v:8.1f} tokens/s (best {result['best_tokens_per_s'][name]:.1f}) "
              f"{result['over_torch_loop'][name]:5.2f}x torch loop{extra}")
    if "kv_cache_speedup" in result:
        print(f"KV cache speedup in ember: {result['kv_cache_speedup']:.2f}x")


def _hf_generate(torch, hf, ids: np.ndarray, new: int) -> np.ndarray:
    with torch.no_grad():
        return hf.generate(torch.from_numpy(ids), max_new_tokens=new, min_new_tokens=new,
                           do_sample=False, pad_token_id=0).numpy()


def _torch_loop(torch, hf, ids: np.ndarray, new: int) -> np.ndarray:
    from transformers import DynamicCache

    with torch.no_grad():
        out, cache, step = [torch.from_numpy(ids)], DynamicCache(), torch.from_numpy(ids)
        for _ in range(new):
            logits = hf(step, cache=cache, use_cache=True).logits
            step = logits[:, -1].argmax(-1, keepdim=True)
            out.append(step)
        return torch.cat(out, dim=1).numpy()


if __name__ == "__main__":
    main()
