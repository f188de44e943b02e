"""Jobs that never run a model do not pay for importing torch (seconds per job, ~100 jobs a run)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TORCH_FREE_TASKS = ("classification", "segmentation", "detection", "action_recognition")


@pytest.mark.parametrize("task", TORCH_FREE_TASKS)
def test_task_registry_imports_no_torch(task):
    code = (f"import sys; from viprepro.tasks import get_task; t = get_task({task!r}); t.hidden_ground_truth('.'); "
            "print(' '.join(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "", f"importing the {task} task loaded {result.stdout.strip()}"


def test_the_model_side_still_loads_torch():
    code = ("import sys; from viprepro.tasks import get_task; t = get_task('classification'); "
            "t.build_model({'name': 'resnet_small', 'kwargs': {'width': 8, 'depth': 1}}, sys.argv[1]); print('torch' in sys.modules)")
    # build_model reads the class folders of a subset: give it one with two classes
    with tempfile.TemporaryDirectory() as subset:
        for wnid in ("n01", "n02"):
            (Path(subset) / "train" / wnid).mkdir(parents=True)
        result = subprocess.run([sys.executable, "-c", code, subset], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "True"


def test_segmentation_label_table_is_cityscapes_scripts():
    from torchvision.datasets import Cityscapes

    from viprepro.tasks.segmentation.labels import LABELS

    assert [tuple(c) for c in LABELS] == [tuple(c) for c in Cityscapes.classes if c.id >= 0]
