"""Which pixels made the digits CNN decide? Attributions with ember.explain.

Trains the small CNN of ``digits_demo.py`` for a few epochs, explains its predictions for a
few test digits, and writes a PNG grid to look at, one row per digit: the digit, then
Integrated Gradients, Occlusion and Grad-CAM maps for the predicted class. Red pushed the
model towards that class, blue away from it.

IG and Occlusion are the faithful ones here. Grad-CAM weighs whole feature maps by their
spatially averaged gradient, which suits deep nets whose evidence does not depend on
position; this model's linear layer weighs every position separately, so its Grad-CAM maps
are coarse and often all-negative — the example shows that too.

    python examples/explain_digits.py [--epochs 4] [--out digits_explained.png]
"""

from __future__ import annotations

import argparse
import os
import struct
import zlib

import numpy as np
from digits_demo import DigitsCNN, fit, load_data  # beside this file, on sys.path as a script

import ember as torch
import ember.explain as explain
import ember.nn as nn
import ember.nn.functional as F
from ember.utils.data import DataLoader


def attributions(model: nn.Module, images: torch.Tensor, layer: nn.Module | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Predicted classes and, by method name, maps (N x H x W) that explain them for
    ``images`` (N x 1 x H x W in [0, 1]): Integrated Gradients from a black image,
    Occlusion by 2x2 black patches, and Grad-CAM on ``layer`` (default: the last Conv2d)
    upsampled to the image size."""
    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    if layer is None:
        layer = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    ig = explain.IntegratedGradients(model).attribute(images, target=pred, n_steps=64)
    occ = explain.Occlusion(model).attribute(images, (1, 2, 2), target=pred,
                                             perturbations_per_eval=16)
    cam = explain.LayerGradCam(model, layer).attribute(images, target=pred)
    cam = F.interpolate(cam, size=tuple(images.shape[2:]), mode="bilinear", align_corners=False)
    maps = {"Integrated Gradients": ig, "Occlusion": occ, "Grad-CAM": cam}
    return pred.numpy(), {k: v[:, 0].numpy() for k, v in maps.items()}


def _diverging(a: np.ndarray) -> np.ndarray:
    """Blue (negative) - white - red (positive) RGB in [0, 1], symmetric around zero."""
    a = a / (np.abs(a).max() + 1e-12)
    pos, neg = np.clip(a, 0, 1)[..., None], np.clip(-a, 0, 1)[..., None]
    return 1 - pos * np.array([0, 1, 1]) - neg * np.array([1, 1, 0])


def panels(images: np.ndarray, maps: list[np.ndarray]) -> np.ndarray:
    """RGB panels (N x (1 + len(maps)) x H x W x 3): the digit, then each map in red/blue
    over a faint copy of the digit (each map of each digit scaled to its own maximum)."""
    digits = np.repeat(1 - images[..., None], 3, -1)  # dark ink on white
    faint = 1 - 0.3 * images[..., None]
    colored = [np.stack([_diverging(a) for a in m]) * faint for m in maps]
    return np.clip(np.stack([digits, *colored], 1), 0, 1)


def write_png(rgb: np.ndarray, path: str) -> None:
    """A plain 8-bit RGB PNG written with zlib (no imaging library needed)."""
    data = (rgb * 255).round().astype(np.uint8)
    h, w, _ = data.shape
    raw = b"".join(b"\x00" + data[y].tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def save_heatmap(model: nn.Module, images: torch.Tensor, labels, path: str,
                 layer: nn.Module | None = None) -> str:
    """Explain ``model``'s predictions for ``images`` (N x 1 x H x W in [0, 1]) and write
    the grid (one row per digit: the digit | IG | Occlusion | Grad-CAM) to ``path``.
    With matplotlib the panels get titles; without it, 16x upscaled pixels. Returns
    ``path``."""
    pred, maps = attributions(model, images, layer)
    grid = panels(images[:, 0].numpy(), list(maps.values()))
    labels = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        n, k, h, w, _ = grid.shape
        big = grid.repeat(16, 2).repeat(16, 3)  # nearest-neighbour upscaling, 2 px gaps
        canvas = np.ones((n * (16 * h + 2), k * (16 * w + 2), 3))
        for i in range(n):
            for j in range(k):
                y, x = i * (16 * h + 2), j * (16 * w + 2)
                canvas[y:y + 16 * h, x:x + 16 * w] = big[i, j]
        write_png(canvas, path)
        return path
    titles = ["digit", *maps]
    fig, axes = plt.subplots(len(grid), len(titles), figsize=(2 * len(titles), 2 * len(grid)),
                             squeeze=False)
    for i, row in enumerate(grid):
        for j, panel in enumerate(row):
            ax = axes[i, j]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"label {labels[i]}, predicted {pred[i]}" if j == 0 else titles[j],
                         fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=6, help="how many test digits to explain")
    parser.add_argument("--out", default="digits_explained.png")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    model = DigitsCNN()
    fit(model, DataLoader(train_set, batch_size=32, shuffle=True),
        DataLoader(test_set, batch_size=256), args.epochs)
    images, labels = next(iter(DataLoader(test_set, batch_size=args.count)))
    print(f"wrote {os.path.abspath(save_heatmap(model, images, labels, args.out))}")


if __name__ == "__main__":
    main()
