"""Helpers for the instance segmentation tests: plausible predictions made from a ground truth,
and the official scorer's procedure written out (the reference official mode must equal)."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np

TINY = {
    "train_images": 8,
    "val_images": 4,
    "test_images": 8,
    "image_width": 96,
    "image_height": 72,
    "human_max_height": 60,
    "empty_fraction": 0.0,
}


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_zip(path: Path, rows, member: str = "prediction.json", extra: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, rows if isinstance(rows, (str, bytes)) else json.dumps(rows))
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return Path(path)


def gt_mask(ann: dict, height: int, width: int) -> np.ndarray:
    from pycocotools import mask as mask_util

    segmentation = ann["segmentation"]
    rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width)) if isinstance(segmentation, list) else segmentation
    return mask_util.decode(rle)


def rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_util

    encoded = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("utf-8")}


def noisy_instances(gt: dict, seed: int = 0, *, skip_images: int = 0, false_positives: int = 1) -> list[dict]:
    """Shifted copies of most ground-truth masks plus a few false positives per image; the
    first `skip_images` images get no prediction at all (the official scorer ignores them)."""
    rng = np.random.default_rng(seed)
    images = {image["id"]: image for image in gt["images"]}
    skipped = {image["id"] for image in gt["images"][:skip_images]}
    rows = []
    for ann in gt["annotations"]:
        image = images[ann["image_id"]]
        if ann["image_id"] in skipped or rng.uniform() < 0.15:
            continue
        mask = gt_mask(ann, image["height"], image["width"])
        mask = np.roll(mask, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
        rows.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "segmentation": rle(mask),
                "score": round(float(rng.uniform(0.3, 1)), 4),
            }
        )
    for image in gt["images"]:
        if image["id"] in skipped:
            continue
        for _ in range(false_positives):
            mask = np.zeros((image["height"], image["width"]), np.uint8)
            y, x = rng.integers(0, image["height"] - 10), rng.integers(0, image["width"] - 10)
            mask[y : y + 8, x : x + 6] = 1
            rows.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.integers(1, 3)),
                    "segmentation": rle(mask),
                    "score": round(float(rng.uniform(0, 0.5)), 4),
                }
            )
    return rows


def official_reference(gt: dict, results: list[dict]) -> list[float]:
    """The toolkit's evaluate.py, written out: COCO() over the ground truth, a CocoEvaluator
    with iou_types ["segm"] whose put_results loads the results with loadRes, sets
    params.imgIds to the images with results, evaluates per image, then merges the per-image
    evaluations over np.unique's image order, accumulates and summarizes."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        coco_gt = copy.deepcopy(coco)
        coco_eval = COCOeval(coco_gt, iouType="segm")
        results = copy.deepcopy(results)
        img_ids = list(np.unique([r["image_id"] for r in results]))
        coco_eval.cocoDt = coco_gt.loadRes(results)
        coco_eval.params.imgIds = [r["image_id"] for r in results]
        coco_eval.evaluate()  # per image, in params order: categories x areas x unique images
        eval_imgs = np.asarray(coco_eval.evalImgs).reshape(len(coco_eval.params.catIds), len(coco_eval.params.areaRng), -1)
        merged_ids, index = np.unique(np.array(img_ids), return_index=True)
        coco_eval.evalImgs = list(eval_imgs[..., index].flatten())
        coco_eval.params.imgIds = list(merged_ids)
        coco_eval._paramsEval = copy.deepcopy(coco_eval.params)
        coco_eval.accumulate()
        coco_eval.summarize()
    return [float(v) for v in coco_eval.stats[:12]]
