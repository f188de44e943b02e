"""SynergyReID images, the baseline's transforms, and the loaders of one training run.

Identities are numbered 0..K-1 over the subset's labelled identities, training ones first,
then the val ones (`--combine-trainval` adds val to training); the classifier has one output
per labelled identity whichever splits train (see models). The transforms are the
baseline's: training `RandomSizedRectCrop(h, w)` (a crop of 64-100 % of the area with
height/width between 2 and 3, else a plain resize) and a horizontal flip; evaluation a
plain resize to (h, w); both normalised with the ImageNet mean and std. Every random draw
comes from torch's generator, so the engine's seeding covers them.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, Dataset
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from viprepro.errors import UserError
from viprepro.tasks.classification.data import MEAN, STD, ImageFiles, make_loader
from viprepro.tasks.reidentification.layout import (
    FOLDERS,
    ROLES,
    TRAIN_DIR,
    listing,
    parse_number_name,
    parse_person_name,
    test_order,
    val_order,
)


def _person_files(folder: Path, names: list[str]) -> tuple[list[Path], list[int]]:
    return [folder / n for n in names], [parse_person_name(n, path=folder / n)[0] for n in names]


def train_files(subset_dir: Path) -> tuple[list[Path], list[int]]:
    folder = Path(subset_dir) / TRAIN_DIR
    return _person_files(folder, listing(folder))


def val_files(subset_dir: Path, role: str) -> tuple[list[Path], list[int]]:
    """A val role's files and person ids in the official order."""
    folder = Path(subset_dir) / FOLDERS[("val", role)]
    return _person_files(folder, val_order(listing(folder), folder))


def test_files(subset_dir: Path, role: str) -> tuple[list[Path], list[int]]:
    """A test role's files and numbers (the submission's ids) in the official order."""
    folder = Path(subset_dir) / FOLDERS[("test", role)]
    names = test_order(listing(folder), folder)
    return [folder / n for n in names], [parse_number_name(n, path=folder / n) for n in names]


def identities(subset_dir: Path) -> list[int]:
    """The labelled person ids in label order: training identities, then val identities."""
    train = sorted(set(train_files(subset_dir)[1]))
    val = sorted({pid for role in ROLES for pid in val_files(subset_dir, role)[1]} - set(train))
    if not train:
        raise UserError("no training images", path=Path(subset_dir) / TRAIN_DIR)
    return train + val


class RandomSizedRectCrop:
    """Open-ReID's RandomSizedRectCrop on a CxHxW tensor: ten tries at a crop of 64-100 % of
    the area with aspect (height/width) in [2, 3], resized to (height, width); else a resize."""

    def __init__(self, height: int, width: int):
        self.size = [height, width]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        for _ in range(10):
            area = (0.64 + 0.36 * torch.rand(()).item()) * h * w
            aspect = 2 + torch.rand(()).item()
            ch, cw = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if cw <= w and ch <= h:
                top = int(torch.randint(0, h - ch + 1, ()).item())
                left = int(torch.randint(0, w - cw + 1, ()).item())
                return TF.resized_crop(image, top, left, ch, cw, self.size, antialias=True)
        return TF.resize(image, self.size, antialias=True)


def train_transform(recipe: dict) -> v2.Compose:
    size, augment = (recipe["input_height"], recipe["input_width"]), recipe.get("augment", {})
    steps = [RandomSizedRectCrop(*size) if augment.get("rect_crop", True) else v2.Resize(list(size), antialias=True)]
    if augment.get("hflip", True):
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


def eval_transform(recipe: dict) -> v2.Compose:
    size = [recipe["input_height"], recipe["input_width"]]
    return v2.Compose([v2.Resize(size, antialias=True), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


def gallery_set(subset_dir: Path, split: str, recipe: dict) -> tuple[Dataset, list[Path]]:
    """Query then gallery images of `split` with (id, camera) labels: camera 0 for queries,
    1 for the gallery, as synergyreid.py; ids are person ids (val) or numbers (test)."""
    reader = val_files if split == "val" else test_files
    files, labels = [], []
    for camera, role in enumerate(ROLES):
        role_files, ids = reader(subset_dir, role)
        files += role_files
        labels += [(i, camera) for i in ids]
    return ImageFiles(files, labels, eval_transform(recipe), cache=recipe.get("cache_decoded", False)), files


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, Dataset | None, list[Path]]:
    label = {pid: index for index, pid in enumerate(identities(subset_dir))}
    splits = recipe.get("train_splits", ["train"])
    cache = recipe.get("cache_decoded", False)
    parts, opened = [], []
    for split in splits:
        if split == "train":
            files, pids = train_files(subset_dir)
        elif split == "val":
            files, pids = (sum(parts_, []) for parts_ in zip(*(val_files(subset_dir, role) for role in ROLES)))
        else:
            raise UserError(f"no training images in split {split!r}")
        parts.append(ImageFiles(files, [label[p] for p in pids], train_transform(recipe), cache=cache))
        opened += files
    val = None
    if "val" not in splits:
        val, files = gallery_set(subset_dir, "val", recipe)
        opened += files
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), val, opened


def loaders(subset_dir: Path, recipe: dict, *, workers: int, generator: torch.Generator):
    train, val, opened = training_sets(Path(subset_dir), recipe)
    train_loader = make_loader(
        train, recipe, shuffle=True, workers=workers, generator=generator, drop_last=len(train) > recipe["batch_size"]
    )
    val_loader = None if val is None else make_loader(val, recipe, shuffle=False, workers=workers)
    return train_loader, val_loader, len(train), opened
