"""Example test predictions the scoring step draws: true and predicted boxes over test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from viprepro.report.examples import DEFAULT_COUNT, Example, spread

BOX_SCORE = 0.3  # boxes below this score are not drawn
TRUE_COLOR, PRED_COLOR = (40, 200, 60), (255, 140, 0)


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    from viprepro.tasks.detection.manifests import IMAGE_FOLDERS, annotation_path, read_instances
    from viprepro.tasks.detection.submission import read_submission

    truth = read_instances(Path(gt))
    files = {image["id"]: image["file_name"] for image in read_instances(annotation_path(subset, "test"), annotations=False)["images"]}
    categories = {c["id"]: c["name"] for c in truth["categories"]}
    detections = read_submission(Path(submission))
    detections = detections if isinstance(detections, list) else []
    by_image: dict = {}
    for det in detections:
        if isinstance(det, dict) and det.get("score", 0) >= BOX_SCORE and len(det.get("bbox", [])) == 4:
            by_image.setdefault(det.get("image_id"), []).append(det)
    boxes: dict = {}
    for annotation in truth["annotations"]:
        boxes.setdefault(annotation["image_id"], []).append(annotation)
    ids = [image["id"] for image in truth["images"] if image["id"] in files]
    examples = []
    for image_id in spread(ids, count):
        path = Path(subset) / IMAGE_FOLDERS["test"] / files[image_id]
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        draw = ImageDraw.Draw(image)
        for annotation in boxes.get(image_id, []):
            draw_box(draw, annotation["bbox"], TRUE_COLOR, categories.get(annotation["category_id"], "?"))
        shown = sorted(by_image.get(image_id, []), key=lambda d: -d["score"])[:20]
        for det in shown:
            draw_box(draw, det["bbox"], PRED_COLOR, f"{categories.get(det['category_id'], '?')} {det['score']:.2f}")
        image.thumbnail((320, 320))
        examples.append(
            Example([np.asarray(image)], f"image {image_id}: {len(boxes.get(image_id, []))} true, {len(shown)} predicted box(es)")
        )
    return examples, f"green: true boxes, orange: predicted boxes with score >= {BOX_SCORE} (at most 20 per image)"


def draw_box(draw: ImageDraw.ImageDraw, bbox: list[float], color: tuple, text: str) -> None:
    x, y, w, h = (float(v) for v in bbox)
    draw.rectangle([x, y, x + w, y + h], outline=color, width=2)
    draw.text((x + 2, y + 1), text, fill=color)
