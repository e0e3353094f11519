"""Run under the launcher: DDP + ZeroRedundancyOptimizer(AdamW) follows the trajectory of
plain AdamW on the whole batch in one process, with ~1/world_size of the optimizer state
per rank; the consolidated state dict equals plain AdamW's."""

import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.nn.functional as F
from ember.distributed.optim import ZeroRedundancyOptimizer
from ember.nn.parallel import DistributedDataParallel as DDP


def build():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(),
                         nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 12)).double()


def state_bytes(optimizer) -> int:
    return sum(v.nbytes for s in optimizer.state.values() for v in s.values()
               if isinstance(v, ember.Tensor) and v.numel() > 1)


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(1)
    X = ember.tensor(rng.standard_normal((6 * world, 12)))
    Y = ember.tensor(rng.standard_normal((6 * world, 12)))
    n = 6
    x, y = X[rank * n:(rank + 1) * n], Y[rank * n:(rank + 1) * n]

    model, ref = DDP(build()), build()
    zero = ZeroRedundancyOptimizer(model.parameters(), ember.optim.AdamW, lr=1e-2,
                                   weight_decay=0.1)
    plain = ember.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
    sched = ember.optim.lr_scheduler.StepLR(zero, step_size=5, gamma=0.5)
    ref_sched = ember.optim.lr_scheduler.StepLR(plain, step_size=5, gamma=0.5)
    for step in range(20):
        zero.zero_grad()
        plain.zero_grad()
        F.mse_loss(model(x), y).backward()
        F.mse_loss(ref(X), Y).backward()
        zero.step()
        plain.step()
        sched.step()
        ref_sched.step()
        for p, q in zip(model.module.parameters(), ref.parameters()):
            err = np.abs(p.detach().numpy() - q.detach().numpy()).max()
            assert err <= 1e-6, (step, err)

    total = state_bytes(plain)
    mine = state_bytes(zero.optim)
    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    assert sum(everyone) == total, (everyone, total)
    assert mine <= 1.2 * total / world, (mine, total)

    zero.consolidate_state_dict(to=0)
    if rank == 0:
        sd, want = zero.state_dict(), plain.state_dict()
        assert [g["params"] for g in sd["param_groups"]] == \
            [g["params"] for g in want["param_groups"]]
        assert sd["param_groups"][0]["lr"] == want["param_groups"][0]["lr"]
        assert sorted(sd["state"]) == sorted(want["state"])
        for i, s in want["state"].items():
            for key, v in s.items():
                err = np.abs(np.asarray(sd["state"][i][key]) - np.asarray(v)).max()
                assert err <= 1e-6, (i, key, err)
    else:
        try:
            zero.state_dict()
        except RuntimeError as e:
            assert "consolidate_state_dict" in str(e)
        else:
            raise AssertionError("an unconsolidated state_dict was returned")
    dist.destroy_process_group()
    print(f"rank {rank}: zero ok", flush=True)


if __name__ == "__main__":
    main()
