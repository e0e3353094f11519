"""Run under the launcher with 2 ranks: DDP on half the batch each matches one process on the
whole batch (same gradients, same 20-step trajectory), no_sync accumulation, unused
parameters, buffer broadcast and the unfinished-reduction error.

The reference runs in the same process with no DDP and the whole batch.
"""

import copy

import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.parallel import DistributedDataParallel as DDP

TOL = 1e-6


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 16)
        self.l2 = nn.Linear(16, 16)
        self.extra = nn.Linear(5, 16)  # used on rank 0 only, in the unused-parameter test
        self.never = nn.Linear(16, 2)  # used by no rank
        self.head = nn.Linear(16, 3)
        self.register_buffer("scale", ember.ones(16, dtype=ember.float64))

    def forward(self, x, use_extra=False, use_all=True):
        h = ember.tanh(self.l1(x))
        if use_extra:
            h = h + self.extra(x)
        h = ember.tanh(self.l2(h)) * self.scale
        out = self.head(h)
        if use_all:  # touch every parameter so that no reduction waits for a missing grad
            out = out + 0.0 * (self.extra.weight.sum() + self.extra.bias.sum()
                               + self.never.weight.sum() + self.never.bias.sum())
        return out


def build(seed):
    ember.manual_seed(seed)
    return Net().double()


