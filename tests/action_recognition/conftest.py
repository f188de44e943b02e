"""A tiny synthetic UCF-101 and its mod-UCF101 subset, made once per session (read only)."""

from __future__ import annotations

import pytest
from action_recognition_helpers import TINY
from testutils import tiny_dataset

from viprepro.tasks import get_task


@pytest.fixture(scope="session")
def task():
    return get_task("action_recognition")


@pytest.fixture(scope="session")
def ucf(tmp_path_factory, task):
    """{'root', 'source', 'manifests', 'subset', 'hidden', 'gt'} of the tiny dataset."""
    root = tmp_path_factory.mktemp("ucf")
    return tiny_dataset(task, root, TINY)
