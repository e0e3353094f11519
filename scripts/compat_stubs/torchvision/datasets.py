"""Synthetic stand-ins for the datasets corpus programs download.

Each class has a fixed random template; a sample is its class template plus noise, so
models can learn. Sizes follow ``CORPUS_TRAIN_SIZE``/``CORPUS_TEST_SIZE`` (default 512/256).
Images are PIL images, as torchvision's, so the programs' transforms apply unchanged.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "FakeData", "ImageFolder"]


def _sizes(train: bool) -> int:
    return int(os.environ.get("CORPUS_TRAIN_SIZE" if train else "CORPUS_TEST_SIZE",
                              512 if train else 256))


def _images(n: int, shape: tuple, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(1234)
    templates = rng.rand(classes, *shape)
    rng = np.random.RandomState(seed)
    targets = rng.randint(0, classes, n)
    noise = rng.rand(n, *shape)
    data = np.clip(0.7 * templates[targets] + 0.3 * noise, 0, 1)
    return (data * 255).astype(np.uint8), targets.astype(np.int64)


class _VisionDataset:
    shape: tuple = (28, 28)
    classes_n = 10
    mode = "L"

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False, size: int | None = None):
        import torch
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        data, targets = _images(size or _sizes(train), self.shape, self.classes_n,
                                1 if train else 2)
        self.data = torch.from_numpy(data) if self.mode == "L" else data
        self.targets = torch.from_numpy(targets) if self.mode == "L" else targets.tolist()
        self.classes = [str(i) for i in range(self.classes_n)]

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img = np.asarray(self.data[index])
        target = int(self.targets[index])
        img = Image.fromarray(img, mode=self.mode)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


class MNIST(_VisionDataset):
    pass


class FashionMNIST(_VisionDataset):
    pass


class CIFAR10(_VisionDataset):
    shape = (32, 32, 3)
    mode = "RGB"


class FakeData(_VisionDataset):
    mode = "RGB"

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform=None, target_transform=None, random_offset: int = 0):
        c, h, w = image_size
        self.shape, self.classes_n = (h, w, 3), num_classes
        super().__init__(None, True, transform, target_transform, size=min(size, _sizes(True)))


class ImageFolder(CIFAR10):
    def __init__(self, root=None, transform=None, target_transform=None, **kwargs):
        super().__init__(root, True, transform, target_transform)
