"""Test (or val) predictions in the challenge's format: `videoid c1 c2 c3 c4 c5`, through the
mod-UCF101 inference (clips averaged per video and over the ensemble, five best labels)."""

from __future__ import annotations

from pathlib import Path

from viprepro.tasks.action_recognition.predict import predict_videos
from viprepro.tasks.action_recognition_kinetics.annotations import class_names
from viprepro.tasks.action_recognition_kinetics.data import split_items


def predict(models, subset_dir: Path, recipe: dict, out: Path, *, device, workers: int, split: str = "test") -> dict:
    if split not in ("test", "val"):
        raise ValueError(f"no predictions for split {split!r}")
    paths, _, ids = split_items(Path(subset_dir), split, class_names(subset_dir))
    return predict_videos(
        models, paths, ids, recipe, Path(out), device=device, workers=workers, split=split, where=Path(subset_dir) / split
    )
