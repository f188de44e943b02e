"""A tiny synthetic ImageNet and its subset, made once per test session."""

from __future__ import annotations

import pytest

from viprepro.tasks import get_task

TINY = {"classes": 4, "subset_per_class": 6, "extra_train_per_class": 1, "val_per_class": 4, "image_size": 32}


@pytest.fixture(scope="session")
def task():
    return get_task("classification")


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory, task):
    out = tmp_path_factory.mktemp("imagenet") / "synthetic"
    return task.synthesize(out, seed=3, options=dict(TINY))


@pytest.fixture(scope="session")
def subset(tmp_path_factory, task, synthetic):
    root = tmp_path_factory.mktemp("subset")
    return task.subset(synthetic["source"], synthetic["manifests"], root / "imagenet_50", root / "hidden", link="hardlink", options={})
