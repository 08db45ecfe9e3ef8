"""Multi-process training on ``torch.distributed`` (launched by torchrun): DDP or FSDP2.

Each process takes every ``world``-th row of the global batch, so a run gives the same steps whatever
the number of processes (the losses agree to float tolerance; tests/train checks 2 processes on gloo).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Topology:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, value: float) -> float:
        """The sum over processes of a number (a validation loss, a token count)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t)

    def max(self, value: float) -> float:
        """The largest over processes of a number (a step's time)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t)


def init_distributed(device: torch.device) -> Topology:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return Topology()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Topology(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def wrap_model(model: nn.Module, topology: Topology, strategy: str, device: torch.device) -> nn.Module:
    """DDP (every process holds the model) or FSDP2 (``fully_shard``: parameters, gradients and optimiser
    state sharded, one unit per block, for presets too large to replicate)."""
    if topology.world == 1:
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)
    return model


def shutdown(topology: Topology) -> None:
    """Leave the process group. The barrier first: a gloo worker thread frees the tensors of the last
    collective (Topology.sum's) after the caller has moved on, and it needs the GIL to do so; if the
    process group is destroyed at that moment (when the model's DDP reducer is freed, GIL held, joining
    those threads) the process hangs at exit. Waiting in a barrier releases the GIL and lets it finish."""
    if topology.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
