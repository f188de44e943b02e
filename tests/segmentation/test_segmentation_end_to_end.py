"""Through the Task interface: synthesize -> subset -> engine.train -> predict -> score."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from viprepro.files.schemas_io import validate
from viprepro.training import engine

SPEC = {
    "name": "segmentation_e2e_test",
    "task": "segmentation",
    "model": {"name": "unet", "kwargs": {"width": 4}},
    "recipe": {
        "epochs": 2,
        "batch_size": 4,
        "optimizer": {"name": "adam", "lr": 0.01},
        "train_size": [24, 48],
        "crop_size": None,
        "test_size": [24, 48],
        "scale_jitter": 0.1,
        "color_jitter": 0.1,
        "upsample": "bilinear",
        "cache_decoded": True,
    },
    "claimed": {"iou_class": {"value": 0.1}},
}


def _train(task, minicity, folder):
    spec = {**SPEC, "recipe": dict(SPEC["recipe"])}
    validate(spec, "submission.schema.yaml")
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=minicity["subset"], seed=0, identity={"test": 1})
    final = engine.train(run, folder / "model.pt", folder / "state")
    return spec, final


@pytest.mark.slow
def test_end_to_end_through_the_task_interface(task, minicity, tmp_path):
    spec, final = _train(task, minicity, tmp_path / "a")
    assert [round(h["epoch"]) for h in final["history"]] == [1, 2] and "val_iou_class" in final["history"][-1]
    _, again = _train(task, minicity, tmp_path / "b")
    assert again["final_weights_digest"] == final["final_weights_digest"]  # same seed, same weights

    model, _ = engine.load_trained_model(task, tmp_path / "a" / "model.pt", minicity["subset"], torch.device("cpu"))
    summary = task.predict(
        [model, model], minicity["subset"], spec["recipe"], tmp_path / "submission.zip", device=torch.device("cpu"), workers=0
    )
    assert summary["images"] == 4 and summary["members"] == 2
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        names = archive.namelist()
        first = Image.open(archive.open(names[0]))
        assert first.mode == "L" and first.size == (96, 48) and np.asarray(first).max() <= 33
    assert sorted(names) == sorted(p.name for p in (minicity["subset"] / "leftImg8bit" / "test").iterdir())
    time.sleep(2.1)  # a zip member's time stamp has a 2 s resolution
    task.predict([model, model], minicity["subset"], spec["recipe"], tmp_path / "again.zip", device=torch.device("cpu"), workers=0)
    assert (tmp_path / "again.zip").read_bytes() == (tmp_path / "submission.zip").read_bytes()  # byte-identical reruns

    gt = task.hidden_ground_truth(minicity["hidden"])
    assert task.validate(gt, tmp_path / "submission.zip", {}) == []
    strict = task.score(gt, tmp_path / "submission.zip", tmp_path / "strict", mode="strict", options={})
    official = task.score(gt, tmp_path / "submission.zip", tmp_path / "official", mode="official", options={})
    assert {k: v for k, v in strict.items() if k != "mode"} == {k: v for k, v in official.items() if k != "mode"}
    assert 0.0 <= strict["iou_class"] <= 1.0 and (tmp_path / "official" / "results.txt").is_file()
