"""torch.distributed plumbing: process-group setup, gradient all-reduce, rank-aware sampling.

One process per device. `torchrun` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; a plain
`python -m core.train` is a world of one and needs no process group. NCCL is used on CUDA, gloo on the CPU.
Like the reference there is no DDP wrapper: each phase's gradients are flattened, all-reduced, averaged and
cleaned of NaN/inf, which keeps G's several forward passes per step (pose branch, mapping, rendering) simple.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job."""

    rank: int  # global rank, 0 writes every file
    world_size: int  # number of processes
    device: torch.device  # the device this process trains on

    @property
    def is_main(self) -> bool:
        """Only the main process writes logs, grids and snapshots."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """A process group is in use (more than one process)."""
        return self.world_size > 1


def setup(device: str | torch.device | None = None, init_method: str | None = None,
          rank: int | None = None, world_size: int | None = None) -> DistributedContext:
    """Join the process group named by the arguments or the torchrun environment; a world of one joins none.

    `device=None` picks cuda:LOCAL_RANK when CUDA is present, else the CPU.
    """
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device is None:
        device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method=init_method or "env://", rank=rank,
                                world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, device=device)


def teardown(context: DistributedContext) -> None:
    """Leave the process group (if this process joined one)."""
    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers to every rank, so all start identical."""
    if not context.active:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(parameters: Iterable[torch.nn.Parameter], context: DistributedContext) -> None:
    """Average the gradients of `parameters` over all ranks in one flat all-reduce; NaN -> 0, +-inf -> +-1e5.

    Parameters without a gradient take part as zeros, so every rank reduces a buffer of the same layout.
    """
    parameters = [parameter for parameter in parameters if parameter.requires_grad]
    if not parameters:
        return
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    flat = torch.cat([parameter.grad.flatten() for parameter in parameters])
    if context.active:
        dist.all_reduce(flat)
        flat /= context.world_size
    torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
    offset = 0
    for parameter in parameters:
        count = parameter.numel()
        parameter.grad.copy_(flat[offset:offset + count].view_as(parameter))
        offset += count


def all_reduce_mean(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Mean of `values` over ranks (for statistics); unchanged in a world of one."""
    if not context.active:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / context.world_size


def barrier(context: DistributedContext) -> None:
    """Wait for every rank (no-op in a world of one)."""
    if context.active:
        dist.barrier()


class InfiniteSampler:
    """Endless shuffled dataset indices; rank r takes every world_size-th index of one shared order.

    All ranks draw the same permutation from `seed`, so together they see each index once per epoch.
    The position is part of the training state so that a resumed run continues the same order.
    """

    def __init__(self, dataset_size: int, rank: int, world_size: int, seed: int = 0, position: int = 0):
        if dataset_size <= 0:
            raise ValueError("InfiniteSampler: the dataset is empty")
        self.dataset_size = dataset_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.position = position  # global draws made so far (all ranks together)

    def _order(self, epoch: int) -> torch.Tensor:
        if getattr(self, "_epoch", None) != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._permutation = epoch, torch.randperm(self.dataset_size, generator=generator)
        return self._permutation

    def take(self, count: int) -> list[int]:
        """The next `count` indices of this rank (the global order advances by count * world_size)."""
        indices = []
        for _ in range(count):
            for member in range(self.world_size):
                epoch, offset = divmod(self.position, self.dataset_size)
                if member == self.rank:
                    indices.append(int(self._order(epoch)[offset]))
                self.position += 1
        return indices

    def __iter__(self) -> Iterator[int]:
        while True:
            yield self.take(1)[0]


def average_buffers(module: torch.nn.Module, context: DistributedContext) -> None:
    """Average floating-point buffers over ranks (the tracked mean w_avg moves with each rank's own latents).

    Averaging the per-rank lerps equals one lerp towards the global batch's mean; constant buffers stay exact.
    """
    if not context.active:
        return
    buffers = [buffer for buffer in module.buffers() if buffer.is_floating_point()]
    if not buffers:
        return
    flat = torch.cat([buffer.flatten() for buffer in buffers])
    dist.all_reduce(flat)
    flat /= context.world_size
    offset = 0
    for buffer in buffers:
        buffer.copy_(flat[offset:offset + buffer.numel()].view_as(buffer))
        offset += buffer.numel()


def check_identical(module: torch.nn.Module, context: DistributedContext, what: str) -> None:
    """Raise on every rank when any rank's parameters or buffers differ from rank 0's (run before snapshots)."""
    if not context.active:
        return
    named = list(module.named_parameters()) + list(module.named_buffers())
    differing = []
    for name, tensor in named:
        local = tensor.detach().clone()
        dist.broadcast(local, src=0)
        if not torch.equal(local.nan_to_num(), tensor.detach().nan_to_num()):
            differing.append(name)
    mismatch = torch.tensor([float(len(differing) > 0)], device=context.device)
    dist.all_reduce(mismatch)
    if mismatch.item() > 0:
        detail = f"rank {context.rank}: {', '.join(differing[:5])}" if differing else f"rank {context.rank} agrees"
        raise RuntimeError(f"{what}: parameters differ between ranks ({int(mismatch.item())} rank(s) disagree with "
                           f"rank 0; {detail}); the gradient all-reduce or the initial broadcast went wrong")
