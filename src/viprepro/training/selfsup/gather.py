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
    """As `gather`, but gradients flow back to the rank each slice came from (SimCLR's negatives).

    The backward sums every rank's gradient of the gathered tensor and keeps this rank's slice,
    with an all-reduce (gloo has no reduce-scatter): each rank's share then carries the
    gradient of every rank's loss, as if one process had computed them all."""
    _, size = world()
    if size == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor):
        ctx.rank, ctx.rows = dist.get_rank(), len(tensor)
        return gather(tensor)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


@torch.no_grad()
def broadcast_from_first(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's tensor on every rank (one random permutation for the whole member)."""
    _, size = world()
    if size > 1:
        dist.broadcast(tensor, src=0)
    return tensor
