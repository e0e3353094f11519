"""Process groups and collectives over MPI, with ``torch.distributed``'s API.

Every collective works on the tensors' own NumPy arrays through mpi4py's buffer interface
(``Allreduce(IN_PLACE, array)`` and friends), so a tensor is communicated where it lies, with
no staging copy. The exceptions, each a single copy: the list forms (``all_gather``,
``gather``, ``scatter``, ``reduce_scatter``, ``all_to_all``), whose tensors are separate
arrays, and reductions of ``float16``/``bfloat16``, which MPI cannot add (they are reduced in
``float32``). ``async_op=True`` starts the nonblocking MPI call (``Iallreduce``, ...) and
returns a :class:`Work` whose ``wait()`` completes it.

Backends: ``"mpi"`` is the engine; ``"gloo"`` and ``"nccl"`` are accepted as names for it so
that CUDA-era scripts run unchanged on the CPU. Rank and world size come from MPI; the
``RANK``/``WORLD_SIZE`` variables (env://) and the ``rank``/``world_size`` arguments are
accepted when they agree with MPI. ``timeout`` is accepted and ignored: MPI has no
per-collective timeout.

Mismatched collectives. MPI cannot tell that two ranks call ``all_reduce`` on tensors of
different shapes (it may truncate, hang, or silently combine the wrong elements). As in
torch, ``TORCH_DISTRIBUTED_DEBUG=DETAIL`` makes every collective first all-gather a
fingerprint (operation, shape, dtype) and raise ``RuntimeError`` naming both ranks on a
mismatch; it costs one small extra collective per call, so it is off by default. What is
checked always is local: contiguity, list lengths, and output sizes against the group size.

Failures. MPI jobs are all-or-nothing: a rank that dies (an uncaught exception calls
``MPI_Abort``, under the launcher or, after ``init_process_group``, under plain
``mpiexec``) ends every rank of the job, and ``mpiexec`` exits non-zero. A
lost host (machine down, network cut) is seen by ``mpiexec``'s process manager as its proxy
going away; it then kills the remaining ranks and the job fails. There is no elastic
membership or in-job recovery: resume from the last checkpoint in a new job.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._tensor import Tensor

__all__ = ["Backend", "ReduceOp", "ProcessGroup", "Work", "GroupMember", "group", "P2POp",
           "is_available", "is_initialized", "is_mpi_available", "is_gloo_available",
           "is_nccl_available", "is_torchelastic_launched", "init_process_group",
           "destroy_process_group", "new_group", "get_rank", "get_world_size", "get_backend",
           "get_global_rank", "get_group_rank", "get_process_group_ranks", "barrier",
           "monitored_barrier", "all_reduce", "broadcast", "reduce", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "gather",
           "scatter", "send", "recv", "isend", "irecv", "batch_isend_irecv", "all_to_all_single",
           "all_to_all", "broadcast_object_list", "all_gather_object", "gather_object",
           "scatter_object_list"]

_NOT_INIT = ("Default process group has not been initialized, please make sure to call "
             "init_process_group.")


def _mpi():
    """mpi4py's MPI module; importing it initializes MPI, so it happens on first use."""
    from mpi4py import MPI
    return MPI


# ---- enums and handles ----------------------------------------------------------------------

class ReduceOp:
    """How a reduction combines the ranks' values (``torch.distributed.ReduceOp``)."""

    class RedOpType(enum.Enum):
        SUM = 0
        AVG = 1
        PRODUCT = 2
        MIN = 3
        MAX = 4
        BAND = 5
        BOR = 6
        BXOR = 7
        PREMUL_SUM = 8

    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


class Backend(str):
    """A backend name; every name runs on MPI (see the module docstring)."""

    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"
    UNDEFINED = "undefined"

    def __new__(cls, name: str) -> Backend:
        value = str(name).lower()
        if value not in (cls.MPI, cls.GLOO, cls.NCCL, "cpu:gloo,cuda:nccl"):
            raise ValueError(f"Invalid backend: '{name}'")
        return super().__new__(cls, value)


class ProcessGroup:
    """A set of ranks and the MPI communicator they talk over."""

    def __init__(self, comm, ranks: list[int], backend: str = Backend.MPI) -> None:
        self.comm = comm
        self.ranks = ranks
        self._backend = backend

    def rank(self) -> int:
        return self.comm.Get_rank()

    def size(self) -> int:
        return self.comm.Get_size()

    def name(self) -> str:
        return self._backend

    def __repr__(self) -> str:
        return f"ProcessGroup(ranks={self.ranks}, backend={self._backend!r})"


