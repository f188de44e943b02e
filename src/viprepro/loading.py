"""The one way data loaders are built: seeded shuffling and seeded workers.

Shuffling draws from the `generator` the training engine reseeds every epoch, and each
worker seeds NumPy and `random` from its torch seed, so the batches of an epoch depend on
(seed, member, epoch) only.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from .determinism import seed_worker


def seeded_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, workers: int, generator: torch.Generator | None = None,
                  drop_last: bool = False, collate_fn=None) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        generator=generator,
        worker_init_fn=seed_worker,
        drop_last=drop_last,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available(),
    )
