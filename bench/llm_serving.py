"""Serving throughput with continuous batching: ``python -m bench.llm_serving [--model gpt2]``.

N concurrent streams (1, 4, 8) of greedy requests, each a different prompt of ``--prompt``
tokens asking for ``--new`` tokens, all arriving at once, served by ``ember.serve.Engine``
(continuous batching over its paged KV cache: one forward per step for all of them).
Reported per N: the median time to first token (mean over the streams) and aggregate
tokens/s (all new tokens over the wall time until the last stream ends), next to
``transformers``' ``generate`` on the same N prompts as one static batch (torch fp32
eager, its dynamic KV cache). Every request must produce the tokens of the torch run.

Model: the Llama of ``bench.llm_decode`` (default) or a GPT-2-small-shaped random GPT-2
(``--model gpt2``: 12 layers of width 768, vocabulary 50257). Both libraries run on
``--threads`` threads (default 1). ``python -m bench`` runs the same comparison as the
``serve_streams_N`` workloads (per step: all N streams to the end).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np

STREAMS = (1, 4, 8)
PROMPT, NEW = 32, 32


class _IdTokenizer:
    """A stand-in tokenizer for random-weight models: one character per id and no eos,
    so every request runs to ``max_tokens``."""

    eos_token_id = -1

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return "".join(chr(0x100 + int(i)) for i in ids)


def _models(kind: str):
    """(torch, ember, transformers model, ember model) with the same random weights."""
    import torch
    import transformers

    import ember
    from ember.models.gpt2 import GPT2LMHeadModel
    from ember.models.llama import LlamaForCausalLM

    torch.manual_seed(0)
    if kind == "gpt2":
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config())
        cls = GPT2LMHeadModel
    else:
        hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=4096, hidden_size=256, intermediate_size=256 * 8 // 3,
            num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
            max_position_embeddings=1024))
        cls = LlamaForCausalLM
    hf = hf.float().eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d, safe_serialization=True)
        model = cls.from_pretrained(d)
    return torch, ember, hf, model


def _prompts(vocab: int, n: int, length: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, vocab, size=(n, length))


def serve(model, prompts: np.ndarray, new: int) -> tuple[dict, float]:
    """All ``prompts`` as concurrent greedy requests of ``new`` tokens: their tokens and
    the mean time to first token (s)."""
    from ember.serve.engine import Engine, SamplingParams

    engine = Engine(model, _IdTokenizer(), max_batch=len(prompts))
    start = time.perf_counter()
    for i, p in enumerate(prompts):
        engine.add_request(str(i), p.tolist(), SamplingParams(max_tokens=new, temperature=0))
    tokens: dict[str, list[int]] = {}
    first: dict[str, float] = {}
    while engine.has_unfinished_requests():
        for out in engine.step():
            first.setdefault(out.request_id, time.perf_counter() - start)
            tokens.setdefault(out.request_id, []).extend(out.new_token_ids)
    return tokens, statistics.mean(first.values())


def _hf_batch(torch, hf, prompts: np.ndarray, new: int) -> np.ndarray:
    with torch.no_grad():
        return hf.generate(torch.from_numpy(prompts), max_new_tokens=new, min_new_tokens=new,
                           do_sample=False, pad_token_id=0).numpy()[:, prompts.shape[1]:]


def streams(n: int, kind: str = "llama"):
    """``python -m bench`` sides: ``n`` concurrent streams through the engine vs one
    static batch of ``generate`` in ``transformers``."""
    from bench.run import Side, _libs

    _libs()
    torch, _, hf, model = _models(kind)
    prompts = _prompts(hf.config.vocab_size, n, PROMPT)

    def ember_step() -> None:
        serve(model, prompts, NEW)

    def torch_step() -> None:
        _hf_batch(torch, hf, prompts, NEW)
    return {"ember": Side(ember_step), "torch": Side(torch_step)}, False


WORKLOADS = {f"serve_streams_{n}": (lambda n=n: streams(n)) for n in STREAMS}
ROUNDS = {name: 3 for name in WORKLOADS}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["llama", "gpt2"], default="llama")
    p.add_argument("--prompt", type=int, default=PROMPT)
    p.add_argument("--new", type=int, default=NEW)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--streams", type=int, nargs="*", default=list(STREAMS))
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch, ember, hf, model = _models(args.model)
    torch.set_num_threads(args.threads)
    ember.set_num_threads(args.threads)
    result: dict = {"config": vars(args), "streams": {}}
    for n in args.streams:
        prompts = _prompts(hf.config.vocab_size, n, args.prompt)
        want = _hf_batch(torch, hf, prompts, args.new)  # also the warm-up
        tokens, _ = serve(model, prompts, args.new)
        if [tokens[str(i)] for i in range(n)] != want.tolist():
            raise AssertionError(f"{n} streams: engine tokens differ from transformers'")
        ember_t, ttft, torch_t = [], [], []
        for _ in range(args.rounds):  # interleaved
            t0 = time.perf_counter()
            ttft.append(serve(model, prompts, args.new)[1])
            ember_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _hf_batch(torch, hf, prompts, args.new)
            torch_t.append(time.perf_counter() - t0)
        total = n * args.new
        row = {"ember_tokens_per_s": total / statistics.median(ember_t),
               "ember_ttft_s": statistics.median(ttft),
               "torch_static_batch_tokens_per_s": total / statistics.median(torch_t)}
        result["streams"][n] = row
        print(f"{n} streams: ember engine {row['ember_tokens_per_s']:8.1f} tokens/s "
              f"(TTFT {row['ember_ttft_s'] * 1e3:7.1f} ms), transformers static batch "
              f"{row['torch_static_batch_tokens_per_s']:8.1f} tokens/s", flush=True)
    one = result["streams"].get(1)
    if one:
        result["speedup_over_one_stream"] = {
            n: r["ember_tokens_per_s"] / one["ember_tokens_per_s"]
            for n, r in result["streams"].items()}
        print("ember aggregate throughput over one stream: " + ", ".join(
            f"{n} streams {s:.2f}x" for n, s in result["speedup_over_one_stream"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
