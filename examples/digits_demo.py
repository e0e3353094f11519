"""ember's end-to-end demo: a small CNN learns scikit-learn's handwritten digits.

Written exactly as a PyTorch program would be (only the import differs): Dataset and
DataLoader, nn.Module, Adam, cross-entropy, a tqdm progress bar and TensorBoard logging;
then a profile of one training step, a checkpoint in PyTorch's own format reloaded into a
fresh model that must predict identically, the model compiled (``torch.compile``) and
exported to ONNX and run in onnxruntime (both must agree with eager ember), and a PNG of
the pixels behind its decisions.
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
        log=print, writer=None) -> float:
    """Adam with a cosine schedule; returns the final test accuracy. ``writer``: an
    optional SummaryWriter that receives the per-epoch loss and accuracy."""
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
        if writer is not None:
            writer.add_scalar("loss/train", total / seen, epoch)
            writer.add_scalar("accuracy/test", acc, epoch)
            writer.add_scalar("lr", scheduler.get_last_lr()[0], epoch)
    return acc


def profile_step(model: nn.Module, loader: DataLoader) -> str:
    """The profiler's table of the hottest ops in one training step."""
    from ember.profiler import profile, record_function
    x, y = next(iter(loader))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: leaves the model as is
    model.train()
    with profile(record_shapes=False) as prof:
        with record_function("training_step"):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def tensorboard_writer(log_dir: str):
    """A SummaryWriter, or None when the tensorboard package is not installed."""
    try:
        from ember.utils.tensorboard import SummaryWriter
        return SummaryWriter(log_dir)
    except ImportError as exc:
        print(f"(no TensorBoard logging: {exc})")
        return None


def deploy(model: nn.Module, loader: DataLoader, preds: torch.Tensor, tmp: str) -> None:
    """The trained model two ways out of eager Python: ``torch.compile`` (captured, fused
    into Numba kernels) and ONNX with a dynamic batch axis, checked by ONNX's checker and run
    by onnxruntime; both must give eager ember's logits on the whole test set."""
    import onnx
    import onnxruntime

    model.eval()
    images = torch.cat([x for x, _ in loader])
    with torch.no_grad():
        logits = model(images)
        compiled = torch.compile(model)(images)
    err = (compiled - logits).abs().max().item()
    print(f"compiled model: max |logit difference| to eager {err:.1e}")

    path = os.path.join(tmp, "digits_cnn.onnx")
    torch.onnx.export(model, (images[:2],), path, input_names=["images"],
                      output_names=["logits"], dynamic_axes={"images": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (ort_logits,) = session.run(None, {"images": images.numpy()})
    ort_err = float(np.abs(ort_logits - logits.numpy()).max())
    agree = bool((ort_logits.argmax(1) == preds.numpy()).all())
    print(f"ONNX export: {os.path.getsize(path)} bytes, onnxruntime max |logit difference| "
          f"{ort_err:.1e}, same predictions: {agree}")
    if err > 1e-4 or ort_err > 1e-4 or not agree:
        raise SystemExit("compiled or exported model disagrees with eager ember")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs", help="where TensorBoard logs and PNGs go")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)
    model = DigitsCNN()
    print(model)

    log_dir = os.path.join(args.out, "digits_demo")
    writer = tensorboard_writer(log_dir)
    start = time.perf_counter()
    fit(model, train_loader, test_loader, args.epochs, writer=writer)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    if writer is not None:
        writer.add_graph(model, next(iter(test_loader))[0][:1])
        writer.close()
        print(f"TensorBoard logs in {log_dir}: open them with  "
              f".venv/bin/tensorboard --logdir {args.out}")
    print("\nWhere one training step spends its time:")
    print(profile_step(model, train_loader))
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
        deploy(model, test_loader, preds, tmp)

    from explain_digits import save_heatmap  # beside this file
    images, labels = next(iter(DataLoader(test_set, batch_size=6)))
    png = save_heatmap(model, images, labels, os.path.join(args.out, "digits_explained.png"))
    print(f"which pixels drove the model's decisions: {png}")


if __name__ == "__main__":
    main()
