"""One member trained by several processes: DistributedDataParallel under torchrun.

The pipeline starts a member's processes with `torchrun` (`launch_prefix`), one per GPU (NCCL)
or per CPU share (gloo); torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK) tell each process
its place (`Context.from_environment`). Everything else stays the engine's: the same loaders,
the same seeds, the same checkpoints, written by rank 0 only.

What makes a distributed member the same training as a one-process member:

- the epoch order is the one the single-process loader draws from (seed, member, epoch)
  (`epoch_order`), and every global batch is the single-process batch, cut across ranks as
  torch's DistributedSampler cuts (`indices[rank::world]`): the union over ranks of each
  optimiser step is the same samples (`RankBatchSampler`);
- the per-rank batch is the spec's `batch_size` divided by the world size, refused when it
  does not divide (`per_rank_batch`): the optimiser steps on the claimed global batch;
- each rank's loss is weighted by its share of the global batch (`loss_scales`), so that
  DDP's mean over ranks is the mean over the global batch, also for a short last batch.

What it cannot make equal, and why a two-process run matches a one-process run only within
a tolerance: random augmentations draw from per-rank streams (seeded from (seed, member,
epoch, rank), so two ranks never draw the same crops), batch-norm statistics are per rank
unless the recipe asks for `sync_batchnorm`, and gradients are summed in another order.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from viprepro.errors import UserError

#: Port of the c10d rendezvous of a multi-node member on its first node (SLURM), offset by
#: the job id so that two members sharing a node do not meet in each other's rendezvous.
RENDEZVOUS_BASE_PORT = 29400


@dataclass(frozen=True)
class Context:
    """This process's place in the member's process group (world size 1: no group at all)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: writes checkpoints, records and the MLflow run."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, environ=None) -> Context:
        """The variables torchrun sets in each worker; absent (a plain `python` job): world size 1."""
        environ = os.environ if environ is None else environ
        world = int(environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(
            rank=int(environ["RANK"]),
            local_rank=int(environ.get("LOCAL_RANK", "0")),
            world_size=world,
            local_world_size=int(environ.get("LOCAL_WORLD_SIZE", "1")),
        )

    def describe(self) -> dict:
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "nnodes": self.world_size // max(1, self.local_world_size),
            "nproc_per_node": self.local_world_size,
        }


def initialise(context: Context, device_type: str):
    """Join the process group (NCCL on GPUs, gloo on CPUs) and return (context, this rank's device)."""
    import torch
    import torch.distributed as dist

    if not context.active:
        return context, torch.device(device_type)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(context.local_rank)
        device = torch.device("cuda", context.local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, **({"device_id": device} if device_type == "cuda" else {}))
    return Context(context.rank, context.local_rank, context.world_size, context.local_world_size, backend), device


def shutdown(context: Context) -> None:
    import torch.distributed as dist

    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    if context.active:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_sum(context: Context, values: list[float]) -> list[float]:
    """Sums over ranks (float64, on the CPU for gloo, on the device for NCCL)."""
    if not context.active:
        return values
    import torch
    import torch.distributed as dist

    device = torch.device("cuda", context.local_rank) if context.backend == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def per_rank_batch(recipe: dict, world_size: int, *, spec_path: str | Path | None = None) -> int:
    """The per-process batch of a spec's global batch (batch_size x accumulate_steps), or a UserError."""
    batch, accumulate = recipe["batch_size"], recipe.get("accumulate_steps", 1)
    if batch % world_size:
        raise UserError(
            f"global batch {batch * accumulate} (batch_size {batch} x accumulate_steps {accumulate}) is not divisible "
            f"by world size {world_size} x accumulate_steps {accumulate}: choose a batch_size divisible by {world_size}",
            path=spec_path,
            where="recipe.batch_size",
        )
    return batch // world_size


def epoch_order(size: int, seed: int) -> list[int]:
    """The sample order of the single-process training loader in an epoch whose generator is seeded with `seed`.

    The engine seeds the loader's generator at every epoch start; a DataLoader draws its
    workers' base seed from that generator before its RandomSampler draws the permutation,
    so the order is the permutation after one int64 draw (tests/cluster/test_distributed.py
    checks it against the DataLoader itself).
    """
    import torch

    generator = torch.Generator()
    generator.manual_seed(seed)
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    return torch.randperm(size, generator=generator).tolist()


