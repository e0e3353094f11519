"""ZeroRedundancyOptimizer: each rank keeps the optimizer state of its share of parameters.

As in torch (ZeRO stage 1): the parameters are partitioned greedily, largest first, each to
the rank that holds the fewest elements so far; every rank runs the wrapped optimizer on its
own share only (so it allocates ~1/world_size of the state), then each parameter is
broadcast from its owner, so every replica holds the same values after ``step()``. Use it
with DistributedDataParallel, which makes the gradients equal on every rank beforehand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._tensor import Tensor
from ...optim.optimizer import Optimizer, ParamsT
from .. import distributed_c10d as c10d

__all__ = ["ZeroRedundancyOptimizer"]


class ZeroRedundancyOptimizer(Optimizer):
    """Wrap ``optimizer_class`` so that its state is sharded across the group's ranks.

    ``param_groups`` holds every parameter (schedulers work on it as usual); ``optim`` is
    the local optimizer over this rank's share. ``parameters_as_bucket_view`` is accepted
    and changes nothing; ``overlap_with_ddp`` is not supported.
    """

    def __init__(self, params: ParamsT, optimizer_class: type[Optimizer], process_group=None,
                 parameters_as_bucket_view: bool = False, overlap_with_ddp: bool = False,
                 **defaults: Any) -> None:
        if overlap_with_ddp:
            raise NotImplementedError("ZeroRedundancyOptimizer(overlap_with_ddp=True) is not "
                                      "supported by ember")
        self._constructed = False
        super().__init__(params, defaults)
        self._optim_constructor = optimizer_class
        self.process_group = c10d._resolve(process_group)
        self.world_size = self.process_group.size()
        self.rank = self.process_group.rank()
        self._all_params = [p for g in self.param_groups for p in g["params"]]
        for p in self._all_params:
            if not p._data.flags.c_contiguous:
                raise ValueError("ZeroRedundancyOptimizer needs contiguous parameters")
        self._owner = self._partition()
        self._local_groups = [i for i, g in enumerate(self.param_groups)
                              if any(self._owner[id(p)] == self.rank for p in g["params"])]
        local = [{**g, "params": [p for p in g["params"] if self._owner[id(p)] == self.rank]}
                 for i, g in enumerate(self.param_groups) if i in self._local_groups]
        self.optim = optimizer_class(local, **defaults) if local else None
        self._consolidated: dict | None = None
        self._constructed = True

    def _partition(self) -> dict[int, int]:
        """id(param) -> owning rank: largest first, to the least loaded rank (torch's)."""
        sizes = [0] * self.world_size
        owner = {}
        for group in self.param_groups:
            for p in sorted(group["params"], key=lambda t: t.numel(), reverse=True):
                rank = sizes.index(min(sizes))
                owner[id(p)] = rank
                sizes[rank] += p.numel()
        return owner

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if getattr(self, "_constructed", False):
            raise NotImplementedError("ZeroRedundancyOptimizer.add_param_group after "
                                      "construction is not supported by ember")
        super().add_param_group(param_group)

    def _sync_hyperparameters(self) -> None:
        """Copy the options (lr, ... as a scheduler set them) to the local groups."""
        if self.optim is None:
            return
        for local, i in zip(self.optim.param_groups, self._local_groups):
            local.update({k: v for k, v in self.param_groups[i].items() if k != "params"})

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update this rank's share, then broadcast every parameter from its owner."""
        self._sync_hyperparameters()
        if self.optim is not None:
            loss = self.optim.step(closure)
        else:
            loss = closure() if closure is not None else None
        comm = self.process_group.comm
        requests = [comm.Ibcast(c10d._raw(p._data), root=self._owner[id(p)])
                    for p in self._all_params]
        c10d._mpi().Request.Waitall(requests)
        for p in self._all_params:
            p._vc[0] += 1
        return loss

    # ---- state dicts ----------------------------------------------------------------------

    def _global_index(self) -> dict[int, int]:
        return {id(p): i for i, p in enumerate(self._all_params)}

    def _local_params(self) -> list[Tensor]:
        return [p for g in self.optim.param_groups for p in g["params"]] if self.optim else []

    def consolidate_state_dict(self, to: int = 0) -> None:
        """Gather every rank's share of the state on rank ``to`` (all ranks must call it)."""
        index = self._global_index()
        mine = {}
        if self.optim is not None:
            local = self.optim.state_dict()["state"]
            mine = {index[id(p)]: local[i] for i, p in enumerate(self._local_params())
                    if i in local}
        shares = [None] * self.world_size if self.rank == to else None
        c10d.gather_object(mine, shares, dst=self.process_group.ranks[to],
                           group=self.process_group)
        self._consolidated = None
        if shares is not None:
            self._consolidated = {k: v for share in shares for k, v in share.items()}

    def state_dict(self) -> dict[str, Any]:
        """The whole optimizer's state in torch's format; needs ``consolidate_state_dict``."""
        if self._consolidated is None:
            raise RuntimeError("Optimizer state has not been consolidated on this rank. Please "
                               "call `consolidate_state_dict(to=...)` on all ranks beforehand "
                               "if you meant to save the global state.")
        index, groups = self._global_index(), []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in g["params"]]
            groups.append(packed)
        return {"state": dict(sorted(self._consolidated.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a whole state dict: every rank keeps its own share."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, new in zip(self.param_groups, saved):
            group.update({k: v for k, v in new.items() if k != "params"})
        if self.optim is None:
            return
        index = self._global_index()
        local_params = self._local_params()
        state = {i: state_dict["state"][index[id(p)]] for i, p in enumerate(local_params)
                 if index[id(p)] in state_dict["state"]}
        positions = iter(range(len(local_params)))
        groups = [{**{k: v for k, v in saved[i].items() if k != "params"},
                   "params": [next(positions) for _ in lg["params"]]}
                  for i, lg in zip(self._local_groups, self.optim.param_groups)]
        self.optim.load_state_dict({"state": state, "param_groups": groups})
