"""Tiny synthetic datasets of every task, made once per session (read only)."""

from __future__ import annotations

import pytest
from testutils import SMOKE_DATASETS, one_thread, tiny_dataset

from viprepro.tasks import get_task

_one_thread = pytest.fixture(autouse=True)(one_thread)


@pytest.fixture(scope="session")
def datasets(tmp_path_factory):
    """A function task name -> {'subset', 'hidden', 'gt', ...}, each made on first use."""
    made = {}

    def get(name: str) -> dict:
        if name not in made:
            made[name] = tiny_dataset(get_task(name), tmp_path_factory.mktemp(name), SMOKE_DATASETS[name])
        return made[name]

    return get
