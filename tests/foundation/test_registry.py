"""The light registry the Snakefile reads agrees with the task objects."""

from __future__ import annotations

import pytest

from viprepro.tasks import METRIC_KEYS, SUBMISSION_FILES, TASK_NAMES, get_task


@pytest.mark.parametrize("name", TASK_NAMES)
def test_registry_matches_task(name):
    task = get_task(name)
    assert task.name == name
    assert METRIC_KEYS[name] == tuple(m.key for m in task.metrics)
    assert SUBMISSION_FILES[name] == task.submission_filename
    assert task.val_metric in METRIC_KEYS[name]
