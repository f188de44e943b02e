"""A fifth task is one package plus one config entry: the toy task runs the whole pipeline.

tests/toy_task is a task viprepro has never heard of (two Gaussian blobs, a linear model, a
CSV submission, its own scorer); tests/toy_task/config.yaml names its package. Snakemake runs
synth -> subset -> train -> predict -> score -> verdict -> certificate on it, and no file
outside tests/ mentions it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess

import pytest
from testutils import REPO, pipeline_env, snakemake_command

TOY = REPO / "tests" / "toy_task"


def snakemake(workdir, *args, timeout=600):
    env = pipeline_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), str(REPO / "tests"), env.get("PYTHONPATH")]))
    return subprocess.run(
        [
            *snakemake_command(),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(TOY / "config.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_nothing_outside_tests_names_the_toy_task():
    """No code, rule, script or shipped config knows the toy task (the docs point to it)."""
    outside = subprocess.run(
        [
            "git",
            "grep",
            "-l",
            "-w",
            "-e",
            "toy_task",
            "-e",
            "toy_linear",
            "-e",
            "toy",
            "--",
            "src",
            "rules",
            "Snakefile",
            "workflow_scripts",
            "scripts",
            "config",
            "profiles",
            "pyproject.toml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert outside.stdout.split() == [], outside.stdout


@pytest.mark.slow
def test_toy_task_runs_through_the_pipeline(tmp_path):
    result = snakemake(tmp_path, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results"
    seed = results / "toy/toy_linear/seed_0"
    rows = list(csv.reader((seed / "submission.csv").open()))
    assert rows[0] == ["id", "label"] and len(rows) == 49
    scores = json.loads((seed / "scores/scores.json").read_text())
    assert scores["task"] == "toy" and scores["accuracy"] > 0.8 and set(scores["per_class_accuracy"]) == {"0", "1"}
    assert (seed / "scores/figures/confusion_matrix.png").stat().st_size > 0
    verdict = json.loads((results / "toy/toy_linear/verdict.json").read_text())
    assert verdict["task"] == "toy" and verdict["seeds"] == [0, 1]
    assert verdict["metrics"][0]["metric"] == "accuracy"
    certificate = results / "toy/toy_linear/certificate"
    assert "toy_linear" in (certificate / "certificate.md").read_text()
    assert (certificate / "figures/per_class.png").is_file() and (certificate / "figures/confusion_matrix.png").is_file()
    (row,) = csv.DictReader((results / "leaderboard.csv").open())
    assert row["task"] == "toy" and row["verdict"] == verdict["verdict"]


def test_a_task_without_its_package_entry_is_refused(tmp_path):
    """Without `datasets.toy.package` the pipeline does not know the task and says so."""
    config = tmp_path / "config.yaml"
    config.write_text((TOY / "config.yaml").read_text().replace("    package: toy_task\n", ""))
    result = subprocess.run(
        [*snakemake_command(), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(config), "-n"],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=120,
    )
    assert result.returncode != 0
    assert "unknown task 'toy'" in result.stdout + result.stderr and "datasets.toy" in result.stdout + result.stderr
