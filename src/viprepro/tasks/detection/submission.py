"""The detection submission: a JSON list of `{image_id, category_id, bbox, score}`.

`bbox` is `[x, y, width, height]` in pixels of the test image, `image_id` the new test id,
`category_id` the original COCO id. Written one detection per line (with a CSV twin for
spreadsheets). Read a batch of items at a time within a size, depth and item-length limit
(`submission_io.scan_json_array`), so memory is the file plus the detections kept (about
six times the file for a valid one) whatever the file holds, and checked item by item:
strict mode counts every problem, official mode stops where the official scorer would.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files import submission_io
from viprepro.files.fileio import atomic_path
from viprepro.files.submission_io import ProblemList

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


@dataclass(frozen=True)
class JsonLimits:
    """What a detection file may hold before it is refused (each a `viprepro score` option)."""

    max_mb: float = DEFAULT_MAX_MB
    max_depth: int = submission_io.DEFAULT_MAX_DEPTH
    max_item_bytes: int = submission_io.DEFAULT_MAX_ITEM_BYTES

    @classmethod
    def from_options(cls, options: dict) -> JsonLimits:
        defaults = cls()
        return cls(
            max_mb=options.get("max_submission_mb") or defaults.max_mb,
            max_depth=options.get("max_json_depth") or defaults.max_depth,
            max_item_bytes=int((options.get("max_item_kb") or defaults.max_item_bytes / 1024) * 1024),
        )


def _items(path: Path, limits: JsonLimits, *, syntax_first: bool = False, data: bytes | None = None) -> Iterator[tuple[int, object]]:
    """(position in the list, item) of every top-level item, parsed a batch at a time.

    The whole file's structure is checked before the first item is yielded; with
    `syntax_first` every batch is parsed once more beforehand, so that, as with the official
    scorer's `json.load`, a syntax error anywhere wins over a bad item. An item longer than
    `max_item_bytes` is yielded as `Oversize` without being parsed. `data` is the file's
    content when it was read elsewhere (a zip member); errors still name `path`.
    """
    if data is None:
        data = submission_io.read_bytes(path, max_mb=limits.max_mb)
    yield from json_items(data, path, limits, syntax_first=syntax_first)


def json_items(data: bytes, path: Path, limits: JsonLimits, *, syntax_first: bool = False) -> Iterator[tuple[int, object]]:
    """`_items` of bytes already read (a zip member, say); `path` names them in errors."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise UserError(
            "starts with a UTF-8 byte-order mark (BOM), which the official scorer's JSON reader refuses; save the file as plain UTF-8",
            path=path,
        )
    problem = submission_io.encoding_problem(data)
    if problem:
        raise UserError(problem, path=path)
    spans = list(submission_io.scan_json_array(data, path, max_depth=limits.max_depth, max_item_bytes=limits.max_item_bytes))
    for kind, start, end in spans if syntax_first else ():
        if kind == "batch":
            submission_io.parse_batch(data, start, end, path)
    index = 0
    for kind, start, end in spans:
        if kind == "oversize":
            yield index, Oversize(end - start, submission_io.position(data, start))
            index += 1
            continue
        for item in submission_io.parse_batch(data, start, end, path):
            yield index, item
            index += 1


@dataclass(frozen=True)
class Oversize:
    """An item too long to be a detection, left unparsed."""

    size: int
    where: str


def read_submission(path: Path, *, max_mb: float = DEFAULT_MAX_MB) -> list:
    """Every item of the JSON list (any type: the callers judge it), within the size and depth limits."""
    return [item for _, item in _items(Path(path), JsonLimits(max_mb=max_mb))]


