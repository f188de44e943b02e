"""A tiny synthetic MiniCity (made once per session) and helpers to build submission zips."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from segmentation_helpers import ground_truth_by_int, perturbed, png
from testutils import tiny_dataset

from viprepro.tasks import get_task

TINY = {"width": 96, "height": 48, "train_images": 8, "val_images": 3, "test_images": 4, "unused_images": 1}


@pytest.fixture(scope="session")
def task():
    return get_task("segmentation")


@pytest.fixture(scope="session")
def minicity(tmp_path_factory, task):
    """{'root', 'source', 'manifests', 'subset', 'hidden', 'gt'} of the tiny dataset (read only)."""
    root = tmp_path_factory.mktemp("minicity")
    return tiny_dataset(task, root, TINY)


@pytest.fixture
def good_members(minicity) -> dict[str, bytes]:
    """A valid `<int>.png` submission (perturbed ground truth), as zip members."""
    rng = np.random.default_rng(7)
    return {f"{number}.png": png(perturbed(gt, rng)) for number, gt in ground_truth_by_int(minicity["hidden"]).items()}


@pytest.fixture
def hidden_copy(minicity, tmp_path) -> Path:
    """A private copy of the hidden folder, for tests that edit it."""
    return Path(shutil.copytree(minicity["hidden"], tmp_path / "hidden"))
