"""The worker-process side of the DataLoader."""

from __future__ import annotations

import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

__all__ = ["WorkerInfo", "get_worker_info"]

_worker_info: WorkerInfo | None = None


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker knows about itself (``get_worker_info()`` inside a worker)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


def get_worker_info() -> WorkerInfo | None:
    """The current worker's info, or None in the main process."""
    return _worker_info


class _KeyErrorMessage(str):
    """KeyError prints ``repr`` of its message; this keeps the traceback readable."""

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, exc_info, where: str) -> None:
        self.exc_type = exc_info[0]
        self.msg = f"Caught {exc_info[0].__name__} {where}.\nOriginal " + \
            "".join(traceback.format_exception(*exc_info))

    def reraise(self):
        msg = _KeyErrorMessage(self.msg) if self.exc_type is KeyError else self.msg
        try:
            exc = self.exc_type(msg)
        except Exception:
            exc = RuntimeError(self.msg)
        raise exc


class ResumeIteration:
    """Sent to every worker when a persistent loader starts a new epoch: an iterable
    dataset's stream restarts."""


class _IterableDone:
    """Sent by a worker whose IterableDataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


def worker_loop(dataset, is_iterable: bool, index_queue, result_queue, done_event,
                auto_collation: bool, collate_fn, drop_last: bool, base_seed: int,
                init_fn, worker_id: int, num_workers: int) -> None:
    """Fetch the batches the main process asks for until told to stop (``None``)."""
    global _worker_info
    try:
        seed = base_seed + worker_id
        random.seed(seed)
        from ... import manual_seed
        manual_seed(seed)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_error = iterator = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            iterator = iter(dataset) if is_iterable else None
        except Exception:
            init_error = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process "
                                                          f"{worker_id}")
        exhausted = False
        while not done_event.is_set():
            try:
                request = index_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if request is None:
                break
            if isinstance(request, ResumeIteration):
                exhausted = False
                try:
                    iterator = iter(dataset) if is_iterable else None
                except Exception:
                    init_error = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker "
                                                                  f"process {worker_id}")
                continue
            batch_idx, indices = request
            if init_error is not None:
                result_queue.put((batch_idx, init_error))
                init_error = None
                continue
            if exhausted:
                result_queue.put((batch_idx, _IterableDone(worker_id)))
                continue
            try:
                data = _fetch(dataset, iterator, indices, auto_collation, collate_fn, drop_last)
            except StopIteration:
                exhausted = True
                data = _IterableDone(worker_id)
            except Exception:
                data = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process "
                                                        f"{worker_id}")
            result_queue.put((batch_idx, data))
    except KeyboardInterrupt:
        pass


def _fetch(dataset, iterator, indices, auto_collation: bool, collate_fn, drop_last: bool):
    """One batch: by indices from a map-style dataset, or the next items of a stream."""
    if iterator is None:
        if auto_collation:
            getitems = getattr(dataset, "__getitems__", None)
            data = getitems(indices) if getitems else [dataset[i] for i in indices]
        else:
            data = dataset[indices]
        return collate_fn(data)
    if not auto_collation:
        return collate_fn(next(iterator))
    data = []
    for _ in range(indices):
        try:
            data.append(next(iterator))
        except StopIteration:
            break
    if not data or (drop_last and len(data) < indices):
        raise StopIteration
    return collate_fn(data)