class GroupMember:
    """``GroupMember.WORLD`` is the default group once initialized."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


_groups: list[ProcessGroup] = []  # the groups made by new_group


class group:  # noqa: N801  (torch's name: ``dist.group.WORLD``)
    WORLD: ProcessGroup | None = None


class Work:
    """A pending collective; ``wait()`` completes it (and any post-processing)."""

    def __init__(self, requests: list, finish: Callable[[], None] | None = None,
                 result: Sequence[Tensor] = (), source: Callable[[Any], int] | None = None):
        self._requests = requests
        self._finish = finish
        self._result = list(result)
        self._source = source  # maps the MPI status of a receive to the sender's rank
        self._statuses = [_mpi().Status() for _ in requests] if source else None
        self._done = False

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None

    def wait(self, timeout=None) -> bool:
        if not self._done:
            if self._requests:
                _mpi().Request.Waitall(self._requests, self._statuses)
            self._complete()
        return True

    def is_completed(self) -> bool:
        if not self._done and (not self._requests or
                               _mpi().Request.Testall(self._requests, self._statuses)):
            self._complete()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self) -> list[Tensor]:
        return self._result

    def _source_rank(self) -> int:
        return self._source(self._statuses[0]) if self._source is not None else -1


def _finish(work: Work, async_op: bool) -> Work | None:
    if async_op:
        return work
    work.wait()
    return None


# ---- the default group ----------------------------------------------------------------------

def is_available() -> bool:
    """Whether MPI (mpi4py) can be used; nothing is initialized by asking."""
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    return is_available()


def is_gloo_available() -> bool:
    return False


def is_nccl_available() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def is_initialized() -> bool:
    return GroupMember.WORLD is not None


def _default_group() -> ProcessGroup:
    if GroupMember.WORLD is None:
        raise ValueError(_NOT_INIT)
    return GroupMember.WORLD


def _check_agrees(what: str, given: int, actual: int) -> None:
    if given not in (-1, None) and int(given) != actual:
        raise ValueError(f"init_process_group: {what}={given} disagrees with MPI, which "
                         f"reports {actual}; start the ranks with "
                         "`python -m ember.distributed.run` (or mpiexec)")


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout=None, world_size: int = -1, rank: int = -1, store=None,
                       group_name: str = "", pg_options=None, device_id=None) -> None:
    """Join the job's default process group (``MPI.COMM_WORLD``)."""
    if GroupMember.WORLD is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if not is_available():
        raise RuntimeError("ember.distributed needs mpi4py and an MPI library: "
                           "pip install 'ember[distributed]'")
    backend = Backend(backend or Backend.MPI)
    comm = _mpi().COMM_WORLD.Dup()
    size, me = comm.Get_size(), comm.Get_rank()
    _check_agrees("world_size", world_size, size)
    _check_agrees("rank", rank, me)
    if init_method in (None, "env://"):
        _check_agrees("WORLD_SIZE", os.environ.get("WORLD_SIZE"), size)
        _check_agrees("RANK", os.environ.get("RANK"), me)
    pg = ProcessGroup(comm, list(range(size)), backend)
    GroupMember.WORLD = group.WORLD = pg
    if size > 1:
        _abort_on_uncaught_exception(me)


