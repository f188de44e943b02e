"""Models from scratch, the baseline's crop, training through the engine, the distance matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from testutils import REPO

from viprepro.files.schemas_io import validate
from viprepro.specs.load import load_spec
from viprepro.specs.scale import at_scale
from viprepro.tasks.reidentification import data, models, predict
from viprepro.tasks.reidentification.layout import read_identities
from viprepro.training import engine

SPEC = {
    "name": "reid_e2e",
    "task": "reidentification",
    "model": {"name": "small_reid", "kwargs": {"widths": [8, 16], "num_features": 16}},
    "recipe": {
        "epochs": 1,
        "batch_size": 4,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "input_height": 24,
        "input_width": 12,
    },
    "claimed": {"map": {"value": 0.5}},
}


def test_open_reid_resnet_is_built_from_scratch_with_its_init():
    torch.manual_seed(0)
    model = models.openreid_resnet(10, depth=18, num_features=32, dropout=0.5)
    assert not hasattr(model.base, "fc") and model.classifier.out_features == 10
    assert model.classifier.weight.std().item() == pytest.approx(0.001, rel=0.2)
    assert model.feat.weight.std().item() == pytest.approx(0.001, rel=0.2)  # reset_params covers the embedding too
    assert torch.all(model.feat_bn.weight == 1) and torch.all(model.base[1].weight == 1)
    model.eval()
    x = torch.randn(2, 3, 64, 32)
    assert model.features(x).shape == (2, 10)  # Open-ReID's features: the logits
    model.feature = "embedding"
    assert model.features(x).shape == (2, 32)


def test_resnet50_has_the_baseline_shape():
    model = models.build("openreid_resnet", 486, depth=50, num_features=128, dropout=0.5)
    assert model.feat.in_features == 2048 and model.feat.out_features == 128 and model.classifier.out_features == 486


def test_random_sized_rect_crop_gives_the_size_and_follows_the_seed():
    image = torch.randint(0, 256, (3, 80, 40), dtype=torch.uint8)
    crop = data.RandomSizedRectCrop(32, 16)
    torch.manual_seed(1)
    first = crop(image)
    torch.manual_seed(1)
    assert first.shape == (3, 32, 16) and torch.equal(first, crop(image))
    assert crop(torch.zeros(3, 10, 40, dtype=torch.uint8)).shape == (3, 32, 16)  # too wide for aspect 2-3: plain resize


def test_identities_are_train_then_val(reid):
    labelled = data.identities(reid["subset"])
    train = sorted({int(p.name.split("_")[0]) for p in (reid["subset"] / "reid_training").iterdir()})
    assert labelled[: len(train)] == train and len(labelled) == len(train) + 2


def test_train_predict_and_score_end_to_end(task, reid, tmp_path):
    spec = {**SPEC, "recipe": dict(SPEC["recipe"])}
    validate(spec["recipe"], "recipe.reidentification.schema.yaml")
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=reid["subset"], seed=0, identity={"spec": "reid_e2e"})
    final = engine.train(run, tmp_path / "a" / "model.pt", tmp_path / "a" / "state")
    assert {"val_map", "val_cmc1", "val_cmc5", "val_cmc10"} <= set(final["history"][-1])
    model, _ = engine.load_trained_model(task, tmp_path / "a" / "model.pt", reid["subset"], torch.device("cpu"))
    cpu = torch.device("cpu")
    one = tmp_path / "one.csv"
    task.predict([model], reid["subset"], spec["recipe"], one, device=cpu, workers=0)
    two = tmp_path / "two.csv"
    summary = task.predict([model, model], reid["subset"], spec["recipe"], two, device=cpu, workers=0)
    assert summary["members"] == 2 and one.read_bytes() == two.read_bytes()  # the mean of equal distance matrices
    assert task.validate(reid["gt"], one, {}) == []
    strict = task.score(reid["gt"], one, tmp_path / "strict", mode="strict", options={})
    assert 0.0 < strict["map"] <= 1.0 and strict["cmc1"] <= strict["cmc5"] <= strict["cmc10"]

    val_gt = task.write_val_ground_truth(reid["subset"], tmp_path / "val_gt")
    val = tmp_path / "val.csv"
    task.predict([model], reid["subset"], spec["recipe"], val, device=cpu, workers=0, split="val")
    assert task.validate(val_gt, val, {}) == []
    header = val.read_text().splitlines()[0].split(",")
    assert [int(i) for i in header[1:]] == read_identities(val_gt).ids["gallery"]  # person ids, as distance_matrix_val.csv


def test_squared_distances_are_open_reids():
    q, g = torch.randn(3, 5), torch.randn(4, 5)
    expected = ((q.double()[:, None, :] - g.double()[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(predict.squared_distances(q, g).numpy(), expected.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_the_baseline_spec_runs_at_smoke_scale(task, reid, tmp_path):
    """The Open-ReID ResNet-50 recipe, shrunk to a CPU run: every code path of the full spec."""
    spec = at_scale(load_spec(REPO / "config/submissions/reidentification_resnet50_baseline.yaml"), "smoke")
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=reid["subset"], seed=1, identity={"spec": "smoke"})
    engine.train(run, tmp_path / "model.pt", tmp_path / "state")
    model, _ = engine.load_trained_model(task, tmp_path / "model.pt", reid["subset"], torch.device("cpu"))
    task.predict([model], reid["subset"], spec["recipe"], tmp_path / "submission.csv", device=torch.device("cpu"), workers=0)
    assert task.score(reid["gt"], tmp_path / "submission.csv", tmp_path / "scores", mode="strict", options={})["map"] > 0
