"""Run a corpus of public PyTorch programs under torch and under ``python -m ember.run``
and write ``docs/compat.md``.

    python scripts/compat_corpus.py                 # every program, then docs/compat.md
    python scripts/compat_corpus.py -k makemore     # programs whose name contains a word

The programs are not stored here: each is taken, at a pinned commit, from a git snapshot
of its public repository (``--mirror DIR`` holds ``owner+name/repo`` git directories, as
the ``fetch`` tool of this workplace writes them; without one, ``git clone --bare`` from
GitHub), extracted under ``build/compat_corpus/``, and run unmodified. They are adapted
only by their own command-line arguments (tiny sizes, one epoch), by local data where they
would download (synthetic MNIST/CIFAR from ``scripts/compat_stubs/torchvision``, a
CartPole in ``scripts/compat_stubs/gymnasium``, small text files), and by environment
variables listed per program. The same arguments, data and seed go to both runs.

Tolerance. ember's random number generator is not torch's, so the ember run starts from
other initial weights: its final loss is one more draw from the distribution of torch's
final losses over seeds, not a copy of one. The script runs torch ``--torch-seeds`` times
(the program's own seeding, then ``torch.manual_seed`` shifted by 1, 2, ... through a
launcher that patches nothing else) and accepts ember's metric when it lies in the 99%
prediction interval of that sample: ``|ember - mean| <= t(0.995, n-1) * sd *
sqrt(1 + 1/n)`` (Student's t), with a floor of 1e-3 relative for programs whose torch
runs do not vary. The time ratio is ember's wall time over torch's for the first run,
process start included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "compat_corpus"
STUBS = ROOT / "scripts" / "compat_stubs"
DOC = ROOT / "docs" / "compat.md"

# two-sided 99% quantiles of Student's t by degrees of freedom
_T99 = {1: 63.657, 2: 9.925, 3: 5.841, 4: 4.604, 5: 4.032, 6: 3.707, 7: 3.499, 8: 3.355}

EXAMPLES = ("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8")
MAKEMORE = ("karpathy/makemore", "988aa59e4d8fefa526d06f3b453ad116258398d4")
NANOGPT = ("karpathy/nanoGPT", "3adf61e154c3fe3fca428ad6bc3818b27a3b8291")
MINGPT = ("karpathy/minGPT", "37baab71b9abea1b76ab957409a1cc2fbfba8a26")
YUNJEY = ("yunjey/pytorch-tutorial", "0500d3df5a2a8080ccfccbc00aca0eacc21818db")
HYPERGAN = ("simeetnayan81/HyperGAN", "93a0f778bf46f8c46df802bdcba50c7866844bfc")


@dataclasses.dataclass
class Program:
    """One corpus entry: where it comes from, how it is run, what is compared."""

    name: str
    area: str
    source: tuple[str, str]          # (owner/name, commit)
    script: str                      # path inside the repository
    args: list[str]
    metric: str                      # regex; group 1 of its last match is the number
    metric_name: str = "final loss"
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    setup: Callable[[Path, Path], None] | None = None  # (repository dir, run dir)
    repo_on_path: bool = False       # the program imports its repository's package
    timeout: int = 900


# ---- data for programs that would download ------------------------------------------------

def _text(n_chars: int) -> str:
    """English prose from Python's standard library docstrings (fixed for a Python)."""
    import argparse as a
    import collections
    import json as j
    import pathlib
    import subprocess as s
    import textwrap
    import threading
    import unittest
    parts = []
    for mod in (a, collections, j, pathlib, s, textwrap, threading, unittest):
        for name in sorted(dir(mod)):
            doc = getattr(getattr(mod, name), "__doc__", None)
            if isinstance(doc, str) and len(doc) > 200:
                parts.append(doc)
    text = "\n".join(parts)
    return (text * (n_chars // len(text) + 1))[:n_chars]


def _wikitext_tiny(repo: Path, run: Path) -> None:
    """Slices of WikiText-2's test split (the snapshot leaves train.txt out: 10 MB)."""
    with open(repo / "word_language_model" / "data" / "wikitext-2" / "test.txt",
              encoding="utf-8") as f:
        lines = f.readlines()
    dst = run / "data" / "tiny"
    dst.mkdir(parents=True)
    for split, (a, b) in (("train", (0, 400)), ("valid", (400, 460)), ("test", (460, 520))):
        (dst / f"{split}.txt").write_text("".join(lines[a:b]), encoding="utf-8")


def _sine_wave(repo: Path, run: Path) -> None:
    subprocess.run([sys.executable, str(repo / "time_sequence_prediction" /
                                        "generate_sine_wave.py")], cwd=run, check=True,
                   env=_env({}, False), capture_output=True)


def _cora(repo: Path, run: Path) -> None:
    """A Cora-format graph: 1800 papers, 7 classes, bag-of-words features and citations
    that mostly stay inside a class (GAT's loader reads ./cora/cora.{content,cites})."""
    import numpy as np
    rng = np.random.RandomState(0)
    n, feats, classes = 1800, 120, 7
    labels = rng.randint(0, classes, n)
    topic = rng.rand(classes, feats) < 0.08
    words = (rng.rand(n, feats) < 0.02) | (topic[labels] & (rng.rand(n, feats) < 0.5))
    ids = rng.choice(10 ** 6, n, replace=False)
    (run / "cora").mkdir()
    with open(run / "cora" / "cora.content", "w") as f:
        for i in range(n):
            f.write(f"{ids[i]}\t" + "\t".join(map(str, words[i].astype(int))) +
                    f"\tclass_{labels[i]}\n")
    with open(run / "cora" / "cora.cites", "w") as f:
        for i in range(n):
            for _ in range(3):
                same = rng.rand() < 0.8
                pool = np.flatnonzero(labels == labels[i]) if same else np.arange(n)
                f.write(f"{ids[i]}\t{ids[rng.choice(pool)]}\n")


def _names(repo: Path, run: Path) -> None:
    shutil.copy(repo / "names.txt", run / "names.txt")


def _input_txt(repo: Path, run: Path) -> None:
    (run / "input.txt").write_text(_text(60_000), encoding="utf-8")


def _shakespeare_char(repo: Path, run: Path) -> None:
    data = repo / "data" / "shakespeare_char"
    if not (data / "train.bin").exists():  # prepare.py reads input.txt beside it
        (data / "input.txt").write_text(_text(200_000), encoding="utf-8")
        subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True,
                       capture_output=True, env=_env({}, False))
    shutil.copy(repo / "configurator.py", run / "configurator.py")  # train.py reads it from cwd
    dst = run / "data" / "shakespeare_char"
    dst.mkdir(parents=True)
    for name in ("train.bin", "val.bin", "meta.pkl"):
        shutil.copy(data / name, dst / name)


# ---- the corpus -----------------------------------------------------------------------------

_MNIST_TEST = r"Test set: Average loss: ([0-9.]+)"
_YUNJEY_ACC = r"Accuracy of the (?:model|network) on the (?:10000 )?test images: ([0-9.]+) %"

PROGRAMS = [
    Program("examples/mnist (CNN)", "vision", EXAMPLES, "mnist/main.py",
            ["--epochs", "1", "--batch-size", "32", "--test-batch-size", "128"], _MNIST_TEST,
            "test loss"),
    Program("examples/mnist_rnn (LSTM classifier)", "vision", EXAMPLES, "mnist_rnn/main.py",
            ["--epochs", "1", "--batch-size", "32", "--test-batch-size", "128"], _MNIST_TEST,
            "test loss"),
    Program("examples/mnist_forward_forward", "vision", EXAMPLES,
            "mnist_forward_forward/main.py",
            ["--epochs", "20", "--train_size", "512", "--test_size", "256"],
            r"test error: ([0-9.]+)", "test error"),
    Program("examples/mnist_hogwild (2 processes)", "vision", EXAMPLES,
            "mnist_hogwild/main.py", ["--epochs", "1", "--num-processes", "2"], _MNIST_TEST,
            "test loss"),
    Program("examples/vae", "VAE", EXAMPLES, "vae/main.py",
            ["--epochs", "2", "--batch-size", "64"], r"Test set loss: ([0-9.]+)", "test loss"),
    Program("examples/dcgan (fake data)", "GAN", EXAMPLES, "dcgan/main.py",
            ["--dataset", "fake", "--niter", "1", "--batchSize", "8", "--nz", "16",
             "--ngf", "8", "--ndf", "8", "--workers", "0", "--manualSeed", "1"],
            r"Loss_D: ([0-9.]+)", "Loss_D", env={"CORPUS_TRAIN_SIZE": "64"}),
    Program("examples/word_language_model (LSTM)", "NLP", EXAMPLES,
            "word_language_model/main.py",
            ["--data", "data/tiny", "--emsize", "32", "--nhid", "32", "--nlayers", "2",
             "--epochs", "1", "--bptt", "20", "--batch_size", "10", "--lr", "20"],
            r"End of training \| test loss\s+([0-9.]+)", "test loss", setup=_wikitext_tiny),
    Program("examples/word_language_model (Transformer)", "NLP", EXAMPLES,
            "word_language_model/main.py",
            ["--data", "data/tiny", "--model", "Transformer", "--emsize", "32", "--nhid", "32",
             "--nlayers", "2", "--nhead", "2", "--epochs", "1", "--bptt", "20",
             "--batch_size", "10", "--lr", "5"],
            r"End of training \| test loss\s+([0-9.]+)", "test loss", setup=_wikitext_tiny),
    Program("examples/time_sequence_prediction (LSTM, LBFGS)", "sequence", EXAMPLES,
            "time_sequence_prediction/train.py", ["--steps", "1"], r"test loss: ([0-9.e-]+)",
            "test loss", env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "MPLBACKEND": "Agg"},
            setup=_sine_wave),
    Program("examples/regression (polynomial fit)", "regression", EXAMPLES,
            "regression/main.py", [], r"after (\d+) batches", "batches to loss < 1e-3"),
    Program("examples/reinforce (CartPole)", "RL", EXAMPLES,
            "reinforcement_learning/reinforce.py", ["--log-interval", "1"],
            r"Episode (\d+)\t", "episodes to solve",
            env={"CORPUS_CARTPOLE_THRESHOLD": "60"}),
    Program("examples/actor_critic (CartPole)", "RL", EXAMPLES,
            "reinforcement_learning/actor_critic.py", ["--log-interval", "1"],
            r"Episode (\d+)\t", "episodes to solve",
            env={"CORPUS_CARTPOLE_THRESHOLD": "60"}),
    Program("examples/gat (graph attention, synthetic Cora)", "graph", EXAMPLES,
            "gat/main.py", ["--epochs", "20", "--hidden-dim", "8", "--num-heads", "2",
                            "--val-every", "10"],
            r"Test set results: loss ([0-9.]+)", "test loss", setup=_cora),
    Program("makemore (transformer)", "NLP", MAKEMORE, "makemore.py",
            ["-i", "names.txt", "-o", "out", "--type", "transformer", "--max-steps", "501",
             "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--n-embd2", "32",
             "--batch-size", "32"], r"test loss: ([0-9.]+)", "test loss", setup=_names),
    Program("makemore (GRU)", "NLP", MAKEMORE, "makemore.py",
            ["-i", "names.txt", "-o", "out", "--type", "gru", "--max-steps", "501",
             "--n-embd", "32", "--n-embd2", "32", "--batch-size", "32"],
            r"test loss: ([0-9.]+)", "test loss", setup=_names),
    Program("makemore (MLP)", "NLP", MAKEMORE, "makemore.py",
            ["-i", "names.txt", "-o", "out", "--type", "mlp", "--max-steps", "501",
             "--n-embd", "32", "--n-embd2", "32", "--batch-size", "32"],
            r"test loss: ([0-9.]+)", "test loss", setup=_names),
    Program("nanoGPT (shakespeare_char config)", "LLM training", NANOGPT, "train.py",
            ["../../../src/karpathy+nanoGPT-3adf61e1/config/train_shakespeare_char.py",
             "--device=cpu", "--compile=False", "--eval_iters=5", "--eval_interval=50",
             "--log_interval=10", "--block_size=32",
             "--batch_size=8", "--n_layer=2", "--n_head=2", "--n_embd=32", "--max_iters=50",
             "--lr_decay_iters=50", "--dropout=0.0", "--warmup_iters=5"],
            r"step 50: train loss [0-9.]+, val loss ([0-9.]+)", "val loss",
            setup=_shakespeare_char),
    Program("minGPT (adder)", "LLM training", MINGPT, "projects/adder/adder.py",
            ["--trainer.max_iters=60", "--trainer.batch_size=32", "--trainer.num_workers=0",
             "--system.work_dir=out"], r"iter 50: train loss ([0-9.]+)", "train loss",
            repo_on_path=True),
    Program("minGPT (chargpt)", "LLM training", MINGPT, "projects/chargpt/chargpt.py",
            ["--trainer.max_iters=60", "--trainer.batch_size=16", "--trainer.num_workers=0",
             "--model.model_type=gpt-nano", "--data.block_size=32", "--system.work_dir=out"],
            r"iter 50: train loss ([0-9.]+)", "train loss", repo_on_path=True,
            setup=_input_txt),
    Program("HyperGAN (hypernetwork generating LeNet ensembles)", "hypernetwork", HYPERGAN,
            "model.py", ["--epochs", "1", "--ensemble_size", "2", "--image_batch_size", "32",
                         "--noise_batch_size", "4", "--code_size", "32", "--noise_size", "16"],
            r"Average loss ([0-9.]+)", "train loss",
            env={"CORPUS_TRAIN_SIZE": "256", "CORPUS_TEST_SIZE": "128", "MPLBACKEND": "Agg"}),
    Program("pytorch-tutorial/linear_regression", "regression", YUNJEY,
            "tutorials/01-basics/linear_regression/main.py", [], r"Loss: ([0-9.]+)"),
    Program("pytorch-tutorial/logistic_regression", "vision", YUNJEY,
            "tutorials/01-basics/logistic_regression/main.py", [], _YUNJEY_ACC,
            "test accuracy %", env={"CORPUS_TRAIN_SIZE": "600", "CORPUS_TEST_SIZE": "200"}),
    Program("pytorch-tutorial/feedforward_neural_network", "vision", YUNJEY,
            "tutorials/01-basics/feedforward_neural_network/main.py", [], _YUNJEY_ACC,
            "test accuracy %", env={"CORPUS_TRAIN_SIZE": "600", "CORPUS_TEST_SIZE": "200"}),
    Program("pytorch-tutorial/convolutional_neural_network", "vision", YUNJEY,
            "tutorials/02-intermediate/convolutional_neural_network/main.py", [],
            r"Test Accuracy of the model on the 10000 test images: ([0-9.]+) %",
            "test accuracy %", env={"CORPUS_TRAIN_SIZE": "300", "CORPUS_TEST_SIZE": "200"}),
    Program("pytorch-tutorial/recurrent_neural_network", "vision", YUNJEY,
            "tutorials/02-intermediate/recurrent_neural_network/main.py", [],
            r"Test Accuracy of the model on the 10000 test images: ([0-9.]+) %",
            "test accuracy %", env={"CORPUS_TRAIN_SIZE": "600", "CORPUS_TEST_SIZE": "200"}),
    Program("pytorch-tutorial/bidirectional_recurrent_neural_network", "vision", YUNJEY,
            "tutorials/02-intermediate/bidirectional_recurrent_neural_network/main.py", [],
            r"Test Accuracy of the model on the 10000 test images: ([0-9.]+) %",
            "test accuracy %", env={"CORPUS_TRAIN_SIZE": "600", "CORPUS_TEST_SIZE": "200"}),
    Program("pytorch-tutorial/deep_residual_network", "vision", YUNJEY,
            "tutorials/02-intermediate/deep_residual_network/main.py", [],
            r"Accuracy of the model on the test images: ([0-9.]+) %", "test accuracy %",
            env={"CORPUS_TRAIN_SIZE": "100", "CORPUS_TEST_SIZE": "100"}),
    Program("pytorch-tutorial/variational_autoencoder", "VAE", YUNJEY,
            "tutorials/03-advanced/variational_autoencoder/main.py", [],
            r"Reconst Loss: ([0-9.]+)", "reconstruction loss",
            env={"CORPUS_TRAIN_SIZE": "1280"}),
]


