"""DelftBikes annotation files, read and checked, and the COCO documents made from them.

A DelftBikes annotation file (`train_annotations.json`, `fake_test_annotations.json`, and
the files `valset_generate.py` writes) is a JSON object keyed by image file name:

    {"<name>.jpg": {"parts": {"<part name>": {"object_state": "intact",
                                              "absolute_bounding_box": {"left": 10, "top": 20, "width": 30, "height": 40}},
                              ... 22 parts ...}}, ...}

The official code (`dataset/bike_dataset.py`) reads only `parts`, each part's
`object_state` and `absolute_bounding_box`, and labels a part by its POSITION in the
image's `parts` object (`enumerate(labels['parts'])`, label = position + 1), not by its name;
parts whose state is `absent` are skipped (their location is annotated all the same). An
image's id is its index in the sorted listing of its folder. A file whose parts are not the
22 names in the order below is refused here: the official code would silently give its parts
the wrong classes.
"""

from __future__ import annotations

import math
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import read_json

#: the 22 parts in the order of every image's `parts` object: category id = position + 1.
PART_NAMES = (
    "back_hand_break",
    "back_handle",
    "back_light",
    "back_mudguard",
    "back_pedal",
    "back_reflector",
    "back_wheel",
    "bell",
    "chain",
    "dress_guard",
    "dynamo",
    "front_handbreak",
    "front_handle",
    "front_light",
    "front_mudguard",
    "front_pedal",
    "front_wheel",
    "gear_case",
    "kickstand",
    "lock",
    "saddle",
    "steer",
)
STATES = ("intact", "damaged", "occluded", "absent")
#: the states that count: a part whose state is `absent` is neither trained on nor scored.
PRESENT = ("intact", "damaged", "occluded")
BOX_KEYS = ("left", "top", "width", "height")
CATEGORIES = [{"id": index + 1, "name": name, "supercategory": "bike part"} for index, name in enumerate(PART_NAMES)]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_image(path: Path, name, entry) -> None:
    """One image's entry: the 22 parts in order, each with a known state and a box."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise UserError(f"image key {name!r:.80} is not a plain file name", path=path)
    if not isinstance(entry, dict) or not isinstance(entry.get("parts"), dict):
        raise UserError("expected an object with a 'parts' object", path=path, where=name)
    parts = entry["parts"]
    if tuple(parts) != PART_NAMES:
        raise UserError(
            f"its parts are not the 22 DelftBikes parts in order (the official code labels a part by its position): found {list(parts)!r:.200}",
            path=path,
            where=name,
        )
    for part, value in parts.items():
        where = f"{name}, {part}"
        if not isinstance(value, dict) or value.get("object_state") not in STATES:
            raise UserError(f"'object_state' must be one of {', '.join(STATES)}", path=path, where=where)
        box = value.get("absolute_bounding_box")
        if not isinstance(box, dict) or not all(_is_number(box.get(k)) for k in BOX_KEYS) or box["width"] < 0 or box["height"] < 0:
            raise UserError(
                "'absolute_bounding_box' must hold finite numbers left, top and a non-negative width, height", path=path, where=where
            )


def read_annotations(path: str | Path) -> dict:
    """A DelftBikes annotation file, every image checked (`check_image`)."""
    path = Path(path)
    document = read_json(path)
    if not isinstance(document, dict):
        raise UserError(f"expected a JSON object keyed by image file name, found a JSON {type(document).__name__}", path=path)
    for name, entry in document.items():
        check_image(path, name, entry)
    return document


def present_parts(entry: dict) -> list[tuple[int, list[float]]]:
    """(category id, [x, y, w, h]) of an image's parts that are not absent, as bike_dataset.py
    labels them: the part's position + 1."""
    found = []
    for position, part in enumerate(entry["parts"].values()):
        if part["object_state"] != "absent":
            box = part["absolute_bounding_box"]
            found.append((position + 1, [float(box[k]) for k in BOX_KEYS]))
    return found


def coco_document(names: list[str], labels: dict | None, sizes: list[tuple[int, int]], description: str) -> dict:
    """The COCO document of images `names` (image id = index in this list, the sorted listing)
    with their present parts, as the official `convert_to_coco_api` builds it from the dataset:
    annotation ids from 1 in image order, area = width x height, iscrowd 0. `labels` None:
    images only (the test split as a participant sees it). `sizes`: (width, height) per image."""
    images, annotations = [], []
    for image_id, (name, (width, height)) in enumerate(zip(names, sizes)):
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        if labels is None:
            continue
        for category_id, (x, y, w, h) in present_parts(labels[name]):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category_id,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {"info": {"description": description}, "images": images, "annotations": annotations, "categories": CATEGORIES}


def image_sizes(paths: list[Path]) -> list[tuple[int, int]]:
    """(width, height) of each image from its header; a file that cannot be opened is a UserError naming it."""
    from PIL import Image

    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append(image.size)
        except (OSError, ValueError, SyntaxError) as exc:
            raise UserError(f"cannot read the image's size ({exc})", path=path) from None
    return sizes
