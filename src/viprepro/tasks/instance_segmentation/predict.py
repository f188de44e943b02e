"""Inference on the test (or val) split: instance masks of one model or an ensemble, as the
official zip of JSON rows.

Each predicted mask (torchvision pastes them at the image's own size) is thresholded at 0.5
and encoded with pycocotools, its counts decoded to a UTF-8 string, as `baseline.py
--predict` does; the category id is the label itself (torchvision's labels are the COCO ids,
detectron2's were 0-based, hence the baseline's `+1`). An ensemble pools its members'
instances and applies the first member's per-class NMS (detection's `fuse`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from viprepro.tasks.detection.predict import ensemble_rows, run_split
from viprepro.tasks.instance_segmentation.data import split_dataset
from viprepro.tasks.instance_segmentation.submission import write_submission

MASK_THRESHOLD = 0.5


def to_rows(image_id: int, output: dict) -> list[dict]:
    from pycocotools import mask as mask_util

    masks = (output["masks"][:, 0] > MASK_THRESHOLD).numpy().astype(np.uint8)
    rows = []
    for mask, score, label in zip(masks, output["scores"].tolist(), output["labels"].tolist()):
        rle = mask_util.encode(np.asfortranarray(mask))
        rows.append(
            {
                "image_id": image_id,
                "category_id": int(label),
                "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("utf-8")},
                "score": float(score),
            }
        )
    return rows


def segment(models: list[torch.nn.Module], loader, device: torch.device) -> list[dict]:
    return ensemble_rows(models, loader, device, to_rows)


def predict(
    models: list[torch.nn.Module], subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int, split: str = "test"
) -> dict:
    dataset = split_dataset(subset_dir, split, train=False)
    rows, summary = run_split(models, dataset, recipe, split=split, device=device, workers=workers, to_rows=to_rows)
    write_submission(out, rows)
    return summary | {"instances": len(rows)}
