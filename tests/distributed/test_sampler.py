"""DistributedSampler against torch's: the same indices per rank without shuffling, and
the same partitioning of a given permutation with shuffling."""

from __future__ import annotations

import pytest
import torch
import torch.utils.data as tdata

from ember.utils.data import distributed as edist
from ember.utils.data.distributed import DistributedSampler

CASES = [(n, replicas, drop_last) for n in (0, 1, 5, 10, 11) for replicas in (1, 2, 3, 4)
         for drop_last in (False, True) if n > 0 or drop_last]


@pytest.mark.parametrize("n,replicas,drop_last", CASES)
def test_unshuffled_equals_torch(n, replicas, drop_last):
    data = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = tdata.DistributedSampler(data, replicas, rank, shuffle=False,
                                          drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
        assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("n,replicas,drop_last", [c for c in CASES if c[0]])
def test_partition_of_a_permutation_equals_torch(n, replicas, drop_last):
    seed, epoch = 3, 2
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    for rank in range(replicas):
        theirs = tdata.DistributedSampler(list(range(n)), replicas, rank, shuffle=True,
                                          seed=seed, drop_last=drop_last)
        theirs.set_epoch(epoch)
        assert edist._partition(perm, replicas, rank, drop_last) == list(theirs)


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (11, 4, True), (2, 5, False)])
def test_shuffled_properties(n, replicas, drop_last):
    def shares(epoch, seed=0):
        out = []
        for rank in range(replicas):
            s = DistributedSampler(range(n), replicas, rank, seed=seed, drop_last=drop_last)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    first = shares(0)
    assert len({len(s) for s in first}) == 1  # equal shares
    flat = [i for s in first for i in s]
    if drop_last:  # disjoint, and only what does not fit is dropped
        assert len(set(flat)) == len(flat) == n - n % replicas
    else:  # every index, plus as few repeats as make the shares equal
        assert set(flat) == set(range(n)) and len(flat) == -(-n // replicas) * replicas
    assert first == shares(0)  # the same on every rank and every call: seed + epoch
    assert any(shares(e) != first for e in (1, 2, 3))
    assert any(shares(0, seed=s) != first for s in (1, 2, 3))


def test_invalid_rank_and_default_group():
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(range(4))
