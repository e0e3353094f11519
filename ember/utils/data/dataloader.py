"""``DataLoader``: batches from a dataset, in this process or in worker processes.

With ``num_workers > 0`` each worker is a separate process (forked, as torch does on
Linux) that receives batches of indices on its own queue and puts collated batches on
a shared result queue; the main process keeps ``prefetch_factor * num_workers`` batches
in flight and hands them out in sampler order. A worker's exception is re-raised in the
main process with the worker's traceback; a worker that dies is reported within about a
second instead of hanging the loop.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._worker import (
    ExceptionWrapper,
    ResumeIteration,
    _fetch,
    _IterableDone,
    get_worker_info,
    worker_loop,
)
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]

_STATUS_CHECK_INTERVAL = 0.5


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: None forever (the dataset decides what's next)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over ``dataset`` in batches, as ``torch.utils.data.DataLoader``."""

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler | Iterable | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._is_iterable = isinstance(dataset, IterableDataset)

        if self._is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.collate_fn = collate_fn or (default_collate if self._auto_collation
                                         else default_convert)
        self._iterator = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator._reset()
            return self._iterator
        return _MultiProcessIter(self)

    def _base_seed(self) -> int:
        from ... import empty, int64
        return int(empty((), dtype=int64).random_(generator=self.generator).item())


class _SingleProcessIter:
    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._sampler_iter = iter(loader._index_sampler)
        self._dataset_iter = iter(loader.dataset) if loader._is_iterable else None

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        ld = self._loader
        if self._dataset_iter is None:
            return _fetch(ld.dataset, None, next(self._sampler_iter), ld._auto_collation,
                          ld.collate_fn, ld.drop_last)
        return _fetch(ld.dataset, self._dataset_iter, ld.batch_size, ld._auto_collation,
                      ld.collate_fn, ld.drop_last)


class _MultiProcessIter:
    """Keeps batches in flight across the workers and returns them in order."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = multiprocessing.get_context("fork")
        elif isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        self._result_queue = ctx.Queue()
        self._done_event = ctx.Event()
        self._index_queues = []
        self._workers = []
        base_seed = loader._base_seed()
        for wid in range(loader.num_workers):
            iq = ctx.Queue()
            w = ctx.Process(target=worker_loop, daemon=True, args=(
                loader.dataset, loader._is_iterable, iq, self._result_queue, self._done_event,
                loader._auto_collation, loader.collate_fn, loader.drop_last, base_seed,
                loader.worker_init_fn, wid, loader.num_workers))
            w.start()
            self._index_queues.append(iq)
            self._workers.append(w)
        self._shutdown = False
        self._epoch = itertools.count()
        self._reset()

    def _reset(self) -> None:
        self._tag = next(self._epoch)
        if self._tag and self._loader._is_iterable:  # a persistent worker's next epoch
            for q in self._index_queues:
                q.put(ResumeIteration())
        self._sampler_iter = iter(self._loader._index_sampler)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._cache: dict[int, Any] = {}
        self._owner: dict[int, int] = {}
        self._active = [True] * len(self._workers)
        self._next_worker = itertools.cycle(range(len(self._workers)))
        for _ in range(self._loader.prefetch_factor * len(self._workers)):
            self._try_put_index()

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def _try_put_index(self) -> None:
        if not any(self._active):
            return
        try:
            indices = next(self._sampler_iter)
        except StopIteration:
            return
        if self._loader._is_iterable:
            indices = self._loader.batch_size
        for _ in range(len(self._workers)):
            wid = next(self._next_worker)
            if self._active[wid]:
                break
        self._index_queues[wid].put(((self._tag, self._send_idx), indices))
        self._owner[self._send_idx] = wid
        self._send_idx += 1

    def __next__(self) -> Any:
        while True:
            if self._rcvd_idx >= self._send_idx:
                if not self._loader.persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if self._rcvd_idx in self._cache:
                data = self._cache.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                if isinstance(data, _IterableDone):
                    self._active[data.worker_id] = False
                    continue
                self._try_put_index()
                if isinstance(data, ExceptionWrapper):
                    self._shutdown_workers()
                    data.reraise()
                return data
            (tag, idx), data = self._get()
            if tag == self._tag:
                self._cache[idx] = data

    def _get(self):
        timeout = self._loader.timeout
        start = time.monotonic()
        while True:
            wait = _STATUS_CHECK_INTERVAL
            if timeout > 0:
                wait = min(wait, max(timeout - (time.monotonic() - start), 0.0))
            try:
                return self._result_queue.get(timeout=wait)
            except queue.Empty:
                pass
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                pids = ", ".join(str(w.pid) for w in dead)
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")
            if timeout > 0 and time.monotonic() - start >= timeout:
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def _shutdown_workers(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._done_event.set()
        for q in self._index_queues:
            q.put(None)
        for w in self._workers:
            w.join(timeout=2)
            if w.is_alive():
                w.terminate()
        for q in self._index_queues + [self._result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:
            pass
