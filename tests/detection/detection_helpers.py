"""Helpers for the detection tests: plausible detections made from a ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def noisy_detections(gt: dict, seed: int = 0, *, skip_images: int = 0, false_positives: int = 2) -> list[dict]:
    """Jittered copies of most ground-truth boxes plus a few false positives per image.

    The first `skip_images` images get no detection at all (the official scorer ignores them).
    """
    rng = np.random.default_rng(seed)
    category_ids = [c["id"] for c in gt["categories"]]
    skipped = {image["id"] for image in gt["images"][:skip_images]}
    detections = []
    for ann in gt["annotations"]:
        if ann["image_id"] in skipped or rng.uniform() < 0.15:
            continue
        x, y, w, h = ann["bbox"]
        jitter = rng.normal(0, 0.1, size=4) * [w, h, w, h]
        detections.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "bbox": [round(float(v), 2) for v in (x + jitter[0], y + jitter[1], max(1.0, w + jitter[2]), max(1.0, h + jitter[3]))],
                "score": round(float(rng.uniform(0.3, 1.0)), 4),
            }
        )
    for image in gt["images"]:
        if image["id"] in skipped:
            continue
        for _ in range(false_positives):
            w, h = rng.uniform(4, image["width"] / 2, size=2)
            detections.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.choice(category_ids)),
                    "bbox": [round(float(v), 2) for v in (rng.uniform(0, image["width"] - w), rng.uniform(0, image["height"] - h), w, h)],
                    "score": round(float(rng.uniform(0.0, 0.6)), 4),
                }
            )
    return detections


def write_json(path: Path, obj) -> Path:
    Path(path).write_text(json.dumps(obj), encoding="utf-8")
    return Path(path)


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


# The smallest synthetic COCO the tests use.
TINY = {
    "train_images": 24,
    "val_images": 8,
    "unused_train2017_images": 4,
    "val2017_images": 16,
    "categories": 4,
    "image_size": 64,
    "max_objects": 3,
    "empty_fraction": 0.1,
    "crowd_fraction": 0.2,
    "jpeg_quality": 90,
}
