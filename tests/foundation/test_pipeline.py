"""The whole pipeline on the tiny config: outputs, MLflow runs, a no-op rerun, lint."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from testutils import REPO, pipeline_env, snakemake_command


def snakemake(workdir, *args, timeout=900):
    return subprocess.run(
        [
            *snakemake_command(),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(REPO / "tests/data/tiny_config.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline")
    result = snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_outputs_of_every_stage(finished_run):
    results = finished_run / "results"
    submission = results / "classification/classification_smoke/seed_0/submission.csv"
    assert submission.read_text().splitlines()[0] == "Image IDs,Predictions"
    scores = results / "classification/classification_smoke/seed_0/scores"
    assert (scores / "scores.txt").read_text().startswith("Top1 accuracy: ")
    assert json.loads((scores / "scores.json").read_text())["mode"] == "strict"
    verdict = json.loads((results / "classification/classification_smoke/verdict.json").read_text())
    assert verdict["verdict"] in ("reproduced", "within_noise", "not_reproduced", "exceeds_claim")
    (row,) = csv.DictReader((results / "leaderboard.csv").open())
    assert row["submission"] == "classification_smoke" and row["verdict"] == verdict["verdict"]
    hidden = results / "data/classification/hidden/test_gt.csv"
    assert hidden.exists() and not (results / "data/classification/subset/test_gt.csv").exists()


@pytest.mark.slow
def test_one_finished_mlflow_run_per_job_with_its_tags(finished_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{finished_run / 'results/mlflow/mlflow.db'}")
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    runs = client.search_runs(list(experiments.values()))
    stages = sorted(r.data.tags["stage"] for r in runs)
    assert stages == sorted(
        ["init_tracking", "synthesize", "subset", "train", "predict", "score", "verdict", "leaderboard", "certificate", "leaderboard_page"]
    )
    assert all(r.info.status == "FINISHED" for r in runs)
    for run in runs:
        if run.data.tags["task"] == "classification":
            for tag in ("task", "stage", "rule", "submission", "config_hash", "code_version", "data_manifest_digest"):
                assert tag in run.data.tags, (run.data.tags["stage"], tag)
    train = next(r for r in runs if r.data.tags["stage"] == "train")
    assert train.data.tags["data_manifest_digest"] and train.data.tags["rule"] == "train_member"
    assert "val_top1" in train.data.metrics


@pytest.mark.slow
def test_a_second_run_has_nothing_to_do(finished_run):
    result = snakemake(finished_run, "--cores", "2")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


@pytest.mark.slow
def test_explain_reports_every_job_of_a_submission(finished_run, capsys):
    from viprepro.cli import main

    code = main(
        [
            "explain",
            "classification_smoke",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(finished_run),
            "--configfile",
            str(REPO / "tests/data/tiny_config.yaml"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for rule in ("synthesize_dataset", "subset_dataset", "train_member", "predict_submission", "score_submission", "judge_submission"):
        assert rule in out
    assert "every output is up to date" in out
