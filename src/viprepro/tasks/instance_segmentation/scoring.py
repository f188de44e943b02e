"""COCO mask AP, as the toolkit's `evaluate.py` computes it and as a strict reviewer would.

The official scorer (identical at the 2021, 2022 and 2023 commits) wraps pycocotools in
`coco_eval.CocoEvaluator(iou_types=["segm"])`, the same `coco_eval.py` blob (f8378bd) as the
2020 detection scorer. Its `put_results` sets `params.imgIds` to the images that have at
least one prediction, so ground truth in images without predictions is not counted, and
its `loadRes` is pycocotools' (the branch is chosen by the first item's keys: a `bbox` there
makes every area a box area). Both modes run pycocotools itself (faster-coco-eval's result
loader differs in those corners, and the test sets are a few hundred images):

- `official`: every item as loaded, evaluated on the images with predictions; where the
  official scorer crashes, a one-line error says so (no score).
- `strict`: `submission.read_instances`' problems refuse the file; all test images count.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from viprepro.errors import UserError, ValidationFailed
from viprepro.files.scores_io import write_scores
from viprepro.tasks.detection.scoring import SCORES_TXT, STAT_KEYS, TXT_LABELS, evaluate_boxes
from viprepro.tasks.instance_segmentation import submission as json_format
from viprepro.tasks.instance_segmentation.layout import read_coco


def evaluate_masks(gt: dict, instances: list[dict], *, img_ids=None) -> tuple[np.ndarray, dict[str, float]]:
    """The 12 COCO segm statistics and each category's AP (pycocotools; annotates `instances`)."""
    return evaluate_boxes(gt, instances, img_ids=img_ids, engine="pycocotools", iou_type="segm")


def official_stats(gt: dict, instances: list[dict], path: Path) -> tuple[np.ndarray, dict[str, float]]:
    """`evaluate_masks` restricted to the predicted images; a crash of pycocotools (a missing
    key, an uncompressed RLE on the segmentation branch, a non-numeric score) is the
    official scorer's crash: a UserError saying so."""
    img_ids = {item["image_id"] for item in instances}
    try:
        return evaluate_masks(gt, instances, img_ids=img_ids)
    except (KeyError, TypeError, ValueError, IndexError, AssertionError, OverflowError) as exc:
        raise UserError(f"the official scorer crashes on this submission ({type(exc).__name__}: {str(exc)[:200]})", path=path) from None


def score(gt_path: Path, submission_path: Path, out: Path, *, mode: str, limits=None, edition: str = "2023") -> dict:
    gt = read_coco(gt_path)
    limits = limits or json_format.Limits()
    if mode == "strict":
        instances, problems = json_format.read_instances(gt, submission_path, mode=mode, limits=limits)
        if problems:
            raise ValidationFailed(submission_path, problems)
        stats, per_category = evaluate_masks(copy.deepcopy(gt), instances)
        n_images = len(gt["images"])
    elif mode == "official":
        instances, _ = json_format.read_instances(gt, submission_path, mode=mode, limits=limits)
        stats, per_category = official_stats(copy.deepcopy(gt), instances, submission_path)
        n_images = len({item["image_id"] for item in instances})
    else:
        raise ValueError(f"unknown mode {mode!r}")
    scores = {
        "task": "instance_segmentation",
        "mode": mode,
        "edition": edition,
        **{key: float(value) for key, value in zip(STAT_KEYS, stats)},
        "n_scored": n_images,
        "n_instances": len(instances),
        "engine": "pycocotools",
        "per_category_ap": per_category,
    }
    text = "".join(f"{label}: {value:.8f}\n" for label, value in zip(TXT_LABELS, stats))
    write_scores(out, SCORES_TXT, text, scores)
    return scores
