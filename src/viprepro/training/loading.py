"""The one way data loaders are built: seeded shuffling and seeded workers.

Shuffling draws from the `generator` the training engine reseeds every epoch, and each
worker seeds NumPy and `random` from its torch seed, so the batches of an epoch depend on
(seed, member, epoch) only. Each worker also starts the job's file-access recording
(`audit.activate_from_environment`), so what workers open is audited like the rest.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from viprepro.jobs.determinism import seed_worker
from viprepro.training.guards import activate_from_environment


def seeded_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    workers: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    collate_fn=None,
    sampler=None,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        generator=generator,
        worker_init_fn=init_worker,
        drop_last=drop_last,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available(),
    )


def init_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: seeded like the job, and audited like it."""
    activate_from_environment()
    seed_worker(worker_id)
