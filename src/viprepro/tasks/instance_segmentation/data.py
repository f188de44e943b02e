"""COCO datasets with masks over the subset (torchvision's detection references, plus masks).

Targets are what torchvision's Mask R-CNN takes: xyxy boxes clamped to the image, the
category ids as labels, and one binary mask per instance (COCO's `annToMask`: polygons
rasterised by pycocotools, RLE decoded). Crowd regions and empty instances are dropped;
training skips images left without an instance; the only augmentation is a horizontal
flip of image, boxes and masks (the baseline's detectron2 default). Image decoding,
batching and the class count are detection's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from viprepro.tasks.detection import data as detection_data
from viprepro.tasks.detection.data import decode
from viprepro.tasks.instance_segmentation.layout import IMAGE_FOLDERS, annotation_path, mask_of, read_coco


def targets_of(annotations: list[dict], height: int, width: int) -> dict:
    """Boxes, labels and masks of an image's instances (crowd and empty ones dropped)."""
    kept = [a for a in annotations if not a["iscrowd"]]
    boxes = torch.tensor([a["bbox"] for a in kept], dtype=torch.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    masks = (
        torch.from_numpy(np.stack([mask_of(a["segmentation"], height, width) for a in kept]))
        if kept
        else torch.zeros((0, height, width), dtype=torch.uint8)
    )
    labels = torch.tensor([a["category_id"] for a in kept], dtype=torch.int64)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & (masks.flatten(1) > 0).any(1)
    return {"boxes": boxes[keep], "labels": labels[keep], "masks": masks[keep]}


class CocoMasks(Dataset):
    """(image, target) pairs of one COCO document with masks."""

    def __init__(self, folder: Path, document: dict, *, train: bool, hflip: bool = False):
        self.folder, self.document, self.hflip = Path(folder), document, hflip
        by_image = detection_data.annotations_by_image(document)
        self.items = []
        for image in document["images"]:
            annotations = by_image[image["id"]]
            if train and not any(not a["iscrowd"] for a in annotations):
                continue
            self.items.append((image, annotations))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image_info, annotations = self.items[index]
        image = decode(self.folder / image_info["file_name"])
        target = targets_of(annotations, image_info["height"], image_info["width"]) if annotations else targets_of([], *image.shape[1:])
        if self.hflip and torch.rand(()) < 0.5:
            image = image.flip(-1)
            target["boxes"][:, [0, 2]] = image.shape[-1] - target["boxes"][:, [2, 0]]
            target["masks"] = target["masks"].flip(-1)
        return image, {**target, "image_id": image_info["id"]}

    @property
    def files(self) -> list[Path]:
        return [self.folder / image["file_name"] for image, _ in self.items]


def split_dataset(subset_dir: Path, split: str, *, train: bool, hflip: bool = False) -> CocoMasks:
    document = read_coco(annotation_path(subset_dir, split), annotations=split != "test")
    return CocoMasks(Path(subset_dir) / IMAGE_FOLDERS[split], document, train=train, hflip=hflip)


def training_sets(subset_dir: Path, recipe: dict) -> tuple[Dataset, CocoMasks | None, list[Path]]:
    """Training set, validation set (None when training on val) and every file they open."""
    return detection_data.training_sets(subset_dir, recipe, split_dataset=split_dataset)
