"""``ember.save`` / ``ember.load`` in PyTorch's own checkpoint format.

A checkpoint is a zip archive (stored, records aligned to 64 bytes) holding ``data.pkl``,
a protocol-2 pickle of the object in which each tensor is a call to
``torch._utils._rebuild_tensor_v2`` on a persistent storage id, and one raw little-endian
record ``data/<key>`` per storage. Tensors that share memory share a storage, so views
keep their offsets and strides; quantized tensors are torch's ``_rebuild_qtensor`` calls on
storages of their quantized dtype (``ember._quantized_pickle``), and a dynamically quantized
LSTM/GRU's packed parameters torch's ``torch.ScriptObject`` records (which torch itself loads
with ``weights_only=False`` only). Files written here load in torch
(``torch.load(weights_only=True)``) and torch's files load here; the pre-1.6 legacy
format is read too.

Loading defaults to ``weights_only=True``: the unpickler accepts tensors, containers
and primitive types only, and names any other global it meets in an ``UnpicklingError``.
Saving is atomic: the archive is written beside the target and renamed into place (through
a symlink to its target, keeping the file's mode).

Whole objects (``ember.save(model)``) pickle every ember class and function under torch's
name for it (``torch.nn.modules.linear.Linear``), and loading maps ``torch.X`` back to
``ember.X``, so modules pickled by torch load here with ``weights_only=False`` and ours
load in torch. ``add_safe_globals``/``safe_globals`` and the ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``
/ ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment variables work as in torch.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import os
import pickle
import struct
import types
import warnings
import zipfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from . import _dtype, _torch_names
from . import _quantized_pickle as _qpickle
from ._tensor import Size, Tensor, _make, _root_array

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
           "safe_globals"]

_ALIGN = 64
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_NAMES = {
    "float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
    "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage",
    "int16": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage",
    "bool": "BoolStorage", "complex64": "ComplexFloatStorage",
    "complex128": "ComplexDoubleStorage"}
_STORAGE_DTYPES = {v: getattr(_dtype, k) for k, v in _STORAGE_NAMES.items()}
_TYPED_STORAGE_NAMES = {**_STORAGE_NAMES, **_qpickle.STORAGE_NAMES}  # what torch names

FileLike = str | os.PathLike | IO[bytes]


# ---- saving --------------------------------------------------------------------------------

class _Global:
    """A global written into the pickle by name (torch's functions, without torch)."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires reduce functions to be callable
        raise TypeError(f"{self.module}.{self.name} is only a name written into a checkpoint")


class _StorageRef:
    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key: str, dtype: _dtype.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_TENSOR_V3 = _Global("torch._utils", "_rebuild_tensor_v3")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")
_REBUILD_QTENSOR = _Global("torch._utils", "_rebuild_qtensor")
_ORDERED_DICT = _Global("collections", "OrderedDict")
_SCRIPT_OBJECT = _Global("torch", "ScriptObject")


class _Pickler(pickle._Pickler):
    """Pickles ember tensors, dtypes, devices and Sizes as torch's globals, and ember's
    classes and functions under torch's names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, storages: dict):
        super().__init__(file, protocol=2)
        self._storages = storages  # id(root array) -> (_StorageRef, root array)

    def _save_global_ref(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_global_ref

    def save_global(self, obj, name=None) -> None:
        torch_name = _torch_names.torch_name(obj, name)
        if torch_name is None:
            super().save_global(obj, name)
            return
        module, qualname = torch_name
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)

    dispatch[types.FunctionType] = save_global

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            if obj.dtype.name not in _TYPED_STORAGE_NAMES:  # float8: untyped byte storage
                return ("storage", _Global("torch.storage", "UntypedStorage"), obj.key, "cpu",
                        obj.numel * obj.dtype.itemsize)
            return ("storage", _Global("torch", _TYPED_STORAGE_NAMES[obj.dtype.name]), obj.key,
                    "cpu", obj.numel)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _qpickle.QuantizedTensor):
            return self._reduce_qtensor(obj)
        if isinstance(obj, Tensor):
            return self._reduce_tensor(obj)
        if isinstance(obj, Size):
            return (_Global("torch", "Size"), (tuple(obj),))
        from ._device import device
        if isinstance(obj, device):
            return (_Global("torch", "device"), (str(obj),))
        return NotImplemented

    def _storage_args(self, arr: np.ndarray, dtype: _dtype.dtype) -> tuple:
        """``(storage, storage_offset, size, stride)`` of ``arr`` on a storage of ``dtype``
        (its root array, shared with every other tensor of that root and dtype)."""
        root = _root_array(arr)
        if not root.flags.c_contiguous or any(s < 0 for s in arr.strides):
            root = arr = np.ascontiguousarray(arr)  # torch storages have no negative strides
        item = arr.itemsize
        offset_bytes = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        ref = self._storages.get((id(root), dtype.name))
        if ref is None:
            ref = (_StorageRef(str(len(self._storages)), dtype, root.size), root)
            self._storages[(id(root), dtype.name)] = ref
        return (ref[0], offset_bytes // item, tuple(arr.shape),
                tuple(s // item for s in arr.strides))

    def _reduce_tensor(self, t: Tensor):
        arr = t._data
        args = self._storage_args(arr, _dtype.from_numpy_dtype(_root_array(arr).dtype)) + (
            t.requires_grad, _Reduced(_ORDERED_DICT, ()))
        if t.dtype.name in _STORAGE_NAMES:
            rebuilt = _Reduced(_REBUILD_TENSOR, args)
        else:  # dtypes without a typed storage (float8) name the dtype, as torch does
            rebuilt = _Reduced(_REBUILD_TENSOR_V3, args + (_Global("torch", t.dtype.name),))
        from .nn.parameter import Parameter
        if isinstance(t, Parameter):
            return (_REBUILD_PARAMETER, (rebuilt, t.requires_grad, _Reduced(_ORDERED_DICT, ())))
        return rebuilt.reduce()

    def _reduce_qtensor(self, q):
        """torch's ``_rebuild_qtensor`` call: the integers on a storage of the quantized
        dtype, and the scheme with its scale(s) and zero point(s)."""
        args = self._storage_args(q._int, q.dtype) + (
            _qpickle.quantizer_params(q), False, _Reduced(_ORDERED_DICT, ()))
        return (_REBUILD_QTENSOR, args)


class _Reduced:
    """A call ``fn(*args)`` to be pickled (REDUCE) inside another reduce tuple."""

    __slots__ = ("fn", "args")

    def __init__(self, fn: _Global, args: tuple):
        self.fn, self.args = fn, args

    def reduce(self):
        return (self.fn, self.args)


def _save_reduced(self, obj: _Reduced) -> None:
    self.save_reduce(obj.fn, obj.args, obj=obj)


def _save_dtype(self, obj: _dtype.dtype | _qpickle.qscheme) -> None:
    self._save_global_ref(_Global("torch", obj.name))  # torch.float32 is a global


def _save_script_object(self, obj: _qpickle.ScriptObject) -> None:
    """torch's form: ``torch.ScriptObject.__new__`` (NEWOBJ), then BUILD with ``(state,
    qualified name)``."""
    self.save(_SCRIPT_OBJECT)
    self.save(())
    self.write(pickle.NEWOBJ)
    self.memoize(obj)
    self.save((obj.state, obj.qualified_name))
    self.write(pickle.BUILD)


_Pickler.dispatch[_Reduced] = _save_reduced
_Pickler.dispatch[_qpickle.ScriptObject] = _save_script_object
_Pickler.dispatch[_dtype.dtype] = _save_dtype
_Pickler.dispatch[_qpickle.QDtype] = _save_dtype  # torch.qint8, torch.per_tensor_affine
_Pickler.dispatch[_qpickle.qscheme] = _save_dtype


def _padding(offset: int) -> bytes:
    """Local-header extra field that aligns the record's data to 64 bytes (as torch)."""
    pad = (-(offset + 4)) % _ALIGN
    return b"FB" + struct.pack("<H", pad) + b"Z" * pad


