"""DelftBikes splits as the detection task's COCO datasets, numbered as the official code numbers them.

`dataset/bike_dataset.py` lists a split's folder sorted, takes image id = index in that
listing, labels each present part by its position + 1 and skips absent parts; here each split
becomes that COCO document (`annotations.coco_document`) over the detection task's
`CocoImages`, whose loaders, collation and decoding are reused as they are. The official
baseline uses no augmentation (`get_transform` only converts to a tensor): the recipe's
`augment.hflip` defaults to false.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from viprepro.errors import UserError
from viprepro.files.subset_manifest import MANIFEST_NAME, read_manifest
from viprepro.tasks.detection import data as detection_data
from viprepro.tasks.detection.data import CocoImages
from viprepro.tasks.detection_delftbikes.annotations import coco_document, image_sizes, read_annotations
from viprepro.tasks.detection_delftbikes.subset import VAL_LABELS

NUM_CLASSES = 23  # 22 parts + background, as train_baseline.py builds the model


def labels_file(subset_dir: Path, split: str) -> Path | None:
    """The file labelling `split`'s images: val_annotations.json for val, for train the one
    the subset manifest names for its edition (new_train_annotations.json, or the original
    file where the 2021/2022 bug wrote the val dict into the new one), none for test."""
    if split == "test":
        return None
    if split == "val":
        return Path(subset_dir) / VAL_LABELS
    manifest = read_manifest(subset_dir)
    if "train_labels" not in manifest:
        raise UserError("no 'train_labels': not a detection_delftbikes subset", path=Path(subset_dir) / MANIFEST_NAME)
    return Path(subset_dir) / manifest["train_labels"]


def split_document(subset_dir: Path, split: str) -> dict:
    """The COCO document of a split: its images in sorted order, present parts (none for test)."""
    folder = Path(subset_dir) / split
    names = sorted(os.listdir(folder))
    path = labels_file(subset_dir, split)
    labels = None if path is None else read_annotations(path)
    if labels is not None:
        unlabelled = [name for name in names if name not in labels]
        if unlabelled:
            raise UserError(f"{len(unlabelled)} {split} image(s) have no labels, e.g. {unlabelled[:3]}", path=path)
    return coco_document(names, labels, image_sizes([folder / name for name in names]), f"DelftBikes {split}")


def split_dataset(subset_dir: Path, split: str, *, train: bool, hflip: bool = False) -> CocoImages:
    return CocoImages(Path(subset_dir) / split, split_document(subset_dir, split), train=train, hflip=hflip)


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, CocoImages | None, list[Path]]:
    """Training set, validation set (None when training on val) and every file they open,
    the edition's label files included; no augmentation unless asked (the official baseline has none)."""
    train, val, opened = detection_data.training_sets(subset_dir, recipe, split_dataset=split_dataset, hflip_default=False)
    return train, val, opened + [labels_file(subset_dir, split) for split in recipe.get("train_splits", ["train"])]
