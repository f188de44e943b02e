"""Tasks are packages: found without a list, declared without torch, refused when unknown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import viprepro.tasks
from viprepro.errors import UserError
from viprepro.tasks import PACKAGES_ENV, configure, get_task, task_names

#: viprepro's own tasks: every package under viprepro/tasks (2020 and the later editions), found as the registry finds them
OWN = tuple(sorted(p.parent.name for p in (Path(viprepro.tasks.__file__).parent).glob("*/__init__.py")))


def test_own_tasks_are_found_as_packages():
    assert set(OWN) <= set(task_names())


@pytest.mark.parametrize("name", OWN)
def test_declaration_is_complete(name):
    task = get_task(name)
    assert task.name == name
    assert task.metric_keys == tuple(m.key for m in task.metrics) and task.main_metric.key == task.metric_keys[0]
    assert task.val_metric in task.metric_keys
    assert task.submission_filename.startswith("submission.")
    assert task.model_names.own
    assert task.per_class is not None or name == "reidentification"  # identities differ between splits: no per-class score
    assert set(task.figure_kinds) <= {"examples", "confusion_matrix"}
    for kind in ("recipe", "synthetic"):
        assert task.schema(kind).is_file()


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_declarations_import_no_torch():
    """What the Snakefile, spec loading and `viprepro score` read of every task costs no torch."""
    names = json.dumps(list(OWN))
    modules = _imported_after(
        f"from viprepro.tasks import get_task\n"
        f"for n in {names}:\n"
        f"    t = get_task(n); t.metric_keys; t.schema('recipe'); t.per_class; t.figure_kinds"
    )
    assert not {"torch", "torchvision", "av", "pandas"} & modules


def test_unknown_task_is_refused_naming_it():
    with pytest.raises(UserError, match="unknown task 'clasification'"):
        get_task("clasification")


def test_config_refuses_unknown_task_and_dataset():
    with pytest.raises(UserError, match=r"config key 'tasks'.*unknown task 'segmentaton'"):
        configure({"tasks": ["segmentaton"], "datasets": {}})
    with pytest.raises(UserError, match=r"datasets.detecton"):
        configure({"tasks": ["detection"], "datasets": {"detecton": {}}})


def test_config_fills_the_dataset_of_a_listed_task():
    config = {"tasks": ["detection"], "datasets": {}}
    configure(config)
    assert config["datasets"]["detection"]["source"] == "synthetic"


def _isolate(monkeypatch, folder):
    """Registrations made by a test end with it (module state, environment, import path)."""
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(PACKAGES_ENV, "{}")
    monkeypatch.setattr(viprepro.tasks, "_registered", {})
    get_task.cache_clear()


def test_a_configured_package_reaches_child_processes(monkeypatch, tmp_path):
    """`datasets.<task>.package` registers the task here and, through the environment, in jobs."""
    package = tmp_path / "mytask"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from viprepro.tasks.classification import Classification\nclass Mine(Classification):\n    name = 'mine'\nTASK = Mine()\n"
    )
    _isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    configure({"tasks": ["mine"], "datasets": {"mine": {"package": "mytask"}}})
    assert get_task("mine").name == "mine"
    assert json.loads(os.environ[PACKAGES_ENV]) == {"mine": "mytask"}
    modules = _imported_after("from viprepro.tasks import get_task\nassert get_task('mine').submission_filename")
    assert "mytask" in modules


def test_a_package_without_its_task_is_refused(monkeypatch, tmp_path):
    (tmp_path / "emptytask.py").write_text("TASK = None\n")
    _isolate(monkeypatch, tmp_path)
    with pytest.raises(UserError, match="has no TASK named 'empty'"):
        configure({"tasks": ["empty"], "datasets": {"empty": {"package": "emptytask"}}})


def test_every_task_reads_loader_workers_one_way():
    """A recipe's `workers` wins when it asks for some; 0 (its default) takes the job's."""
    from viprepro.tasks.base import loader_workers

    assert loader_workers({"workers": 0}, 3) == 3
    assert loader_workers({"workers": 2}, 3) == 2
    assert loader_workers({}, 1) == 1


def test_a_spec_of_an_unknown_task_is_refused_naming_the_key(tmp_path):
    from viprepro.specs.load import load_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: x\ntask: clasification\nmodel: {name: resnet_small}\nrecipe: {epochs: 1, batch_size: 2, "
        "optimizer: {name: sgd, lr: 0.1}}\nclaimed: {top1: {value: 0.5, tolerance: {absolute: 0.1}}}\n"
    )
    with pytest.raises(UserError, match=r"spec.yaml \(key 'task'\): unknown task 'clasification'"):
        load_spec(spec)
