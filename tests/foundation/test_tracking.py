"""MLflow: the store is initialised once, then many jobs log at once without losing a run."""

from __future__ import annotations

import os
import subprocess
import sys

from viprepro.jobs import tracking

JOB = """
import sys
from viprepro.jobs import tracking
with tracking.job_run(task="classification", stage="train", rule="train_member", submission=f"s{sys.argv[1]}") as run:
    for epoch in range(1, 6):
        run.log_metrics({"loss": 1.0 / epoch, "acc": epoch / 10}, step=epoch)
    run.log_params({"recipe": {"lr": 0.1, "epochs": 5}})
"""


def test_eight_concurrent_jobs_all_keep_their_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    ids = tracking.init_store(["classification"])
    procs = [subprocess.Popen([sys.executable, "-c", JOB, str(i)], env=dict(os.environ)) for i in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    from mlflow.tracking import MlflowClient

    runs = MlflowClient().search_runs([ids["classification"]])
    assert len(runs) == 8
    assert {r.data.tags["submission"] for r in runs} == {f"s{i}" for i in range(8)}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(len(MlflowClient().get_metric_history(r.info.run_id, "loss")) == 5 for r in runs)


def test_a_failing_job_marks_its_run_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    ids = tracking.init_store(["classification"])
    try:
        with tracking.job_run(task="classification", stage="score", rule="score_submission"):
            raise ValueError("bad submission")
    except ValueError:
        pass
    from mlflow.tracking import MlflowClient

    (run,) = MlflowClient().search_runs([ids["classification"]])
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "ValueError: bad submission"
