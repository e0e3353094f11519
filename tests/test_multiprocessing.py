"""ember.multiprocessing: shared-memory tensors across fork and spawn, Hogwild training,
``spawn``; checked against torch's documented behaviour (and torch itself in-process)."""

from __future__ import annotations

import gc
import multiprocessing as std_mp
import os
import pickle
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
import torch

import ember
import ember.multiprocessing as emp
from ember._shared_memory import block_of

from .mp_workers import child_writes, fill_row, loss, train


def test_api_mirrors_torch():
    missing = [n for n in torch.multiprocessing.__all__ if not hasattr(emp, n)]
    assert missing == []
    for name in ("Process", "Queue", "Pool", "get_context", "set_start_method", "spawn",
                 "start_processes", "ProcessRaisedException", "ProcessExitedException"):
        assert hasattr(emp, name), name
    assert emp.get_all_sharing_strategies() == torch.multiprocessing.get_all_sharing_strategies()
    assert emp.get_sharing_strategy() == torch.multiprocessing.get_sharing_strategy()
    with pytest.raises(AssertionError):
        torch.multiprocessing.set_sharing_strategy("nope")
    with pytest.raises(AssertionError):
        emp.set_sharing_strategy("nope")


def test_share_memory_keeps_values_and_views_like_torch():
    t = ember.arange(24.0).reshape(4, 6)[:, 1:]  # a view: offset and strides to keep
    r = torch.arange(24.0).reshape(4, 6)[:, 1:]
    assert not t.is_shared() and not r.is_shared()
    assert t.share_memory_() is t
    r.share_memory_()
    assert t.is_shared() and r.is_shared()
    np.testing.assert_array_equal(t.numpy(), r.numpy())
    assert t.stride() == r.stride() and t.storage_offset() == r.storage_offset()
    ptr = t.data_ptr()
    t.share_memory_()  # already shared: nothing moves
    assert t.data_ptr() == ptr
    v = t[1:, ::2]  # views of shared memory are shared
    v.mul_(0)
    assert v.is_shared() and t[1, 0].item() == 0.0


def test_module_share_memory_keeps_parameters():
    m = ember.nn.Linear(3, 2)
    params = list(m.parameters())
    before = [p.detach().clone() for p in params]
    assert m.share_memory() is m
    assert all(p.is_shared() for p in m.parameters())
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    for p, b in zip(m.parameters(), before):
        assert ember.equal(p.detach(), b)


def test_shared_memory_is_freed_with_last_reference():
    t = ember.ones(1000).share_memory_()
    fd = block_of(t._data).fd
    os.fstat(fd)
    view = t[10:]
    del t
    gc.collect()
    os.fstat(fd)  # the view still holds the block
    del view
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_pickling_through_multiprocessing_shares_but_pickle_copies():
    t = ember.arange(6.0)
    same = pickle.loads(ForkingPickler.dumps(t[2:]))
    assert t.is_shared()  # moved to shared memory when pickled for another process, as torch
    same.fill_(7.0)
    assert t.tolist() == [0.0, 1.0, 7.0, 7.0, 7.0, 7.0]
    copy = pickle.loads(pickle.dumps(t))
    copy.zero_()
    assert t.sum().item() == 29.0
    p = pickle.loads(ForkingPickler.dumps(ember.nn.Parameter(ember.ones(2))))
    assert type(p) is ember.nn.Parameter and p.requires_grad and p.is_shared()


def test_non_leaf_requiring_grad_refuses_like_torch():
    for lib in (torch, ember):
        x = lib.ones(2, requires_grad=True) * 2
        with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf"):
            ForkingPickler.dumps(x)


# ---- across processes ---------------------------------------------------------------------


def test_fork_children_train_the_parents_model_in_place():
    ctx = std_mp.get_context("fork")
    ember.manual_seed(0)
    model = ember.nn.Linear(5, 1)
    reference = ember.nn.Linear(5, 1)
    reference.load_state_dict(model.state_dict())
    model.share_memory()
    for seed in (0, 1):  # one after the other: the result must equal training here
        p = ctx.Process(target=train, args=(model, seed))
        p.start()
        p.join()
        assert p.exitcode == 0
        train(reference, seed)
    for a, b in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
    before = loss(model)
    workers = [ctx.Process(target=train, args=(model, seed)) for seed in (2, 3)]  # Hogwild
    for p in workers:
        p.start()
    for p in workers:
        p.join()
        assert p.exitcode == 0
    assert loss(model) < 0.5 * before


def test_spawned_child_writes_tensors_given_by_args_and_queue():
    ctx = emp.get_context("spawn")
    arg = ember.zeros(4)  # not shared yet: pickling it to the child moves it, as torch
    sent = ember.ones(3)
    queue, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=child_writes, args=(1, arg, queue, done))
    p.start()
    queue.put(sent)
    assert done.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0
    assert arg.tolist() == [2.0] * 4 and arg.is_shared()
    assert sent.tolist() == [0.0, 10.0, 20.0] and sent.is_shared()


def test_spawn_runs_ranks_and_reports_a_childs_error():
    out = ember.zeros(3, 2).share_memory_()
    emp.spawn(fill_row, args=(out,), nprocs=2)
    assert out.tolist() == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]
    with pytest.raises(emp.ProcessRaisedException, match="ValueError: rank two fails") as info:
        emp.spawn(fill_row, args=(out,), nprocs=3, start_method="fork")
    assert info.value.error_index == 2
    context = emp.spawn(fill_row, args=(out,), nprocs=1, join=False, start_method="fork")
    while not context.join():
        pass
    assert len(context.pids()) == 1


def test_spawned_children_train_a_shared_module_in_place():
    """mnist_hogwild's pattern: the whole module goes to spawned processes as an argument."""
    ctx = emp.get_context("spawn")
    ember.manual_seed(1)
    model = ember.nn.Linear(5, 1)
    model.share_memory()
    before = loss(model)
    workers = [ctx.Process(target=train, args=(model, seed)) for seed in (0, 1)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert loss(model) < 0.5 * before
