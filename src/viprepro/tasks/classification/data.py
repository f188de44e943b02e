"""Image folders, the train/eval transform presets, and batch mixing (MixUp/CutMix).

The presets are torchvision's (transforms.v2); the timm-named recipe keys (`timm_policy`,
`random_erasing_mode`) use timm's own transforms, seeded through viprepro.training.augment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader, Dataset, default_collate
from torchvision.transforms import v2

from viprepro.errors import UserError
from viprepro.tasks.classification.submission import class_names  # noqa: F401 - the class order lives with the CSV format
from viprepro.training import augment as augment_
from viprepro.training.loading import seeded_loader

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def decode(path: Path) -> torch.Tensor:
    """RGB uint8 CxHxW; a file that cannot be decoded is a UserError naming it.

    Pillow rather than torchvision.io, whose image decoders are deprecated since 0.29.
    """
    try:
        with Image.open(path) as image:
            array = np.array(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"cannot decode image ({type(exc).__name__}: {exc})", path=path) from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class ImageFiles(Dataset):
    """(image, label) from a list of files; optionally decoded once and kept in memory."""

    def __init__(self, files: list[Path], labels: list[int], transform, *, cache: bool = False):
        self.files, self.labels, self.transform = files, labels, transform
        self.cache = [decode(f) for f in files] if cache else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        image = self.cache[index] if self.cache is not None else decode(self.files[index])
        return self.transform(image), self.labels[index]


def split_files(subset_dir: Path, split: str, classes: list[str]) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for label, wnid in enumerate(classes):
        folder = Path(subset_dir) / split / wnid
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            files.append(path)
            labels.append(label)
    return files, labels


def test_files(subset_dir: Path) -> list[Path]:
    """Test images in id order (img_0, img_1, ...)."""
    folder = Path(subset_dir) / "test" / "imgs"
    files = [p for p in folder.iterdir() if p.name.startswith("img_")]
    return sorted(files, key=lambda p: int(p.stem.split("_")[1]))


def eval_resize(recipe: dict) -> int:
    return recipe.get("eval_resize") or int(round(recipe["input_size"] * 8 / 7))


INTERPOLATION = {"bilinear": v2.InterpolationMode.BILINEAR, "bicubic": v2.InterpolationMode.BICUBIC}


def _crop(size: int, augment: dict):
    """RandomResizedCrop; `random` interpolation picks bilinear or bicubic per image, as timm's."""

    def crop(mode: str):
        return v2.RandomResizedCrop(
            size,
            scale=tuple(augment.get("scale", (0.08, 1.0))),
            ratio=tuple(augment.get("ratio", (3 / 4, 4 / 3))),
            interpolation=INTERPOLATION[mode],
            antialias=True,
        )

    mode = augment.get("interpolation", "bilinear")
    return v2.RandomChoice([crop("bilinear"), crop("bicubic")]) if mode == "random" else crop(mode)


def train_transform(recipe: dict) -> v2.Compose:
    size, augment = recipe["input_size"], recipe.get("augment", {})
    steps = []
    if augment.get("random_resized_crop", True):
        steps.append(_crop(size, augment))
    else:
        steps += [
            v2.Resize(eval_resize(recipe), interpolation=INTERPOLATION[recipe.get("eval_interpolation", "bilinear")], antialias=True),
            v2.CenterCrop(size),
        ]
    if augment.get("hflip", True):
        steps.append(v2.RandomHorizontalFlip())
    if augment.get("color_jitter"):
        jitter = augment["color_jitter"]
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    if augment.get("autoaugment"):
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy(augment["autoaugment"])))
    if augment.get("randaugment"):
        steps.append(v2.RandAugment(num_ops=augment["randaugment"].get("num_ops", 2), magnitude=augment["randaugment"].get("magnitude", 9)))
    if augment.get("timm_policy"):  # timm's policies work on PIL images
        steps += [
            v2.ToPILImage(),
            augment_.timm_policy(augment["timm_policy"], size, MEAN, augment.get("interpolation", "bilinear")),
            v2.PILToTensor(),
        ]
    if augment.get("trivialaugment"):
        steps.append(v2.TrivialAugmentWide())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    if augment.get("random_erasing"):
        if augment.get("random_erasing_mode"):
            steps.append(
                augment_.timm_random_erasing(
                    augment["random_erasing"], augment["random_erasing_mode"], augment.get("random_erasing_count", 1)
                )
            )
        else:
            steps.append(v2.RandomErasing(p=augment["random_erasing"]))
    return v2.Compose(steps)


def eval_transform(recipe: dict) -> v2.Compose:
    return v2.Compose(
        [
            v2.Resize(eval_resize(recipe), interpolation=INTERPOLATION[recipe.get("eval_interpolation", "bilinear")], antialias=True),
            v2.CenterCrop(recipe["input_size"]),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(MEAN, STD),
        ]
    )


def batch_mixer(recipe: dict, num_classes: int):
    """MixUp and/or CutMix on whole batches (one of them per batch when both are set)."""
    augment = recipe.get("augment", {})
    choices = []
    if augment.get("mixup_alpha"):
        choices.append(v2.MixUp(alpha=augment["mixup_alpha"], num_classes=num_classes))
    if augment.get("cutmix_alpha"):
        choices.append(v2.CutMix(alpha=augment["cutmix_alpha"], num_classes=num_classes))
    if not choices:
        return None
    return choices[0] if len(choices) == 1 else v2.RandomChoice(choices)


class MixingCollate:
    """Collate a batch, then mix it (as torchvision's references do, inside the loader)."""

    def __init__(self, mixer):
        self.mixer = mixer

    def __call__(self, samples):
        return self.mixer(*default_collate(samples))


def make_loader(
    dataset: Dataset,
    recipe: dict,
    *,
    shuffle: bool,
    workers: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    collate_fn=None,
    sampler=None,
) -> DataLoader:
    return seeded_loader(
        dataset,
        recipe["batch_size"],
        shuffle=shuffle,
        workers=workers,
        generator=generator,
        drop_last=drop_last,
        collate_fn=collate_fn,
        sampler=sampler,
    )


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, Dataset | None, list[Path]]:
    classes = class_names(subset_dir)
    cache = recipe.get("cache_decoded", False)
    parts, opened = [], []
    for split in recipe.get("train_splits", ["train"]):
        files, labels = split_files(subset_dir, split, classes)
        parts.append(ImageFiles(files, labels, train_transform(recipe), cache=cache))
        opened += files
    val = None
    if "val" not in recipe.get("train_splits", ["train"]):
        files, labels = split_files(subset_dir, "val", classes)
        val = ImageFiles(files, labels, eval_transform(recipe), cache=cache)
        opened += files
    train = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    return train, val, opened
