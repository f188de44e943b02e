"""MiniCity images and label maps, the train/eval transforms, and the loaders.

Labels are read as Cityscapes label ids and trained on as train ids (19 classes, void = 19,
ignored by the loss), as the official baseline does. Images and labels are first resized to
the recipe's `train_size` / `test_size` (the baseline trains at 512x1024 on 2048x1024 data;
the CPU recipes go much lower); the random part of the augmentation (scale, crop, flip,
colour jitter) draws from torch's RNG only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from viprepro.errors import UserError
from viprepro.tasks.segmentation.labels import ID_TO_TRAIN, VOID_TRAIN_ID
from viprepro.training.loading import seeded_loader

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_ID_TO_TRAIN = torch.from_numpy(ID_TO_TRAIN)


def read_png(path: Path, *, rgb: bool) -> torch.Tensor:
    """An image as uint8 CxHxW (RGB, or the stored single channel); a broken file is a UserError."""
    try:
        with Image.open(path) as image:
            array = np.array(image.convert("RGB") if rgb else image)
    except Exception as exc:  # PIL raises many types for broken files
        raise UserError(f"cannot decode PNG ({type(exc).__name__}: {exc})", path=path) from None
    if not rgb and array.ndim != 2:
        raise UserError(f"expected a single-channel label map, found shape {array.shape}", path=path)
    tensor = torch.from_numpy(array)
    return tensor.permute(2, 0, 1) if rgb else tensor[None]


def split_files(subset_dir: Path, split: str) -> list[tuple[Path, Path]]:
    """(image, labelIds) pairs of a split, in name order."""
    images = sorted((Path(subset_dir) / "leftImg8bit" / split).glob("*_leftImg8bit.png"))
    if not images:
        raise UserError(f"no images in split '{split}'", path=Path(subset_dir) / "leftImg8bit" / split)
    gt = Path(subset_dir) / "gtFine" / split
    return [(image, gt / image.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")) for image in images]


def test_files(subset_dir: Path) -> list[Path]:
    """Test images (`<int>.png`), in name order."""
    folder = Path(subset_dir) / "leftImg8bit" / "test"
    files = sorted(folder.glob("*.png"))
    if not files:
        raise UserError("no test images", path=folder)
    return files


def load_resized(image_path: Path, label_path: Path | None, size: list[int]):
    """Image (uint8) and train-id mask resized to `size` [h, w]: bilinear and nearest."""
    image = F.resize(read_png(image_path, rgb=True), size, antialias=True)
    if label_path is None:
        return tv_tensors.Image(image), None
    ids = read_png(label_path, rgb=False)
    mask = _ID_TO_TRAIN[ids.long()]
    mask = F.resize(mask, size, interpolation=v2.InterpolationMode.NEAREST)
    return tv_tensors.Image(image), tv_tensors.Mask(mask[0].long())


def normalize(image: torch.Tensor) -> torch.Tensor:
    return F.normalize(F.to_dtype(image, torch.float32, scale=True), MEAN, STD)


def train_transform(recipe: dict) -> v2.Compose:
    """The baseline's augmentation: random scale, random crop, flip, colour jitter."""
    steps = []
    if recipe["scale_jitter"]:
        s = recipe["scale_jitter"]
        steps.append(v2.RandomAffine(degrees=0, scale=(1 - s, 1 + s), fill={tv_tensors.Image: 0, tv_tensors.Mask: VOID_TRAIN_ID}))
    if recipe["crop_size"]:
        steps.append(v2.RandomCrop(recipe["crop_size"]))
    if recipe["hflip"]:
        steps.append(v2.RandomHorizontalFlip())
    if recipe["color_jitter"]:
        f = recipe["color_jitter"]
        steps.append(v2.ColorJitter(brightness=f, contrast=f, saturation=f, hue=min(f, 0.5)))
    return v2.Compose(steps)


class SegmentationFiles(Dataset):
    """(normalised image, train-id mask) pairs at a fixed size, optionally cached decoded."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: list[int], transform=None, *, cache: bool = False):
        self.pairs, self.size, self.transform = pairs, size, transform
        self.cache = [load_resized(image, label, size) for image, label in pairs] if cache else None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        image, mask = self.cache[index] if self.cache is not None else load_resized(*self.pairs[index], self.size)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return normalize(image), mask.as_subclass(torch.Tensor)


def make_loader(dataset: Dataset, recipe: dict, *, shuffle: bool, workers: int, generator: torch.Generator | None = None) -> DataLoader:
    return seeded_loader(dataset, recipe["batch_size"], shuffle=shuffle, workers=workers, generator=generator)


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, Dataset | None, list[Path]]:
    cache, splits = recipe["cache_decoded"], recipe.get("train_splits", ["train"])
    parts, opened = [], []
    for split in splits:
        pairs = split_files(subset_dir, split)
        parts.append(SegmentationFiles(pairs, recipe["train_size"], train_transform(recipe), cache=cache))
        opened += [p for pair in pairs for p in pair]
    val = None
    if "val" not in splits:
        pairs = split_files(subset_dir, "val")
        val = SegmentationFiles(pairs, recipe["test_size"], cache=cache)
        opened += [p for pair in pairs for p in pair]
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), val, opened