def _abort_on_uncaught_exception(rank: int) -> None:
    """Make an uncaught exception end the whole job: print the traceback (through the
    hook installed before), then ``MPI_Abort``. Under ``ember.distributed.run`` the launcher
    does this; a script started by plain ``mpiexec`` would otherwise leave the other ranks
    waiting forever in their next collective."""
    previous = sys.excepthook
    if getattr(previous, "ember_mpi_abort", False):
        return

    def hook(exc_type, exc, tb) -> None:
        try:
            previous(exc_type, exc, tb)
        finally:
            sys.stderr.write(f"[rank {rank}] ember.distributed: uncaught exception, aborting "
                             "the job (MPI_Abort)\n")
            sys.stdout.flush()
            sys.stderr.flush()
            # mpiexec forwards output asynchronously and MPI_Abort tears the job down at
            # once: without a pause it delivered only the traceback's first line at times
            time.sleep(0.5)
            _mpi().COMM_WORLD.Abort(1)

    hook.ember_mpi_abort = True
    sys.excepthook = hook


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Free a group's communicator; with no argument, every group. MPI itself stays up until
    the process exits, so a script may initialize again."""
    global _groups
    if group is None or group is GroupMember.WORLD:
        for pg in _groups + [_default_group()]:
            pg.comm.Free()
        _groups = []
        GroupMember.WORLD = globals()["group"].WORLD = None
    else:
        group.comm.Free()
        _groups = [g for g in _groups if g is not group]



def new_group(ranks: Sequence[int] | None = None, timeout=None, backend: str | None = None,
              pg_options=None, use_local_synchronization: bool = False, group_desc=None,
              device_id=None) -> Any:
    """A group of some ranks of the default group; every rank must call it, as in torch.
    Ranks outside it get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _default_group()
    ranks = sorted(ranks) if ranks is not None else list(range(world.size()))
    for r in ranks:
        if not 0 <= r < world.size():
            raise ValueError(f"Invalid rank {r}: the default group has {world.size()} ranks")
    mpi_group = world.comm.Get_group().Incl(ranks)
    comm = world.comm.Create(mpi_group)
    mpi_group.Free()
    if comm == _mpi().COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(comm, ranks, Backend(backend) if backend else world._backend)
    _groups.append(pg)
    return pg


def _resolve(group: Any) -> ProcessGroup | None:
    """The group to run on, or None for a rank outside it (the call is then a no-op)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    return _default_group() if group is None else group


def get_rank(group: Any = None) -> int:
    pg = _resolve(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group: Any = None) -> int:
    pg = _resolve(group)
    return -1 if pg is None else pg.size()


def get_backend(group: Any = None) -> str:
    pg = _resolve(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return pg._backend


def get_process_group_ranks(group: ProcessGroup) -> list[int]:
    return list(_resolve(group).ranks)


def get_global_rank(group: ProcessGroup, group_rank: int) -> int:
    pg = _resolve(group)
    if not 0 <= group_rank < len(pg.ranks):
        raise ValueError(f"Group rank {group_rank} is not part of group {pg}")
    return pg.ranks[group_rank]


def get_group_rank(group: ProcessGroup, global_rank: int) -> int:
    pg = _resolve(group)
    if global_rank not in pg.ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {pg}")
    return pg.ranks.index(global_rank)


def _peer(pg: ProcessGroup, global_rank: int | None, group_rank: int | None,
          default: int | None = None) -> int:
    """The group rank named by a global rank or a group rank (torch's canonicalization)."""
    if group_rank is not None:
        if global_rank is not None:
            raise ValueError("Can't specify both group_rank and global_rank")
        return group_rank
    if global_rank is None:
        if default is None:
            raise ValueError("Must specify global_rank or group_rank")
        global_rank = default
    return get_group_rank(pg, global_rank)


# ---- buffers --------------------------------------------------------------------------------

_MPI_TYPED = set("?bBhHiIlLqQfdFD")  # dtype chars MPI reduces natively; others go via fp32
_BOOL_OPS = {ReduceOp.SUM: "LOR", ReduceOp.MAX: "LOR", ReduceOp.PRODUCT: "LAND",
             ReduceOp.MIN: "LAND"}


def _array(t: Tensor, name: str = "tensor") -> np.ndarray:
    if not isinstance(t, Tensor):
        raise TypeError(f"Invalid function argument. Expected parameter `{name}` of type "
                        f"Tensor but got {type(t)} instead.")
    if not t._data.flags.c_contiguous:
        raise ValueError("Tensors must be contiguous")
    return t._data


def _raw(arr: np.ndarray) -> np.ndarray:
    """The array's bytes, a view: data movement needs no element type (mpi4py divides a
    gather's receive buffer evenly among the ranks)."""
    return arr.reshape(-1).view(np.uint8)


def _mpi_op(op, arr: np.ndarray):
    MPI = _mpi()
    op = ReduceOp.RedOpType(op)
    if op == ReduceOp.PREMUL_SUM:
        raise ValueError("ReduceOp.PREMUL_SUM is not supported by the MPI backend")
    if arr.dtype == np.bool_:
        if op not in _BOOL_OPS:
            raise ValueError(f"ReduceOp.{op.name} is not defined for bool tensors")
        return getattr(MPI, _BOOL_OPS[op])
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND,
            ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}[op]


