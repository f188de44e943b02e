"""A tiny synthetic COCO (made once per session), its subset, and a valid submission."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from detection_helpers import TINY, noisy_detections, read_json, write_json
from testutils import one_thread, tiny_dataset

from viprepro.tasks import get_task

_one_thread = pytest.fixture(autouse=True)(one_thread)


@pytest.fixture(scope="session")
def task():
    return get_task("detection")


@pytest.fixture(scope="session")
def coco(tmp_path_factory, task):
    """{'root', 'source', 'manifests', 'subset', 'hidden', 'gt'} of the tiny dataset (read only)."""
    root = tmp_path_factory.mktemp("coco")
    return tiny_dataset(task, root, TINY)


@pytest.fixture(scope="session")
def gt_doc(coco) -> dict:
    return read_json(coco["gt"])


@pytest.fixture
def good_submission(gt_doc, tmp_path) -> Path:
    return write_json(tmp_path / "submission.json", noisy_detections(gt_doc, seed=1))


@pytest.fixture
def manifests_copy(coco, tmp_path) -> Path:
    """A private copy of the manifests, for tests that break them."""
    return Path(shutil.copytree(coco["manifests"], tmp_path / "manifests"))
