"""Synthesise -> subset -> train -> predict -> score, through the Task interface."""

from __future__ import annotations

import pytest
import torch
import yaml

from viprepro.files.subset_manifest import read_manifest
from viprepro.specs.load import load_spec
from viprepro.tasks.detection.scoring import STAT_KEYS
from viprepro.training import engine
from viprepro.training.guards import FileAccessRecorder
from viprepro.training.record import audit_opened_files

TINY_SPEC = {
    "name": "detection_test_tiny",
    "task": "detection",
    "model": {
        "name": "fasterrcnn_small_fpn",
        "kwargs": {
            "widths": [8, 16, 32, 64],
            "fpn_channels": 32,
            "representation_size": 64,
            "min_size": 64,
            "max_size": 64,
            "anchor_sizes": [[8], [16], [32], [64], [128]],
            "rpn_pre_nms_top_n_train": 200,
            "rpn_post_nms_top_n_train": 100,
            "rpn_pre_nms_top_n_test": 200,
            "rpn_post_nms_top_n_test": 50,
            "rpn_batch_size_per_image": 32,
            "box_batch_size_per_image": 32,
        },
    },
    "recipe": {
        "epochs": 2,
        "batch_size": 8,
        "optimizer": {"name": "sgd", "lr": 0.01},
        "grad_clip": 10.0,
        "lr_schedule": {"name": "multistep", "milestones": [1], "warmup_epochs": 0.5},
    },
    "claimed": {"ap": {"value": 0.1}},
}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(TINY_SPEC))
    return load_spec(path)


def _train(task, coco, spec, out, seed=0):
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=coco["subset"], seed=seed)
    return engine.train(run, out / "model.pt", out / "state")


def test_train_predict_and_score_both_modes(task, coco, gt_doc, spec, tmp_path):
    with FileAccessRecorder() as opened:
        final = _train(task, coco, spec, tmp_path)
    audit = audit_opened_files(
        opened.paths, coco["subset"], read_manifest(coco["subset"]), ["train"], forbidden=[coco["hidden"], coco["source"]]
    )
    assert audit["passed"], audit["violations"]
    assert [h["epoch"] for h in final["history"]] == [1, 2] and "val_ap" in final["history"][-1]
    model, _ = engine.load_trained_model(task, tmp_path / "model.pt", coco["subset"], torch.device("cpu"))
    summary = task.predict(
        [model, model], coco["subset"], spec["recipe"], tmp_path / "submission.json", device=torch.device("cpu"), workers=0
    )
    assert summary["images"] == len(gt_doc["images"]) and summary["members"] == 2 and summary["detections"] > 0
    assert (tmp_path / "submission.csv").is_file()
    assert task.validate(coco["gt"], tmp_path / "submission.json", {}) == []
    for mode in ("strict", "official"):
        scores = task.score(coco["gt"], tmp_path / "submission.json", tmp_path / mode, mode=mode, options={})
        assert all(0 <= scores[k] <= 1 or scores[k] == -1 for k in STAT_KEYS)
        assert (tmp_path / mode / "scores.txt").read_text().startswith("AP @ 0.50-0.95: ")


def test_same_seed_same_weights(task, coco, spec, tmp_path):
    spec["recipe"]["epochs"] = 1
    first = _train(task, coco, spec, tmp_path / "a")
    second = _train(task, coco, spec, tmp_path / "b")
    assert first["final_weights_digest"] == second["final_weights_digest"]
    assert first["final_weights_digest"] != first["initial_weights_digest"]