class _Reduction:
    """A typed buffer to reduce into ``out``: ``out`` itself where MPI knows the type, else a
    float32 copy written back by ``done()``; ``done()`` also divides for ``AVG``."""

    def __init__(self, out: np.ndarray, op, size: int, src: np.ndarray | None = None) -> None:
        self.out, self.op, self.size = out, ReduceOp.RedOpType(op), size
        self.mpi_op = _mpi_op(op, out)
        self.upcast = out.dtype.char not in _MPI_TYPED
        self.buf = out.astype(np.float32) if self.upcast else \
            (out.view(np.uint8) if out.dtype == np.bool_ else out)
        self.src = src
        if src is not None:
            self.src = src.astype(np.float32) if self.upcast else \
                (src.view(np.uint8) if src.dtype == np.bool_ else src)

    def done(self) -> None:
        if self.op == ReduceOp.AVG:
            np.divide(self.buf, self.size, out=self.buf, casting="unsafe")
        if self.upcast:
            self.out[...] = self.buf


# ---- mismatch detection (TORCH_DISTRIBUTED_DEBUG=DETAIL) ------------------------------------

def _fingerprint(pg: ProcessGroup, op: str, arr: np.ndarray | None,
                 shape_must_match: bool = True) -> None:
    if os.environ.get("TORCH_DISTRIBUTED_DEBUG", "").upper() != "DETAIL":
        return
    mine = f"CollectiveFingerPrint(OpType={op}"
    if arr is not None:
        if shape_must_match:
            mine += f", TensorShape={list(arr.shape)}"
        mine += f", TensorDtypes={arr.dtype}"
    mine += ")"
    prints = pg.comm.allgather(mine)
    for r, theirs in enumerate(prints):
        if theirs != mine:
            raise RuntimeError("Detected mismatch between collectives on ranks. Rank "
                               f"{pg.ranks[pg.rank()]} is running collective: {mine}, but Rank "
                               f"{pg.ranks[r]} is running collective: {theirs}")


# ---- collectives ----------------------------------------------------------------------------

def barrier(group: Any = None, async_op: bool = False, device_ids=None,
            timeout=None) -> Work | None:
    pg = _resolve(group)
    if pg is None:
        return None
    _fingerprint(pg, "BARRIER", None)
    if async_op:
        return Work([pg.comm.Ibarrier()])
    pg.comm.Barrier()
    return None


def monitored_barrier(group: Any = None, timeout=None, wait_all_ranks: bool = False) -> None:
    barrier(group)


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over the group, in place on every rank."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    _fingerprint(pg, "ALLREDUCE", arr)
    red = _Reduction(arr, op, pg.size())
    IN_PLACE = _mpi().IN_PLACE
    if async_op:
        return Work([pg.comm.Iallreduce(IN_PLACE, red.buf, red.mpi_op)], red.done, [tensor])
    pg.comm.Allreduce(IN_PLACE, red.buf, red.mpi_op)
    red.done()
    return None


def broadcast(tensor: Tensor, src: int | None = None, group: Any = None,
              async_op: bool = False, group_src: int | None = None) -> Work | None:
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every rank."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    root = _peer(pg, src, group_src)
    _fingerprint(pg, "BROADCAST", arr)
    if async_op:
        return Work([pg.comm.Ibcast(_raw(arr), root=root)], result=[tensor])
    pg.comm.Bcast(_raw(arr), root=root)
    return None


