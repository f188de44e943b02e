"""The task is found as a package, declares itself completely and without torch, and names
its editions by full toolkit commits."""

from __future__ import annotations

import json
import subprocess
import sys

from viprepro.tasks import get_task, task_names


def test_declaration_is_complete():
    assert "instance_segmentation" in task_names()
    task = get_task("instance_segmentation")
    assert task.main_metric.key == "ap" and task.val_metric in task.metric_keys
    assert task.submission_filename == "submission.zip" and task.per_class.key == "per_category_ap"
    assert task.figure_kinds == ("examples",) and set(task.model_names.own) == {"maskrcnn_resnet50_fpn", "maskrcnn_small_fpn"}
    for kind in ("recipe", "synthetic"):
        assert task.schema(kind).is_file()
    assert task.default_edition == max(task.editions)
    assert all(len(commit) == 40 and int(commit, 16) >= 0 for commit in task.editions.values())


def test_the_declaration_imports_no_torch():
    code = (
        "import sys, json\nfrom viprepro.tasks import get_task\n"
        "t = get_task('instance_segmentation'); t.metric_keys; t.schema('recipe'); t.per_class; t.figure_kinds; t.editions\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not {"torch", "torchvision", "pycocotools"} & set(json.loads(out.stdout.splitlines()[-1]))


def test_shipped_specs():
    from testutils import REPO

    from viprepro.specs.load import load_spec

    tiny = load_spec(REPO / "config/submissions/instance_segmentation_tiny_cpu.yaml")
    assert tiny["embedded_default"] and list(tiny["claimed"]) == ["ap"] and "seeds 0-4" in tiny["environment"]["measured"]
    baseline = load_spec(REPO / "config/submissions/instance_segmentation_maskrcnn_r50_baseline.yaml")
    assert baseline["model"]["name"] == "maskrcnn_resnet50_fpn" and baseline["recipe"]["batch_size"] == 10
    assert baseline["recipe"]["optimizer"]["lr"] == 0.0001 and any("placeholder" in u for u in baseline["unknowns"])
