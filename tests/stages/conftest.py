"""A tiny synthetic ImageNet, its subset, and a three-stage spec trained on it (pretext -> supervised -> distill)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from viprepro.specs.load import load_spec
from viprepro.tasks import get_task

TINY = {"classes": 3, "subset_per_class": 6, "extra_train_per_class": 1, "val_per_class": 3, "image_size": 24}
RECIPE = {"epochs": 2, "batch_size": 6, "input_size": 16, "cache_decoded": True, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
SPEC = {
    "name": "three_stage",
    "task": "classification",
    "model": {"name": "resnet_small", "kwargs": {"width": 4, "depth": 1}},
    "stages": [
        {"name": "ssl", "kind": "pretext", "recipe": {**RECIPE, "pretext": {"name": "rotation"}}},
        {"name": "finetune", "kind": "supervised", "init": {"from": "ssl", "lr_multipliers": {"head": 2.0}}, "recipe": RECIPE},
        {
            "name": "student",
            "kind": "distill",
            "teacher": {"from": "finetune"},
            "distill": {"label_weight": 0.5, "kd_weight": 0.5, "kd_temperature": 2.0},
            "recipe": RECIPE,
        },
    ],
    "claimed": {"top1": {"value": 0.5}},
}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def task():
    return get_task("classification")


@pytest.fixture(scope="session")
def subset(tmp_path_factory, task):
    root = tmp_path_factory.mktemp("stages_data")
    made = task.synthesize(root / "synthetic", seed=5, options=dict(TINY))
    return task.subset(made["source"], made["manifests"], root / "subset", root / "hidden", link="hardlink", options={})


@pytest.fixture(scope="session")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("stages_spec") / "three_stage.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(SPEC))))
    return path


@pytest.fixture(scope="session")
def spec(spec_path):
    return load_spec(spec_path)


@pytest.fixture
def fresh_spec(spec):
    return copy.deepcopy(spec)
