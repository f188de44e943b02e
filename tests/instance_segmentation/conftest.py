"""A tiny synthetic basketball set (made once per session), its subset, and valid submissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from instance_segmentation_helpers import TINY, noisy_instances, read_json, write_zip
from testutils import one_thread, tiny_dataset

from viprepro.tasks import get_task

_one_thread = pytest.fixture(autouse=True)(one_thread)


@pytest.fixture(scope="session")
def task():
    return get_task("instance_segmentation")


@pytest.fixture(scope="session")
def courts(tmp_path_factory, task):
    """{'root', 'source', 'manifests', 'subset', 'hidden', 'gt'} of the tiny dataset (read only)."""
    return tiny_dataset(task, tmp_path_factory.mktemp("courts"), TINY)


@pytest.fixture(scope="session")
def gt_doc(courts) -> dict:
    return read_json(courts["gt"])


@pytest.fixture
def good_submission(gt_doc, tmp_path) -> Path:
    return write_zip(tmp_path / "submission.zip", noisy_instances(gt_doc, seed=1))
