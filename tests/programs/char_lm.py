"""A plain PyTorch char-level language model (embedding + GRU + linear) trained on the
Zen of Python from the standard library. Runs under torch and under ember.run."""

import codecs
import json
import this

import numpy as np
import torch
import torch.nn as nn


class CharLM(nn.Module):
    def __init__(self, vocab: int, dim: int = 16, hidden: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.rnn(self.embed(idx), state)
        return self.head(self.norm(out)), state


def main():
    text = codecs.decode(this.s, "rot13")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    rng = np.random.default_rng(0)
    model = CharLM(len(chars))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0, 0.15, tuple(p.shape)).astype(np.float32)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _step in range(25):
        starts = rng.integers(0, len(data) - 33, size=8)
        xb = torch.stack([data[s:s + 32] for s in starts])
        yb = torch.stack([data[s + 1:s + 33] for s in starts])
        logits, _ = model(xb)
        loss = criterion(logits.reshape(-1, len(chars)), yb.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    # sample greedily from the trained model
    with torch.no_grad():
        idx = torch.tensor([[stoi["B"]]])
        state, out = None, []
        for _ in range(20):
            logits, state = model(idx, state)
            idx = logits[:, -1].argmax(-1, keepdim=True)
            out.append(chars[idx.item()])
    print(json.dumps({"losses": losses, "sample": "".join(out)}))


if __name__ == "__main__":
    main()