def _write_archive(f: IO[bytes], name: str, records: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        for rec, data in records:
            info = zipfile.ZipInfo(f"{name}/{rec}", date_time=(1980, 1, 1, 0, 0, 0))
            filename_len = len(info.filename.encode())
            info.extra = _padding(f.tell() + 30 + filename_len)
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)


def save(obj: Any, f: FileLike, pickle_module=None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False
         ) -> None:
    """Save ``obj`` (tensors, state dicts, nested containers) in PyTorch's format.

    With a path, the file is written to a temporary file in the same directory and
    renamed over the target, so an interrupted save leaves the previous file intact."""
    if not _use_new_zipfile_serialization:
        raise NotImplementedError("ember writes only the zip checkpoint format (torch >= 1.6)")
    buf = io.BytesIO()
    storages: dict = {}
    _Pickler(buf, storages).dump(obj)
    records = [("data.pkl", buf.getvalue()), (".format_version", b"1"),
               (".storage_alignment", b"64"), ("byteorder", b"little")]
    for ref, root in sorted(storages.values(), key=lambda r: int(r[0].key)):
        records.append((f"data/{ref.key}", _le_bytes(root)))
    records += [("version", b"3\n"),
                (".data/serialization_id", str(int.from_bytes(os.urandom(16), "big")).encode())]
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        name = os.path.splitext(os.path.basename(path))[0] or "archive"
        _write_atomically(os.path.realpath(path), lambda out: _write_archive(out, name, records))
    else:
        _write_archive(f, "archive", records)