def read_detections(
    gt: dict, path: Path, *, mode: str, limits: JsonLimits = JsonLimits(), data: bytes | None = None
) -> tuple[list[dict], ProblemList]:
    """The detections of a file and what strict mode refuses, item by item in bounded memory.

    `strict`: every problem is counted (the first ones kept), and detections are kept only
    while there is none. `official`: stops (UserError) where the official scorer would, and
    keeps each detection's four keys (the only ones COCOeval reads for boxes). `data`: the
    file's bytes when they come from elsewhere (a zipped submission), named by `path`.
    """
    path = Path(path)
    image_ids = {image["id"] for image in gt["images"]}
    category_ids = {category["id"] for category in gt["categories"]}
    detections: list[dict] = []
    problems = ProblemList()
    count = 0
    for index, det in _items(path, limits, syntax_first=mode == "official", data=data):
        count += 1
        if mode == "official":
            failure = _official_failure_of(index, det, image_ids)
            if failure:
                raise UserError(failure, path=path)
            detections.append({key: det[key] for key in KEYS})
            continue
        found = _problems_of(det, image_ids, category_ids)
        if found:
            problems += (f"detection {index}: {problem}" for problem in found)
            detections = []
        elif not problems:
            detections.append(det)
    if not count:
        if mode == "official":
            raise UserError("the submission is empty: the official scorer crashes on an empty list and produces no score", path=path)
        problems.append("the list is empty: no detections to score")
    return detections, problems


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _problems_of(det, image_ids: set, category_ids: set) -> list[str]:
    if isinstance(det, Oversize):
        return [f"{det.size} bytes long ({det.where}), far longer than a detection; not parsed (raise --max-item-kb)"]
    if not isinstance(det, dict):
        return [f"expected an object, found {type(det).__name__}"]
    found = [f"missing key '{k}'" for k in KEYS if k not in det]
    found += [f"unknown key {k!r:.60}" for k in det if k not in KEYS]
    image_id, category_id, box, score = (det.get(k) for k in KEYS)
    if "image_id" in det:
        if not _is_int(image_id):
            found.append(f"image_id {image_id!r:.80} is not an integer")
        elif image_id not in image_ids:
            found.append(f"image_id {image_id} is not a test image")
    if "category_id" in det:
        if not _is_int(category_id):
            found.append(f"category_id {category_id!r:.80} is not an integer")
        elif category_id not in category_ids:
            found.append(f"category_id {category_id} is not a category of the ground truth")
    if "bbox" in det:
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))):
            found.append(f"bbox {box!r:.80} is not [x, y, width, height]")
        elif not all(map(math.isfinite, box)):
            found.append(f"bbox {box!r:.80} has a NaN or infinite value")
        elif box[2] < 0 or box[3] < 0:
            found.append(f"bbox {box!r:.80} has a negative width or height")
    if "score" in det:
        if not _is_number(score):
            found.append(f"score {score!r:.80} is not a number")
        elif not 0 <= score <= 1:  # also false for NaN
            found.append(f"score {score!r:.80} is not in [0, 1]")
    return found


def _official_failure_of(index: int, det, image_ids: set) -> str | None:
    """Why the official scorer (pycocotools loadRes + COCOeval) would stop on this detection, or None.

    It accepts unknown category ids (ignored), negative sizes, NaN and scores outside [0, 1];
    it stops on a non-list, an empty list (it indexes the first detection), an image id not in
    the ground truth (an assertion), and a missing key or a non-numeric box or score.
    """
    if isinstance(det, Oversize):
        return f"detection {index} is {det.size} bytes long ({det.where}), far longer than a detection; not parsed (raise --max-item-kb)"
    if not isinstance(det, dict) or any(k not in det for k in KEYS):
        return f"detection {index} lacks one of {', '.join(KEYS)}: the official scorer crashes (KeyError)"
    if not isinstance(det["image_id"], (int, float)) or det["image_id"] not in image_ids:
        return (
            f"detection {index}: image_id {det['image_id']!r:.80} is not in the ground truth: the official scorer stops "
            "('Results do not correspond to current coco set')"
        )
    if not isinstance(det["category_id"], (int, float, str)):
        return f"detection {index}: category_id {det['category_id']!r:.80} cannot be looked up: the official scorer crashes"
    box, score = det["bbox"], det["score"]
    if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))) or not _is_number(score):
        return f"detection {index}: bbox {box!r:.80} or score {score!r:.80} is not numeric: the official scorer crashes"
    return None
