"""The declaration is complete and torch-free, and so is the whole scoring path (score,
validate, the examples figure) on real files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from viprepro.tasks import get_task, task_names
from viprepro.tasks.reidentification.layout import read_identities
from viprepro.tasks.reidentification.submission import write_matrix

SCRIPT = """
import json, sys
from pathlib import Path
from viprepro.tasks import get_task
task = get_task("reidentification")
task.metric_keys, task.schema("recipe"), task.schema("synthetic"), task.figure_kinds
gt, sub, subset, out = map(Path, sys.argv[1:5])
task.validate(gt, sub, {})
task.score(gt, sub, out, mode="strict", options={})
task.score(gt, sub, out, mode="official", options={"edition": "2021"})
examples, _ = task.figure_data("examples", gt, sub, subset)
assert examples
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchvision", "pandas"})))
"""


def test_declaration():
    task = get_task("reidentification")
    assert "reidentification" in task_names()
    assert task.metric_keys == ("map", "cmc1", "cmc5", "cmc10") and task.val_metric == "map"
    assert task.submission_filename == "submission.csv" and task.figure_kinds == ("examples",)
    assert task.editions == {"2021": "1d8b23703e17c14dab9899b986827dd01c583b59"} and task.default_edition == "2021"


def test_scoring_path_imports_no_torch(reid, tmp_path):
    truth = read_identities(reid["gt"])
    q, g = np.array(truth.person_ids["query"]), np.array(truth.person_ids["gallery"])
    sub = tmp_path / "submission.csv"
    write_matrix(sub, (q[:, None] != g[None, :]).astype(float), truth.ids["query"], truth.ids["gallery"])
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(reid["gt"]), str(sub), str(reid["subset"]), str(tmp_path / "scores")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []
