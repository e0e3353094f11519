"""Train a small Llama-style code model on the Python standard library, with ember alone.

    python -m ember.examples.train_gpt                  # the defaults: ~15 minutes on 2 CPU cores
    python -m ember.examples.train_gpt --resume         # continue an interrupted run, exactly
    tensorboard --logdir out/stdlib-llama/runs          # the loss curves
    python -m ember.serve out/stdlib-llama              # serve what it wrote

The corpus is this interpreter's standard library: the ``*.py`` files under
``sysconfig.get_paths()["stdlib"]`` in sorted order, without third-party packages and test
suites. It is split into training and validation *by file*, on a hash of each file's
relative path, so a file's side never depends on which other files exist. With ``--chat`` (the
default) each documented public top-level function also becomes a ChatML exchange (the
docstring's first line asked for, the source answered), so that the chat template the server
applies means something to the model and it learns to end a reply with ``<|im_end|>``.

A byte-level BPE tokenizer (``tokenizers``) is trained on the training files; the model is
``ember.models.llama.LlamaForCausalLM`` with tied embeddings, trained with AdamW (weight decay
on matrices only), linear warm-up then cosine decay, and gradient clipping.

Exact resume: a batch depends only on the data position (epoch, cursor): fixed windows of the
token stream, visited in a permutation seeded by (seed, epoch). A checkpoint holds that
position with the model, optimizer, scheduler and RNG states and the loss history, written
atomically (``ember.save`` writes a temporary file and renames it). A run stopped by Ctrl-C
or SIGTERM (at the next step boundary), ``--time-budget`` or ``--stop-after`` and continued
with ``--resume`` gives the same losses and weights, bit for bit, as one that never stopped.
For that reason the learning-rate schedule depends on ``--max-steps`` alone, never on the
time budget.

Whenever it stops, the output directory holds what ``LlamaForCausalLM.from_pretrained``,
``transformers`` and ``ember.serve`` read: ``config.json``, ``model.safetensors``,
``tokenizer.json`` and ``tokenizer_config.json`` (ChatML template, eos ``<|im_end|>``); beside
them the training state ``checkpoint.pt`` and the TensorBoard logs ``runs/``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import math
import os
import signal
import sysconfig
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import ember
from ember import nn
from ember.models import _hf
from ember.models.llama import LlamaConfig, LlamaForCausalLM
from ember.nn import functional as F

__all__ = ["TrainConfig", "TrainResult", "Batches", "chat_examples", "chatml", "main",
           "split_files", "stdlib_files", "train"]

CHECKPOINT = "checkpoint.pt"
EXCLUDED_DIRS = ("site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test")


@dataclass
class TrainConfig:
    """Everything that decides the trained model. A checkpoint stores it, and ``--resume``
    continues with the stored one (the command line's model and data flags are ignored)."""

    stdlib: str = ""  # "" for this interpreter's standard library
    exclude: list[str] = field(default_factory=lambda: list(EXCLUDED_DIRS))
    max_files: int = 0  # 0 for all; else this many, evenly spaced in sorted order
    val_percent: float = 5.0
    chat: bool = True
    vocab_size: int = 4096
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 8
    num_kv_heads: int = 4
    intermediate_size: int = 704
    context: int = 256
    batch_size: int = 8
    max_steps: int = 500
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 30
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    init_std: float = 0.02
    eval_interval: int = 50
    eval_batches: int = 8
    checkpoint_interval: int = 50
    seed: int = 0


@dataclass
class TrainResult:
    """What one invocation of ``train`` leaves: the config it followed, the model, its
    tokenizer, the step reached, whether the schedule is complete, and the loss history of
    the whole run so far (``train_loss[i]`` is step ``i + 1``'s; ``val_loss`` holds
    ``[step, loss]`` pairs)."""

    config: TrainConfig
    model: LlamaForCausalLM
    tokenizer: Any
    step: int
    finished: bool
    history: dict[str, list]


# --- data -------------------------------------------------------------------------------


def stdlib_files(root: str | os.PathLike, exclude: list[str] | tuple[str, ...] = EXCLUDED_DIRS,
                 max_files: int = 0) -> list[str]:
    """Relative POSIX paths of the ``*.py`` files under ``root`` outside the ``exclude``
    directory names, sorted; with ``max_files``, that many evenly spaced ones."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in exclude]
        rel = Path(dirpath).relative_to(root)
        found += [(rel / name).as_posix() for name in filenames if name.endswith(".py")]
    found.sort()
    if 0 < max_files < len(found):
        found = [found[i] for i in np.linspace(0, len(found) - 1, max_files).round().astype(int)]
    return found


def split_files(files: list[str], val_percent: float) -> tuple[list[str], list[str]]:
    """(train, val): a file is validation when the CRC-32 of its path falls in the lowest
    ``val_percent`` percent, a choice that depends on the file alone."""
    def is_val(path: str) -> bool:
        return zlib.crc32(path.encode()) % 10_000 < val_percent * 100

    return [f for f in files if not is_val(f)], [f for f in files if is_val(f)]


def chatml(messages: list[dict[str, str]]) -> str:
    """``messages`` as ``_hf.CHATML_TEMPLATE`` renders them (without a generation prompt)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def chat_request(name: str, summary: str) -> str:
    """The user's side of a training exchange (and of the sample at the end)."""
    return f"Write a Python function `{name}`: {summary}"


def chat_examples(source: str, max_chars: int = 1200) -> list[str]:
    """ChatML exchanges from a module's documented public top-level functions of at most
    ``max_chars`` characters: the docstring's first line asked for, the source answered."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or \
                node.name.startswith("_"):
            continue
        doc, code = ast.get_docstring(node), ast.get_source_segment(source, node)
        if doc and code and len(code) <= max_chars:
            out.append(chatml([
                {"role": "user", "content": chat_request(node.name, doc.strip().splitlines()[0])},
                {"role": "assistant", "content": f"```python\n{code}\n```"}]))
    return out


def read_documents(root: Path, files: list[str], chat: bool) -> list[str]:
    """Each file's text (files that are not UTF-8 are skipped), then, with ``chat``, its
    chat exchanges."""
    docs: list[str] = []
    for rel in files:
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        docs.append(text)
        if chat:
            docs += chat_examples(text)
    return docs


def encode(tokenizer, docs: list[str]) -> np.ndarray:
    """One token stream: every document followed by ``<|endoftext|>``."""
    eot = tokenizer.token_to_id("<|endoftext|>")
    ids = [np.append(np.asarray(e.ids, dtype=np.int32), eot)
           for e in tokenizer.encode_batch(docs)]
    return np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)


class Batches:
    """Training batches: the stream's non-overlapping windows of ``context + 1`` tokens,
    ``batch_size`` at a time in a permutation seeded by ``(seed, epoch)`` (a partial last
    batch is dropped). The batch is a function of ``(epoch, cursor)`` alone, so those two
    numbers are all a checkpoint needs to continue the data exactly."""

    def __init__(self, tokens: np.ndarray, context: int, batch_size: int, seed: int) -> None:
        self.tokens, self.context, self.batch_size, self.seed = tokens, context, batch_size, seed
        self.windows = (len(tokens) - 1) // context
        if self.windows < batch_size:
            raise ValueError(f"{len(tokens)} training tokens make {self.windows} windows of "
                             f"{context + 1}, fewer than batch_size={batch_size}")
        self.epoch, self.cursor = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.windows)

    def next(self) -> np.ndarray:
        """The next (batch_size, context + 1) int64 batch."""
        if self.cursor + self.batch_size > self.windows:
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        starts = self._order[self.cursor:self.cursor + self.batch_size] * self.context
        self.cursor += self.batch_size
        return np.stack([self.tokens[s:s + self.context + 1] for s in starts]).astype(np.int64)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._order = self._permutation(self.epoch)


def validation_windows(tokens: np.ndarray, context: int, count: int) -> np.ndarray:
    """``count`` windows of ``context + 1`` tokens evenly spread over the validation stream
    (fewer when it is short): the fixed set every evaluation scores."""
    if len(tokens) < context + 1:
        raise ValueError(f"the validation files give {len(tokens)} tokens, fewer than one "
                         f"window of {context + 1}: raise --val-percent or --max-files")
    starts = np.unique(np.linspace(0, len(tokens) - context - 1, count).round().astype(int))
    return np.stack([tokens[s:s + context + 1] for s in starts]).astype(np.int64)


# --- model and optimisation ---------------------------------------------------------------


def build_model(cfg: TrainConfig, vocab_size: int, eos_token_id: int) -> LlamaForCausalLM:
    """A Llama with tied embeddings, its matrices drawn from N(0, init_std) as
    ``transformers`` initialises Llama (ember's layer defaults suit no transformer LM)."""
    ember.manual_seed(cfg.seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.context, tie_word_embeddings=True, bos_token_id=None,
        eos_token_id=eos_token_id))
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, 0.0, cfg.init_std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
    return model


class WarmupCosine:
    """The learning-rate factor at a step: linear warm-up to 1 over ``warmup`` steps, then
    cosine decay to ``min_ratio`` at ``total``. A callable object rather than a function, so
    ``LambdaLR.state_dict`` saves it."""

    def __init__(self, warmup: int, total: int, min_ratio: float) -> None:
        self.warmup, self.total, self.min_ratio = warmup, total, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, cfg: TrainConfig):
    """AdamW (betas 0.9, 0.95) decaying matrices only, and its warm-up + cosine scheduler."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = ember.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))
    schedule = WarmupCosine(cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio)
    return optimizer, ember.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def lm_loss(model: LlamaForCausalLM, batch: np.ndarray) -> ember.Tensor:
    """Mean next-token cross-entropy of (B, S + 1) token windows."""
    ids = ember.from_numpy(batch)
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


@ember.no_grad()
def evaluate(model: LlamaForCausalLM, windows: np.ndarray, batch_size: int) -> float:
    """Mean validation loss per token over ``windows``."""
    model.eval()
    total = sum(lm_loss(model, windows[i:i + batch_size]).item() * len(windows[i:i + batch_size])
                for i in range(0, len(windows), batch_size))
    model.train()
    return total / len(windows)


# --- the run ------------------------------------------------------------------------------


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[threading.Event]:
    """While active, a first Ctrl-C (or SIGTERM, as job schedulers send) only sets the yielded
    event, so training stops at a step boundary with a consistent checkpoint; a second one
    interrupts at once. Off the main thread (where signals cannot be caught) the event is
    never set."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def prepare_tokenizer(cfg: TrainConfig, out: Path, train_docs: list[str], reuse: bool):
    """The run's tokenizer: the saved one when continuing, else trained on the training
    documents and saved (with the ChatML ``tokenizer_config.json``) into ``out``."""
    if reuse and (out / "tokenizer.json").exists():
        return _hf.load_tokenizer(out)
    tokenizer = _hf.train_byte_level_bpe(train_docs, cfg.vocab_size)
    _hf.save_chat_tokenizer(tokenizer, out, model_max_length=cfg.context)
    return tokenizer


