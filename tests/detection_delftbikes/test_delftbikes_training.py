"""Train -> predict -> score through the Task interface, on the tiny dataset (seconds)."""

from __future__ import annotations

import json
import os
import zipfile

import pytest
import torch
import yaml

from viprepro.files.subset_manifest import read_manifest
from viprepro.specs.load import load_spec
from viprepro.tasks.detection_delftbikes.data import split_document
from viprepro.training import engine
from viprepro.training.guards import FileAccessRecorder
from viprepro.training.record import audit_opened_files

TINY_SPEC = {
    "name": "delftbikes_test_tiny",
    "task": "detection_delftbikes",
    "model": {
        "name": "fasterrcnn_small_fpn",
        "kwargs": {
            "widths": [8, 16, 32, 64],
            "fpn_channels": 32,
            "representation_size": 64,
            "min_size": 48,
            "max_size": 64,
            "anchor_sizes": [[8], [16], [32], [64], [128]],
            "rpn_pre_nms_top_n_test": 100,
            "rpn_post_nms_top_n_test": 50,
            "rpn_batch_size_per_image": 32,
            "box_batch_size_per_image": 32,
        },
    },
    "recipe": {"epochs": 1, "batch_size": 4, "optimizer": {"name": "sgd", "lr": 0.01}, "grad_clip": 10.0},
    "claimed": {"ap": {"value": 0.1}},
}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(TINY_SPEC))
    return load_spec(path)


@pytest.mark.parametrize("edition", ["2021", "2023"])
def test_training_labels_come_from_the_editions_train_file(bikes, edition):
    """2023 reads new_train_annotations.json; 2021's is the val dict (the bug), so the original
    file labels the train images; either way the same images and boxes."""
    subset = bikes[edition]["subset"]
    document = split_document(subset, "train")
    assert [i["file_name"] for i in document["images"]] == sorted(os.listdir(subset / "train"))
    assert document == split_document(bikes["2023"]["subset"], "train")
    val = split_document(subset, "val")
    assert len(val["images"]) == read_manifest(subset)["valset_size"] and val["annotations"]


def test_train_predict_and_score(task, bikes, spec, tmp_path):
    data = bikes["2023"]
    with FileAccessRecorder() as opened:
        run = engine.TrainingRun(task=task, spec=spec, subset_dir=data["subset"], seed=0)
        final = engine.train(run, tmp_path / "model.pt", tmp_path / "state")
    audit = audit_opened_files(opened.paths, data["subset"], read_manifest(data["subset"]), ["train"], forbidden=[data["hidden"]])
    assert audit["passed"], audit["violations"]
    assert "val_ap" in final["history"][-1]
    model, _ = engine.load_trained_model(task, tmp_path / "model.pt", data["subset"], torch.device("cpu"))
    assert model.roi_heads.box_predictor.cls_score.out_features == 23
    summary = task.predict([model], data["subset"], spec["recipe"], tmp_path / "submission.zip", device=torch.device("cpu"), workers=0)
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        assert archive.namelist() == ["submission.json"]
        rows = json.loads(archive.read("submission.json"))
    assert summary["images"] == len(os.listdir(data["subset"] / "test")) and len(rows) == summary["detections"]
    assert {r["image_id"] for r in rows} <= set(range(summary["images"])) and all(1 <= r["category_id"] <= 22 for r in rows)
    assert task.validate(data["gt"], tmp_path / "submission.zip", {}) == []
    for mode in ("strict", "official"):
        scores = task.score(data["gt"], tmp_path / "submission.zip", tmp_path / mode, mode=mode, options={})
        assert 0 <= scores["ap"] <= 1
    shown, note = task.figure_data("examples", data["gt"], tmp_path / "submission.zip", data["subset"])
    assert shown and shown[0].panels[0].shape[1] >= 320 and "absent ones are not counted" in note
    val_gt = task.write_val_ground_truth(data["subset"], tmp_path / "val_gt")
    assert val_gt == task.val_ground_truth(tmp_path / "val_gt")
    task.predict([model], data["subset"], spec["recipe"], tmp_path / "val.zip", device=torch.device("cpu"), workers=0, split="val")
    assert task.validate(val_gt, tmp_path / "val.zip", {}) == []
