"""Tiny datasets of the four tasks and a valid submission of each (made once per session)."""

from __future__ import annotations

import pytest
from hostile_helpers import TINY, valid_submission
from testutils import tiny_dataset

from viprepro.files.schemas_io import validate as validate_schema
from viprepro.tasks import get_task

TASKS = ("classification", "detection", "segmentation", "action_recognition")


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> dict:
    """task name -> {'task', 'gt', 'hidden', 'valid'}; built on first use of each task."""
    made = {}

    class Lazy(dict):
        def __missing__(self, name):
            task = get_task(name)
            root = tmp_path_factory.mktemp(name)
            options = dict(TINY[name])
            if name == "detection":
                validate_schema(options, "synthetic.detection.schema.yaml")
            data = tiny_dataset(task, root, options)
            made[name] = {**data, "task": task, "valid": valid_submission(name, data, root)}
            return made[name]

    return Lazy()