def reduce(tensor: Tensor, dst: int | None = None, op=ReduceOp.SUM, group: Any = None,
           async_op: bool = False, group_dst: int | None = None) -> Work | None:
    """Reduce ``tensor`` over the group into ``tensor`` of rank ``dst``."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    root = _peer(pg, dst, group_dst)
    _fingerprint(pg, "REDUCE", arr)
    red = _Reduction(arr, op, pg.size())
    mine = pg.rank() == root
    send = _mpi().IN_PLACE if mine else red.buf
    recv = red.buf if mine else None
    if async_op:
        req = pg.comm.Ireduce(send, recv, red.mpi_op, root=root)
        return Work([req], red.done if mine else None, [tensor])
    pg.comm.Reduce(send, recv, red.mpi_op, root=root)
    if mine:
        red.done()
    return None


def _check_list(tensors: Sequence[Tensor], pg: ProcessGroup, name: str,
                like: np.ndarray) -> list[np.ndarray]:
    if len(tensors) != pg.size():
        raise ValueError(f"{name} must have one tensor per rank of the group "
                         f"({pg.size()}), got {len(tensors)}")
    arrays = [_array(t, name) for t in tensors]
    for a in arrays:
        if a.dtype != like.dtype or a.size != like.size:
            raise ValueError(f"every tensor of {name} must have the dtype and number of "
                             f"elements of the input ({like.dtype}, {like.size}); got "
                             f"({a.dtype}, {a.size})")
    return arrays


def _scatter_back(flat: np.ndarray, arrays: list[np.ndarray]) -> Callable[[], None]:
    """Copy the rows of a (ranks, n) staging buffer into the list's arrays."""
    def copy() -> None:
        for a, row in zip(arrays, flat.reshape(len(arrays), -1)):
            a.reshape(-1)[...] = row.view(a.dtype) if row.dtype != a.dtype else row
    return copy


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Work | None:
    """``tensor_list[i]`` receives rank i's ``tensor``."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    outs = _check_list(tensor_list, pg, "tensor_list", arr)
    _fingerprint(pg, "ALLGATHER", arr)
    staging = np.empty((pg.size(), arr.nbytes), np.uint8)
    if async_op:
        return Work([pg.comm.Iallgather(_raw(arr), staging)], _scatter_back(staging, outs),
                    tensor_list)
    pg.comm.Allgather(_raw(arr), staging)
    _scatter_back(staging, outs)()
    return None


def _check_multiple(out: np.ndarray, inp: np.ndarray, n: int, what: str) -> None:
    if out.dtype != inp.dtype:
        raise ValueError(f"{what}: output and input must have the same dtype "
                         f"({out.dtype} vs {inp.dtype})")
    if out.size != n * inp.size:
        raise ValueError(f"{what}: output tensor size must be equal to world_size times input "
                         f"tensor size (got {out.size} and {n} x {inp.size})")


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """Concatenate (or stack) every rank's ``input_tensor`` into ``output_tensor``."""
    out, inp = _array(output_tensor, "output_tensor"), _array(input_tensor, "input_tensor")
    pg = _resolve(group)
    if pg is None:
        return None
    _check_multiple(out, inp, pg.size(), "all_gather_into_tensor")
    _fingerprint(pg, "_ALLGATHER_BASE", inp)
    if async_op:
        return Work([pg.comm.Iallgather(_raw(inp), _raw(out))], result=[output_tensor])
    pg.comm.Allgather(_raw(inp), _raw(out))
    return None


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM, group: Any = None,
                          async_op: bool = False) -> Work | None:
    """Reduce ``input`` over the group; rank i keeps the i-th of its equal chunks."""
    out, inp = _array(output, "output"), _array(input, "input")
    pg = _resolve(group)
    if pg is None:
        return None
    _check_multiple(inp, out, pg.size(), "reduce_scatter_tensor")
    _fingerprint(pg, "_REDUCE_SCATTER_BASE", inp)
    red = _Reduction(out, op, pg.size(), src=inp)
    if async_op:
        req = pg.comm.Ireduce_scatter_block(red.src, red.buf, red.mpi_op)
        return Work([req], red.done, [output])
    pg.comm.Reduce_scatter_block(red.src, red.buf, red.mpi_op)
    red.done()
    return None


def reduce_scatter(output: Tensor, input_list: list[Tensor], op=ReduceOp.SUM,
                   group: Any = None, async_op: bool = False) -> Work | None:
    """Reduce the lists over the group; rank i receives the reduction of ``input_list[i]``."""
    out = _array(output, "output")
    pg = _resolve(group)
    if pg is None:
        return None
    flat = np.stack([a.reshape(-1) for a in _check_list(input_list, pg, "input_list", out)])
    from .._tensor import _make
    return reduce_scatter_tensor(output, _make(flat), op, group, async_op)


