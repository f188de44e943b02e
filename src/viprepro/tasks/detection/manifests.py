"""Reading COCO instances files and the challenge's test mapping, checked on the way in.

The official manifests, the source annotations and the hidden ground truth are all COCO
instances documents; everything downstream (subsetting, training, scoring) relies on the
few rules checked here, so a broken file stops with its name and the offending entry
instead of a KeyError three steps later.
"""

from __future__ import annotations

import math
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import read_json

MANIFEST_NAMES = {
    "train": "vipriors-object-detection-train.json",
    "val": "vipriors-object-detection-val.json",
    "test": "vipriors-object-detection-test.json",
}
MAPPING_NAME = "test_image_mappings.txt"
#: image folder of each split inside a subset.
IMAGE_FOLDERS = {"train": "images", "val": "images", "test": "test-images"}


def annotation_path(subset_dir: Path, split: str) -> Path:
    return Path(subset_dir) / "annotations" / MANIFEST_NAMES[split]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_images(path: Path, images) -> None:
    if not isinstance(images, list):
        raise UserError("'images' must be a list", path=path)
    seen = set()
    for index, image in enumerate(images):
        where = f"images[{index}]"
        if not isinstance(image, dict) or not _is_int(image.get("id")):
            raise UserError("expected an object with an integer 'id'", path=path, where=where)
        name = image.get("file_name")
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise UserError(f"'file_name' must be a plain file name, not {name!r}", path=path, where=where)
        if not (_is_int(image.get("width")) and _is_int(image.get("height")) and image["width"] > 0 and image["height"] > 0):
            raise UserError("'width' and 'height' must be positive integers", path=path, where=where)
        if image["id"] in seen:
            raise UserError(f"image id {image['id']} appears twice", path=path, where=where)
        seen.add(image["id"])


def _check_categories(path: Path, categories) -> None:
    if not isinstance(categories, list) or not categories:
        raise UserError("'categories' must be a non-empty list", path=path)
    ids, names = set(), set()
    for index, category in enumerate(categories):
        where = f"categories[{index}]"
        if not isinstance(category, dict) or not _is_int(category.get("id")) or category["id"] < 1:
            raise UserError("expected an object with an integer 'id' >= 1", path=path, where=where)
        if not isinstance(category.get("name"), str):
            raise UserError("expected a string 'name'", path=path, where=where)
        if category["id"] in ids or category["name"] in names:
            raise UserError(f"category {category['id']} ({category['name']!r}) appears twice", path=path, where=where)
        ids.add(category["id"])
        names.add(category["name"])


def _check_annotations(path: Path, document: dict) -> None:
    annotations = document["annotations"]
    if not isinstance(annotations, list):
        raise UserError("'annotations' must be a list", path=path)
    image_ids = {image["id"] for image in document["images"]}
    category_ids = {category["id"] for category in document["categories"]}
    seen = set()
    for index, ann in enumerate(annotations):
        where = f"annotations[{index}]"
        if not isinstance(ann, dict):
            raise UserError("expected an object", path=path, where=where)
        for key in ("id", "image_id", "category_id", "bbox", "area", "iscrowd"):
            if key not in ann:
                raise UserError(f"missing key '{key}'", path=path, where=where)
        if not _is_int(ann["id"]) or ann["id"] < 1 or ann["id"] in seen:
            raise UserError(
                f"annotation id {ann['id']!r} must be a unique integer >= 1 (COCOeval reads 0 as unmatched)", path=path, where=where
            )
        seen.add(ann["id"])
        if ann["image_id"] not in image_ids:
            raise UserError(f"image_id {ann['image_id']!r} is not in 'images'", path=path, where=where)
        if ann["category_id"] not in category_ids:
            raise UserError(f"category_id {ann['category_id']!r} is not in 'categories'", path=path, where=where)
        box = ann["bbox"]
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box)) and box[2] >= 0 and box[3] >= 0):
            raise UserError(f"bbox must be [x, y, w, h] with finite numbers and w, h >= 0, not {box!r}", path=path, where=where)
        if not _is_number(ann["area"]) or ann["iscrowd"] not in (0, 1):
            raise UserError("'area' must be a finite number and 'iscrowd' 0 or 1", path=path, where=where)


def read_instances(path: str | Path, *, annotations: bool = True) -> dict:
    """A COCO instances document; `annotations=False` accepts one without (the test manifest)."""
    path = Path(path)
    document = read_json(path)
    if not isinstance(document, dict):
        raise UserError(f"expected a COCO instances object, found a JSON {type(document).__name__}", path=path)
    required = ("images", "categories", "annotations") if annotations else ("images", "categories")
    for key in required:
        if key not in document:
            raise UserError(f"missing key '{key}'", path=path)
    document.setdefault("annotations", [])
    _check_images(path, document["images"])
    _check_categories(path, document["categories"])
    _check_annotations(path, document)
    return document


def read_mapping(path: str | Path) -> list[tuple[int, int]]:
    """test_image_mappings.txt: `old_id,new_id` lines (val2017 id, test id), blank lines ignored."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    pairs, olds, news = [], set(), set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise UserError(f"expected 'old_id,new_id' (two integers), found {line.strip()!r}", path=path, where=f"line {number}")
        old, new = (int(p) for p in parts)
        if old in olds or new in news:
            raise UserError(f"id {old if old in olds else new} is mapped twice", path=path, where=f"line {number}")
        olds.add(old)
        news.add(new)
        pairs.append((old, new))
    if not pairs:
        raise UserError("no mappings", path=path)
    return pairs
