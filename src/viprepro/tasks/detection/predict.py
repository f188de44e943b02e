"""Inference on the test (or val) split: detections of one model or an ensemble, written as the official JSON.

An ensemble of detectors has no probabilities to average per image; their boxes are pooled
and the per-class NMS of the first member is applied to the union (its IoU threshold, its
cap on detections per image), the usual way to combine detectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torchvision.ops import batched_nms

from viprepro.tasks.detection.data import make_loader, split_dataset
from viprepro.tasks.detection.submission import write_submission


def fuse(outputs: list[dict], nms_thresh: float, max_dets: int) -> dict:
    if len(outputs) == 1:
        return outputs[0]
    pooled = {key: torch.cat([o[key] for o in outputs]) for key in outputs[0]}  # masks too, for Mask R-CNN
    keep = batched_nms(pooled["boxes"], pooled["scores"], pooled["labels"], nms_thresh)[:max_dets]
    return {key: value[keep] for key, value in pooled.items()}


def to_coco(image_id: int, output: dict) -> list[dict]:
    """Official rows: xywh boxes in pixels, rounded to 1/100 pixel; scores as computed."""
    xyxy = output["boxes"].tolist()
    return [
        {
            "image_id": image_id,
            "category_id": int(label),
            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": float(score),
        }
        for (x0, y0, x1, y1), score, label in zip(xyxy, output["scores"].tolist(), output["labels"].tolist())
    ]


@torch.no_grad()
def ensemble_rows(models: list[torch.nn.Module], loader, device: torch.device, to_rows: Callable[[int, dict], list[dict]]) -> list[dict]:
    """Every image's submission rows: the members' outputs pooled and fused (`fuse`), then
    turned into rows by `to_rows(image_id, output)` (boxes here, masks for instance segmentation)."""
    heads = models[0].roi_heads
    rows = []
    for images, targets in loader:
        images = [image.to(device, non_blocking=True) for image in images]
        per_model = [[{k: v.cpu() for k, v in o.items()} for o in model(images)] for model in models]
        for index, target in enumerate(targets):
            fused = fuse([outputs[index] for outputs in per_model], heads.nms_thresh, heads.detections_per_img)
            rows += to_rows(target["image_id"], fused)
    return rows


def detect(models: list[torch.nn.Module], loader, device: torch.device) -> list[dict]:
    return ensemble_rows(models, loader, device, to_coco)


def run_split(
    models: list[torch.nn.Module], dataset, recipe: dict, *, split: str, device: torch.device, workers: int, to_rows=to_coco
) -> tuple[list[dict], dict]:
    """The rows of every image of `dataset` (a test or val split) and the inference summary
    every detection-style task returns (images, members, seconds, throughput)."""
    if split not in ("test", "val"):
        raise ValueError(f"no predictions for split {split!r}")
    loader = make_loader(dataset, recipe, shuffle=False, workers=workers)
    for model in models:
        model.eval()
    started = time.perf_counter()
    rows = ensemble_rows(models, loader, device, to_rows)
    seconds = time.perf_counter() - started
    summary = {"split": split, "images": len(dataset), "members": len(models), "seconds": seconds}
    return rows, summary | {"images_per_s": len(dataset) / seconds if seconds else None}


def predict(
    models: list[torch.nn.Module], subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int, split: str = "test"
) -> dict:
    detections, summary = run_split(
        models, split_dataset(subset_dir, split, train=False), recipe, split=split, device=device, workers=workers
    )
    csv_path = write_submission(out, detections)
    return summary | {"detections": len(detections), "csv": str(csv_path)}
