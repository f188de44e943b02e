"""Inference on the test (or val) split: average the ensemble's probabilities, write the official CSV.

A val submission names each image by its path under `val/` (`<wnid>/<file>`), the ids of the
val ground truth that `val_ground_truth` writes.

With `tta_train_passes: N` the test images go through the training transform N times (random
crops, flips, the recipe's augmentations) and the softmax of the passes is averaged, as the
third 2020 entry's inference did; pass k draws from torch's generator seeded with k, so
repeated inference writes the same file."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from viprepro.tasks.classification.data import (
    ImageFiles,
    class_names,
    eval_transform,
    make_loader,
    split_files,
    test_files,
    train_transform,
)
from viprepro.tasks.classification.submission import write_submission


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


def split_images(subset_dir: Path, split: str) -> tuple[list[Path], list[str], list[int]]:
    """(files, submission ids, labels) of the test split (labels unknown: -1) or of the val split."""
    if split == "test":
        files = test_files(subset_dir)
        return files, [f.name for f in files], [-1] * len(files)
    if split != "val":
        raise ValueError(f"no predictions for split {split!r}")
    files, labels = split_files(subset_dir, "val", class_names(subset_dir))
    return files, [f.relative_to(Path(subset_dir) / "val").as_posix() for f in files], labels


def predict(models, subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int, split: str = "test") -> dict:
    files, ids, _ = split_images(subset_dir, split)
    for model in models:
        model.eval()
    started = time.perf_counter()
    passes = recipe.get("tta_train_passes", 0)
    if passes:
        probabilities = 0
        for index in range(passes):
            torch.manual_seed(index)
            loader = make_loader(ImageFiles(files, [0] * len(files), train_transform(recipe)), recipe, shuffle=False, workers=workers)
            probabilities = probabilities + ensemble_probabilities(models, loader, device, hflip=recipe.get("tta_hflip", False))
        probabilities = probabilities / passes
    else:
        loader = make_loader(ImageFiles(files, [0] * len(files), eval_transform(recipe)), recipe, shuffle=False, workers=workers)
        probabilities = ensemble_probabilities(models, loader, device, hflip=recipe.get("tta_hflip", False))
    seconds = time.perf_counter() - started
    write_submission(out, ids, probabilities.argmax(dim=1).tolist())
    return {
        "split": split,
        "images": len(files),
        "members": len(models),
        "seconds": seconds,
        "images_per_s": len(files) / seconds if seconds else None,
    }
