"""Failed jobs and NaN scores are visible in MLflow, not lost."""

from __future__ import annotations

import importlib.util
import math

import pytest
from testutils import REPO

from viprepro.jobs import tracking


def _runs():
    client = tracking._client()
    experiments = client.search_experiments()
    return [run for e in experiments for run in client.search_runs([e.experiment_id])]


def _step(name: str):
    loaded = importlib.util.spec_from_file_location(f"{name}_step", REPO / "workflow_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "step, argv",
    [
        ("train", ["--task", "classification", "--subset", "nowhere", "--seed", "0", "--out", "x/model.pt"]),
        (
            "verdict",
            [
                "--task",
                "classification",
                "--subset",
                "nowhere",
                "--scores",
                "s/seed_0/scores",
                "--train-records",
                "r.json",
                "--predict-records",
                "p.json",
                "--out",
                "v.json",
            ],
        ),
    ],
)
def test_a_job_that_fails_before_any_work_leaves_a_failed_run(step, argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("_VIPREPRO_REEXEC", "1")  # no re-exec of the test process for PYTHONHASHSEED
    module = _step(step)
    args = module.get_args_parser().parse_args(["--spec", str(tmp_path / "missing_spec.yaml"), "--device", "cpu", *argv])
    assert module.main(args) == 1
    runs = _runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FAILED"
    assert "missing_spec.yaml" in run.data.tags["error"] and run.data.tags["stage"] == step


def test_nan_metrics_are_recorded_as_nan():
    with tracking.job_run(task="classification", stage="score", rule="test") as mlrun:
        mlrun.log_metrics({"iou_class": math.nan, "top1": 0.5, "inf": math.inf})
    metrics = _runs()[0].data.metrics
    assert math.isnan(metrics["iou_class"]) and metrics["top1"] == 0.5
    assert metrics["inf"] >= 1.7e308  # MLflow stores infinity as the largest float


def test_a_predict_job_that_fails_after_its_spec_loads_leaves_a_failed_run(tmp_path, monkeypatch):
    """Prediction opens its run once the spec names the task: a missing subset or checkpoint is a FAILED run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("_VIPREPRO_REEXEC", "1")
    module = _step("predict")
    spec = REPO / "config" / "submissions" / "classification_resnet_small.yaml"
    args = module.get_args_parser().parse_args(
        ["--spec", str(spec), "--device", "cpu", "--subset", "nowhere", "--checkpoints", "missing/model.pt", "--out", "submission.csv"]
    )
    assert module.main(args) == 1
    (run,) = _runs()
    assert run.info.status == "FAILED"
    assert "nowhere" in run.data.tags["error"] and run.data.tags["stage"] == "predict"
    assert not (tmp_path / "submission.csv").exists()
