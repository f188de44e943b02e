"""Every task draws its declared score figures through the one interface (`figure_data`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from testutils import REPO, SMOKE_DATASETS, one_thread, tiny_dataset

from viprepro.report import examples
from viprepro.specs.load import load_spec
from viprepro.specs.scale import at_scale
from viprepro.tasks import get_task

_one_thread = pytest.fixture(autouse=True)(one_thread)

SPECS = {"segmentation": "segmentation_tiny_cpu", "detection": "detection_tiny_cpu", "action_recognition": "action_recognition_tiny_cpu"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_declared_figures_are_drawn(name, tmp_path):
    task = get_task(name)
    data = tiny_dataset(task, tmp_path, SMOKE_DATASETS[name])
    spec = at_scale(load_spec(REPO / "config/submissions" / f"{SPECS[name]}.yaml"), "smoke")
    torch.manual_seed(0)
    model = task.build_model(spec["model"], data["subset"]).eval()
    submission = tmp_path / task.submission_filename
    task.predict([model], data["subset"], spec["recipe"], submission, device=torch.device("cpu"), workers=0)
    drawn = examples.render(name, data["gt"], submission, data["subset"], tmp_path / "figures")
    assert set(drawn) == set(task.figure_kinds)
    for kind, made in drawn.items():
        assert "file" in made, (kind, made)
        assert (tmp_path / "figures" / made["file"]).stat().st_size > 0


def test_a_kind_a_task_does_not_declare_is_refused():
    with pytest.raises(KeyError, match="draws no figure 'confusion_matrix'"):
        get_task("detection").figure_data("confusion_matrix", Path("gt"), Path("sub"), Path("subset"))
