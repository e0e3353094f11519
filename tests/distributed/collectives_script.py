"""Run under the launcher: every collective against NumPy's answer, for several dtypes.

Each rank's input is a deterministic function of (rank, dtype), so every rank can compute
what every other rank holds and hence the expected result, with NumPy alone.
"""

import os
import sys

import numpy as np

import ember
import ember.distributed as dist

DTYPES = [ember.float32, ember.float64, ember.int32, ember.int64, ember.bfloat16]


def data(rank: int, dtype, shape=(2, 3), salt: int = 0) -> np.ndarray:
    """Rank-specific values, exact in every dtype tested (small integers and halves)."""
    n = int(np.prod(shape))
    vals = (np.arange(n) * (rank + 2) + 3 * rank + salt) % 7 - 3
    if dtype.is_floating_point:
        vals = vals + 0.5
    return vals.reshape(shape)


def t(arr, dtype):
    return ember.tensor(arr, dtype=dtype)


def check(got, expected, what):
    """``got`` equals ``expected`` rounded once to got's dtype (as a reduction result is)."""
    arr = got.numpy()
    expected = np.asarray(expected, dtype=np.float64).astype(arr.dtype).astype(np.float64)
    got = arr.astype(np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    assert np.array_equal(got, expected), (what, got, expected)


def main():
    assert dist.is_available() and not dist.is_initialized()
    dist.init_process_group("mpi")
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    rank, n = dist.get_rank(), dist.get_world_size()
    assert (rank, n) == (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    assert os.environ["LOCAL_RANK"] == str(rank) and os.environ["LOCAL_WORLD_SIZE"] == str(n)
    assert os.environ["OMP_NUM_THREADS"] == "1" and "MASTER_ADDR" in os.environ
    everyone = [data(r, ember.float64) for r in range(n)]
    for dtype in DTYPES:
        mine = data(rank, dtype)
        all_ = np.stack([data(r, dtype) for r in range(n)])
        name = str(dtype)

        expect = {dist.ReduceOp.SUM: all_.sum(0), dist.ReduceOp.PRODUCT: all_.prod(0),
                  dist.ReduceOp.MIN: all_.min(0), dist.ReduceOp.MAX: all_.max(0)}
        if dtype.is_floating_point:
            expect[dist.ReduceOp.AVG] = all_.mean(0)
        else:
            expect[dist.ReduceOp.BXOR] = np.bitwise_xor.reduce(all_.astype(np.int64), 0)
        for op, want in expect.items():
            x = t(mine, dtype)
            dist.all_reduce(x, op=op)
            check(x, want, f"all_reduce {op} {name}")
            x = t(mine, dtype)
            work = dist.all_reduce(x, op=op, async_op=True)
            work.wait()
            check(x, want, f"all_reduce async {op} {name}")
            x = t(mine, dtype)
            dist.reduce(x, dst=n - 1, op=op)
            check(x, want if rank == n - 1 else mine, f"reduce {op} {name}")

        for src in range(n):
            x = t(mine, dtype)
            dist.broadcast(x, src=src)
            check(x, all_[src], f"broadcast {name}")
        x = t(mine, dtype)
        dist.broadcast(x, src=1, async_op=True).wait()
        check(x, all_[1], f"broadcast async {name}")

        outs = [ember.empty(2, 3, dtype=dtype) for _ in range(n)]
        dist.all_gather(outs, t(mine, dtype))
        for r in range(n):
            check(outs[r], all_[r], f"all_gather {name}")

        out = ember.empty(2 * n, 3, dtype=dtype)
        dist.all_gather_into_tensor(out, t(mine, dtype))
        check(out, all_.reshape(2 * n, 3), f"all_gather_into_tensor {name}")
        out = ember.empty(n, 2, 3, dtype=dtype)
        dist.all_gather_into_tensor(out, t(mine, dtype), async_op=True).wait()
        check(out, all_, f"all_gather_into_tensor stacked {name}")

        big = np.stack([data(r, dtype, (n, 4), salt=5) for r in range(n)])
        out = ember.empty(1, 4, dtype=dtype)
        dist.reduce_scatter_tensor(out, t(big[rank], dtype))
        check(out, big.sum(0)[rank:rank + 1], f"reduce_scatter_tensor {name}")
        if dtype.is_floating_point:
            dist.reduce_scatter_tensor(out, t(big[rank], dtype), op=dist.ReduceOp.AVG)
            check(out, big.mean(0)[rank:rank + 1], f"reduce_scatter avg {name}")
        out = ember.empty(4, dtype=dtype)
        dist.reduce_scatter(out, [t(row, dtype) for row in big[rank]], op=dist.ReduceOp.MAX)
        check(out, big.max(0)[rank], f"reduce_scatter {name}")

        gl = [ember.empty(2, 3, dtype=dtype) for _ in range(n)] if rank == 0 else None
        dist.gather(t(mine, dtype), gl, dst=0)
        if rank == 0:
            for r in range(n):
                check(gl[r], all_[r], f"gather {name}")

        x = ember.empty(2, 3, dtype=dtype)
        src = n - 1
        sl = [t(data(src, dtype, salt=10 + r), dtype) for r in range(n)] if rank == src \
            else None
        dist.scatter(x, sl, src=src)
        check(x, data(src, dtype, salt=10 + rank), f"scatter {name}")

        # all_to_all_single, equal and uneven splits: rank i sends i+j+1 rows to rank j
        inp = t(data(rank, dtype, (n, 2), salt=3), dtype)
        out = ember.empty(n, 2, dtype=dtype)
        dist.all_to_all_single(out, inp)
        want = np.stack([data(r, dtype, (n, 2), salt=3)[rank] for r in range(n)])
        check(out, want, f"all_to_all_single {name}")
        sizes_in = [rank + j + 1 for j in range(n)]
        sizes_out = [i + rank + 1 for i in range(n)]
        block = data(rank, dtype, (sum(sizes_in), 2), salt=4)
        out = ember.empty(sum(sizes_out), 2, dtype=dtype)
        dist.all_to_all_single(out, t(block, dtype), sizes_out, sizes_in, async_op=True).wait()
        parts = []
        for i in range(n):
            theirs = data(i, dtype, (sum(i + j + 1 for j in range(n)), 2), salt=4)
            start = sum(i + j + 1 for j in range(rank))
            parts.append(theirs[start:start + i + rank + 1])
        check(out, np.concatenate(parts), f"all_to_all_single uneven {name}")

        outs = [ember.empty(3, dtype=dtype) for _ in range(n)]
        dist.all_to_all(outs, [t(data(rank, dtype, (3,), salt=j), dtype) for j in range(n)])
        for i in range(n):
            check(outs[i], data(i, dtype, (3,), salt=rank), f"all_to_all {name}")

        # point to point in a ring; recv from any source reports the sender
        right, left = (rank + 1) % n, (rank - 1) % n
        x = ember.empty(2, 3, dtype=dtype)
        req = dist.isend(t(mine, dtype), dst=right)
        got_from = dist.recv(x, src=None)
        req.wait()
        assert got_from == left, (got_from, left)
        check(x, all_[left], f"send/recv {name}")
        x = ember.empty(2, 3, dtype=dtype)
        if rank % 2 == 0:  # blocking send/recv around the ring, ordered so none deadlocks
            dist.send(t(mine, dtype), dst=right)
            assert dist.recv(x, src=left) == left
        else:
            assert dist.recv(x, src=left) == left
            dist.send(t(mine, dtype), dst=right)
        check(x, all_[left], f"blocking send/recv {name}")
        x = ember.empty(2, 3, dtype=dtype)
        req = dist.irecv(x, src=left, tag=3)
        dist.isend(t(mine, dtype), dst=right, tag=3).wait()
        req.wait()
        check(x, all_[left], f"isend/irecv {name}")
        x = ember.empty(2, 3, dtype=dtype)
        works = dist.batch_isend_irecv([dist.P2POp(dist.irecv, x, left, tag=7),
                                        dist.P2POp(dist.isend, t(mine, dtype), right, tag=7)])
        for w in works:
            w.wait()
        check(x, all_[left], f"batch_isend_irecv {name}")

    # non-contiguous tensors are refused, as in torch
    try:
        dist.all_reduce(ember.zeros(3, 4).t())
    except ValueError as e:
        assert "contiguous" in str(e)
    else:
        raise AssertionError("non-contiguous all_reduce was accepted")

    objs = [None, None] if rank else [{"a": 1}, "x"]
    dist.broadcast_object_list(objs, src=0)
    assert objs == [{"a": 1}, "x"], objs
    gathered = [None] * n
    dist.all_gather_object(gathered, ("rank", rank, everyone[rank].tolist()))
    assert gathered == [("rank", r, everyone[r].tolist()) for r in range(n)]
    got = [None] * n if rank == 0 else None
    dist.gather_object(rank * 10, got, dst=0)
    assert rank or got == [r * 10 for r in range(n)]
    out = [None]
    dist.scatter_object_list(out, [f"o{r}" for r in range(n)] if rank == 0 else None, src=0)
    assert out == [f"o{rank}"]

    # a subgroup of ranks {0, n-1}: collectives on it, global ranks for src
    sub = dist.new_group([0, n - 1])
    if rank in (0, n - 1):
        assert dist.get_world_size(sub) == 2 and dist.get_rank(sub) == (rank > 0)
        x = ember.tensor([float(rank)])
        dist.all_reduce(x, group=sub)
        check(x, [n - 1.0], "subgroup all_reduce")
        x = ember.tensor([float(rank)])
        dist.broadcast(x, src=n - 1, group=sub)
        check(x, [n - 1.0], "subgroup broadcast")
    else:
        assert sub is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(sub) == -1
        assert dist.all_reduce(ember.ones(1), group=sub) is None
    dist.barrier()
    dist.barrier(async_op=True).wait()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    print(f"rank {rank}: collectives ok", flush=True)


if __name__ == "__main__":
    sys.exit(main())