def _write_atomically(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write`` and rename it over ``path`` (a symlink's target,
    resolved by the caller), keeping the mode of the file it replaces. On Linux the data
    goes to an unnamed file (``O_TMPFILE``) that gets a name only once complete, so even
    a killed save leaves no partial file behind; elsewhere a ``.tmp`` beside the target
    is removed on any Python-level failure."""
    directory = os.path.dirname(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    try:  # 0o666 (not mkstemp's 0o600): the umask decides, as for open()
        if not os.path.isdir("/proc/self/fd"):  # the unnamed file is linked through it
            raise OSError("no /proc/self/fd")
        fd, named = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o666), False
    except (AttributeError, OSError):  # no O_TMPFILE here, or not on this file system
        fd, named = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                            getattr(os, "O_BINARY", 0), 0o666), True
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
            if not named:  # linkat(AT_SYMLINK_FOLLOW), which a src_dir_fd selects
                fds = os.open("/proc/self/fd", os.O_RDONLY)
                try:
                    os.link(str(out.fileno()), tmp, src_dir_fd=fds, follow_symlinks=True)
                finally:
                    os.close(fds)
                named = True
        os.replace(tmp, path)
    except BaseException:
        if named:
            os.unlink(tmp)
        raise


def _le_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr.tobytes()


# ---- loading -------------------------------------------------------------------------------

def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    arr = _strided(storage, storage_offset, size, stride)
    t = _make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    """torch's rebuild for tensors on an untyped (byte) storage, e.g. float8."""
    if not isinstance(dtype, _dtype.dtype):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v3 expects a dtype, got {dtype!r}")
    if storage.size % dtype.itemsize:
        raise RuntimeError(f"a storage of {storage.size} bytes does not hold whole "
                           f"{dtype.name} elements")
    return _rebuild_tensor_v2(storage.view(dtype.np), storage_offset, size, stride,
                              requires_grad)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _strided(storage: np.ndarray, offset: int, size, stride) -> np.ndarray:
    size, stride = tuple(size), tuple(stride)
    if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
        raise RuntimeError(f"invalid tensor geometry: size {size}, stride {stride}, "
                           f"offset {offset}")
    extent = offset + (1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0)
    if extent > storage.size:
        raise RuntimeError(f"tensor of size {list(size)} with stride {list(stride)} and offset "
                           f"{offset} does not fit in a storage of {storage.size} elements")
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * item for s in stride),
                                           writeable=storage.flags.writeable)


