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


def lstm_lm(lib, vocab: int = 256, width: int = 256, layers: int = 2, cell: str = "LSTM"):
    """A word-level LSTM (or ``cell="GRU"``) language model: embedding, a stacked
    batch-first recurrent layer, and a linear head over the vocabulary."""
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, width)
            self.rnn = getattr(nn, cell)(width, width, layers, batch_first=True)
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


def minilm_shaped(lib, vocab: int = 30522, width: int = 384, layers: int = 6):
    """An encoder of all-MiniLM-L6-v2's shapes (BERT: token + position embeddings, layer
    norm, 6 post-norm layers of 12 heads, GELU feed-forward of 1536), random weights, built
    from ``nn`` so torch runs the same model."""
    nn = lib.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(512, width)
            self.norm = nn.LayerNorm(width, eps=1e-12)
            layer = nn.TransformerEncoderLayer(width, 12, 4 * width, dropout=0.0,
                                               activation="gelu", layer_norm_eps=1e-12,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        def forward(self, ids):
            x = self.tok(ids) + self.pos(lib.arange(ids.shape[1]))
            return self.encoder(self.norm(x))

    return Encoder()
