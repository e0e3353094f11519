"""A whole model pickled by one library and loaded by the other: ``save PATH`` trains the
model one step and writes ``torch.save(model)``; ``load PATH`` reads it with
``torch.load(weights_only=False)``. Both print the model's outputs on a fixed input, so
running one mode under torch and the other under ``python -m ember.run`` checks that whole
pickled modules move between the two."""

import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.1))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=True)
        self.gru = nn.GRU(12, 6, bidirectional=True, batch_first=True)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(12, 2, 24, dropout=0.0, activation=F.gelu,
                                       batch_first=True), 2, enable_nested_tensor=False)
        self.norms = nn.ModuleDict({"ln": nn.LayerNorm(12), "gn": nn.GroupNorm(2, 12)})
        self.embed = nn.Embedding(5, 12)
        self.head = nn.Linear(12, 5)
        self.act = torch.tanh  # a torch function inside the pickle
        self.loss = nn.CrossEntropyLoss(label_smoothing=0.1)

    def forward(self, x, tokens):
        f = self.features(x)                    # (N, 8, 4, 4)
        seq = f.flatten(2).transpose(1, 2)      # (N, 16, 8)
        a, _ = self.attn(seq, seq, seq)
        h, _ = self.lstm(a)
        g, _ = self.gru(h)
        h = self.encoder(h + g + self.embed(tokens))
        h = self.norms["gn"](self.norms["ln"](h).transpose(1, 2)).transpose(1, 2)
        return self.head(self.act(h).mean(1))


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    x = torch.linspace(-1, 1, 2 * 3 * 8 * 8).reshape(2, 3, 8, 8)
    tokens = torch.arange(32).reshape(2, 16) % 5
    target = torch.tensor([1, 3])
    if mode == "save":
        torch.manual_seed(0)
        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.loss(model(x, tokens), target).backward()  # BatchNorm's running stats move
        opt.step()
        model.eval()
        torch.save(model, path)
    else:
        model = torch.load(path, weights_only=False)
    with torch.no_grad():
        out = model(x, tokens)
    print(json.dumps({"out": out.flatten().tolist(), "training": model.training,
                      "attn": type(model.attn).__module__,
                      "loss": model.loss(out, target).item()}))


if __name__ == "__main__":
    main()
