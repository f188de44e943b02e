"""A tiny synthetic DelftBikes (made once per session), its subsets per edition, and submissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from delft_helpers import TINY, read_json, shifted_detections, write_zip
from testutils import one_thread

from viprepro.tasks import get_task

_one_thread = pytest.fixture(autouse=True)(one_thread)


@pytest.fixture(scope="session")
def task():
    return get_task("detection_delftbikes")


@pytest.fixture(scope="session")
def synth(tmp_path_factory, task) -> dict:
    """{'source', 'manifests'} of the tiny dataset (read only)."""
    return task.synthesize(tmp_path_factory.mktemp("delft") / "synth", seed=0, options=dict(TINY))


@pytest.fixture(scope="session")
def bikes(tmp_path_factory, task, synth) -> dict:
    """Per edition: {'subset', 'hidden', 'gt'} of the tiny dataset's official arrangement."""
    root = tmp_path_factory.mktemp("delft_subsets")
    made = {}
    for edition in ("2021", "2022", "2023"):
        subset, hidden = root / edition / "subset", root / edition / "hidden"
        task.subset(synth["source"], synth["manifests"], subset, hidden, link="hardlink", options={"edition": edition})
        made[edition] = {"subset": subset, "hidden": hidden, "gt": task.hidden_ground_truth(hidden)}
    return made


@pytest.fixture(scope="session")
def gt_path(bikes) -> Path:
    return bikes["2023"]["gt"]


@pytest.fixture(scope="session")
def gt_doc(gt_path) -> dict:
    return read_json(gt_path)


@pytest.fixture
def good_submission(gt_doc, tmp_path) -> Path:
    return write_zip(tmp_path / "submission.zip", shifted_detections(gt_doc, seed=1))
