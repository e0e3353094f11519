"""More bench models, written once against a library module (``ember`` or ``torch``) like
those of ``bench.models``: a ResNet-18-shaped network for 3x32x32 images, an LSTM
language model, and the digits demo's CNN (``examples/digits_demo.py``)."""

from __future__ import annotations


def resnet18(lib, classes: int = 10):
    """ResNet-18 as used on CIFAR: a 3x3 stem (no max-pool), four stages of two basic
    blocks (64, 128, 256, 512 channels; stride 2 from the second stage), batch norm,
    global average pooling and a linear classifier."""
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = nn.Sequential()
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.bn1(self.conv1(x)).relu()
            return (self.bn2(self.conv2(y)) + self.short(x)).relu()

    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for i, width in enumerate((64, 128, 256, 512)):
        layers += [Block(cin, width, 1 if i == 0 else 2), Block(width, width, 1)]
        cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def lstm_lm(lib, vocab: int = 256, width: int = 256, layers: int = 2):
    """A word-level LSTM language model: embedding, a stacked batch-first LSTM, and a
    linear head over the vocabulary."""
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, width)
            self.rnn = nn.LSTM(width, width, layers, batch_first=True)
            self.head = nn.Linear(width, vocab)

        def forward(self, idx):
            out, _ = self.rnn(self.emb(idx))
            return self.head(out)

    return LM()


def digits_cnn(lib):
    """The digits demo's CNN on 1x8x8 images: conv(1->16) - relu - conv(16->32) - relu -
    maxpool - linear(512->10)."""
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
