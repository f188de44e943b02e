"""Clip datasets and loaders for mod-UCF101, after torchvision's `references/video_classification`.

A training item is one clip of `frames_per_clip` frames taken every `frame_stride` frames
from a random start; an evaluation item stacks `test_clips` such clips spread evenly over
the video, whose predictions are averaged. Frames are resized (optional), cropped (random
for training, centred for evaluation) and optionally mirrored. Clips stay uint8 (C x T x H x
W) through the loader, a quarter of the bytes to collate and to pass between processes;
`model_input` turns a batch into floats normalised with the Kinetics statistics of the
torchvision video models, on the device that runs the model.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from viprepro.errors import UserError
from viprepro.tasks.action_recognition.annotations import (  # noqa: F401
    CLASS_INDEX,
    SPLIT_FILES,
    class_names,
    read_class_index,
    read_clip_names,
    read_labelled_clips,
)
from viprepro.tasks.action_recognition.video_io import decode
from viprepro.tasks.action_recognition.videocheck import raise_if_broken, survey
from viprepro.training.loading import seeded_loader

MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)


def span(recipe: dict) -> int:
    """Frames one clip covers in the video."""
    return (recipe["frames_per_clip"] - 1) * recipe["frame_stride"] + 1


def clip_indices(frames: int, recipe: dict, *, train: bool) -> list[list[int]]:
    """Frame indices of the clips one item takes from a video of `frames` frames."""
    last = frames - span(recipe)
    if train:
        starts = [int(torch.randint(0, last + 1, ()).item())]
    else:
        starts = np.linspace(0, last, recipe["test_clips"]).round().astype(int).tolist()
    return [list(range(start, start + span(recipe), recipe["frame_stride"])) for start in starts]


class VideoClips(Dataset):
    """(clip, label) pairs; label is the 0-based model index (-1 for unlabelled test clips)."""

    def __init__(
        self, paths: list[Path], labels: list[int], frames: list[int], recipe: dict, *, train: bool, cache: list[np.ndarray] | None = None
    ):
        self.paths, self.labels, self.frames = paths, labels, frames
        self.recipe, self.train, self.cache = recipe, train, cache

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        clips = clip_indices(self.frames[index], self.recipe, train=self.train)
        if self.cache is not None:
            video, rows = self.cache[index], clips
        else:
            wanted = sorted({i for clip in clips for i in clip})
            video = decode(self.paths[index], wanted)
            if len(video) < len(wanted):
                raise UserError(f"decodes fewer frames than the {self.frames[index]} its header promises", path=self.paths[index])
            row_of = {frame: row for row, frame in enumerate(wanted)}
            rows = [[row_of[i] for i in clip] for clip in clips]
        tensors = [transform(video[r], self.recipe, train=self.train) for r in rows]
        return (tensors[0] if self.train else torch.stack(tensors)), self.labels[index]


def transform(frames: np.ndarray, recipe: dict, *, train: bool) -> torch.Tensor:
    """T x H x W x 3 frames -> 3 x T x h x w clip, still uint8."""
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)  # T, 3, H, W (channels-last in memory)
    if recipe.get("resize"):  # on uint8 channels-last: several times faster than on floats
        clip = F.interpolate(clip, size=tuple(recipe["resize"]), mode="bilinear", antialias=True)
    crop = recipe.get("crop_size")
    if crop:
        height, width = clip.shape[-2:]
        if crop > min(height, width):
            raise UserError(f"crop_size {crop} is larger than the {height}x{width} frames", where="recipe.crop_size")
        if train:
            top = int(torch.randint(0, height - crop + 1, ()).item())
            left = int(torch.randint(0, width - crop + 1, ()).item())
        else:
            top, left = (height - crop) // 2, (width - crop) // 2
        clip = clip[..., top : top + crop, left : left + crop]
    if train and recipe.get("hflip") and torch.rand(()) < 0.5:
        clip = clip.flip(-1)
    return clip.permute(1, 0, 2, 3)


def model_input(clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A uint8 batch (... x 3 x T x H x W) as normalised floats on `device`."""
    clips = clips.to(device, non_blocking=True).float()
    shape = (3, 1, 1, 1)
    mean = torch.tensor(MEAN, device=device).view(shape) * 255
    std = torch.tensor(STD, device=device).view(shape) * 255
    return clips.sub_(mean).div_(std)


def split_items(subset_dir: Path, split: str, num_classes: int) -> tuple[list[Path], list[int]]:
    """Clips of a split in list order with 0-based labels (-1 for the unlabelled test split)."""
    annotations, videos = Path(subset_dir) / "annotations", Path(subset_dir) / "videos"
    if split == "test":
        names = read_clip_names(annotations / SPLIT_FILES["test"])
        return [videos / n for n in names], [-1] * len(names)
    labels = read_labelled_clips(annotations / SPLIT_FILES[split], num_classes)
    return [videos / n for n in labels], [label - 1 for label in labels.values()]


def build_datasets(parts: list[tuple[list[Path], list[int], bool]], recipe: dict, *, where: Path) -> list[VideoClips]:
    """One dataset per (paths, labels, train) part. Every clip of every part is checked first
    and all problems are reported at once, by name; then all are decoded if the recipe caches."""
    paths = [p for part_paths, _, _ in parts for p in part_paths]
    frames, broken = survey(paths, level=recipe["verify"], min_frames=span(recipe))
    raise_if_broken(broken, where)
    cache = None
    if recipe.get("cache_decoded"):
        with ThreadPoolExecutor(max_workers=4) as pool:
            cache = list(pool.map(decode, paths))
        frames = [len(video) for video in cache]
        short = [
            (p, f"only {n} frames decode, fewer than the {span(recipe)} the recipe samples")
            for p, n in zip(paths, frames)
            if n < span(recipe)
        ]
        raise_if_broken(short, where)
    datasets, offset = [], 0
    for part_paths, labels, train in parts:
        end = offset + len(part_paths)
        datasets.append(
            VideoClips(part_paths, labels, frames[offset:end], recipe, train=train, cache=None if cache is None else cache[offset:end])
        )
        offset = end
    return datasets


def make_loader(
    dataset: Dataset, recipe: dict, *, shuffle: bool, workers: int, generator: torch.Generator | None = None, drop_last: bool = False
) -> DataLoader:
    return seeded_loader(dataset, recipe["batch_size"], shuffle=shuffle, workers=workers, generator=generator, drop_last=drop_last)


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, VideoClips | None, list[Path]]:
    num_classes = len(class_names(subset_dir))
    splits = recipe.get("train_splits", ["train"])
    parts = [(*split_items(subset_dir, split, num_classes), True) for split in splits]
    if "val" not in splits:
        parts.append((*split_items(subset_dir, "val", num_classes), False))
    datasets = build_datasets(parts, recipe, where=Path(subset_dir) / "videos")
    train = datasets[: len(splits)]
    val = datasets[-1] if "val" not in splits else None
    opened = [p for paths, _, _ in parts for p in paths]
    return (train[0] if len(train) == 1 else ConcatDataset(train)), val, opened