# ---- running --------------------------------------------------------------------------------

def _env(extra: dict[str, str], repo_path: Path | bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE")}
    paths = [str(STUBS)] + ([str(repo_path)] if isinstance(repo_path, Path) else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    env.update(extra)
    return env


def checkout(source: tuple[str, str], mirror: Path) -> Path:
    """The repository at the pinned commit, extracted under build/compat_corpus/src."""
    repo, commit = source
    dest = WORK / "src" / f"{repo.replace('/', '+')}-{commit[:8]}"
    if dest.exists():
        return dest
    git_dir = mirror / repo.replace("/", "+") / "repo"
    if not git_dir.exists():
        git_dir = WORK / "mirror" / repo.replace("/", "+")
        if not git_dir.exists():
            subprocess.run(["git", "clone", "--bare", f"https://github.com/{repo}",
                            str(git_dir)], check=True)
    tmp = dest.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    git = ["git", f"--git-dir={git_dir}"]
    listing = subprocess.run(git + ["ls-tree", "-r", "-z", commit], check=True,
                             capture_output=True, text=True).stdout
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, blob = meta.split()
        if kind != "blob" or mode == "120000":
            continue
        data = subprocess.run(git + ["cat-file", "blob", blob], capture_output=True)
        if data.returncode:  # a snapshot may leave out its largest files
            continue
        target = tmp / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.stdout)
    tmp.rename(dest)
    return dest


def _metric(prog: Program, stdout: str) -> float | None:
    found = re.findall(prog.metric, stdout)
    return float(found[-1]) if found else None


def run_once(prog: Program, repo: Path, label: str, ember: bool, offset: int) -> dict:
    run_dir = WORK / "runs" / re.sub(r"[^A-Za-z0-9]+", "_", prog.name) / label
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    if prog.setup is not None:
        prog.setup(repo, run_dir)
    script = str(repo / prog.script)
    if ember:
        cmd = [sys.executable, "-m", "ember.run", script]
    elif offset:
        cmd = [sys.executable, __file__, "_launch", str(offset), script]
    else:
        cmd = [sys.executable, script]
    env = _env(prog.env, repo if prog.repo_on_path else False)
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd + prog.args, cwd=run_dir, env=env, capture_output=True,
                             text=True, timeout=prog.timeout)
        rc, stdout, stderr = out.returncode, out.stdout, out.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = -1, exc.stdout or "", f"timed out after {prog.timeout} s"
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    wall = time.perf_counter() - t0
    (run_dir / "stdout.txt").write_text(stdout)
    (run_dir / "stderr.txt").write_text(stderr)
    value = _metric(prog, stdout) if rc == 0 else None
    return {"rc": rc, "value": value, "wall": wall,
            "error": None if rc == 0 and value is not None else _last_error(stderr, stdout)}