def gather(tensor: Tensor, gather_list: list[Tensor] | None = None, dst: int | None = None,
           group: Any = None, async_op: bool = False,
           group_dst: int | None = None) -> Work | None:
    """Rank ``dst`` receives every rank's ``tensor`` in ``gather_list``."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    root = _peer(pg, dst, group_dst, default=0)
    _fingerprint(pg, "GATHER", arr)
    finish, staging = None, None
    if pg.rank() == root:
        outs = _check_list(gather_list or [], pg, "gather_list", arr)
        staging = np.empty((pg.size(), arr.nbytes), np.uint8)
        finish = _scatter_back(staging, outs)
    elif gather_list:
        raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination "
                         "ranks.")
    if async_op:
        return Work([pg.comm.Igather(_raw(arr), staging, root=root)], finish)
    pg.comm.Gather(_raw(arr), staging, root=root)
    if finish is not None:
        finish()
    return None


def scatter(tensor: Tensor, scatter_list: list[Tensor] | None = None, src: int | None = None,
            group: Any = None, async_op: bool = False,
            group_src: int | None = None) -> Work | None:
    """Rank i receives ``scatter_list[i]`` of rank ``src`` into ``tensor``."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    root = _peer(pg, src, group_src, default=0)
    _fingerprint(pg, "SCATTER", arr)
    staging = None
    if pg.rank() == root:
        ins = _check_list(scatter_list or [], pg, "scatter_list", arr)
        staging = np.stack([_raw(a) for a in ins])
    elif scatter_list:
        raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
    if async_op:
        return Work([pg.comm.Iscatter(staging, _raw(arr), root=root)], result=[tensor])
    pg.comm.Scatter(staging, _raw(arr), root=root)
    return None


def _split_bytes(arr: np.ndarray, splits: Sequence[int] | None, n: int,
                 what: str) -> tuple[list[int], list[int]]:
    """Byte counts and displacements of an all_to_all buffer split along dim 0."""
    rows = arr.shape[0] if arr.ndim else 1
    row_bytes = arr.nbytes // rows if rows else 0
    if splits is None or len(splits) == 0:
        if rows % n:
            raise ValueError(f"{what}: dim 0 ({rows}) is not divisible by the group size {n}; "
                             "give split sizes")
        splits = [rows // n] * n
    splits = [int(s) for s in splits]
    if len(splits) != n or sum(splits) != rows:
        raise ValueError(f"{what} split sizes {splits} do not match {n} ranks and dim 0 "
                         f"size {rows}")
    counts = [s * row_bytes for s in splits]
    return counts, [int(d) for d in np.cumsum([0] + counts[:-1])]


def all_to_all_single(output: Tensor, input: Tensor, output_split_sizes=None,
                      input_split_sizes=None, group: Any = None,
                      async_op: bool = False) -> Work | None:
    """Rank i sends the j-th dim-0 split of ``input`` to rank j, which stores it as its i-th
    split of ``output``."""
    out, inp = _array(output, "output"), _array(input, "input")
    pg = _resolve(group)
    if pg is None:
        return None
    if out.dtype != inp.dtype:
        raise ValueError("all_to_all_single: output and input must have the same dtype")
    _fingerprint(pg, "ALLTOALL_BASE", inp, shape_must_match=False)
    n = pg.size()
    scounts, sdispl = _split_bytes(inp, input_split_sizes, n, "input")
    rcounts, rdispl = _split_bytes(out, output_split_sizes, n, "output")
    byte = _mpi().BYTE
    send = [_raw(inp), (scounts, sdispl), byte]
    recv = [_raw(out), (rcounts, rdispl), byte]
    if async_op:
        return Work([pg.comm.Ialltoallv(send, recv)], result=[output])
    pg.comm.Alltoallv(send, recv)
    return None


def all_to_all(output_tensor_list: list[Tensor], input_tensor_list: list[Tensor],
               group: Any = None, async_op: bool = False) -> Work | None:
    """Rank i sends ``input_tensor_list[j]`` to rank j, which receives it as
    ``output_tensor_list[i]``."""
    pg = _resolve(group)
    if pg is None:
        return None
    ins = [_array(t, "input_tensor_list") for t in input_tensor_list]
    outs = [_array(t, "output_tensor_list") for t in output_tensor_list]
    if len(ins) != pg.size() or len(outs) != pg.size():
        raise ValueError("all_to_all needs one input and one output tensor per rank")
    _fingerprint(pg, "ALLTOALL", None)
    send = np.concatenate([_raw(a) for a in ins])
    recv = np.empty(sum(a.nbytes for a in outs), np.uint8)
    counts = [a.nbytes for a in outs]
    displ = [int(d) for d in np.cumsum([0] + counts[:-1])]
    scounts = [a.nbytes for a in ins]
    sdispl = [int(d) for d in np.cumsum([0] + scounts[:-1])]
    byte = _mpi().BYTE

    def copy() -> None:
        for a, d, c in zip(outs, displ, counts):
            _raw(a)[...] = recv[d:d + c]
    req = pg.comm.Ialltoallv([send, (scounts, sdispl), byte], [recv, (counts, displ), byte])
    return _finish(Work([req], copy, output_tensor_list), async_op)


# ---- point to point -------------------------------------------------------------------------

def _p2p_peer(pg: ProcessGroup, rank: int | None, group_rank: int | None, what: str) -> int:
    peer = _peer(pg, rank, group_rank)
    if peer == pg.rank():
        raise ValueError(f"Invalid {what} rank: {what} rank should not be the same as the "
                         "rank of the current process.")
    return peer


def isend(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0,
          group_dst: int | None = None) -> Work | None:
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    peer = _p2p_peer(pg, dst, group_dst, "destination")
    return Work([pg.comm.Isend(_raw(arr), dest=peer, tag=tag)], result=[tensor])


def irecv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0,
          group_src: int | None = None) -> Work | None:
    """Receive into ``tensor``; from any rank when ``src`` is None."""
    arr = _array(tensor)
    pg = _resolve(group)
    if pg is None:
        return None
    MPI = _mpi()
    if src is None and group_src is None:
        peer = MPI.ANY_SOURCE
    else:
        peer = _p2p_peer(pg, src, group_src, "source")
    req = pg.comm.Irecv(_raw(arr), source=peer, tag=tag)
    return Work([req], result=[tensor], source=lambda status: pg.ranks[status.Get_source()])


