"""Speculative decoding speed and acceptance: ``python -m bench.llm_speculative [--json PATH]``.

The target is the model ``python -m ember.examples.train_gpt`` writes to ``out/stdlib-llama``;
the draft a 1-layer, 64-wide Llama trained the same way, on the same corpus and tokenizer,
into ``out/stdlib-llama-draft`` (trained here, within ``--train-seconds``, when missing; or
``--draft self:N``: the target's first N layers with its final norm and head, untrained).
Without a trained target, a small target and draft are first trained here on part of the
standard library (``out/bench-speculative``), so the numbers then come from a weaker pair.

Greedy decoding of ``--new`` tokens after a code prompt, interleaved round by round in one
process: ember's plain ``generate`` (KV cache), ember's ``speculative_generate`` with
``--k`` draft tokens per round, ``transformers``' greedy ``generate`` on torch (fp32 eager,
its dynamic KV cache) and ``transformers``' assisted generation with the same draft and a
constant ``--k`` (torch's speculative decoding). tokens/s is new tokens over the whole call
(prompt included), median (and best) over the rounds; all four must give the same tokens.
``--sample`` adds ember plain and speculative sampling (temperature 0.8, top-p 0.95, seeded).
Printed per speculative run: acceptance rate, tokens per target forward and the speed-up over
the plain run. Both libraries run on ``--threads`` threads (default 1).

In ``python -m bench`` (workload ``llm_speculative``, k = 4, 64 tokens) the "ember" side is
speculative decoding and the "torch" side ``transformers``' greedy ``generate``; the equal
"loss" columns are the sums of the generated ids.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

TARGET = "out/stdlib-llama"
DRAFT = "out/stdlib-llama-draft"
QUICK = "out/bench-speculative"
DRAFT_SIZE = dict(hidden_size=64, num_layers=1, num_heads=4, num_kv_heads=2,
                  intermediate_size=176)
QUICK_TARGET = dict(max_files=60, vocab_size=1024, hidden_size=128, num_layers=4, num_heads=4,
                    num_kv_heads=2, intermediate_size=352, context=128, max_steps=300)
TRAIN_SECONDS = 600.0  # a 1-layer draft's 500 steps take a few minutes on a busy machine
PROMPT = ('def read_config(path):\n    """Return the settings stored in the file at '
          'path."""\n    with open(path) as f:\n')


def _train(out: Path, seconds: float, **fields):
    """Train with ``ember.examples.train_gpt`` into ``out`` (a schedule of ``max_steps``
    stopped after ``seconds``); return the directory."""
    from ember.examples.train_gpt import TrainConfig, train

    cfg = TrainConfig(**{**dict(eval_interval=100, checkpoint_interval=10**9), **fields})
    print(f"training {out} for at most {seconds:.0f} s: {fields}", flush=True)
    train(cfg, out, time_budget=seconds, progress=False, log=lambda *a: None)
    return out


def _train_draft(target_dir: Path, out: Path, seconds: float) -> Path:
    """A draft of ``DRAFT_SIZE`` trained with the target's stored training config otherwise
    (corpus, vocabulary size, context, schedule), so its tokenizer, trained on the same
    files, is the target's (checked)."""
    import ember
    from ember.examples.train_gpt import TrainConfig

    stored = ember.load(target_dir / "checkpoint.pt")["config"]
    fields = {f.name: stored[f.name] for f in dataclasses.fields(TrainConfig)
              if f.name in stored and "interval" not in f.name}
    _train(out, seconds, **{**fields, **DRAFT_SIZE})
    if (out / "tokenizer.json").read_bytes() != (target_dir / "tokenizer.json").read_bytes():
        shutil.rmtree(out)
        raise RuntimeError(f"the draft trained into {out} got another tokenizer than "
                           f"{target_dir}")
    return out