def _rebuild_parameter(data, requires_grad, backward_hooks, *args):
    from .nn.parameter import Parameter
    return Parameter(data, requires_grad)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _StorageType:
    """Stands for ``torch.FloatStorage`` etc. while unpickling."""

    def __init__(self, dtype: _dtype.dtype):
        self.dtype = dtype


def _size(*args):
    return Size(*args)


def _device(*args):
    from ._device import device
    return device(*args)


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._utils", "_rebuild_qtensor"): _qpickle.rebuild_qtensor,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    ("torch", "Tensor"): Tensor,
    ("torch", "ScriptObject"): _qpickle.ScriptObject,  # quantized packed parameters only
    ("torch.nn.parameter", "Parameter"): "parameter",
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): "codecs",
}
for _name in _STORAGE_DTYPES:
    _ALLOWED[("torch", _name)] = _StorageType(_STORAGE_DTYPES[_name])
_ALLOWED[("torch.storage", "UntypedStorage")] = _StorageType(_dtype.uint8)
_ALLOWED[("torch", "UntypedStorage")] = _StorageType(_dtype.uint8)
for _name, _d in _qpickle.STORAGE_DTYPES.items():
    _ALLOWED[("torch", _name)] = _StorageType(_d)
for _d in (*_dtype._ALL, *_qpickle.QDTYPES.values(), *_qpickle.QSCHEMES.values()):
    _ALLOWED[("torch", _d.name)] = _d
for _alias, _d in (("float", _dtype.float32), ("double", _dtype.float64),
                   ("half", _dtype.float16), ("long", _dtype.int64), ("int", _dtype.int32),
                   ("short", _dtype.int16)):
    _ALLOWED[("torch", _alias)] = _d


# ---- globals the user declares safe for weights_only loading (torch's API) -------------------

_SafeGlobal = Callable | tuple[Callable, str]
_safe_globals_set: set = set()


def add_safe_globals(safe_globals: list[_SafeGlobal]) -> None:
    """Allow these classes/functions in ``weights_only=True`` loads: each is an object
    (matched by its ``__module__.__qualname__``, or torch's name for an ember object) or an
    ``(object, "module.qualname")`` pair naming it as the checkpoint does."""
    global _safe_globals_set
    _safe_globals_set = _safe_globals_set | set(safe_globals)


def get_safe_globals() -> list[_SafeGlobal]:
    """The globals added by ``add_safe_globals`` (or an active ``safe_globals``)."""
    return list(_safe_globals_set)


def clear_safe_globals() -> None:
    """Forget every global added by ``add_safe_globals``."""
    global _safe_globals_set
    _safe_globals_set = set()


class safe_globals:
    """Context manager: ``with safe_globals([MyClass]): ember.load(f)`` allows ``MyClass``
    in ``weights_only`` loads inside the block only."""

    def __init__(self, safe_globals: list[_SafeGlobal]):
        self.safe_globals = safe_globals

    def __enter__(self) -> None:
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc) -> None:
        global _safe_globals_set
        _safe_globals_set = _safe_globals_set - set(self.safe_globals)


def _user_allowed_globals() -> dict[str, Any]:
    """``"module.qualname"`` -> object for the user's safe globals (torch's rule)."""
    allowed: dict[str, Any] = {}
    for entry in _safe_globals_set:
        if isinstance(entry, tuple):
            if len(entry) != 2:
                raise ValueError("Expected tuple of length 2 (global, str of callable full "
                                 f"path), but got tuple of length: {len(entry)}")
            if type(entry[1]) is not str:
                raise TypeError("Expected second item in tuple to be str of callable full "
                                f"path, but got: {type(entry[1])}")
            allowed[entry[1]] = entry[0]
            continue
        allowed[f"{entry.__module__}.{entry.__qualname__}"] = entry
        torch_name = _torch_names.torch_name(entry)
        if torch_name is not None:  # ember's objects are written under torch's names
            allowed[".".join(torch_name)] = entry
    return allowed


