"""Kinetics400ViPriors through the whole pipeline: synth -> subset -> train -> predict -> score ->
verdict -> certificate under Snakemake, from this folder's config (tiny sizes, two seeds)."""

from __future__ import annotations

import csv
import json

import pytest
from testutils import REPO, run_pipeline

HERE = REPO / "tests" / "action_recognition_kinetics"
SUBMISSION = "action_recognition_kinetics_smoke"


@pytest.mark.slow
def test_kinetics_runs_through_the_pipeline(tmp_path):
    result = run_pipeline(tmp_path, HERE / "config.yaml", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results"
    data = results / "data" / "action_recognition_kinetics"
    manifest = json.loads((data / "subset" / "subset_manifest.json").read_text())
    assert manifest["edition"] == "2022" and manifest["blocked"] == {"train": 1, "val": 1, "test": 1}
    seed = results / "action_recognition_kinetics" / SUBMISSION / "seed_0"
    lines = (seed / "submission.txt").read_text().splitlines()
    assert len(lines) == 5 and all(len(line.split(" ")[0]) == 10 for line in lines)
    scores = json.loads((seed / "scores" / "scores.json").read_text())
    assert scores["status"] == "scored" and scores["mode"] == "strict" and scores["edition"] == "2022" and scores["n_scored"] == 5
    assert (seed / "scores" / "scores.txt").read_text().startswith("Top-1 accuracy: ")
    assert (seed / "scores" / "figures" / "confusion_matrix.png").stat().st_size > 0
    verdict = json.loads((results / "action_recognition_kinetics" / SUBMISSION / "verdict.json").read_text())
    assert verdict["task"] == "action_recognition_kinetics" and verdict["seeds"] == [0, 1]
    assert verdict["metrics"][0]["metric"] == "top1"
    assert (results / "action_recognition_kinetics" / SUBMISSION / "certificate" / "certificate.md").is_file()
    (row,) = csv.DictReader((results / "leaderboard.csv").open())
    assert row["task"] == "action_recognition_kinetics" and row["verdict"] == verdict["verdict"]
