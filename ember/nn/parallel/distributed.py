"""DistributedDataParallel: one model replica per rank, gradients averaged over MPI.

As in torch, parameters (and buffers) are broadcast from rank 0 at construction, and the
gradients are averaged in buckets of about ``bucket_cap_mb``, filled in reverse parameter
order (the order backward produces them; the first bucket is kept at 1 MB so that
communication starts early). A ``post_accumulate_grad`` hook on every parameter counts the
gradients in; as soon as a bucket is complete its nonblocking ``Iallreduce`` starts, and
backward goes on computing the earlier layers while MPI moves the bucket. Buckets start in
index order on every rank, since MPI matches collectives by order.

Where the reduction completes: ember's engine has no ``queue_callback``, so the reducer
finishes inside the hook of the gradient that makes the last bucket complete: it waits
for all buckets and writes the averaged values into ``.grad``. That hook is the last thing
backward does for DDP's parameters, so ``.grad`` holds the averages when ``backward()``
returns, whatever the optimizer.

DDP talks over its own duplicate of the group's communicator, so a user's collectives
between forward and backward never interleave with the gradient traffic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ... import distributed as dist
from ..._tensor import Tensor, _make
from ...autograd.grad_mode import is_grad_enabled
from ...autograd.graph import AccumulateGrad
from ...distributed.distributed_c10d import _MPI_TYPED, _mpi, _raw
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # torch's dist._DEFAULT_FIRST_BUCKET_BYTES

_UNFINISHED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing "
    "loss. You can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`, and by "
    "making sure all `forward` function outputs participate in calculating loss. Parameter "
    "indices which did not receive grad for rank {rank}: {missing}")


class _Bucket:
    """Gradients of some parameters of one dtype, flattened into one buffer to all-reduce."""

    def __init__(self, params: list[tuple[int, Tensor]]) -> None:
        self.params = params  # (index in DDP's parameter list, parameter)
        dtype = params[0][1]._data.dtype
        self.wire = dtype if dtype.char in _MPI_TYPED else np.dtype(np.float32)
        self.slices, offset = [], 0
        for _, p in params:
            self.slices.append(slice(offset, offset + p._data.size))
            offset += p._data.size
        self.buffer = np.empty(offset, self.wire)
        self.pending = len(params)


def _assign_buckets(params: list[Tensor], cap_bytes: int) -> list[list[int]]:
    """Parameter indices per bucket, in reverse order, by dtype, up to the size caps."""
    buckets, open_ = [], {}  # dtype -> (indices, bytes) of the bucket being filled
    limit = min(_FIRST_BUCKET_BYTES, cap_bytes)
    for i in reversed(range(len(params))):
        arr = params[i]._data
        indices, size = open_.get(arr.dtype, ([], 0))
        indices.append(i)
        size += arr.nbytes
        if size >= limit:
            buckets.append(indices)
            indices, size = [], 0
            limit = cap_bytes
        open_[arr.dtype] = (indices, size)
    buckets += [indices for indices, _ in open_.values() if indices]
    return buckets


def _reachable_leaves(outputs: Any) -> set[int]:
    """ids of the leaves that the autograd graph of ``outputs`` reaches."""
    tensors, stack, seen, leaves = [], [outputs], set(), set()
    while stack:
        obj = stack.pop()
        if isinstance(obj, Tensor):
            tensors.append(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    nodes = []
    for t in tensors:
        if t.grad_fn is not None:
            nodes.append(t.grad_fn)
        elif t.requires_grad:
            leaves.add(id(t))
    while nodes:
        node = nodes.pop()
        if node in seen:
            continue
        seen.add(node)
        if type(node) is AccumulateGrad:
            leaves.add(id(node.variable))
            continue
        nodes.extend(n for n, _ in node.next_functions if n is not None)
    return leaves


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of a process group (``torch.nn.parallel``'s DDP).

    ``device_ids``/``output_device``/``dim`` are accepted for compatibility (ember runs on
    the CPU); ``static_graph`` is accepted and changes nothing. With
    ``gradient_as_bucket_view`` the averaged ``.grad`` tensors are views of the buckets.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, **kwargs) -> None:
        unsupported = [k for k, v in kwargs.items() if v not in (None, False)]
        if unsupported:
            raise NotImplementedError(f"DistributedDataParallel: {unsupported} not supported "
                                      "by ember")
        super().__init__()
        self.module = module
        self.process_group = process_group if process_group is not None else \
            dist.distributed_c10d._default_group()
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 2**20)
        self._comm = self.process_group.comm.Dup()
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._verify_same_model()
        if init_sync:
            self._broadcast([*self._params, *module.buffers()])
        self._buckets = [_Bucket([(i, self._params[i]) for i in indices])
                         for indices in _assign_buckets(self._params, self.bucket_bytes_cap)]
        self._bucket_of = {i: b for b, bucket in enumerate(self._buckets)
                           for i, _ in bucket.params}
        self._grad_hooks = [p.register_post_accumulate_grad_hook(self._hook_for(i))
                       for i, p in enumerate(self._params)]
        self._expecting = self._backward_started = False
        self._ready = np.zeros(len(self._params), bool)
        self._used = np.ones(len(self._params), np.uint8)
        self._requests: list = []
        self._next_bucket = 0

    # ---- setup ------------------------------------------------------------------------------

    def _verify_same_model(self) -> None:
        mine = [(tuple(p.shape), str(p.dtype)) for p in self._params]
        for r, theirs in enumerate(self._comm.allgather(mine)):
            if theirs != mine:
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but Rank {self._comm.rank} has "
                    f"{len(mine)} params of shapes/dtypes {mine}, while rank {r} has "
                    f"{len(theirs)} params of shapes/dtypes {theirs}.")

    def _broadcast(self, tensors) -> None:
        """Overwrite ``tensors`` in place with rank 0's values."""
        if self._comm.Get_size() == 1:
            return
        pairs = [(t._data, np.ascontiguousarray(t._data)) for t in tensors]
        _mpi().Request.Waitall([self._comm.Ibcast(_raw(buf), root=0) for _, buf in pairs])
        for arr, buf in pairs:
            if buf is not arr:  # a non-contiguous tensor was sent through a copy
                arr[...] = buf

    # ---- forward ----------------------------------------------------------------------------

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self._expecting and self._backward_started:
            missing = np.flatnonzero(~self._ready).tolist()
            raise RuntimeError(_UNFINISHED.format(rank=self._comm.Get_rank(), missing=missing))
        self._drain()
        if self.broadcast_buffers and self.require_forward_param_sync:
            self._broadcast(list(self.module.buffers()))
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._prepare_for_backward(output)
        return output

    def _drain(self) -> None:
        """Complete what a forward without backward left in flight (the same on every rank)."""
        if self._requests:
            _mpi().Request.Waitall(self._requests)
        self._requests = []
        self._expecting = False

    def _prepare_for_backward(self, output: Any) -> None:
        self._expecting, self._backward_started = True, False
        self._ready[:] = False
        self._next_bucket = 0
        for bucket in self._buckets:
            bucket.pending = len(bucket.params)
        if not self.find_unused_parameters:
            return
        reached = _reachable_leaves(output)
        unused = []
        for i, p in enumerate(self._params):
            self._used[i] = id(p) in reached or p.grad is not None
            if id(p) not in reached:
                unused.append(i)
        self._requests.append(self._comm.Iallreduce(_mpi().IN_PLACE, self._used, _mpi().MAX))
        for i in unused:  # their gradient (zero, or what no_sync accumulated) is ready now
            self._mark_ready(i)

    # ---- backward: hooks and buckets --------------------------------------------------------

    def _hook_for(self, index: int):
        def hook(param: Tensor) -> None:
            if self._expecting:
                if self._ready[index]:
                    raise RuntimeError(
                        f"Expected to mark a variable ready only once. Parameter index "
                        f"{index} has been marked as ready twice. This can happen when a "
                        "parameter is used more than once in backward, e.g. in reentrant "
                        "backward passes or after a second backward without a new forward.")
                self._backward_started = True
                self._mark_ready(index)
        return hook

    def _mark_ready(self, index: int) -> None:
        self._ready[index] = True
        self._buckets[self._bucket_of[index]].pending -= 1
        while self._next_bucket < len(self._buckets) and \
                self._buckets[self._next_bucket].pending == 0:
            self._launch(self._buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finalize()
        elif self._requests:
            _mpi().Request.Testall(self._requests)  # lets MPI progress while backward runs

    def _launch(self, bucket: _Bucket) -> None:
        buf = bucket.buffer
        for (_, p), sl in zip(bucket.params, bucket.slices):
            if p.grad is None:
                buf[sl] = 0
            else:
                buf[sl] = p.grad._data.reshape(-1)
        self._requests.append(self._comm.Iallreduce(_mpi().IN_PLACE, buf, _mpi().SUM))

    def _finalize(self) -> None:
        _mpi().Request.Waitall(self._requests)
        self._requests = []
        self._expecting = False
        size = self._comm.Get_size()
        for bucket in self._buckets:
            for (i, p), sl in zip(bucket.params, bucket.slices):
                if not self._used[i]:  # no rank used it: its grad stays as it was (None)
                    continue
                total = bucket.buffer[sl].reshape(p._data.shape)
                if self.gradient_as_bucket_view and total.dtype == p._data.dtype:
                    np.divide(total, size, out=total)
                    p.grad = _make(total)
                elif p.grad is None:
                    p.grad = _make((total / size).astype(p._data.dtype))
                else:  # sum to average in one pass, into the gradient's memory
                    np.divide(total, size, out=p.grad._data, casting="unsafe")
                    p.grad._vc[0] += 1

    # ---- public API -------------------------------------------------------------------------

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Accumulate gradients locally; the first backward after the block averages them."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _set_static_graph(self) -> None:
        """Accepted for compatibility; the reducer needs no static-graph mode."""
