"""Helpers for the DelftBikes tests: submissions made from a ground truth, zipped as the official ones."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

#: the smallest synthetic DelftBikes the tests use.
TINY = {"train_images": 10, "test_images": 6, "valset_size": 3, "image_width": 64, "image_height": 48}


def shifted_detections(gt: dict, seed: int = 0, *, skip_images: int = 0, false_positives: int = 1) -> list[dict]:
    """Most ground-truth boxes, each shifted by a few pixels and scored at random, plus false
    positives; the first `skip_images` images get no detection."""
    rng = np.random.default_rng(seed)
    skipped = {image["id"] for image in gt["images"][:skip_images]}
    rows = []
    for ann in gt["annotations"]:
        if ann["image_id"] in skipped or rng.uniform() < 0.2:
            continue
        x, y, w, h = ann["bbox"]
        dx, dy = rng.integers(-2, 3, size=2)
        rows.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "bbox": [x + dx, y + dy, w, h],
                "score": round(float(rng.uniform(0.2, 1)), 3),
            }
        )
    for image in gt["images"]:
        if image["id"] in skipped:
            continue
        for _ in range(false_positives):
            rows.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.integers(1, 23)),
                    "bbox": [float(rng.uniform(0, image["width"] / 2)), float(rng.uniform(0, image["height"] / 2)), 8.0, 6.0],
                    "score": round(float(rng.uniform(0, 0.5)), 3),
                }
            )
    return rows


def write_zip(path: Path, detections, *, members: dict | None = None) -> Path:
    """`submission.json` holding `detections` (any JSON value, or raw text) zipped at `path`;
    `members` replaces the members altogether (name -> text)."""
    text = detections if isinstance(detections, str) else json.dumps(detections)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in (members or {"submission.json": text}).items():
            archive.writestr(name, content)
    return Path(path)


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
