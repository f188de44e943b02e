"""The detection submission: a JSON list of `{image_id, category_id, bbox, score}`.

`bbox` is `[x, y, width, height]` in pixels of the test image, `image_id` the new test id,
`category_id` the original COCO id. Written one detection per line (with a CSV twin for
spreadsheets), read within a size limit (a JSON parser holds the whole file in memory, about
ten times its size), and checked: `problems` lists everything strict mode refuses,
`official_failure` says why the official scorer would stop on a file, if it would.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ...errors import UserError
from ...fileio import atomic_path, read_json

KEYS = ("image_id", "category_id", "bbox", "score")
CSV_HEADER = ("image_id", "category_id", "bbox_x", "bbox_y", "bbox_width", "bbox_height", "score")
DEFAULT_MAX_MB = 128.0
MB = 1 << 20


def write_submission(path: Path, detections: list[dict]) -> Path:
    """The official JSON at `path` and the same rows as CSV beside it; returns the CSV path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("[\n" + ",\n".join(json.dumps(d, allow_nan=False) for d in detections) + "\n]\n")
    csv_path = path.with_suffix(".csv")
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows((d["image_id"], d["category_id"], *d["bbox"], d["score"]) for d in detections)
    return csv_path


def read_submission(path: Path, *, max_mb: float = DEFAULT_MAX_MB):
    """The parsed JSON (any type: the callers judge it); refuses files above `max_mb`."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    if size > max_mb * MB:
        raise UserError(f"file is {size / MB:.0f} MB, above the {max_mb:g} MB limit (a full COCO test submission of "
                        f"100 boxes per image is about 50 MB); raise it with --max-submission-mb", path=path)
    return read_json(path)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _problems_of(det, image_ids: set, category_ids: set) -> list[str]:
    if not isinstance(det, dict):
        return [f"expected an object, found {type(det).__name__}"]
    found = [f"missing key '{k}'" for k in KEYS if k not in det]
    found += [f"unknown key '{k}'" for k in det if k not in KEYS]
    image_id, category_id, box, score = (det.get(k) for k in KEYS)
    if "image_id" in det:
        if not _is_int(image_id):
            found.append(f"image_id {image_id!r} is not an integer")
        elif image_id not in image_ids:
            found.append(f"image_id {image_id} is not a test image")
    if "category_id" in det:
        if not _is_int(category_id):
            found.append(f"category_id {category_id!r} is not an integer")
        elif category_id not in category_ids:
            found.append(f"category_id {category_id} is not a category of the ground truth")
    if "bbox" in det:
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))):
            found.append(f"bbox {box!r} is not [x, y, width, height]")
        elif not all(map(math.isfinite, box)):
            found.append(f"bbox {box!r} has a NaN or infinite value")
        elif box[2] < 0 or box[3] < 0:
            found.append(f"bbox {box!r} has a negative width or height")
    if "score" in det:
        if not _is_number(score):
            found.append(f"score {score!r} is not a number")
        elif not 0 <= score <= 1:  # also false for NaN
            found.append(f"score {score!r} is not in [0, 1]")
    return found


def problems(gt: dict, detections) -> list[str]:
    """Everything strict mode refuses, each naming the detection (0-based position in the list)."""
    if not isinstance(detections, list):
        return [f"expected a JSON list of detections, found a JSON {type(detections).__name__}"]
    if not detections:
        return ["the list is empty: no detections to score"]
    image_ids = {image["id"] for image in gt["images"]}
    category_ids = {category["id"] for category in gt["categories"]}
    found = []
    for index, det in enumerate(detections):
        found += [f"detection {index}: {problem}" for problem in _problems_of(det, image_ids, category_ids)]
    return found


def official_failure(gt: dict, detections) -> str | None:
    """Why the official scorer (pycocotools loadRes + COCOeval) would stop on this file, or None.

    It accepts unknown category ids (ignored), negative sizes, NaN and scores outside [0, 1];
    it stops on a non-list, an empty list (it indexes the first detection), an image id not in
    the ground truth (an assertion), and a missing key or a non-numeric box or score.
    """
    if not isinstance(detections, list):
        return "results in not an array of objects (the official scorer's assertion): the file is not a JSON list"
    if not detections:
        return "the submission is empty: the official scorer crashes on an empty list and produces no score"
    image_ids = {image["id"] for image in gt["images"]}
    for index, det in enumerate(detections):
        if not isinstance(det, dict) or any(k not in det for k in KEYS):
            return f"detection {index} lacks one of {', '.join(KEYS)}: the official scorer crashes (KeyError)"
        if not isinstance(det["image_id"], (int, float)) or det["image_id"] not in image_ids:
            return f"detection {index}: image_id {det['image_id']!r} is not in the ground truth: the official scorer stops " \
                   "('Results do not correspond to current coco set')"
        if not isinstance(det["category_id"], (int, float, str)):
            return f"detection {index}: category_id {det['category_id']!r} cannot be looked up: the official scorer crashes"
        box, score = det["bbox"], det["score"]
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))) or not _is_number(score):
            return f"detection {index}: bbox {box!r} or score {score!r} is not numeric: the official scorer crashes"
    return None
