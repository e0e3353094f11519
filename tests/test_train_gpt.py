"""``python -m ember.examples.train_gpt`` at a tiny size: it runs end to end, what it writes
loads in ember and in ``transformers`` with the same logits and token ids, and a run stopped
and resumed gives the same losses and weights, bit for bit, as one that never stopped."""

from __future__ import annotations

import json
import math
import os
import signal
import sysconfig
import time

import numpy as np
import pytest

import ember
from ember.examples import train_gpt
from ember.models._hf import CHATML_TEMPLATE
from ember.models.llama import LlamaForCausalLM

STEPS = 6
TINY = ["--max-files", "30", "--val-percent", "25", "--vocab-size", "320", "--hidden-size", "32",
        "--num-layers", "2", "--num-heads", "4", "--num-kv-heads", "2",
        "--intermediate-size", "64", "--context", "48", "--batch-size", "4",
        "--max-steps", str(STEPS), "--warmup-steps", "2", "--eval-interval", "3",
        "--eval-batches", "2", "--checkpoint-interval", "2", "--time-budget", "0",
        "--no-progress", "--sample-tokens", "8"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted tiny run through the command line."""
    out = tmp_path_factory.mktemp("straight")
    return out, train_gpt.main(TINY + ["--out", str(out)])


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """The same run stopped after 3 steps (off the checkpoint interval), then resumed with a
    different learning rate on the command line, which the checkpoint's config overrides."""
    out = tmp_path_factory.mktemp("resumed")
    first = train_gpt.main(TINY + ["--out", str(out), "--stop-after", "3"])
    assert (first.step, first.finished) == (3, False)
    return out, train_gpt.main(TINY + ["--out", str(out), "--resume", "--lr", "0.5"])


def test_end_to_end(straight, capsys):
    out, result = straight
    assert result.finished and result.step == STEPS
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "checkpoint.pt"} <= set(os.listdir(out))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(out / "runs"))
    losses = result.history["train_loss"]
    assert len(losses) == STEPS and all(math.isfinite(v) for v in losses)
    # N(0, 0.02) weights predict nearly uniformly: the first loss is about ln(vocab)
    assert losses[0] == pytest.approx(math.log(320), abs=0.05)
    steps = [s for s, _ in result.history["val_loss"]]
    assert steps == [3, 6] and result.history["val_loss"][-1][1] < losses[0]
    config = json.loads((out / "config.json").read_text())
    shape = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    assert shape == (32, 2, 320)
    assert config["tie_word_embeddings"] and config["max_position_embeddings"] == 48


def test_tokenizer_config_is_chatml(straight):
    out, result = straight
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["chat_template"] == CHATML_TEMPLATE
    assert tok_config["eos_token"] == "<|im_end|>"
    vocab = result.tokenizer.get_vocab()
    assert [vocab[t] for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")] == [0, 1, 2]
    assert json.loads((out / "config.json").read_text())["eos_token_id"] == 2


def test_loads_in_ember_and_transformers(straight):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    out, result = straight
    text = train_gpt.chatml([{"role": "user", "content": "def f(x):\n    return x  # é"}])
    ids = result.tokenizer.encode(text).ids
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    assert hf_tok(text)["input_ids"] == ids
    assert ids[0] == 1 and 2 in ids  # the ChatML markers are single special tokens
    auto = transformers.AutoTokenizer.from_pretrained(out)
    assert auto.eos_token == "<|im_end|>"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert auto.apply_chat_template(messages, tokenize=False) == train_gpt.chatml(messages)

    x = np.asarray([ids[:40]])
    ours = LlamaForCausalLM.from_pretrained(out)
    with ember.no_grad():
        logits = ours(ember.tensor(x)).numpy()
        trained = result.model(ember.tensor(x)).numpy()
    np.testing.assert_array_equal(logits, trained)
    hf = transformers.LlamaForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        expected = hf(torch.from_numpy(x)).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)


def test_resume_is_exact(straight, resumed):
    (_, a), (out, b) = straight, resumed
    assert b.finished and b.step == STEPS
    assert b.history == a.history  # every train and validation loss, bit for bit
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key].numpy(), sb[key].numpy(), err_msg=key)
    assert ember.load(out / train_gpt.CHECKPOINT)["data"] == {"epoch": 0, "cursor": 4 * STEPS}


def test_resume_without_checkpoint_fails(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint.pt"):
        train_gpt.train(train_gpt.TrainConfig(), tmp_path, resume=True)


def test_split_by_file_is_stable():
    root = sysconfig.get_paths()["stdlib"]
    files = train_gpt.stdlib_files(root)
    assert files == sorted(files) and "os.py" in files
    assert not any(part in ("site-packages", "test") for f in files for part in f.split("/"))
    train, val = train_gpt.split_files(files, 5.0)
    assert sorted(train + val) == files and not set(train) & set(val)
    assert 0.02 < len(val) / len(files) < 0.08
    subset = files[::7]
    assert train_gpt.split_files(subset, 5.0) == ([f for f in train if f in subset],
                                                  [f for f in val if f in subset])


def test_batches_cover_each_window_once_per_epoch():
    tokens = np.arange(10 * 8 + 1, dtype=np.int32)  # 10 windows of 8 (+1) tokens
    batches = train_gpt.Batches(tokens, context=8, batch_size=3, seed=1)
    epoch0 = np.concatenate([batches.next() for _ in range(3)])
    assert len(set(epoch0[:, 0])) == 9 and set(epoch0[:, 0] % 8) == {0}  # 9 distinct windows
    np.testing.assert_array_equal(epoch0[:, 1:], epoch0[:, :-1] + 1)  # contiguous windows
    state = batches.state_dict()
    nxt = batches.next()
    assert batches.epoch == 1
    again = train_gpt.Batches(tokens, context=8, batch_size=3, seed=1)
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.next(), nxt)
    with pytest.raises(ValueError, match="fewer than batch_size"):
        train_gpt.Batches(tokens[:20], context=8, batch_size=3, seed=1)


def test_chat_examples_follow_the_template():
    jinja2 = pytest.importorskip("jinja2")
    function = 'def area(r):\n    """Circle area.\n\n    More."""\n    return 3.14 * r * r'
    source = f'{function}\n\n\ndef _hidden():\n    """Private."""\n'
    [example] = train_gpt.chat_examples(source)
    messages = [{"role": "user", "content": "Write a Python function `area`: Circle area."},
                {"role": "assistant", "content": f"```python\n{function}\n```"}]
    rendered = jinja2.Template(CHATML_TEMPLATE).render(messages=messages,
                                                       add_generation_prompt=False)
    assert example == rendered == train_gpt.chatml(messages)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_interrupt_waits_for_the_step_boundary(sig):
    before = signal.getsignal(sig)
    with train_gpt.deferred_interrupt() as interrupted:
        os.kill(os.getpid(), sig)
        assert interrupted.wait(5)  # set, and no KeyboardInterrupt raised
    with pytest.raises(KeyboardInterrupt), train_gpt.deferred_interrupt():
        os.kill(os.getpid(), sig)
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the second signal's handler raises here
    assert signal.getsignal(sig) is before
