"""COCO box AP, as the official scorer computes it and as a strict reviewer would.

Both modes run COCOeval (iouType "bbox", default parameters) through faster-coco-eval, a
maintained drop-in of pycocotools' algorithm that is several times faster and lighter at
the challenge's scale; the tests hold it to pycocotools on every statistic.

- `official` mirrors the challenge grader: it evaluates only the images that have at least
  one detection (it sets `params.imgIds` to them), so ground truth in images without
  predictions is not counted, and it stops where the grader crashed (see
  `submission.read_detections`). faster-coco-eval refuses NaN while pycocotools sorts it
  somewhere, so a file with NaN in it is scored by pycocotools itself, as the grader did.
- `strict` refuses every problem `submission.read_detections` finds, then evaluates all test images.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from pathlib import Path

import numpy as np

from viprepro.errors import ValidationFailed
from viprepro.files.scores_io import write_scores
from viprepro.tasks.detection import submission as json_format
from viprepro.tasks.detection.manifests import read_instances

log = logging.getLogger(__name__)

STAT_KEYS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")
SCORES_TXT = "scores.txt"
TXT_LABELS = ("AP @ 0.50-0.95", "AP @ 0.50", "AP @ 0.75", "AP @ 0.50-0.95 (small)", "AP @ 0.50-0.95 (medium)", "AP @ 0.50-0.95 (large)")
ENGINES = ("faster-coco-eval", "pycocotools")


def _apis(engine: str, iou_type: str = "bbox"):
    if engine == "faster-coco-eval":
        from faster_coco_eval import COCO, COCOeval_faster

        return COCO, lambda gt, dt: COCOeval_faster(gt, dt, iou_type, print_function=lambda *args: None)
    if engine == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, lambda gt, dt: COCOeval(gt, dt, iou_type)
    raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")


def evaluate_boxes(
    gt: dict, detections: list[dict], *, img_ids=None, engine: str = "faster-coco-eval", iou_type: str = "bbox"
) -> tuple[np.ndarray, dict[str, float]]:
    """The 12 COCO statistics and the AP of each category that has ground truth.

    `img_ids` restricts the evaluation (None: every image of `gt`). Like pycocotools' loadRes,
    this annotates the detection dicts in place (ids, areas). `iou_type` "segm" evaluates
    masks (the instance segmentation task) with the same plumbing.
    """
    COCO, COCOeval = _apis(engine, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt)
        if img_ids is not None:
            evaluator.params.imgIds = sorted(img_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats[:12], dtype=np.float64), _per_category_ap(evaluator, gt)


def _per_category_ap(evaluator, gt: dict) -> dict[str, float]:
    """AP@[.5:.95] per category over all areas at 100 detections, keyed by category name."""
    precision = np.asarray(evaluator.eval["precision"])[:, :, :, 0, -1]
    names = {c["id"]: c["name"] for c in gt["categories"]}
    result = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k]
        if (values > -1).any():
            result[names[cat_id]] = float(values[values > -1].mean())
    return result


def _has_nan(detections: list[dict]) -> bool:
    return any(isinstance(v, float) and math.isnan(v) for d in detections for v in (d["score"], *d["bbox"]))


def score(
    gt_path: Path,
    submission_path: Path,
    out: Path,
    *,
    mode: str,
    max_mb: float = json_format.DEFAULT_MAX_MB,
    limits: json_format.JsonLimits | None = None,
    task: str = "detection",
    data: bytes | None = None,
) -> dict:
    """Score a detection file (or its `data`, read from a zip, named by `submission_path`)
    against a COCO ground truth; `task` names the task in scores.json."""
    gt = read_instances(gt_path)
    limits = limits or json_format.JsonLimits(max_mb=max_mb)
    engine = "faster-coco-eval"
    if mode == "strict":
        detections, problems = json_format.read_detections(gt, submission_path, mode=mode, limits=limits, data=data)
        if problems:
            raise ValidationFailed(submission_path, problems)
        img_ids = None
        n_images = len(gt["images"])
    elif mode == "official":
        detections, _ = json_format.read_detections(gt, submission_path, mode=mode, limits=limits, data=data)
        img_ids = {d["image_id"] for d in detections}
        n_images = len(img_ids)
        if _has_nan(detections):
            engine = "pycocotools"
            log.warning("%s holds NaN values: scoring with pycocotools, as the official scorer did", submission_path)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    n_detections = len(detections)
    stats, per_category = evaluate_boxes(gt, detections, img_ids=img_ids, engine=engine)
    scores = {
        "task": task,
        "mode": mode,
        **{key: float(value) for key, value in zip(STAT_KEYS, stats)},
        "n_scored": n_images,
        "n_detections": n_detections,
        "engine": engine,
        "per_category_ap": per_category,
    }
    text = "".join(f"{label}: {value:.8f}\n" for label, value in zip(TXT_LABELS, stats))
    write_scores(out, SCORES_TXT, text, scores)
    return scores
