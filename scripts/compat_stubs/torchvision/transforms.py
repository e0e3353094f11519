"""The transforms corpus programs use, on PIL images and tensors as torchvision's."""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda", "Resize", "CenterCrop",
           "RandomCrop", "RandomHorizontalFlip", "Grayscale", "Pad"]


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    """PIL image (H, W[, C]) uint8 -> float tensor (C, H, W) in [0, 1]."""

    def __call__(self, pic):
        import torch
        arr = np.asarray(pic, dtype=np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


class Normalize:
    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std = mean, std

    def __call__(self, t):
        import torch
        mean = torch.tensor(self.mean, dtype=t.dtype).reshape(-1, 1, 1)
        std = torch.tensor(self.std, dtype=t.dtype).reshape(-1, 1, 1)
        return (t - mean) / std


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


def _size(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


class Resize:
    def __init__(self, size, *args, **kwargs):
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        if isinstance(self.size, int):  # the shorter side becomes size
            w, h = img.size
            scale = self.size / min(w, h)
            return img.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
        h, w = self.size
        return img.resize((w, h), Image.BILINEAR)


class CenterCrop:
    def __init__(self, size):
        self.size = _size(size)

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        th, tw = self.size
        left, top = (w - tw) // 2, (h - th) // 2
        return img.crop((left, top, left + tw, top + th))


class RandomCrop(CenterCrop):
    def __init__(self, size, padding=None, **kwargs):
        super().__init__(size)
        self.padding = padding

    def __call__(self, img: Image.Image) -> Image.Image:
        import torch
        if self.padding:
            img = Pad(self.padding)(img)
        w, h = img.size
        th, tw = self.size
        top = int(torch.randint(0, h - th + 1, (1,)).item())
        left = int(torch.randint(0, w - tw + 1, (1,)).item())
        return img.crop((left, top, left + tw, top + th))


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img: Image.Image) -> Image.Image:
        import torch
        if torch.rand(1).item() < self.p:
            return img.transpose(Image.FLIP_LEFT_RIGHT)
        return img


class Grayscale:
    def __init__(self, num_output_channels: int = 1):
        self.n = num_output_channels

    def __call__(self, img: Image.Image) -> Image.Image:
        img = img.convert("L")
        return img if self.n == 1 else Image.merge("RGB", [img] * 3)


class Pad:
    def __init__(self, padding, fill=0, **kwargs):
        self.padding, self.fill = padding, fill

    def __call__(self, img: Image.Image) -> Image.Image:
        p = self.padding
        w, h = img.size
        out = Image.new(img.mode, (w + 2 * p, h + 2 * p), self.fill)
        out.paste(img, (p, p))
        return out
