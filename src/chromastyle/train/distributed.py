"""Data-parallel training under `torchrun` (PyTorch DDP), detected from the environment.

    torchrun --nproc_per_node=2 -m flows.train                      # one machine, 2 processes
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 -m flows.train

Every rank draws the same seeded global batch of a step (batches are addressed by (seed, step),
see data/augment.py) and trains on its own contiguous shard of it; DDP averages the gradients, so
N ranks take the same optimiser step as one process on the whole batch (SyncBatchNorm makes the
batch statistics global too). Rank 0 alone logs, checkpoints and writes outputs. gloo on CPU,
NCCL on CUDA. Without torchrun's variables this is a no-op: a plain single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, choice: torch.device) -> torch.device:
        """Each rank on its own GPU (LOCAL_RANK); CPU ranks share the CPU."""
        if choice.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return choice

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global batch (the batch size must divide evenly)."""
        if not self.enabled:
            return batch
        if len(batch) % self.world_size:
            raise ValueError(f"train.batch_size {len(batch)} is not divisible by the {self.world_size} "
                             f"torchrun processes; choose a multiple")
        size = len(batch) // self.world_size
        return batch[self.rank * size:(self.rank + 1) * size]

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """DDP (with SyncBatchNorm) when distributed; the module itself otherwise."""
        if not self.enabled:
            return module
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def from_environment() -> Distributed:
    """The torchrun context (RANK, WORLD_SIZE, LOCAL_RANK), initialising the process group once."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("CHROMASTYLE_DDP_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
