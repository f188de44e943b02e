"""COCO-format datasets over the subset, and their loaders.

Follows torchvision's detection references: crowd boxes and degenerate boxes are dropped
from the targets, training skips images left without a box, labels are the COCO category
ids, and the only augmentation is a horizontal flip. Resizing and normalisation happen in
the model (`GeneralizedRCNNTransform`), so images stay at their own size here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from viprepro.errors import UserError
from viprepro.files.subset_manifest import MANIFEST_NAME, read_manifest
from viprepro.tasks.base import Loaders
from viprepro.tasks.detection.manifests import IMAGE_FOLDERS, annotation_path, read_instances  # noqa: F401 - data.annotation_path stays importable
from viprepro.training.loading import seeded_loader


def num_classes(subset_dir: Path) -> int:
    """Largest category id + 1, from the subset manifest: training may not open test files."""
    manifest = read_manifest(subset_dir)
    if not manifest.get("category_ids"):
        raise UserError("no 'category_ids': not a detection subset", path=Path(subset_dir) / MANIFEST_NAME)
    return max(manifest["category_ids"]) + 1


def decode(path: Path) -> torch.Tensor:
    """RGB float CxHxW in [0, 1]; a file that cannot be decoded is a UserError naming it."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for broken files
        raise UserError(f"cannot decode image ({exc})", path=path) from None
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255)


def boxes_of(annotations: list[dict], width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """xyxy boxes clamped to the image and their labels; crowd and empty boxes dropped."""
    kept = [a for a in annotations if not a["iscrowd"]]
    boxes = torch.tensor([a["bbox"] for a in kept], dtype=torch.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    labels = torch.tensor([a["category_id"] for a in kept], dtype=torch.int64)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[keep], labels[keep]


def annotations_by_image(document: dict) -> defaultdict[int, list[dict]]:
    """A COCO document's annotations grouped by image id (an image without any maps to [])."""
    by_image = defaultdict(list)
    for ann in document["annotations"]:
        by_image[ann["image_id"]].append(ann)
    return by_image


class CocoImages(Dataset):
    """(image, target) pairs of one COCO document; `target` as torchvision's detectors take it."""

    def __init__(self, folder: Path, document: dict, *, train: bool, hflip: bool = False):
        self.folder, self.document, self.hflip = Path(folder), document, hflip
        by_image = annotations_by_image(document)
        self.items = []
        for image in document["images"]:
            boxes, labels = boxes_of(by_image[image["id"]], image["width"], image["height"])
            if train and len(boxes) == 0:
                continue
            self.items.append((image, boxes, labels))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image_info, boxes, labels = self.items[index]
        image = decode(self.folder / image_info["file_name"])
        boxes = boxes.clone()
        if self.hflip and torch.rand(()) < 0.5:
            image = image.flip(-1)
            boxes[:, [0, 2]] = image.shape[-1] - boxes[:, [2, 0]]
        return image, {"boxes": boxes, "labels": labels, "image_id": image_info["id"]}

    @property
    def files(self) -> list[Path]:
        return [self.folder / image["file_name"] for image, _, _ in self.items]


def split_dataset(subset_dir: Path, split: str, *, train: bool, hflip: bool = False) -> CocoImages:
    document = read_instances(annotation_path(subset_dir, split), annotations=split != "test")
    return CocoImages(Path(subset_dir) / IMAGE_FOLDERS[split], document, train=train, hflip=hflip)


def collate(batch):
    """A tuple of images and a tuple of targets: detectors take lists of differently sized images."""
    return tuple(zip(*batch))


def make_loader(
    dataset: Dataset, recipe: dict, *, shuffle: bool, workers: int, generator: torch.Generator | None = None, drop_last: bool = False
) -> DataLoader:
    """Training batches (shuffled) hold `batch_size` images, evaluation batches `eval_batch_size`."""
    batch_size = recipe["batch_size"] if shuffle else recipe.get("eval_batch_size", 8)
    return seeded_loader(
        dataset, batch_size, shuffle=shuffle, workers=workers, generator=generator, drop_last=drop_last, collate_fn=collate
    )


def training_sets(
    subset_dir: Path, recipe: dict, *, split_dataset: Callable[..., Dataset] = split_dataset, hflip_default: bool = True
) -> tuple[Dataset, Dataset | None, list[Path]]:
    """Training set, validation set (None when training on val) and every file they open.
    `split_dataset(subset_dir, split, train=, hflip=)` reads one split: COCO boxes here; the
    tasks built on detection (DelftBikes, instance segmentation) pass their own."""
    splits = recipe.get("train_splits", ["train"])
    hflip = recipe.get("augment", {}).get("hflip", hflip_default)
    parts = [split_dataset(subset_dir, split, train=True, hflip=hflip) for split in splits]
    val = None if "val" in splits else split_dataset(subset_dir, "val", train=False)
    opened = [f for part in parts for f in part.files] + (val.files if val else [])
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), val, opened


def training_loaders(sets: tuple[Dataset, Dataset | None, list[Path]], recipe: dict, *, workers: int, generator) -> Loaders:
    """`Task.loaders` of every detection-style task, from its `training_sets`."""
    train, val, opened = sets
    return Loaders(
        train=make_loader(train, recipe, shuffle=True, workers=workers, generator=generator),
        val=None if val is None else make_loader(val, recipe, shuffle=False, workers=workers),
        train_size=len(train),
        opened_files=[str(f) for f in opened],
    )
