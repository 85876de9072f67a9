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
        """DDP when distributed (BatchNorm already converted to SyncBatchNorm by the caller); the
        module itself otherwise. Buffers are not broadcast: every rank computes the same ones."""
        if not self.enabled or not any(p.requires_grad for p in module.parameters()):
            return module
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


class CrossRankBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose training statistics are those of the global batch, on any device.

    PyTorch's SyncBatchNorm runs on GPUs only; on CPU (gloo) this does the same with two
    differentiable all-reduces (mean, then the squared deviations from it), so a batch split over
    N processes is normalised exactly as one process would normalise it whole."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        count = x.new_tensor([x.numel() / x.size(1)])
        count = all_reduce(count)
        mean = all_reduce(x.sum(dim=(0, 2, 3))) / count
        centred = x - mean[None, :, None, None]
        var = all_reduce((centred * centred).sum(dim=(0, 2, 3))) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        out = centred / torch.sqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d of `module` with global-batch statistics: torch's SyncBatchNorm on CUDA,
    CrossRankBatchNorm2d elsewhere. Parameters and buffers are kept (the same tensors)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, CrossRankBatchNorm2d):
        converted = CrossRankBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                         module.track_running_stats)
        if module.affine:
            converted.weight, converted.bias = module.weight, module.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(converted, name, getattr(module, name))
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_batchnorm(child, device))
    return module


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