def train(cfg: TrainConfig, out: str | os.PathLike, *, resume: bool = False,
          time_budget: float | None = None, stop_after: int | None = None,
          progress: bool = True, log=print) -> TrainResult:
    """Train (or, with ``resume``, continue from ``out/checkpoint.pt``) until ``max_steps``,
    ``time_budget`` seconds since the call, ``stop_after`` steps in this call, or a signal;
    checkpoint and write the Hugging Face directory ``out``. With ``resume`` the stored
    config replaces ``cfg``."""
    from tqdm.auto import tqdm

    from ember.utils.tensorboard import SummaryWriter

    began = time.monotonic()
    out = Path(out)
    state = None
    if resume:
        if not (out / CHECKPOINT).exists():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {out}")
        state = ember.load(out / CHECKPOINT)
        ignored = [k for k, v in dataclasses.asdict(cfg).items() if state["config"][k] != v]
        if ignored:
            log(f"resuming with the checkpoint's config; ignoring the new {', '.join(ignored)}")
        cfg = TrainConfig(**state["config"])
    out.mkdir(parents=True, exist_ok=True)

    root = Path(cfg.stdlib or sysconfig.get_paths()["stdlib"])
    train_files, val_files = split_files(stdlib_files(root, cfg.exclude, cfg.max_files),
                                         cfg.val_percent)
    log(f"corpus: {root}: {len(train_files)} training and {len(val_files)} validation files")
    train_docs = read_documents(root, train_files, cfg.chat)
    tokenizer = prepare_tokenizer(cfg, out, train_docs, reuse=resume)
    train_tokens = encode(tokenizer, train_docs)
    val_windows = validation_windows(encode(tokenizer, read_documents(root, val_files, cfg.chat)),
                                     cfg.context, cfg.eval_batches * cfg.batch_size)
    log(f"tokens: {len(train_tokens):,} training, {val_windows[:, 1:].size:,} scored for "
        f"validation (vocabulary {tokenizer.get_vocab_size()})")

    model = build_model(cfg, tokenizer.get_vocab_size(), tokenizer.token_to_id("<|im_end|>"))
    log(f"model: {sum(p.numel() for p in model.parameters()):,} parameters")
    optimizer, scheduler = build_optimizer(model, cfg)
    batches = Batches(train_tokens, cfg.context, cfg.batch_size, cfg.seed)
    step, history = 0, {"train_loss": [], "val_loss": []}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        batches.load_state_dict(state["data"])
        ember.set_rng_state(state["rng"])
        step, history = state["step"], state["history"]
        log(f"resumed at step {step}")

    def checkpoint() -> None:
        ember.save({"step": step, "config": dataclasses.asdict(cfg), "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "data": batches.state_dict(), "rng": ember.get_rng_state(),
                    "history": history}, out / CHECKPOINT)

    writer = SummaryWriter(str(out / "runs"), purge_step=step or None)
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress, unit="step",
               dynamic_ncols=True)
    first, tokens_per_step = step, cfg.batch_size * cfg.context
    loop_began = time.monotonic()
    with deferred_interrupt() as interrupted:
        while step < cfg.max_steps:
            if interrupted.is_set() or (stop_after is not None and step - first >= stop_after) \
                    or (time_budget is not None and time.monotonic() - began >= time_budget):
                break
            loss = lm_loss(model, batches.next())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            step += 1
            value = loss.item()
            history["train_loss"].append(value)
            for tag, scalar in (("train/loss", value), ("train/lr", lr),
                                ("train/grad_norm", grad_norm)):
                writer.add_scalar(tag, scalar, step)
            bar.update(1)
            rate = (step - first) * tokens_per_step / (time.monotonic() - loop_began)
            bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}", tok_s=f"{rate:.0f}")
            if step % cfg.eval_interval == 0 or step == cfg.max_steps:
                val = evaluate(model, val_windows, cfg.batch_size)
                history["val_loss"].append([step, val])
                writer.add_scalar("val/loss", val, step)
                bar.write(f"step {step}: train loss {value:.4f}, val loss {val:.4f}")
            if step % cfg.checkpoint_interval == 0:
                checkpoint()
    bar.close()
    writer.close()
    checkpoint()
    model.save_pretrained(out)
    finished = step >= cfg.max_steps
    log(f"{'finished' if finished else 'stopped (continue with --resume)'} at step {step} "
        f"after {time.monotonic() - began:.0f} s; wrote {out}")
    return TrainResult(cfg, model.eval(), tokenizer, step, finished, history)


