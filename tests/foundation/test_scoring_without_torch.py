"""Scoring keeps torch out of the process (the promise of jobs.py and tasks/base.py), per task.

Each task's whole scoring path is loaded in a fresh interpreter, as a score job does: the
task, its score options, its scorer (called on missing files, so that the code behind
`Task.score`, `Task.validate` and the figure readers is imported and run up to the first
read), the figure module, the command line. torch and torchvision must stay out (PyAV may load: clip frames are drawn).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import viprepro.tasks
from viprepro.tasks import get_task

#: viprepro's own tasks: every package under viprepro/tasks (2020 and the later editions), found as the registry finds them
OWN = tuple(sorted(p.parent.name for p in (Path(viprepro.tasks.__file__).parent).glob("*/__init__.py")))
HEAVY = ("torch", "torchvision")

SCRIPT = f"""
import argparse, json, sys
from pathlib import Path
from viprepro import cli
from viprepro.jobs import step as jobs
from viprepro.report import examples
from viprepro.tasks import get_task

task = get_task(sys.argv[1])
parser = argparse.ArgumentParser()
task.add_score_arguments(parser)
options = vars(parser.parse_args([]))
missing = Path(sys.argv[2])
for call in (lambda: task.score(missing / "gt", missing / "sub", missing / "out", mode="strict", options=options),
             lambda: task.validate(missing / "gt", missing / "sub", options)):
    try:
        call()
    except Exception:
        pass
for kind in task.figure_kinds:
    try:
        task.figure_data(kind, missing / "gt", missing / "sub", missing / "subset")
    except Exception:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


@pytest.mark.parametrize("name", OWN)
def test_scoring_path_imports_no_torch(name, tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, name, str(tmp_path / "missing")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_the_guard_sees_torch_when_a_task_loads_it(tmp_path):
    """The check fails when it should: a task whose scorer imports torch is caught."""
    (tmp_path / "heavytask.py").write_text(
        "from viprepro.tasks.classification import Classification\n"
        "class Heavy(Classification):\n"
        "    name = 'heavy'\n"
        "    def score(self, *args, **kwargs):\n"
        "        import torch\n"
        "TASK = Heavy()\n"
    )
    env = {"PYTHONPATH": f"{tmp_path}:{':'.join(sys.path)}", "VIPREPRO_TASK_PACKAGES": json.dumps({"heavy": "heavytask"})}
    out = subprocess.run([sys.executable, "-c", SCRIPT, "heavy", str(tmp_path / "missing")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "torch" in json.loads(out.stdout.splitlines()[-1])


def test_cityscapes_label_table_is_torchvisions():
    """Scoring reads the label table without torchvision: it must be the official one."""
    from torchvision.datasets import Cityscapes

    from viprepro.tasks.segmentation.labels import CLASSES

    assert [tuple(c) for c in CLASSES] == [tuple(c) for c in Cityscapes.classes]


def test_registry_schema_names_resolve_to_task_packages():
    """Old schema names (config/schemas/recipe.<task>.schema.yaml) are the task's own files."""
    from viprepro.files.schemas_io import load_schema

    for name in OWN:
        assert load_schema(f"recipe.{name}.schema.yaml") == load_schema(get_task(name).schema("recipe"))