def _self_draft(target, layers: int):
    """The target's first ``layers`` decoder layers, final norm and head (shared weights)."""
    from ember.models.llama import LlamaForCausalLM

    config = dataclasses.replace(target.config, num_hidden_layers=layers)
    draft = LlamaForCausalLM(config)
    draft.load_state_dict({k: v for k, v in target.state_dict().items()
                           if not k.startswith("model.layers.")
                           or int(k.split(".")[2]) < layers})
    return draft.eval()


def load_pair(target: str, draft: str, train_seconds: float):
    """(target dir, target model, draft model, what the draft is), training what is missing."""
    from ember.models.llama import LlamaForCausalLM

    target_dir = Path(target)
    if not (target_dir / "config.json").exists():
        print(f"no trained model in {target_dir}: training a small pair in {QUICK}")
        target_dir = Path(QUICK) / "target"
        if not (target_dir / "config.json").exists():
            _train(target_dir, train_seconds, **QUICK_TARGET)
        if not draft.startswith("self:"):
            draft = str(Path(QUICK) / "draft")
    model = LlamaForCausalLM.from_pretrained(target_dir)
    if draft.startswith("self:"):
        layers = int(draft.split(":")[1])
        return target_dir, model, _self_draft(model, layers), f"target's first {layers} layers"
    draft_dir = Path(draft)
    if not (draft_dir / "config.json").exists():
        _train_draft(target_dir, draft_dir, train_seconds)
    elif (draft_dir / "tokenizer.json").read_bytes() != \
            (target_dir / "tokenizer.json").read_bytes():
        raise RuntimeError(f"{draft_dir} has another tokenizer than {target_dir} (retrained "
                           "target?): delete it to train a draft for this target")
    return target_dir, model, LlamaForCausalLM.from_pretrained(draft_dir), str(draft_dir)


def _hf_pair(target, draft):
    """The same target and draft as ``transformers`` models (through ``save_pretrained``),
    with EOS stopping off so that every call decodes the same number of tokens."""
    import tempfile

    import transformers

    transformers.logging.set_verbosity_error()  # no deprecation notes, no loading bars
    transformers.logging.disable_progress_bar()
    models = []
    for model in (target, draft):
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            hf = transformers.LlamaForCausalLM.from_pretrained(d).float().eval()
        hf.generation_config.eos_token_id = None
        hf.generation_config.pad_token_id = 0
        models.append(hf)
    return models


SAMPLING = dict(do_sample=True, temperature=0.8, top_p=0.95)


def runs(target, draft, ids: np.ndarray, new: int, k: int, sample: bool = False):
    """name -> call returning the token ids (1, S + new), and the dict where the speculative
    calls leave their stats (by name). With ``sample``, ember plain and speculative decoding
    with ``SAMPLING`` (seeded, so every round draws the same tokens) are added."""
    import torch

    import ember
    from ember.serve.speculative import speculative_generate

    hf, hf_draft = _hf_pair(target, draft)
    hf_draft.generation_config.num_assistant_tokens = k
    hf_draft.generation_config.num_assistant_tokens_schedule = "constant"
    stats = {}

    def spec(name: str, **settings):
        gen = ember.Generator().manual_seed(0) if settings else None
        out, stats[name] = speculative_generate(target, draft, ember.tensor(ids), new,
                                                num_draft_tokens=k, generator=gen, **settings)
        return out.numpy()

    def hf_generate(**extra):
        with torch.no_grad():
            return hf.generate(torch.from_numpy(ids), max_new_tokens=new, do_sample=False,
                               **extra).numpy()

    calls = {"ember_plain": lambda: target.generate(ember.tensor(ids), new).numpy(),
             "ember_speculative": lambda: spec("ember_speculative"),
             "torch_plain": hf_generate,
             "torch_assisted": lambda: hf_generate(assistant_model=hf_draft)}
    if sample:
        calls["ember_plain_sampled"] = lambda: target.generate(
            ember.tensor(ids), new, generator=ember.Generator().manual_seed(0),
            **SAMPLING).numpy()
        calls["ember_speculative_sampled"] = lambda: spec("ember_speculative_sampled",
                                                          **SAMPLING)
    return calls, stats


