"""Inference on the test (or val) split into the official submission: `submission.json` zipped.

generate_submission.py runs the model over the sorted listing of the split's folder and
writes each box as `{image_id: index in that listing, category_id, bbox: xywh, score}`;
its docstring asks for the file compressed as `submission.zip` holding nothing else. The
detections come from the detection task's `detect` (ensembles pooled, then NMS).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch

from viprepro.files.fileio import atomic_path
from viprepro.tasks.detection.predict import run_split
from viprepro.tasks.detection_delftbikes.data import split_dataset

MEMBER = "submission.json"


def write_submission(path: Path, detections: list[dict]) -> None:
    """`submission.json` (one detection a line) as the only member of the zip at `path`; the
    zip is written without timestamps' variation so that equal detections give equal bytes."""
    text = "[\n" + ",\n".join(json.dumps(d, allow_nan=False) for d in detections) + "\n]\n"
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(MEMBER, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text)


def predict(
    models: list[torch.nn.Module], subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, workers: int, split: str = "test"
) -> dict:
    detections, summary = run_split(
        models, split_dataset(subset_dir, split, train=False), recipe, split=split, device=device, workers=workers
    )
    write_submission(Path(out), detections)
    return summary | {"detections": len(detections)}
