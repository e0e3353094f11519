"""DistributedSampler: each rank reads its own share of a dataset, as in torch.

The partitioning is torch's exactly: shuffle (or not) the whole index list, pad it by
repeating indices (or trim it with ``drop_last``) to a multiple of the number of replicas,
and give rank r every ``num_replicas``-th index starting at r. With ``shuffle=True`` the
permutation comes from ``randperm`` with a generator seeded ``seed + epoch``, the same on
every rank; ember's random streams are not torch's, so the order differs from torch's
while the partitioning of that order is identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _num_samples(n: int, num_replicas: int, drop_last: bool) -> int:
    """Each rank's share: rounded up (padding), or down with ``drop_last``."""
    if drop_last and n % num_replicas:
        return math.ceil((n - num_replicas) / num_replicas)
    return math.ceil(n / num_replicas)


def _partition(indices: list[int], num_replicas: int, rank: int, drop_last: bool) -> list[int]:
    """Rank ``rank``'s share of ``indices``: padded or trimmed to equal shares, strided."""
    n = len(indices)
    total = _num_samples(n, num_replicas, drop_last) * num_replicas
    if drop_last:
        indices = indices[:total]
    else:
        pad = total - n
        if pad <= n:
            indices = indices + indices[:pad]
        else:
            indices = indices + (indices * math.ceil(pad / n))[:pad]
    return indices[rank:total:num_replicas]


class DistributedSampler(Sampler):
    """The indices of rank ``rank`` of ``num_replicas`` (by default, from the process group).

    Call ``set_epoch(epoch)`` before each epoch so that shuffling differs between epochs.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        self.num_samples = _num_samples(len(dataset), num_replicas, drop_last)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            from ... import Generator, randperm
            g = Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        return iter(_partition(indices, self.num_replicas, self.rank, self.drop_last))

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Seed the next shuffle with ``seed + epoch``."""
        self.epoch = epoch
