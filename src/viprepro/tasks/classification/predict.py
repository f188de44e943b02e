"""Test-set inference: average the ensemble's probabilities, write the official CSV."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .data import ImageFiles, eval_transform, make_loader, test_files
from .submission import write_submission


@torch.no_grad()
def ensemble_probabilities(models: list[torch.nn.Module], loader, device: torch.device, *, hflip: bool = False) -> torch.Tensor:
    chunks = []
    for images, _ in loader:
        images = images.to(device, non_blocking=True)
        probs = torch.zeros((), device=device)
        for model in models:
            probs = probs + model(images).softmax(dim=1)
            if hflip:
                probs = probs + model(images.flip(-1)).softmax(dim=1)
        chunks.append((probs / (len(models) * (2 if hflip else 1))).cpu())
    return torch.cat(chunks)


def predict(models, subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int) -> dict:
    files = test_files(subset_dir)
    dataset = ImageFiles(files, [0] * len(files), eval_transform(recipe))
    loader = make_loader(dataset, recipe, shuffle=False, workers=workers)
    for model in models:
        model.eval()
    started = time.perf_counter()
    probabilities = ensemble_probabilities(models, loader, device, hflip=recipe.get("tta_hflip", False))
    seconds = time.perf_counter() - started
    write_submission(out, [f.name for f in files], probabilities.argmax(dim=1).tolist())
    return {"images": len(files), "members": len(models), "seconds": seconds, "images_per_s": len(files) / seconds if seconds else None}
