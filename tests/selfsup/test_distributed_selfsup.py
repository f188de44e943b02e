"""MoCo and SimCLR under torch.distributed (gloo, two processes, DistributedDataParallel as the
engine wraps a member) equal one process on the whole batch.

MoCo: two ranks with half a batch each (keys gathered before enqueueing, the key batch shuffled
across ranks for batch norm) give the loss, the averaged gradients and the queue of one process
with `shuffle_groups: 2` on the whole batch, which draws the same permutation. SimCLR: two ranks
whose negatives are each other's views give the loss and gradients of one process (a backbone
without batch norm, whose statistics would be per rank).
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import structured_images, tiny_resnet
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from viprepro.training.selfsup import backbone_of, build_pretext
from viprepro.training.selfsup.pretext import SimCLR

WORLD = 2
BATCH = 8
TOLERANCE = 1e-5  # float32 sums in another order


def _views() -> list[torch.Tensor]:
    images = structured_images(2 * BATCH, 16, seed=4).float() / 255
    return [images[:BATCH], images[BATCH:].flip(3)]


def _moco(groups: int):
    torch.manual_seed(0)
    backbone, features = backbone_of(tiny_resnet())
    return build_pretext({"name": "moco_v2", "dim": 8, "queue": 24, "momentum": 0.9, "shuffle_groups": groups}, backbone, features)


def _simclr():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return SimCLR(backbone, 6, dim=4, temperature=0.5)


def _step(module, views) -> dict:
    torch.manual_seed(11)  # MoCo's key permutation: drawn on rank 0, or by the one process
    loss = module(views)
    loss.backward()
    grads = [p.grad.clone() for p in module.parameters() if p.requires_grad]
    buffers = {k.removeprefix("module."): v.clone() for k, v in module.named_buffers()}
    return {"loss": loss.detach(), "grads": grads, "buffers": {k: v for k, v in buffers.items() if k.startswith("queue")}}


def _mean_loss_over_ranks(result: dict) -> dict:
    """The mean of the ranks' losses (DistributedDataParallel already averaged the gradients)."""
    dist.all_reduce(result["loss"])
    result["loss"] /= WORLD
    return result


def _worker(rank: int, rendezvous: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    try:
        share = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
        mine = [v[share] for v in _views()]
        results = {
            "moco": _mean_loss_over_ranks(_step(DistributedDataParallel(_moco(groups=1)), mine)),
            "simclr": _mean_loss_over_ranks(_step(DistributedDataParallel(_simclr()), mine)),
        }
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.slow  # two spawned processes (seconds idle, tens of seconds on a loaded machine)
def test_two_ranks_train_as_one_process_on_the_whole_batch(tmp_path):
    out = tmp_path / "ranks.pt"
    mp.spawn(_worker, args=(str(tmp_path / "rendezvous"), str(out)), nprocs=WORLD, join=True)
    ranks = torch.load(out, weights_only=True)
    torch.set_num_threads(1)
    single = {"moco": _step(_moco(groups=2), _views()), "simclr": _step(_simclr(), _views())}
    for method in ("moco", "simclr"):
        assert _close(ranks[method]["loss"], single[method]["loss"]), method
        assert all(_close(a, b) for a, b in zip(ranks[method]["grads"], single[method]["grads"], strict=True)), method
    assert torch.equal(ranks["moco"]["buffers"]["queue_ptr"], single["moco"]["buffers"]["queue_ptr"])
    assert _close(ranks["moco"]["buffers"]["queue"], single["moco"]["buffers"]["queue"])
    assert int(single["moco"]["buffers"]["queue_ptr"]) == BATCH  # the keys of both ranks were enqueued