def _check_same(outputs: dict) -> None:
    """Greedy calls must agree token for token (sampled ones draw differently)."""
    ref = outputs["torch_plain"]
    for name, out in outputs.items():
        if not name.endswith("_sampled") and not np.array_equal(out, ref):
            raise AssertionError(f"{name} tokens differ from transformers' greedy ones")


def _workload():
    """``python -m bench`` sides: ember speculative ("ember") vs torch plain greedy
    ("torch"), ember plain and torch assisted generation as extra sides."""
    from bench.run import Side, _libs

    _libs()
    target_dir, target, draft, _ = load_pair(TARGET, DRAFT, TRAIN_SECONDS)
    ids = np.asarray([_tokenizer_ids(target_dir)])
    calls, _ = runs(target, draft, ids, 64, 4)
    names = {"ember": "ember_speculative", "torch": "torch_plain",
             "ember_plain": "ember_plain", "torch_assisted": "torch_assisted"}
    return {side: Side(lambda run=calls[name]: float(run().sum()))
            for side, name in names.items()}, False


def _tokenizer_ids(target_dir: Path) -> list[int]:
    """``PROMPT`` in the target's tokenizer."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(target_dir / "tokenizer.json")).encode(PROMPT).ids


WORKLOADS = {"llm_speculative": _workload}
ROUNDS = {"llm_speculative": 5}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default=TARGET, help="HF-format target directory")
    p.add_argument("--draft", default=DRAFT, help="HF-format draft directory, or self:N")
    p.add_argument("--train-seconds", type=float, default=TRAIN_SECONDS,
                   help="budget for training a missing draft (or each of the quick pair)")
    p.add_argument("--k", type=int, default=4, help="draft tokens per round")
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sample", action="store_true",
                   help="also time ember plain and speculative sampling (temperature 0.8, "
                        "top-p 0.95)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    import torch

    import ember
    torch.set_num_threads(args.threads)
    ember.set_num_threads(args.threads)
    target_dir, target, draft, draft_desc = load_pair(args.target, args.draft,
                                                      args.train_seconds)
    ids = np.asarray([_tokenizer_ids(target_dir)])
    calls, stats = runs(target, draft, ids, args.new, args.k, args.sample)
    outputs = {name: call() for name, call in calls.items()}  # warm-up (Numba compiles)
    _check_same(outputs)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    tps = {n: args.new / statistics.median(t) for n, t in times.items()}
    result = {"config": {**vars(args), "target": str(target_dir), "draft": draft_desc,
                         "prompt_tokens": ids.shape[1], "cpu_count": os.cpu_count()},
              "tokens_per_s": tps,
              "best_tokens_per_s": {n: args.new / min(t) for n, t in times.items()},
              "speculative": {}, "torch_assisted_speedup":
              tps["torch_assisted"] / tps["torch_plain"]}
    print(f"target {target_dir}, draft {draft_desc}, k={args.k}, {args.new} new tokens")
    for name, v in tps.items():
        print(f"{name:25s} {v:8.1f} tokens/s (best {result['best_tokens_per_s'][name]:.1f})")
    for name, st in stats.items():
        plain = name.replace("speculative", "plain")
        entry = {"acceptance_rate": st.acceptance_rate, "accepted": st.accepted,
                 "proposed": st.proposed, "tokens_per_round": st.tokens_per_round,
                 "target_calls": st.target_calls, "draft_calls": st.draft_calls,
                 "speedup_over_ember_plain": tps[name] / tps[plain],
                 "over_torch_plain": tps[name] / tps["torch_plain"]}
        result["speculative"][name] = entry
        print(f"{name}: acceptance {st.acceptance_rate:.2f} ({st.accepted}/{st.proposed}), "
              f"{st.tokens_per_round:.2f} tokens per target forward; {plain} -> {name} "
              f"{entry['speedup_over_ember_plain']:.2f}x, torch plain -> {name} "
              f"{entry['over_torch_plain']:.2f}x")
    print(f"torch plain -> torch assisted: {result['torch_assisted_speedup']:.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
