"""Synthesise -> subset -> train -> predict -> score, through the Task interface and the engine."""

from __future__ import annotations

import pytest
import torch

from viprepro.files.schemas_io import validate
from viprepro.tasks.action_recognition.annotations import read_clip_names
from viprepro.training import engine

SPEC = {
    "name": "ar_e2e",
    "task": "action_recognition",
    "model": {"name": "tiny3d", "kwargs": {"width": 4}},
    "recipe": {
        "epochs": 2,
        "batch_size": 4,
        "optimizer": {"name": "adamw", "lr": 0.003},
        "frames_per_clip": 8,
        "test_clips": 2,
        "cache_decoded": True,
    },
    "claimed": {"top1": {"value": 0.5}},
}


@pytest.fixture(scope="module")
def spec():
    spec = {**SPEC, "recipe": dict(SPEC["recipe"])}
    validate(spec, "submission.schema.yaml")
    validate(spec["recipe"], "recipe.action_recognition.schema.yaml")
    return spec


def test_train_predict_and_score_end_to_end(task, ucf, spec, tmp_path):
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=ucf["subset"], seed=0, identity={"spec": "ar_e2e"})
    final = engine.train(run, tmp_path / "a" / "model.pt", tmp_path / "a" / "state")
    assert [h["epoch"] for h in final["history"]] == [1, 2]
    assert {"val_top1", "val_top3", "val_top5"} <= set(final["history"][-1])
    assert final["initial_weights_digest"] != final["final_weights_digest"]

    again = engine.train(run, tmp_path / "b" / "model.pt", tmp_path / "b" / "state")
    assert again["final_weights_digest"] == final["final_weights_digest"]  # same seed, same weights

    model, _ = engine.load_trained_model(task, tmp_path / "a" / "model.pt", ucf["subset"], torch.device("cpu"))
    summary = task.predict(
        [model, model], ucf["subset"], spec["recipe"], tmp_path / task.submission_filename, device=torch.device("cpu"), workers=0
    )
    assert summary["clips"] == 8 and summary["members"] == 2
    lines = (tmp_path / task.submission_filename).read_text().splitlines()
    clips = read_clip_names(ucf["subset"] / "annotations" / "mod-ucf101-test.txt")
    assert [line.split(" ")[0] for line in lines] == clips
    assert all(sorted(map(int, line.split(" ")[1:])) == [1, 2, 3, 4] for line in lines)  # K = 4 < 5: every label, ranked

    assert task.validate(ucf["gt"], tmp_path / task.submission_filename, {}) == []
    strict = task.score(ucf["gt"], tmp_path / task.submission_filename, tmp_path / "strict", mode="strict", options={})
    official = task.score(ucf["gt"], tmp_path / task.submission_filename, tmp_path / "official", mode="official", options={})
    assert [strict[k] for k in ("top1", "top3", "top5")] == [official[k] for k in ("top1", "top3", "top5")]
    assert strict["top5"] == 1.0 and 0.0 <= strict["top1"] <= strict["top3"] <= 1.0
    assert set(strict["per_class_accuracy"]) == {"DashDeg000", "DashDeg180", "DriftDeg000", "DriftDeg180"}
    assert (tmp_path / "official" / "scores.txt").read_text().startswith(f"Top-1 accuracy: {official['top1']}\n")
