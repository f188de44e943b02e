"""The dataset as the challenge ships it, and its COCO documents checked on the way in.

    <root>/train.json, <root>/val.json     COCO instances with masks (polygons or RLE)
    <root>/test_nolabels.json              the test images and categories, no annotations
    <root>/train/, <root>/val/, <root>/test/   the images, `file_name` relative to their folder

(the folders `baseline.py` registers with detectron2's `register_coco_instances`). The test
labels are the organisers': here `manifests/test.json`, which only the hidden folder receives.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from viprepro.errors import UserError
from viprepro.tasks.detection.manifests import read_instances

if TYPE_CHECKING:
    import numpy as np

#: COCO file of each split in the dataset root and in the subset.
SPLIT_FILES = {"train": "train.json", "val": "val.json", "test": "test_nolabels.json"}
#: image folder of each split.
IMAGE_FOLDERS = {"train": "train", "val": "val", "test": "test"}
#: the organisers' test labels, in the manifests folder.
TEST_LABELS = "test.json"
GT_NAME = "test.json"
VAL_GT_NAME = "val.json"
#: the challenge's categories.
CATEGORIES = [{"id": 1, "name": "human", "supercategory": "person"}, {"id": 2, "name": "ball", "supercategory": "sports"}]


def annotation_path(subset_dir: Path, split: str) -> Path:
    return Path(subset_dir) / SPLIT_FILES[split]


def rle_size_problem(segmentation: dict, height: int, width: int) -> str | None:
    size = segmentation.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        return f"RLE 'size' {size!r:.60} is not [height, width]"
    if size != [height, width]:
        return f"RLE 'size' {size} is not the image's [height, width] {[height, width]}"
    return None


def segmentation_problem(segmentation, height: int, width: int) -> str | None:
    """Why a ground-truth mask is not a COCO polygon list or RLE of its image, or None."""
    if isinstance(segmentation, list):
        if not segmentation:
            return "'segmentation' is an empty polygon list"
        for polygon in segmentation:
            if not (isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0):
                return "a polygon must be a flat list [x1, y1, x2, y2, ...] of at least three points"
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in polygon):
                return "a polygon holds a value that is not a finite number"
        return None
    if isinstance(segmentation, dict):
        if set(segmentation) != {"size", "counts"}:
            return f"an RLE has exactly the keys 'size' and 'counts', not {sorted(segmentation)}"
        problem = rle_size_problem(segmentation, height, width)
        if problem:
            return problem
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts) or sum(counts) != height * width:
                return "uncompressed RLE counts must be non-negative integers summing to height x width"
            return None
        if isinstance(counts, str):
            from viprepro.tasks.instance_segmentation.rle import counts_problem

            return counts_problem(counts, height * width)
        return "RLE 'counts' must be a list of run lengths or a compressed string"
    return f"'segmentation' must be a polygon list or an RLE object, not {type(segmentation).__name__}"


def read_coco(path: str | Path, *, annotations: bool = True) -> dict:
    """A COCO instances document whose every annotation has a mask of its image (checked by
    detection's reader for images, categories, ids and boxes, here for the masks)."""
    path = Path(path)
    document = read_instances(path, annotations=annotations)
    sizes = {image["id"]: (image["height"], image["width"]) for image in document["images"]}
    for index, ann in enumerate(document["annotations"]):
        if "segmentation" not in ann:
            raise UserError("missing key 'segmentation'", path=path, where=f"annotations[{index}]")
        problem = segmentation_problem(ann["segmentation"], *sizes[ann["image_id"]])
        if problem:
            raise UserError(problem, path=path, where=f"annotations[{index}].segmentation")
    return document


def mask_of(segmentation, height: int, width: int) -> np.ndarray:
    """A COCO annotation's mask as an HxW uint8 array (pycocotools' annToMask)."""
    from pycocotools import mask as mask_util

    if isinstance(segmentation, list):
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_util.decode(rle)
