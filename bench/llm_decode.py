"""Greedy decoding speed of a small random Llama: ``python -m bench.llm_decode [--json PATH]``.

The same weights (written by ``transformers``' ``save_pretrained``, loaded by
``ember.models.llama``) decode the same prompt in ember with its KV cache, in ember without
it (whole sequence re-run each step), in ``transformers``' ``generate`` on torch (its
dynamic KV cache), and in a bare loop of the ``transformers`` model's cached forward and
argmax (the torch model's cost without ``generate``'s per-step machinery), interleaved
round by round in one process. tokens/s is new tokens over the whole call (prompt
included), median (and best) over the rounds. Both libraries run on ``--threads`` threads
(default 1: on a shared machine, idle worker threads of one library spinning would slow
the other). All must produce the same tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np


def _models(args):
    import torch
    import transformers

    import ember
    from ember.models.llama import LlamaForCausalLM

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                                   intermediate_size=args.hidden * 8 // 3,
                                   num_hidden_layers=args.layers, num_attention_heads=8,
                                   num_key_value_heads=4, max_position_embeddings=1024)
    hf = transformers.LlamaForCausalLM(cfg).float().eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d, safe_serialization=True)
        model = LlamaForCausalLM.from_pretrained(d)
    return torch, ember, hf, model


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch, ember, hf, model = _models(args)
    torch.set_num_threads(args.threads)
    ember.set_num_threads(args.threads)
    ids = np.random.default_rng(0).integers(0, args.vocab, size=(1, args.prompt))

    runs = {
        "ember_kv_cache": lambda: model.generate(ember.tensor(ids), args.new).numpy(),
        "ember_no_cache": lambda: model.generate(ember.tensor(ids), args.new,
                                                 use_cache=False).numpy(),
        "transformers_torch": lambda: _hf_generate(torch, hf, ids, args.new),
        "torch_forward_loop": lambda: _torch_loop(torch, hf, ids, args.new),
    }
    outputs = {name: run() for name, run in runs.items()}  # warm-up (Numba compiles)
    for name, out in outputs.items():
        if not np.array_equal(out, outputs["transformers_torch"]):
            raise AssertionError(f"{name} tokens differ from transformers'")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    result = {"config": vars(args),
              "tokens_per_s": {n: args.new / statistics.median(t) for n, t in times.items()},
              "best_tokens_per_s": {n: args.new / min(t) for n, t in times.items()}}
    tps = result["tokens_per_s"]
    result["ember_kv_over_torch"] = tps["ember_kv_cache"] / tps["transformers_torch"]
    result["ember_kv_over_torch_loop"] = tps["ember_kv_cache"] / tps["torch_forward_loop"]
    result["kv_cache_speedup"] = tps["ember_kv_cache"] / tps["ember_no_cache"]
    for name, v in tps.items():
        print(f"{name:20s} {v:8.1f} tokens/s (best {result['best_tokens_per_s'][name]:.1f})")
    print(f"ember (KV cache) / transformers generate: {result['ember_kv_over_torch']:.2f}x, "
          f"/ bare torch loop: {result['ember_kv_over_torch_loop']:.2f}x; "
          f"KV cache speedup in ember: {result['kv_cache_speedup']:.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


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
