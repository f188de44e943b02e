"""A tiny synthetic SynergyReID and its subset, made once per session (read only)."""

from __future__ import annotations

import pytest
from reidentification_helpers import TINY
from testutils import tiny_dataset

from viprepro.tasks import get_task


@pytest.fixture(scope="session")
def task():
    return get_task("reidentification")


@pytest.fixture(scope="session")
def reid(tmp_path_factory, task):
    """{'root', 'source', 'manifests', 'subset', 'hidden', 'gt'} of the tiny dataset."""
    return tiny_dataset(task, tmp_path_factory.mktemp("reid"), TINY)