class RankBatchSampler:
    """This rank's share of every global batch of the single-process epoch order.

    Global batch k is positions [k*B, (k+1)*B) of `epoch_order`; rank r gets its positions
    r, r+W, ... (torch's DistributedSampler convention). The last, short batch (kept when the
    single-process loader keeps it) may leave a rank without a sample: it then gets the batch's
    first sample as a stand-in with weight 0, because every rank must take part in every
    gradient reduction. `set_epoch(seed)` must be called before each epoch.
    """

    def __init__(self, size: int, global_batch: int, *, drop_last: bool, rank: int, world_size: int):
        self.size, self.global_batch, self.drop_last = size, global_batch, drop_last
        self.rank, self.world_size = rank, world_size
        self.seed: int | None = None

    def set_epoch(self, seed: int) -> None:
        self.seed = seed

    def __len__(self) -> int:
        return self.size // self.global_batch if self.drop_last else math.ceil(self.size / self.global_batch)

    def global_batches(self) -> list[list[int]]:
        if self.seed is None:
            raise RuntimeError("RankBatchSampler.set_epoch was not called")
        order = epoch_order(self.size, self.seed)
        return [order[start : start + self.global_batch] for start in range(0, len(self) * self.global_batch, self.global_batch)]

    def __iter__(self):
        for batch in self.global_batches():
            share = batch[self.rank :: self.world_size]
            yield share if share else batch[:1]

    def loss_scales(self) -> list[float]:
        """Per batch: this rank's share of the global batch times the world size (1.0 for a full batch).

        DDP averages gradients over ranks; a rank's loss (a mean over its samples) scaled by
        this makes the average the mean over the global batch. A stand-in sample weighs 0.
        """
        return [len(batch[self.rank :: self.world_size]) * self.world_size / len(batch) for batch in self.global_batches()]


class MappedRankBatchSampler(RankBatchSampler):
    """RankBatchSampler over a view's manifest order, yielding the view's positions."""

    positions: tuple[int, ...] = ()

    def __iter__(self):
        for share in super().__iter__():
            yield [self.positions[index] for index in share]


def shard_loader(loader, context: Context):
    """The single-process training DataLoader rebuilt to yield this rank's share of each batch.

    Everything but the order (dataset, collate, workers, their seeding, pinning) is kept.
    """
    from torch.utils.data import DataLoader, RandomSampler

    # A path-opaque image view (viprepro.training.image_view) samples in the manifest's order and
    # maps to its own: the ranks share out the manifest's order, mapped the same way.
    positions = getattr(loader.sampler, "positions", None)
    order = getattr(loader.sampler, "base", loader.sampler)
    if not isinstance(loader, DataLoader) or not isinstance(order, RandomSampler) or loader.batch_size is None:
        raise TypeError("distributed training needs the task's training loader to be a shuffling DataLoader with a batch_size")
    sampler = (RankBatchSampler if positions is None else MappedRankBatchSampler)(
        len(loader.dataset), loader.batch_size, drop_last=loader.drop_last, rank=context.rank, world_size=context.world_size
    )
    if positions is not None:
        sampler.positions = positions
    return DataLoader(
        loader.dataset,
        batch_sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn,
        generator=loader.generator,
        multiprocessing_context=loader.multiprocessing_context,
        persistent_workers=loader.persistent_workers,
        **({"prefetch_factor": loader.prefetch_factor} if loader.num_workers else {}),
    )


def launch_prefix(settings: dict | None, *, python: str = "python", cpus_per_task: int = 1, gpus_per_task: int = 0) -> str:
    """What a rule puts before the training script: `python` alone for one process, else torchrun.

    - one node: `python -m torch.distributed.run --standalone --nproc-per-node N` (a local
      rendezvous; on SLURM it runs inside the job's one task, which holds every GPU);
    - several nodes (SLURM only): `srun` starts `nnodes` tasks (one per node: the job asks for
      as many tasks as nodes), each a torchrun starting its N workers; they meet in a c10d
      rendezvous on the job's first node. The SLURM plugin starts the job's command with the
      SLURM_* variables of the allocation removed, so the step's CPUs and GPUs are asked for
      here, and the first node is looked up from the job id.
    """
    settings = settings or {}
    nproc, nnodes = int(settings.get("nproc_per_node", 1)), int(settings.get("nnodes", 1))
    if nproc == 1 and nnodes == 1:
        return python
    run = f"{python} -m torch.distributed.run"
    if nnodes == 1:
        return f"{run} --standalone --nproc-per-node {nproc}"
    port = int(settings.get("rdzv_port", RENDEZVOUS_BASE_PORT))
    head = '$(scontrol show hostnames "$(squeue --noheader --jobs "$SLURM_JOB_ID" --format %N)" | head -n 1)'
    gpus = f" --gpus-per-task={gpus_per_task}" if gpus_per_task else ""
    return (
        f"srun --ntasks={nnodes} --cpus-per-task={cpus_per_task}{gpus} --kill-on-bad-exit=1"
        f' {run} --nnodes {nnodes} --nproc-per-node {nproc} --rdzv-backend c10d --rdzv-id "$SLURM_JOB_ID"'
        f' --rdzv-endpoint "{head}:$(({port} + SLURM_JOB_ID % 1000))"'
    )


def slurm_resources(settings: dict | None) -> dict:
    """The rule resources a multi-node member needs from the SLURM executor plugin, else none.

    `mpi` tells the plugin that the command starts its own tasks (`srun` above) instead of
    being wrapped in `srun -n1`; `tasks` with `nodes` gives one task per node.
    """
    settings = settings or {}
    nnodes = int(settings.get("nnodes", 1))
    if nnodes == 1:
        return {}
    # tasks_per_gpu 0: the plugin would otherwise ask for `--ntasks-per-gpu=<tasks>` on GPU jobs.
    return {"nodes": nnodes, "tasks": nnodes, "tasks_per_gpu": 0, "mpi": "srun"}
