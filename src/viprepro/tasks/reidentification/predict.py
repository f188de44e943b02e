"""Features, the distance matrix, and the submission file of the test (or val) split.

Distances are Open-ReID's `pairwise_distance`: squared Euclidean, ||q||^2 + ||g||^2 - 2 q.g,
on the features each model gives (`ReIDNet.features`: logits as the baseline, or the
embedding). An ensemble averages the members' **distance matrices**, not their features:
independently trained members embed into unrelated spaces (a logit dimension of one is no
dimension of another), so only their distances are comparable quantities; the average of
squared distances is also what concatenating the members' features would give, up to a
factor. The file is the toolkit's `write_mat_csv` format (submission.write_matrix).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from viprepro.tasks.classification.data import make_loader
from viprepro.tasks.reidentification.data import gallery_set
from viprepro.tasks.reidentification.submission import write_matrix


@torch.no_grad()
def features(model: torch.nn.Module, loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features, ids, cameras) of every image of a gallery_set loader, in its order."""
    model.eval()
    chunks, ids, cams = [], [], []
    for images, (batch_ids, batch_cams) in loader:
        chunks.append(model.features(images.to(device)).float().cpu())
        ids.append(batch_ids)
        cams.append(batch_cams)
    return torch.cat(chunks), torch.cat(ids), torch.cat(cams)


def squared_distances(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    query, gallery = query.double(), gallery.double()
    return (query.pow(2).sum(1, keepdim=True) + gallery.pow(2).sum(1)[None, :]).addmm_(query, gallery.t(), beta=1, alpha=-2)


def distance_matrix(models: list[torch.nn.Module], loader, device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean distance matrix over the members, query ids, gallery ids)."""
    total = None
    for model in models:
        feats, ids, cams = features(model, loader, device)
        query = cams == 0
        distances = squared_distances(feats[query], feats[~query])
        total = distances if total is None else total + distances
    return (total / len(models)).numpy(), ids[query].numpy(), ids[~query].numpy()


def predict(models, subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int, split: str = "test") -> dict:
    if split not in ("test", "val"):
        raise ValueError(f"no predictions for split {split!r}")
    dataset, files = gallery_set(Path(subset_dir), split, recipe)
    loader = make_loader(dataset, recipe, shuffle=False, workers=workers)
    started = time.perf_counter()
    distances, query_ids, gallery_ids = distance_matrix(models, loader, device)
    seconds = time.perf_counter() - started
    write_matrix(out, distances, query_ids.tolist(), gallery_ids.tolist())
    return {
        "split": split,
        "queries": len(query_ids),
        "gallery": len(gallery_ids),
        "images": len(files),
        "members": len(models),
        "seconds": seconds,
        "images_per_s": len(files) / seconds if seconds else None,
    }
