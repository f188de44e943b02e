"""A tiny synthetic Kinetics400ViPriors (edition 2022) and its subset, made once per session (read only)."""

from __future__ import annotations

import pytest
from kinetics_helpers import TINY
from testutils import tiny_dataset

from viprepro.tasks import get_task


@pytest.fixture(scope="session")
def task():
    return get_task("action_recognition_kinetics")


@pytest.fixture(scope="session")
def kinetics(tmp_path_factory, task):
    """{'root', 'source', 'manifests', 'subset', 'hidden', 'gt'} of the tiny 2022 dataset."""
    return tiny_dataset(task, tmp_path_factory.mktemp("kinetics"), TINY)