def send(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0,
         group_dst: int | None = None) -> None:
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def recv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0,
         group_src: int | None = None) -> int:
    """Receive into ``tensor``; returns the sender's global rank (-1 outside the group)."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    return work._source_rank()


class P2POp:
    """One send or receive for :func:`batch_isend_irecv`."""

    def __init__(self, op: Callable, tensor: Tensor, peer: int | None = None,
                 group: Any = None, tag: int = 0, group_peer: int | None = None) -> None:
        if op not in (isend, irecv):
            raise ValueError("Invalid ``op``. Expected ``op`` to be of type "
                             "``torch.distributed.isend`` or ``torch.distributed.irecv``.")
        self.op, self.tensor, self.peer, self.group, self.tag = op, tensor, peer, group, tag
        self.group_peer = group_peer


def batch_isend_irecv(p2p_op_list: list[P2POp]) -> list[Work]:
    return [p.op(p.tensor, p.peer, p.group, p.tag, p.group_peer) for p in p2p_op_list]


# ---- Python objects (pickled) ---------------------------------------------------------------

def broadcast_object_list(object_list: list, src: int | None = None, group: Any = None,
                          device=None, group_src: int | None = None) -> None:
    """Replace ``object_list``'s items by those of rank ``src``, in place."""
    pg = _resolve(group)
    if pg is None:
        return
    root = _peer(pg, src, group_src)
    items = pg.comm.bcast(list(object_list) if pg.rank() == root else None, root=root)
    if len(items) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {pg.ranks[root]} sent {len(items)} "
                         f"objects into a list of {len(object_list)}")
    object_list[:] = items


def all_gather_object(object_list: list, obj: Any, group: Any = None) -> None:
    """``object_list[i]`` receives rank i's ``obj``."""
    pg = _resolve(group)
    if pg is None:
        return
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list must have {pg.size()} items")
    object_list[:] = pg.comm.allgather(obj)


def gather_object(obj: Any, object_gather_list: list | None = None, dst: int | None = None,
                  group: Any = None, group_dst: int | None = None) -> None:
    pg = _resolve(group)
    if pg is None:
        return
    root = _peer(pg, dst, group_dst, default=0)
    items = pg.comm.gather(obj, root=root)
    if pg.rank() == root:
        if object_gather_list is None or len(object_gather_list) != pg.size():
            raise ValueError("gather_object: object_gather_list must have one item per rank "
                             "on the destination rank")
        object_gather_list[:] = items


def scatter_object_list(scatter_object_output_list: list,
                        scatter_object_input_list: list | None = None, src: int | None = None,
                        group: Any = None, group_src: int | None = None) -> None:
    pg = _resolve(group)
    if pg is None:
        return
    root = _peer(pg, src, group_src, default=0)
    items = list(scatter_object_input_list) if pg.rank() == root else None
    if items is not None and len(items) != pg.size():
        raise ValueError("scatter_object_list: the input list must have one item per rank")
    scatter_object_output_list[0] = pg.comm.scatter(items, root=root)

