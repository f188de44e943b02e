"""synth -> subset -> train -> predict -> score -> verdict -> certificate for the
re-identification task alone, through Snakemake (tests/reidentification/config.yaml)."""

from __future__ import annotations

import csv
import json

import pytest
from testutils import REPO, run_pipeline

CONFIG = REPO / "tests" / "reidentification" / "config.yaml"


@pytest.mark.slow
def test_reidentification_runs_through_the_pipeline(tmp_path):
    result = run_pipeline(tmp_path, CONFIG, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results"
    seed = results / "reidentification/reid_pipeline/seed_0"
    rows = list(csv.reader((seed / "submission.csv").open()))
    assert rows[0][0] == "0" and len(rows) == 1 + 4 and all(len(row) == 1 + 4 * 3 for row in rows)  # 4 queries x 12 gallery images
    scores = json.loads((seed / "scores/scores.json").read_text())
    assert scores["task"] == "reidentification" and scores["mode"] == "strict" and 0.0 < scores["map"] <= 1.0
    assert (seed / "scores/figures/examples.png").stat().st_size > 0
    verdict = json.loads((results / "reidentification/reid_pipeline/verdict.json").read_text())
    assert verdict["seeds"] == [0, 1] and verdict["metrics"][0]["metric"] == "map"
    assert all(audit["passed"] for audit in verdict["audits"].values())
    certificate = results / "reidentification/reid_pipeline/certificate"
    assert (certificate / "figures/examples.png").is_file() and "reid_pipeline" in (certificate / "certificate.md").read_text()
    (row,) = csv.DictReader((results / "leaderboard.csv").open())
    assert row["task"] == "reidentification" and row["verdict"] == verdict["verdict"]
