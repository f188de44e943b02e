"""Tiny synthetic datasets of every task, made once per session (read only)."""

from __future__ import annotations

import pytest
import torch
from testutils import SMOKE_DATASETS, tiny_dataset

from viprepro.tasks import get_task


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def datasets(tmp_path_factory):
    """A function task name -> {'subset', 'hidden', 'gt', ...}, each made on first use."""
    made = {}

    def get(name: str) -> dict:
        if name not in made:
            made[name] = tiny_dataset(get_task(name), tmp_path_factory.mktemp(name), SMOKE_DATASETS[name])
        return made[name]

    return get