def sample(model: LlamaForCausalLM, tokenizer, prompt: str, max_new_tokens: int,
           stop_token: str, seed: int = 0) -> str:
    """A sampled continuation of ``prompt`` (temperature 0.8, top-p 0.95), up to
    ``stop_token``."""
    ids = ember.tensor([tokenizer.encode(prompt).ids])
    limit = max(0, min(max_new_tokens, model.config.max_position_embeddings - ids.shape[1]))
    output = model.generate(ids, limit, tokenizer.token_to_id(stop_token), do_sample=True,
                            temperature=0.8, top_p=0.95, seed=seed)
    return tokenizer.decode(output[0, ids.shape[1]:].tolist(), skip_special_tokens=False)


# --- command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ember.examples.train_gpt",
        description="Train a small Llama-style model on the Python standard library.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainConfig()
    parser.add_argument("--out", default="out/stdlib-llama", help="output directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoint.pt with its stored config")
    parser.add_argument("--time-budget", type=float, default=840.0,
                        help="seconds after which to stop with a checkpoint (0: none); the "
                             "learning-rate schedule still follows --max-steps")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop with a checkpoint after this many steps in this run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--sample-tokens", type=int, default=120,
                        help="tokens of the samples printed at the end (0: none)")
    for f in dataclasses.fields(TrainConfig):
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        elif isinstance(value, list):
            parser.add_argument(flag, nargs="*", default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> TrainResult:
    """Run the command line; print the losses and samples."""
    args = parse_args(argv)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    result = train(cfg, args.out, resume=args.resume, time_budget=args.time_budget or None,
                   stop_after=args.stop_after, progress=not args.no_progress)
    if result.history["val_loss"]:
        curve = ", ".join(f"{s}: {v:.3f}" for s, v in result.history["val_loss"])
        print(f"validation loss by step: {curve}")
    if args.sample_tokens:
        print("--- sample (code) ---")
        print("def" + sample(result.model, result.tokenizer, "def", args.sample_tokens,
                             "<|endoftext|>"))
        if result.config.chat:
            ask = chat_request("is_palindrome", "Return True if s reads the same backwards.")
            prompt = chatml([{"role": "user", "content": ask}]) + "<|im_start|>assistant\n"
            print("--- sample (chat) ---")
            print(prompt + sample(result.model, result.tokenizer, prompt, args.sample_tokens,
                                  "<|im_end|>"))
    return result


if __name__ == "__main__":
    main()
