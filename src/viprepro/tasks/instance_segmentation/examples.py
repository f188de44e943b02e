"""Example test predictions the scoring step draws: true and predicted masks over test images.

Only well-formed RLEs of the image's size are decoded (the same checks as strict mode), so a
hostile submission can neither crash nor blow up the figure; items that fail them are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.report.examples import DEFAULT_COUNT, Example, spread

MASK_SCORE = 0.3  # masks below this score are not drawn
SHOWN = 20  # most predicted masks drawn per image
TRUE_COLOR, PRED_COLOR = (40, 200, 60), (255, 140, 0)


def _prediction_mask(row, height: int, width: int) -> np.ndarray | None:
    from pycocotools import mask as mask_util

    from viprepro.tasks.instance_segmentation.rle import counts_problem

    segmentation = row.get("segmentation") if isinstance(row, dict) else None
    if not (isinstance(segmentation, dict) and segmentation.get("size") == [height, width] and isinstance(segmentation.get("counts"), str)):
        return None
    if counts_problem(segmentation["counts"], height * width):
        return None
    return mask_util.decode({"size": [height, width], "counts": segmentation["counts"]})


def _tint(pixels: np.ndarray, mask: np.ndarray, color: tuple, alpha: float) -> None:
    pixels[mask > 0] = (1 - alpha) * pixels[mask > 0] + alpha * np.asarray(color, dtype=np.float32)


def _outline(mask: np.ndarray) -> np.ndarray:
    inner = mask.copy()
    inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    return mask & ~inner


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    from PIL import ImageDraw

    from viprepro.tasks.instance_segmentation.layout import IMAGE_FOLDERS, mask_of, read_coco
    from viprepro.tasks.instance_segmentation.submission import read_rows

    truth = read_coco(Path(gt))
    categories = {c["id"]: c["name"] for c in truth["categories"]}
    by_image: dict = {}
    for row in read_rows(Path(submission)):
        if isinstance(row, dict) and isinstance(row.get("score"), (int, float)) and row["score"] >= MASK_SCORE:
            by_image.setdefault(row.get("image_id"), []).append(row)
    annotations: dict = {}
    for ann in truth["annotations"]:
        annotations.setdefault(ann["image_id"], []).append(ann)
    made = []
    for image in spread(truth["images"], count):
        height, width = image["height"], image["width"]
        with Image.open(Path(subset) / IMAGE_FOLDERS["test"] / image["file_name"]) as opened:
            pixels = np.asarray(opened.convert("RGB"), dtype=np.float32).copy()
        shown = sorted(by_image.get(image["id"], []), key=lambda r: -r["score"])[:SHOWN]
        drawn = []
        for row in shown:
            mask = _prediction_mask(row, height, width)
            if mask is not None:
                _tint(pixels, mask, PRED_COLOR, 0.45)
                drawn.append(row)
        for ann in annotations.get(image["id"], []):
            _tint(pixels, _outline(mask_of(ann["segmentation"], height, width).astype(bool)).astype(np.uint8), TRUE_COLOR, 1.0)
        picture = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(picture)
        for row in drawn:
            ys, xs = np.nonzero(_prediction_mask(row, height, width))
            if len(xs):
                label = f"{categories.get(row.get('category_id'), '?')} {row['score']:.2f}"
                draw.text((float(xs.min()), float(ys.min())), label, fill=PRED_COLOR)
        picture = picture.resize((width * 2, height * 2), Image.NEAREST) if max(width, height) < 200 else picture
        picture.thumbnail((320, 320))
        made.append(
            Example(
                [np.asarray(picture)], f"image {image['id']}: {len(annotations.get(image['id'], []))} true, {len(drawn)} predicted mask(s)"
            )
        )
    return made, f"green: outlines of the true masks; orange: predicted masks with score >= {MASK_SCORE} (at most {SHOWN} per image)"