def _resolve_global(module: str, name: str) -> Any:
    """The object a pickle names: ``torch.X`` is ember's ``ember.X`` (torch's files, and
    ours, which name torch's paths); None for other modules."""
    if module != "torch" and not module.startswith("torch."):
        return None
    try:
        return _torch_names.ember_object(module, name)
    except LookupError as exc:
        from . import __version__
        raise pickle.UnpicklingError(f"the checkpoint needs {module}.{name}, which ember "
                                     f"{__version__} does not provide ({exc})") from None


class _Unpickler(pickle._Unpickler):
    """The checkpoint unpickler. It is pickle's Python implementation, because with
    ``weights_only`` the BUILD opcode (``obj.__setstate__(state)`` or attribute updates)
    must be checked: on an allowed global (``ember.float32``, a class) it would change
    that object for the whole process. BUILD is allowed only on dicts (a state dict's
    ``_metadata``), tensors and quantized packed parameters (``ScriptObject``, which checks
    its state) the file itself made."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, load_storage, weights_only: bool, **pickle_load_args):
        pickle_load_args.setdefault("encoding", "utf-8")
        super().__init__(file, **pickle_load_args)
        self._load_storage = load_storage
        self._weights_only = weights_only
        self._global_ids: set[int] = set()  # what find_class returned: never BUILD targets
        self._user_globals = _user_allowed_globals() if weights_only else {}
        self._user_types = {id(v) for v in self._user_globals.values() if isinstance(v, type)}

    def load_build(self):
        if self._weights_only:
            target = self.stack[-2]
            if id(target) in self._global_ids or isinstance(target, type) or \
                    not (isinstance(target, dict | Tensor | _qpickle.ScriptObject) or
                         id(type(target)) in self._user_types):
                raise pickle.UnpicklingError(
                    f"Weights only load failed: the file sets the state of a "
                    f"{type(target).__name__} object (BUILD), which ember.load("
                    "weights_only=True) refuses: it could change objects outside the file.")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str):
        if self.proto < 3 and self.fix_imports:  # Python 2 names (``__builtin__.set``)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[module, name]
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = _ALLOWED.get((module, name))
        if found == "parameter":
            from .nn.parameter import Parameter
            return Parameter
        if found == "codecs":
            import _codecs
            return _codecs.encode
        if found is None:
            found = self._user_globals.get(f"{module}.{name}")
        if found is not None:
            self._global_ids.add(id(found))
            return found
        if self._weights_only:
            raise pickle.UnpicklingError(
                "Weights only load failed. ember.load(weights_only=True) accepts only tensors, "
                f"containers and primitive types; this file references the unsupported global "
                f"GLOBAL {module}.{name}. Load it with weights_only=False only if you trust its "
                "source, or allow the global with ember.serialization.add_safe_globals.")
        resolved = _resolve_global(module, name)
        return resolved if resolved is not None else super().find_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        storage = self._load_storage(str(key), storage_type.dtype, int(numel), location)
        if len(pid) > 5 and pid[5] is not None:  # legacy view: (view_key, offset, size)
            _, offset, view_size = pid[5]
            storage = storage[offset:offset + view_size]
        if isinstance(storage_type.dtype, _qpickle.QDtype):  # for _rebuild_qtensor
            return _qpickle.QStorage(storage, storage_type.dtype)
        return storage


def load(f: FileLike, map_location=None, pickle_module=None, *,
         weights_only: bool | None = None, mmap: bool = False, **pickle_load_args) -> Any:
    """Load an object saved by ``ember.save`` or ``torch.save``.

    ``weights_only=True`` (the default unless a ``pickle_module`` is given) refuses anything
    but tensors, containers, primitives and the globals allowed by ``add_safe_globals``;
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` forces it, ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
    turns the default off (not an explicit ``weights_only=True``). ``mmap=True`` maps
    tensor storages from the file instead of reading them (copy-on-write, as torch).
    Corrupt or foreign files raise ``RuntimeError`` or ``pickle.UnpicklingError`` naming
    the problem."""
    weights_only = _weights_only_mode(weights_only, pickle_module)
    if pickle_load_args and weights_only:
        warnings.warn("pickle_load_args only works if `weights_only=False`.", stacklevel=2)
        pickle_load_args = {}
    if map_location is not None and not callable(map_location) and \
            not isinstance(map_location, dict):
        _check_map_location(map_location)
    path = os.fspath(f) if isinstance(f, (str, os.PathLike)) else None
    if path is not None and not os.path.exists(path):
        raise FileNotFoundError(f"[Errno 2] No such file or directory: '{path}'")
    try:
        if path is not None:
            with open(path, "rb") as fh:
                return _load_file(fh, path, weights_only, mmap, pickle_load_args)
        if mmap:
            raise ValueError("f must be a file path in order to use the mmap argument")
        return _load_file(f, None, weights_only, False, pickle_load_args)
    except (pickle.UnpicklingError, FileNotFoundError, ValueError):
        raise
    except Exception as exc:  # a truncated or corrupted file: one clear error type
        where = f"'{path}'" if path else "the given file"
        raise RuntimeError(f"ember.load: {where} is not a valid checkpoint ({type(exc).__name__}"
                           f": {exc})") from exc


def _weights_only_mode(weights_only: bool | None, pickle_module) -> bool:
    """torch.load's rule for the effective ``weights_only``, environment variables
    included."""
    not_set = weights_only is None
    if not_set:
        weights_only = pickle_module is None
    true_values = ("1", "y", "yes", "true")
    force = os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in true_values
    force_no = os.getenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0").lower() in true_values
    if force and force_no:
        raise RuntimeError("Only one of `TORCH_FORCE_WEIGHTS_ONLY_LOAD` or "
                           "`TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` should be set, but both were set.")
    if force:
        weights_only = True
    elif force_no and not_set:
        warnings.warn("Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected, since the"
                      "`weights_only` argument was not explicitly passed to `torch.load`, "
                      "forcing weights_only=False.", UserWarning, stacklevel=3)
        weights_only = False
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    return bool(weights_only)


def _check_map_location(map_location) -> None:
    from ._device import device
    dev = map_location if isinstance(map_location, device) else device(map_location)
    if dev.type != "cpu":
        raise RuntimeError(f"Attempting to deserialize object on a {dev.type.upper()} device but "
                           f"ember runs on the CPU only. Use map_location='cpu' (the one device "
                           "that exists) to load it.")


def _load_file(fh, path: str | None, weights_only: bool, mmap: bool, pickle_args: dict):
    start = fh.tell()
    magic = fh.read(4)
    fh.seek(start)
    if magic == b"PK\x03\x04":
        return _load_zip(fh, path, weights_only, mmap, pickle_args)
    if mmap:
        raise RuntimeError("mmap can only be used with files saved with "
                           "`torch.save(_use_new_zipfile_serialization=True)`")
    return _load_legacy(fh, weights_only, pickle_args)


def _load_zip(fh, path, weights_only: bool, mmap: bool, pickle_args: dict):
    zf = zipfile.ZipFile(fh)
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if not pkl:
        raise RuntimeError("archive has no data.pkl record: not a PyTorch checkpoint")
    prefix = pkl[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        with zf.open(prefix + "byteorder") as record:
            byteorder = record.read(16).decode()
    mapped = np.memmap(path, dtype=np.uint8, mode="c") if mmap else None
    cache: dict[str, np.ndarray] = {}

    def load_storage(key: str, dtype: _dtype.dtype, numel: int, location: str):
        if key in cache:
            return cache[key]
        info = zf.getinfo(f"{prefix}data/{key}")
        nbytes = numel * dtype.itemsize
        _check_record_size(info.file_size, numel, dtype)
        np_dtype = dtype.np if byteorder == "little" else dtype.np.newbyteorder(">")
        if mapped is not None and info.compress_type == zipfile.ZIP_STORED:
            offset = _data_offset(mapped, info)
            data = mapped[offset:offset + nbytes]
            _check_record_size(data.size, numel, dtype)
            arr = data.view(np_dtype)
        else:  # never more than the declared storage size is decompressed
            with zf.open(info) as record:
                data = bytearray(record.read(nbytes + 1))
            _check_record_size(len(data), numel, dtype)
            arr = np.frombuffer(data, dtype=np_dtype)
        if byteorder != "little":
            arr = arr.astype(dtype.np)
        cache[key] = arr
        return arr

    return _Unpickler(io.BytesIO(zf.read(pkl[0])), load_storage, weights_only,
                     **pickle_args).load()


def _check_record_size(nbytes: int, numel: int, dtype: _dtype.dtype) -> None:
    """A storage record must hold exactly its declared elements (torch's check and
    message): a shorter one would leave memory uninitialised, a longer one is not a
    checkpoint torch wrote."""
    if nbytes != numel * dtype.itemsize:
        raise RuntimeError(f"record size ({nbytes} bytes) does not match expected size "
                           f"({numel * dtype.itemsize} bytes = {numel} elements * "
                           f"{dtype.itemsize} bytes/element) for dtype {dtype}")


def _data_offset(mapped: np.ndarray, info: zipfile.ZipInfo) -> int:
    header = bytes(mapped[info.header_offset:info.header_offset + 30])
    if header[:4] != b"PK\x03\x04":
        raise RuntimeError("bad local file header in checkpoint archive")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _load_legacy(fh, weights_only: bool, pickle_args: dict):
    """The pre-1.6 format: magic, protocol, sys info, object, storage keys, raw storages.
    Every storage the object uses must be listed and read back whole, and none may
    declare more bytes than the file still holds (checked before allocating)."""
    def read_plain():
        return _Unpickler(fh, None, True).load()
    if read_plain() != _LEGACY_MAGIC:
        raise RuntimeError("Invalid magic number; corrupt file?")
    if read_plain() != _LEGACY_PROTOCOL:
        raise RuntimeError("Invalid protocol version")
    read_plain()  # sys_info
    file_end = _file_end(fh)
    pending: dict[str, tuple] = {}

    def load_storage(key, dtype, numel, location):
        if key not in pending:
            if numel < 0 or file_end is not None and numel * dtype.itemsize > file_end:
                raise RuntimeError(f"storage {key} declares {numel} elements of {dtype}, more "
                                   "than the file holds. The file might be corrupted.")
            pending[key] = (dtype, numel, np.empty(numel, dtype=dtype.np))
        return pending[key][2]

    obj = _Unpickler(fh, load_storage, weights_only, **pickle_args).load()
    keys = read_plain()
    if not isinstance(keys, list) or set(keys) != set(pending):
        raise RuntimeError("the file's storage keys do not match the storages its object uses")
    for key in keys:
        dtype, numel, arr = pending[key]
        (count,) = struct.unpack("<q", fh.read(8))
        if count != numel:  # torch's check (its message, with the sizes filled in)
            raise RuntimeError(f"storage has wrong byte size: expected {numel * dtype.itemsize}"
                               f" got {count * dtype.itemsize}")
        data = fh.read(numel * dtype.itemsize)
        if len(data) != numel * dtype.itemsize:
            raise RuntimeError(f"unexpected EOF, expected {numel * dtype.itemsize - len(data)} "
                               "more bytes. The file might be corrupted.")
        arr[:] = np.frombuffer(data, dtype=dtype.np)
    return obj


def _file_end(fh) -> int | None:
    """The bytes left in ``fh`` from its position, or None for a stream that cannot tell."""
    try:
        here = fh.tell()
        end = fh.seek(0, io.SEEK_END)
        fh.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here