def _last_error(stderr: str, stdout: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b", ln) or "timed out" in ln:
            return ln.strip()[:300]
    return (lines[-1].strip()[:300] if lines else "no metric in the output")


def judge(torch_values: list[float], ember_value: float | None) -> tuple[bool, float]:
    """(pass, tolerance): ember inside the 99% prediction interval of torch's seeds."""
    n = len(torch_values)
    mean = statistics.fmean(torch_values)
    sd = statistics.stdev(torch_values) if n > 1 else 0.0
    tol = max(_T99.get(n - 1, 3.0) * sd * math.sqrt(1 + 1 / n), 1e-3 * abs(mean) + 1e-9)
    return ember_value is not None and abs(ember_value - mean) <= tol, tol


def run_program(prog: Program, mirror: Path, seeds: int) -> dict:
    repo = checkout(prog.source, mirror)
    torch_runs = [run_once(prog, repo, f"torch{k}", False, k) for k in range(seeds)]
    ember_run = run_once(prog, repo, "ember", True, 0)
    values = [r["value"] for r in torch_runs if r["value"] is not None]
    result = {"name": prog.name, "area": prog.area, "metric": prog.metric_name,
              "source": f"{prog.source[0]}@{prog.source[1][:7]}/{prog.script}",
              "args": " ".join(prog.args), "env": prog.env,
              "torch": values, "ember": ember_run["value"],
              "torch_wall": torch_runs[0]["wall"], "ember_wall": ember_run["wall"],
              "ember_error": ember_run["error"],
              "torch_error": next((r["error"] for r in torch_runs if r["error"]), None)}
    if len(values) < seeds:
        result["status"] = "torch fails"
    elif ember_run["value"] is None:
        result["status"] = "fail"
    else:
        ok, tol = judge(values, ember_run["value"])
        result["status"], result["tolerance"] = ("pass" if ok else "fail"), tol
    return result


# ---- the report -----------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:.4g}"


def write_doc(results: list[dict], seeds: int) -> None:
    ok = [r for r in results if r["status"] == "pass"]
    ratios = sorted(r["ember_wall"] / r["torch_wall"] for r in results
                    if r["status"] in ("pass", "fail") and r["ember"] is not None)
    median = statistics.median(ratios) if ratios else float("nan")
    lines = [
        "# Real PyTorch programs under ember",
        "",
        "Generated by `python scripts/compat_corpus.py` (see its docstring for how programs "
        "are fetched, adapted and judged); do not edit by hand.",
        "",
        f"**{len(ok)} of {len(results)} pass**; median time ratio (ember / torch wall time, "
        f"process start included) over the programs that ran under ember: "
        f"**{_fmt(median)}**.",
        "",
        f"Each program ran {seeds} times under torch (its own seed, then "
        "`torch.manual_seed` shifted by 1, 2, ...) and once under `python -m ember.run` "
        "with the same arguments and data. ember's random numbers differ from torch's, so "
        "its result is compared with the spread of torch's seeds: it passes inside the "
        "99% prediction interval `t(0.995, n-1) * sd * sqrt(1 + 1/n)` around torch's mean "
        "(floor: 0.1% of the mean).",
        "",
        "| program | area | metric | torch (mean ± sd over seeds) | ember | tolerance "
        "| result | time ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r["torch"]
        torch_s = (f"{_fmt(statistics.fmean(t))} ± {_fmt(statistics.stdev(t))}"
                   if len(t) > 1 else (_fmt(t[0]) if t else "—"))
        ember_s = _fmt(r["ember"]) if r["ember"] is not None else "—"
        tol = _fmt(r["tolerance"]) if "tolerance" in r else "—"
        ratio = (_fmt(r["ember_wall"] / r["torch_wall"]) if r["ember"] is not None else "—")
        lines.append(f"| {r['name']} | {r['area']} | {r['metric']} | {torch_s} | {ember_s} "
                     f"| {tol} | {r['status']} | {ratio} |")
    failures = [r for r in results if r["status"] != "pass"]
    if failures:
        lines += ["", "## What fails", ""]
        for r in failures:
            why = r["ember_error"] if r["status"] == "fail" else r["torch_error"]
            if r["status"] == "fail" and r["ember"] is not None:
                why = "ember's metric is outside torch's seed spread"
            lines.append(f"- **{r['name']}** ({r['status']}): `{why}`")
    lines += ["", "## Sources and arguments", "",
              "| program | source (repository@commit/path) | arguments | environment |",
              "|---|---|---|---|"]
    for r in results:
        env = " ".join(f"{k}={v}" for k, v in r["env"].items()) or "—"
        lines.append(f"| {r['name']} | `{r['source']}` | `{r['args'] or '—'}` | {env} |")
    DOC.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _launch(offset: int, script: str, argv: list[str]) -> None:
    """Run ``script`` under torch with every ``torch.manual_seed(s)`` made ``s + offset``:
    the same program and arguments, another draw of its random numbers."""
    import runpy

    import torch
    real = torch.manual_seed

    def shifted(seed):
        return real(int(seed) + offset)
    torch.manual_seed = torch.random.manual_seed = shifted
    if offset:  # an unseeded program draws from a seed of its own already
        real(torch.initial_seed() + offset)
    sys.argv = [script, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_launch":
        _launch(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[],
                        help="run only programs whose name contains this (repeatable)")
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get(
        "EMBER_CORPUS_MIRROR", "/work/.mirror")), help="directory of owner+name/repo git dirs")
    parser.add_argument("--torch-seeds", type=int, default=3)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results_file = WORK / "results.json"
    previous = json.loads(results_file.read_text()) if results_file.exists() else {}
    for prog in PROGRAMS:
        if args.k and not any(k.lower() in prog.name.lower() for k in args.k):
            continue
        t0 = time.perf_counter()
        result = run_program(prog, args.mirror, args.torch_seeds)
        previous[prog.name] = result
        results_file.write_text(json.dumps(previous, indent=1))
        print(f"{prog.name}: {result['status']} torch={result['torch']} "
              f"ember={result['ember']} ({time.perf_counter() - t0:.0f} s) "
              f"{result['ember_error'] or ''}", flush=True)
    write_doc([previous[p.name] for p in PROGRAMS if p.name in previous], args.torch_seeds)


if __name__ == "__main__":
    main()