def assert_close(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    err = np.abs(a - b).max() if a.size else 0.0
    assert a.shape == b.shape and err <= TOL, (what, err)


def grads(model):
    return {n: (None if p.grad is None else p.grad.numpy().copy())
            for n, p in model.named_parameters()}


def compare_grads(ddp_model, ref_grads, what):
    for n, p in ddp_model.named_parameters():
        want = ref_grads[n]
        if want is None:
            assert p.grad is None, (what, n, "expected no grad")
        else:
            assert_close(p.grad.numpy(), want, f"{what}: grad {n}")


def main():
    dist.init_process_group(backend="nccl")  # as CUDA scripts (nanoGPT) say; runs on MPI
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    X = ember.tensor(rng.standard_normal((8 * world, 5)))
    Y = ember.tensor(rng.standard_normal((8 * world, 3)))
    n = X.shape[0] // world
    x, y = X[rank * n:(rank + 1) * n], Y[rank * n:(rank + 1) * n]

    # construction broadcasts rank 0's parameters and buffers; tiny buckets: many of them
    ref = build(0)
    local = build(0 if rank == 0 else 100 + rank)
    local.scale.fill_(1.0 + rank)
    model = DDP(local, bucket_cap_mb=0.0004)
    assert len(model._buckets) > 3
    for (name, p), q in zip(model.module.named_parameters(), ref.parameters()):
        assert_close(p.detach().numpy(), q.detach().numpy(), f"broadcast {name}")
    assert_close(model.module.scale.numpy(), ref.scale.numpy(), "buffer broadcast")
    assert all(k.startswith("module.") for k in model.state_dict())
    assert model.module is local

    # one step: the same gradients as the whole batch in one process; buckets start while
    # backward runs (some are in flight before the first layer's gradient exists)
    started = []
    handle = model.module.l1.weight.register_hook(lambda g: started.append(len(model._requests)))
    F.mse_loss(model(x), y).backward()
    handle.remove()
    assert started[0] >= 3, started
    F.mse_loss(ref(X), Y).backward()
    compare_grads(model.module, grads(ref), "one step")

    # 20 steps of AdamW: the same trajectory
    opt = ember.optim.AdamW(model.parameters(), lr=1e-2)
    ref_opt = ember.optim.AdamW(ref.parameters(), lr=1e-2)
    for step in range(20):
        opt.step()
        ref_opt.step()
        opt.zero_grad()
        ref_opt.zero_grad()
        for p, q in zip(model.module.parameters(), ref.parameters()):
            assert_close(p.detach().numpy(), q.detach().numpy(), f"step {step}")
        F.mse_loss(model(x), y).backward()
        F.mse_loss(ref(X), Y).backward()

    # a buffer changed on one rank is overwritten by rank 0's at the next forward
    model.module.scale.fill_(3.0 if rank else 1.0)
    model.zero_grad()
    with ember.no_grad():
        model(x)
    assert_close(model.module.scale.numpy(), np.ones(16), "buffer broadcast on forward")

    # no_sync: accumulate over micro-batches, then one synchronized backward
    half = n // 2
    micro = [(x[:half], y[:half]), (x[half:], y[half:])]
    model.zero_grad()
    with model.no_sync():
        F.mse_loss(model(micro[0][0]), micro[0][1]).backward()
    assert_close(model.module.head.weight.grad.numpy(),
                 _local_grad(model.module, *micro[0]), "no_sync keeps local gradients")
    F.mse_loss(model(micro[1][0]), micro[1][1]).backward()
    accumulated = grads(model.module)
    model.zero_grad()
    for mx, my in micro:  # the same micro-batches with a synchronization each
        F.mse_loss(model(mx), my).backward()
    for name, g in grads(model.module).items():
        assert_close(accumulated[name], g, f"no_sync vs synchronous {name}")
    model.zero_grad()
    for k, (mx, my) in enumerate(micro):  # nanoGPT's way: sync on the last micro-step only
        model.require_backward_grad_sync = k == len(micro) - 1
        F.mse_loss(model(mx), my).backward()
    for name, g in grads(model.module).items():
        assert_close(accumulated[name], g, f"require_backward_grad_sync vs no_sync {name}")
    ref2 = copy.deepcopy(model.module)
    ref2.zero_grad()
    for r in range(world):
        for k in range(2):
            sl = slice(r * n + k * half, r * n + (k + 1) * half)
            F.mse_loss(ref2(X[sl]), Y[sl]).backward()
    for name, p in ref2.named_parameters():
        assert_close(accumulated[name], p.grad.numpy() / world, f"no_sync vs reference {name}")

    # unused parameters: `extra` on rank 0 only, `never` nowhere
    model = DDP(build(0), find_unused_parameters=True, bucket_cap_mb=0.0004)
    ref = build(0)
    for step in range(2):
        model.zero_grad()
        ref.zero_grad()
        F.mse_loss(model(x, use_extra=rank == 0, use_all=False), y).backward()
        for r in range(world):
            sl = slice(r * n, (r + 1) * n)
            F.mse_loss(ref(X[sl], use_extra=r == 0, use_all=False), Y[sl]).backward()
        want = {k: (None if g is None else g / world) for k, g in grads(ref).items()}
        compare_grads(model.module, want, f"unused parameters, step {step}")
        assert model.module.never.weight.grad is None

    # gradients as views of the buckets: zeroed in place or reset to None between steps
    model = DDP(build(0), gradient_as_bucket_view=True, bucket_cap_mb=0.0004)
    ref = build(0)
    for set_to_none in (True, False, False):
        model.zero_grad(set_to_none=set_to_none)
        ref.zero_grad()
        F.mse_loss(model(x), y).backward()
        F.mse_loss(ref(X), Y).backward()
        compare_grads(model.module, grads(ref), f"gradient_as_bucket_view {set_to_none}")

    # without find_unused_parameters, the next forward reports the missing gradients
    model = DDP(build(0))
    F.mse_loss(model(x, use_all=False), y).backward()
    try:
        model(x)
    except RuntimeError as e:
        assert "Expected to have finished reduction in the prior iteration" in str(e), e
    else:
        raise AssertionError("an unfinished reduction was not reported")

    dist.destroy_process_group()
    print(f"rank {rank}: ddp ok", flush=True)


def _local_grad(module, mx, my):
    twin = copy.deepcopy(module)
    twin.zero_grad()
    F.mse_loss(twin(mx), my).backward()
    return twin.head.weight.grad.numpy()


if __name__ == "__main__":
    main()
