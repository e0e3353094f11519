"""ember's end-to-end demo: a small CNN learns scikit-learn's handwritten digits.

Written exactly as a PyTorch program would be (only the import differs): Dataset and
DataLoader, nn.Module, Adam, cross-entropy, a tqdm progress bar, then a checkpoint in
PyTorch's own format that is reloaded into a fresh model which must predict identically.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import ember as torch
import ember.nn as nn
import ember.nn.functional as F
from ember.utils.data import DataLoader, TensorDataset


class DigitsCNN(nn.Module):
    """conv(1->16) - relu - conv(16->32) - relu - maxpool - linear(512->10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def load_data(seed: int):
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # N x 1 x 8 x 8 in [0, 1]
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.25,
                                              random_state=seed, stratify=digits.target)
    as_set = lambda a, b: TensorDataset(torch.from_numpy(a), torch.from_numpy(b.astype(np.int64)))
    return as_set(x_tr, y_tr), as_set(x_te, y_te)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, torch.Tensor]:
    model.eval()
    correct, preds = 0, []
    for x, y in loader:
        pred = model(x).argmax(dim=1)
        correct += (pred == y).sum().item()
        preds.append(pred)
    return correct / len(loader.dataset), torch.cat(preds)


def fit(model: nn.Module, train_loader: DataLoader, test_loader: DataLoader, epochs: int,
        log=print) -> float:
    """Adam with a cosine schedule; returns the final test accuracy."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(1, epochs + 1):
        model.train()
        total, seen = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch:2d}", leave=False, disable=None)
        for x, y in bar:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        scheduler.step()
        acc, _ = evaluate(model, test_loader)
        log(f"epoch {epoch:2d}  train loss {total / seen:.4f}  test accuracy {acc:.4f}")
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)
    model = DigitsCNN()
    print(model)

    start = time.perf_counter()
    fit(model, train_loader, test_loader, args.epochs)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    acc, preds = evaluate(model, test_loader)
    print(f"final test accuracy: {acc:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_cnn.pt")
        torch.save({"model": model.state_dict(), "epoch": args.epochs}, path)
        restored = DigitsCNN()
        checkpoint = torch.load(path)  # weights_only=True: tensors and containers only
        restored.load_state_dict(checkpoint["model"])
        _, restored_preds = evaluate(restored, test_loader)
        same = bool(torch.equal(preds, restored_preds))
        print(f"checkpoint {os.path.getsize(path)} bytes (PyTorch format); reloaded model "
              f"predicts identically: {same}")
    if not same:
        raise SystemExit("reloaded model disagrees with the trained one")


if __name__ == "__main__":
    main()
