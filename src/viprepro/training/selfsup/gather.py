"""Collectives the contrastive losses need across the ranks of a member, and nothing when alone.

With torch.distributed not initialised (or a world of one) every function is the identity, so
the same module trains in one process and under torchrun.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's tensor concatenated along dim 0 in rank order, without gradient.

    Ranks must hold tensors of the same shape (the engine's rank sampler gives every rank the
    same per-rank batch)."""
    _, size = world()
    if size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """As `gather`, but gradients flow back to the rank each slice came from (SimCLR's negatives)."""
    _, size = world()
    if size == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()))


@torch.no_grad()
def broadcast_from_first(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's tensor on every rank (one random permutation for the whole member)."""
    _, size = world()
    if size > 1:
        dist.broadcast(tensor, src=0)
    return tensor
