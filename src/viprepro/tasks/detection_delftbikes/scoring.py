"""DelftBikes scoring: the detection task's COCO box AP on the present parts of the test images.

The official `evaluate.py` is the 2020 one (`baseline/coco_eval.py`'s CocoEvaluator, bbox):
`put_results` sets `params.imgIds` to the images that have at least one detection, so
`official` mode evaluates only those (images left without predictions do not count), and it
stops where that scorer would (an empty list, an image id not in the ground truth, a missing
key). `strict` refuses every problem and evaluates every test image. Absent parts are not in
the ground truth (subset.py), so a box on an absent part is a false positive in both modes.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.tasks.detection import scoring
from viprepro.tasks.detection.manifests import read_instances
from viprepro.tasks.detection.submission import JsonLimits, read_detections
from viprepro.tasks.detection_delftbikes.submission import json_bytes


def problems(gt: Path, submission: Path, limits: JsonLimits):
    """Every problem strict mode refuses (a capped `ProblemList`)."""
    return read_detections(read_instances(gt), Path(submission), mode="strict", limits=limits, data=json_bytes(submission, limits))[1]


def score(gt: Path, submission: Path, out: Path, *, mode: str, limits: JsonLimits) -> dict:
    """Official or strict scores (strict raises `ValidationFailed` with every problem)."""
    data = json_bytes(submission, limits)
    return scoring.score(Path(gt), Path(submission), Path(out), mode=mode, limits=limits, task="detection_delftbikes", data=data)
