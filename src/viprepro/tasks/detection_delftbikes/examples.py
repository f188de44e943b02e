"""Example test predictions the scoring step draws: present parts and predicted boxes over test images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from viprepro.report.examples import DEFAULT_COUNT, Example, spread
from viprepro.tasks.detection.examples import BOX_SCORE, PRED_COLOR, TRUE_COLOR, draw_box


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    from viprepro.tasks.detection.manifests import read_instances
    from viprepro.tasks.detection.submission import JsonLimits, read_submission
    from viprepro.tasks.detection_delftbikes.submission import json_bytes

    truth = read_instances(Path(gt))
    data = json_bytes(Path(submission), JsonLimits())
    detections = read_submission(Path(submission)) if data is None else json.loads(data)
    categories = {c["id"]: c["name"] for c in truth["categories"]}
    by_image: dict = {}
    for det in detections if isinstance(detections, list) else []:
        if (
            isinstance(det, dict)
            and isinstance(det.get("score"), (int, float))
            and det["score"] >= BOX_SCORE
            and len(det.get("bbox", [])) == 4
        ):
            by_image.setdefault(det.get("image_id"), []).append(det)
    boxes: dict = {}
    for annotation in truth["annotations"]:
        boxes.setdefault(annotation["image_id"], []).append(annotation)
    files = {image["id"]: image["file_name"] for image in truth["images"]}
    shown_examples = []
    for image_id in spread(sorted(files), count):
        with Image.open(Path(subset) / "test" / files[image_id]) as opened:
            image = opened.convert("RGB")
        factor = max(1, 320 // image.width)  # small images are enlarged so that the labels stay readable
        image = image.resize((image.width * factor, image.height * factor))
        draw = ImageDraw.Draw(image)
        for annotation in boxes.get(image_id, []):
            draw_box(draw, [v * factor for v in annotation["bbox"]], TRUE_COLOR, categories.get(annotation["category_id"], "?"))
        shown = sorted(by_image.get(image_id, []), key=lambda d: -d["score"])[:20]
        for det in shown:
            draw_box(draw, [v * factor for v in det["bbox"]], PRED_COLOR, f"{categories.get(det['category_id'], '?')} {det['score']:.2f}")
        image.thumbnail((480, 480))
        shown_examples.append(
            Example(
                [np.asarray(image)],
                f"#{image_id} {files[image_id]}: {len(boxes.get(image_id, []))} parts, {len(shown)} boxes",
            )
        )
    return (
        shown_examples,
        f"#: image id (index in the sorted test listing); green: present parts (absent ones are not counted), orange: predicted boxes with score >= {BOX_SCORE} (at most 20 per image)",
    )
