"""``ember.device``: CPU is the one device ember computes on.

Device objects for other types can be built (``torch.device("cuda")`` is common in
scripts that then check ``cuda.is_available()``), but placing a tensor there fails as it
does in a CPU-only PyTorch build: ``AssertionError`` for CUDA/XPU ("not compiled with
CUDA enabled"), ``RuntimeError`` for the other device types.
"""

from __future__ import annotations

import re

_KNOWN_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                "privateuseone")
_DEVICE_STRING = re.compile(r"([a-z]+)(?::(0|[1-9][0-9]*))?")
_NOT_COMPILED = {"cuda": "CUDA", "xpu": "XPU", "hip": "HIP"}


def _type_name(obj) -> str:
    return obj.__class__.__name__


def _no_accelerator() -> RuntimeError:
    return RuntimeError("Cannot access accelerator device when none is available.")


class device:
    """A device description, as ``torch.device``: ``device("cpu")``, ``device("cuda", 0)``.

    As in torch, a device equals only another device with the same type and index
    (``device("cpu") != "cpu"`` and ``device("cpu") != device("cpu", 0)``).
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device | int, index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            # A bare ordinal means "the current accelerator", which ember never has.
            raise _no_accelerator() if type >= 0 else \
                RuntimeError("Device index must not be negative")
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got "
                            f"({_type_name(type)})")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise TypeError(f"device(): argument 'index' (position 2) must be int, not "
                            f"{_type_name(index)}")
        match = _DEVICE_STRING.fullmatch(type)
        if match is None:
            raise RuntimeError(f"Invalid device string: '{type}'")
        name, idx = match.groups()
        if name not in _KNOWN_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_KNOWN_TYPES)} device type at start "
                               f"of device string: {type}")
        if idx is not None:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            index = int(idx)
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self.type, self.index = name, index

    def __eq__(self, other) -> bool:
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __enter__(self) -> device:
        """``with ember.device("cpu"):`` makes this the default device of factory functions."""
        _DEFAULT.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _DEFAULT.pop()


CPU = device("cpu")
META = device("meta")
_DEFAULT: list[device] = []   # the default-device stack; empty means the CPU


def get_default_device() -> device:
    """The device factory functions use when ``device=`` is not given."""
    return _DEFAULT[-1] if _DEFAULT else CPU


def set_default_device(dev) -> None:
    """Set the default device (``None`` restores the CPU); factories then check it."""
    _DEFAULT.clear()
    if dev is not None:
        _DEFAULT.append(dev if isinstance(dev, device) else device(dev))


def check_device(dev) -> None:
    """Raise as a CPU-only torch build does if ``dev`` (a device, string, int or None for
    the default device) names a device other than the CPU or the meta device."""
    if dev is None:
        if not _DEFAULT:
            return
        dev = _DEFAULT[-1]
    if dev is CPU:
        return
    d = dev if isinstance(dev, device) else device(dev)
    if d.type == "cpu" or d.type == "meta":
        return
    if d.type in _NOT_COMPILED:
        raise AssertionError(f"ember not compiled with {_NOT_COMPILED[d.type]} enabled "
                             "(ember runs on the CPU only)")
    raise RuntimeError(f"ember runs on the CPU only: device '{d}' is not available "
                       "(the one device that exists is 'cpu')")


def is_meta_device(dev) -> bool:
    """Whether ``dev`` (a device, string or None for the default device) is ``meta``: the
    factories then make storage-less tensors."""
    if dev is None:
        dev = _DEFAULT[-1] if _DEFAULT else CPU
    if isinstance(dev, device):
        return dev.type == "meta"
    return isinstance(dev, str) and dev.startswith("meta")
