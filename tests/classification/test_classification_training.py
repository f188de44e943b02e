"""Training is deterministic on the CPU and a killed run resumes to the same weights."""

from __future__ import annotations

import copy

import pytest
import torch

from viprepro.jobs.determinism import apply_level
from viprepro.specs.load import load_spec
from viprepro.training import checkpoint, engine

SPEC = {
    "name": "tiny",
    "task": "classification",
    "model": {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}},
    "ensemble": 1,
    "seed": 0,
    "recipe": {
        "epochs": 3,
        "batch_size": 8,
        "input_size": 24,
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4},
        "lr_schedule": {"name": "cosine", "warmup_epochs": 0.5},
        "loss": {"name": "cross_entropy", "label_smoothing": 0.1},
        "augment": {
            "random_resized_crop": True,
            "hflip": True,
            "randaugment": {"num_ops": 1, "magnitude": 5},
            "mixup_alpha": 0.2,
            "cutmix_alpha": 1.0,
        },
    },
    "claimed": {"top1": {"value": 0.5}},
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    import yaml

    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return load_spec(path)


def make_run(task, spec, subset, seed=0):
    apply_level("strict")
    torch.set_num_threads(1)
    return engine.TrainingRun(
        task=task, spec=copy.deepcopy(spec), subset_dir=subset.subset_dir, seed=seed, identity={"spec": spec["name"], "seed": seed}
    )


def test_same_seed_gives_bit_identical_weights(tmp_path, task, spec, subset):
    first = engine.train(make_run(task, spec, subset), tmp_path / "a.pt", tmp_path / "state_a")
    second = engine.train(make_run(task, spec, subset), tmp_path / "b.pt", tmp_path / "state_b")
    assert first["final_weights_digest"] == second["final_weights_digest"]
    assert [h["train_loss"] for h in first["history"]] == [h["train_loss"] for h in second["history"]]
    other = engine.train(make_run(task, spec, subset, seed=1), tmp_path / "c.pt", tmp_path / "state_c")
    assert other["final_weights_digest"] != first["final_weights_digest"]


def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path, task, spec, subset):
    uninterrupted = engine.train(make_run(task, spec, subset), tmp_path / "full.pt", tmp_path / "state_full")
    with pytest.raises(KeyboardInterrupt):
        engine.train(make_run(task, spec, subset), tmp_path / "resumed.pt", tmp_path / "state", stop_after_epoch=1)
    assert not (tmp_path / "resumed.pt").exists()
    assert checkpoint.load(tmp_path / "state" / "last.pt")["epoch"] == 0
    resumed = engine.train(make_run(task, spec, subset), tmp_path / "resumed.pt", tmp_path / "state")
    assert resumed["final_weights_digest"] == uninterrupted["final_weights_digest"]
    losses = [(h["epoch"], h["train_loss"], h["val_top1"]) for h in resumed["history"]]
    assert losses == [(h["epoch"], h["train_loss"], h["val_top1"]) for h in uninterrupted["history"]]


def test_state_of_another_run_is_not_resumed(tmp_path, task, spec, subset):
    with pytest.raises(KeyboardInterrupt):
        engine.train(make_run(task, spec, subset, seed=5), tmp_path / "x.pt", tmp_path / "state", stop_after_epoch=1)
    fresh = engine.train(make_run(task, spec, subset), tmp_path / "y.pt", tmp_path / "state")
    reference = engine.train(make_run(task, spec, subset), tmp_path / "z.pt", tmp_path / "state_ref")
    assert fresh["final_weights_digest"] == reference["final_weights_digest"]


def test_final_checkpoint_loads_with_weights_only_and_predicts(tmp_path, task, spec, subset):
    engine.train(make_run(task, spec, subset), tmp_path / "m.pt", tmp_path / "state")
    model, state = engine.load_trained_model(task, tmp_path / "m.pt", subset.subset_dir, torch.device("cpu"))
    assert state["initial_weights_digest"] != state["final_weights_digest"]
    out = tmp_path / "submission.csv"
    summary = task.predict([model, model], subset.subset_dir, spec["recipe"], out, device=torch.device("cpu"), workers=0)
    lines = out.read_text().splitlines()
    assert lines[0] == "Image IDs,Predictions" and len(lines) == summary["images"] + 1
    assert task.validate(task.hidden_ground_truth(subset.hidden_dir), out, {}) == []
