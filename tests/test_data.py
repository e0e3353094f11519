"""utils.data against torch: datasets, samplers, collation, and DataLoader with worker
processes (order, seeding, worker_info, persistent workers, failures)."""

from __future__ import annotations

import collections
import os
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import ember
import ember.utils.data as edata


class Squares(edata.Dataset):
    def __init__(self, n: int = 10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return {"x": np.float32(i) * np.ones(3, np.float32), "y": i, "name": f"s{i}"}


class TorchSquares(tdata.Dataset):
    def __init__(self, n: int = 10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.float32(i) * np.ones(3, np.float32), "y": i, "name": f"s{i}"}


def _np(batch):
    if isinstance(batch, dict):
        return {k: _np(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_np(v) for v in batch]
    if isinstance(batch, (ember.Tensor, torch.Tensor)):
        return (batch.numpy(), str(batch.dtype).split(".")[-1])
    return batch


@pytest.mark.parametrize("kwargs", [dict(batch_size=3), dict(batch_size=3, drop_last=True),
                                    dict(batch_size=None), dict(batch_size=4, num_workers=2)])
def test_sequential_batches_equal_torch(kwargs):
    ours = list(edata.DataLoader(Squares(), **kwargs))
    theirs = list(tdata.DataLoader(TorchSquares(), **kwargs))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert _np(a) == _np(b) if not isinstance(_np(a), dict) else \
            all(np.array_equal(_np(a)[k][0], _np(b)[k][0]) if isinstance(_np(a)[k], tuple)
                else _np(a)[k] == _np(b)[k] for k in _np(a))


def test_default_collate_matches_torch_for_nested_structures():
    Point = collections.namedtuple("Point", "a b")
    samples = [(i, float(i), np.arange(2) + i, [i, i + 1], Point(i, np.float64(i)), True)
               for i in range(3)]
    ours, theirs = edata.default_collate(samples), tdata.default_collate(samples)

    def check(a, b):
        if isinstance(b, torch.Tensor):
            assert isinstance(a, ember.Tensor)
            assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        else:
            assert type(a) is type(b)
            for x, y in zip(a, b):
                check(x, y)
    check(ours, theirs)
    with pytest.raises(RuntimeError, match="equal size"):
        edata.default_collate([[1, 2], [1]])


def test_tensor_dataset_subset_concat_and_random_split():
    x = ember.arange(10)
    ds = edata.TensorDataset(x, x * 2)
    assert len(ds) == 10 and ds[3][1].item() == 6
    with pytest.raises(AssertionError, match="Size mismatch"):
        edata.TensorDataset(x, ember.arange(3))
    cat = ds + edata.Subset(ds, [7, 8])
    assert len(cat) == 12 and cat[-1][0].item() == 8 and cat[10][0].item() == 7
    parts = edata.random_split(range(10), [0.5, 0.3, 0.2], generator=ember.Generator()
                               .manual_seed(0))
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(i for p in parts for i in p) == list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        edata.random_split(range(10), [3, 3])


def test_random_sampler_is_seeded_permutation_and_supports_replacement():
    g1, g2 = ember.Generator().manual_seed(3), ember.Generator().manual_seed(3)
    a = list(edata.RandomSampler(range(20), generator=g1))
    b = list(edata.RandomSampler(range(20), generator=g2))
    assert a == b and sorted(a) == list(range(20))
    ember.manual_seed(5)
    c = list(edata.DataLoader(range(20), shuffle=True, batch_size=5))
    ember.manual_seed(5)
    d = list(edata.DataLoader(range(20), shuffle=True, batch_size=5))
    assert [t.tolist() for t in c] == [t.tolist() for t in d]
    r = list(edata.RandomSampler(range(5), replacement=True, num_samples=50))
    assert len(r) == 50 and set(r) <= set(range(5))
    w = list(edata.WeightedRandomSampler([0.0, 1.0, 0.0], 10))
    assert w == [1] * 10
    assert list(edata.BatchSampler(range(7), 3, drop_last=False)) == \
        list(tdata.BatchSampler(range(7), 3, drop_last=False))
    assert len(edata.BatchSampler(range(7), 3, drop_last=True)) == 2


def test_argument_validation_matches_torch():
    for kwargs in (dict(num_workers=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
                   dict(batch_size=None, drop_last=True), dict(sampler=[0, 1], shuffle=True),
                   dict(batch_sampler=[[0]], batch_size=2), dict(timeout=-1)):
        with pytest.raises(ValueError) as theirs:
            tdata.DataLoader(range(4), **kwargs)
        with pytest.raises(ValueError) as ours:
            edata.DataLoader(range(4), **kwargs)
        assert str(ours.value) == str(theirs.value)


class _Stream(edata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = edata.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def test_iterable_dataset_split_by_worker_info():
    out = [t.tolist() for t in edata.DataLoader(_Stream(10), batch_size=2, num_workers=2)]
    assert sorted(x for b in out for x in b) == list(range(10))
    assert [t.tolist() for t in edata.DataLoader(_Stream(5), batch_size=2)] == \
        [[0, 1], [2, 3], [4]]


class _WorkerEcho(edata.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = edata.get_worker_info()
        return np.array([i, info.id, os.getpid(), ember.rand(1).item() * 1e6], dtype=np.float64)


def test_workers_are_processes_with_distinct_seeds_and_init_fn():
    inits = []
    loader = edata.DataLoader(_WorkerEcho(), batch_size=2, num_workers=2,
                              worker_init_fn=lambda wid: inits.append(wid))
    rows = np.concatenate([b.numpy() for b in loader])
    assert rows[:, 0].tolist() == list(range(8))          # sampler order kept
    assert set(rows[:, 1]) == {0, 1}                      # both workers used
    assert os.getpid() not in set(rows[:, 2])             # in other processes
    first = {w: rows[rows[:, 1] == w][0, 3] for w in (0, 1)}
    assert first[0] != first[1]                           # differently seeded
    ember.manual_seed(1)
    a = np.concatenate([b.numpy()[:, 3] for b in edata.DataLoader(_WorkerEcho(), batch_size=2,
                                                                    num_workers=2)])
    ember.manual_seed(1)
    b = np.concatenate([b.numpy()[:, 3] for b in edata.DataLoader(_WorkerEcho(), batch_size=2,
                                                                    num_workers=2)])
    np.testing.assert_array_equal(a, b)                   # reproducible under a seed


def test_persistent_workers_reuse_processes_across_epochs():
    loader = edata.DataLoader(_WorkerEcho(), batch_size=4, num_workers=2,
                              persistent_workers=True)
    pids = [set(np.concatenate([b.numpy() for b in loader])[:, 2]) for _ in range(2)]
    assert pids[0] == pids[1]


class _Failing(edata.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise ValueError("bad sample 3")
        return i


def test_worker_exception_is_reraised_with_its_traceback():
    with pytest.raises(ValueError, match=r"(?s)Caught ValueError in DataLoader worker process "
                                         r"\d.*bad sample 3"):
        list(edata.DataLoader(_Failing(), batch_size=1, num_workers=2))


class _Dying(edata.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            os._exit(1)
        return i


def test_dead_worker_is_reported_not_hung():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(edata.DataLoader(_Dying(), batch_size=1, num_workers=2))
    assert time.monotonic() - start < 30


class _Slow(edata.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        time.sleep(5)
        return i


def test_timeout():
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(edata.DataLoader(_Slow(), num_workers=1, timeout=0.5))


class _TorchStream(tdata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = tdata.get_worker_info()
        return iter(range(info.id, self.n, info.num_workers))


def test_persistent_workers_restart_an_iterable_dataset_each_epoch():
    ours = edata.DataLoader(_Stream(10), batch_size=3, num_workers=2, persistent_workers=True)
    theirs = tdata.DataLoader(_TorchStream(10), batch_size=3, num_workers=2,
                              persistent_workers=True)
    for epoch in range(2):
        assert [t.tolist() for t in ours] == [t.tolist() for t in theirs], epoch


class _Row(collections.UserList):
    """A mutable sequence type that cannot be built from a list by its constructor alone."""

    def __init__(self, data, tag):
        super().__init__(data)
        self.tag = tag


def _plain(x):
    if isinstance(x, (ember.Tensor, torch.Tensor)):
        return x.tolist(), str(x.dtype).split(".")[-1]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, collections.UserList)):
        return [_plain(v) for v in x]
    return x


def test_default_collate_and_convert_keep_mutable_container_types():
    batch = [collections.defaultdict(list, a=i, b=np.arange(2) * i) for i in range(3)]
    rows = [_Row([i, float(i)], "r") for i in range(2)]
    for fn in ("default_collate", "default_convert"):
        for sample in (batch, rows):
            ours, theirs = getattr(edata, fn)(sample), getattr(tdata, fn)(sample)
            assert type(ours) is type(theirs)
            assert _plain(ours) == _plain(theirs)
    assert edata.default_collate(batch).default_factory is list
    with pytest.raises(TypeError) as err:
        edata.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError) as terr:
        tdata.default_collate([np.array(["a"]), np.array(["b"])])
    assert str(err.value) == str(terr.value)


def test_concat_chain_and_subset_random_sampler():
    parts = [range(3), range(10, 14)]
    ours, theirs = edata.ConcatDataset(parts), tdata.ConcatDataset(parts)
    assert [ours[i] for i in range(-7, 7)] == [theirs[i] for i in range(-7, 7)]
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        edata.ConcatDataset([])
    assert list(edata.ChainDataset([_Stream(2), _Stream(3)])) == [0, 1, 0, 1, 2]
    indices = [5, 9, 11, 2]
    draws = [list(edata.SubsetRandomSampler(indices, generator=ember.Generator().manual_seed(s)))
             for s in (0, 0, 1)]
    assert draws[0] == draws[1] and sorted(draws[2]) == sorted(indices)
    assert len(edata.SubsetRandomSampler(indices)) == 4


def test_shuffle_with_a_generator_is_a_reproducible_permutation():
    def epoch(seed):
        loader = edata.DataLoader(ember.arange(23), batch_size=5, shuffle=True,
                                  generator=ember.Generator().manual_seed(seed))
        return [b.tolist() for b in loader]
    a, b, c = epoch(4), epoch(4), epoch(5)
    assert a == b and a != c
    assert sorted(x for batch in a for x in batch) == list(range(23))
    assert [len(batch) for batch in a] == [5, 5, 5, 5, 3]


def test_loader_generator_seeds_the_workers():
    def seeds(seed):
        loader = edata.DataLoader(_WorkerEcho(), batch_size=4, num_workers=2,
                                  generator=ember.Generator().manual_seed(seed))
        return np.concatenate([b.numpy()[:, 3] for b in loader])
    np.testing.assert_array_equal(seeds(11), seeds(11))
    assert not np.array_equal(seeds(11), seeds(12))


def test_weighted_random_sampler_frequencies():
    weights = [1.0, 3.0, 0.0, 6.0]
    draws = list(edata.WeightedRandomSampler(weights, 20000,
                                             generator=ember.Generator().manual_seed(0)))
    freq = np.bincount(draws, minlength=4) / 20000
    np.testing.assert_allclose(freq, np.array(weights) / 10, atol=0.015)  # > 4 sigma
    once = list(edata.WeightedRandomSampler(weights, 3, replacement=False))
    assert sorted(once) == [0, 1, 3]


class _MissingKey(edata.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise KeyError(f"no sample {i}")


def test_worker_key_error_keeps_a_readable_traceback():
    with pytest.raises(KeyError) as err:
        list(edata.DataLoader(_MissingKey(), num_workers=1))
    text = str(err.value)
    assert text.splitlines()[0] == "Caught KeyError in DataLoader worker process 0."
    assert text.splitlines()[-1] == "KeyError: 'no sample 0'"
