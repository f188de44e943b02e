"""Training and validation clips of a Kinetics400ViPriors subset, through the mod-UCF101 loaders.

Only the layout differs from `action_recognition.data` (`<split>/<videoid>.mp4`, labels from
the CSV lists, blocked videos already left out by the subset); clip sampling, transforms,
checks and loaders are that module's.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset

from viprepro.tasks.action_recognition.data import VideoClips, build_datasets
from viprepro.tasks.action_recognition_kinetics.annotations import SPLIT_FILES, class_names, read_labelled, read_public


def split_items(subset_dir: Path, split: str, names: list[str]) -> tuple[list[Path], list[int], list[str]]:
    """Videos of a split in list order, 0-based labels (-1 for the unlabelled test split) and their ids."""
    annotations = Path(subset_dir) / "annotations"
    if split == "test":
        ids = read_public(annotations / SPLIT_FILES["test"])
        labels = [-1] * len(ids)
    else:
        by_id = read_labelled(annotations / SPLIT_FILES[split], names, split)
        ids, labels = list(by_id), [idx - 1 for idx in by_id.values()]
    return [Path(subset_dir) / split / f"{v}.mp4" for v in ids], labels, ids


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, VideoClips | None, list[Path]]:
    names = class_names(subset_dir)
    splits = recipe.get("train_splits", ["train"])
    parts = [(*split_items(subset_dir, split, names)[:2], True) for split in splits]
    if "val" not in splits:
        parts.append((*split_items(subset_dir, "val", names)[:2], False))
    datasets = build_datasets(parts, recipe, where=Path(subset_dir))
    train = datasets[: len(splits)]
    val = datasets[-1] if "val" not in splits else None
    opened = [p for paths, _, _ in parts for p in paths]
    return (train[0] if len(train) == 1 else ConcatDataset(train)), val, opened
