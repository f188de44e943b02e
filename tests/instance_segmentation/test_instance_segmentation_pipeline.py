"""synth -> subset -> train -> predict -> score -> verdict -> certificate through Snakemake,
for the instance segmentation task alone (its own config, tests/instance_segmentation/config.yaml)."""

from __future__ import annotations

import json

import pytest
from testutils import REPO, run_pipeline

HERE = REPO / "tests" / "instance_segmentation"


@pytest.mark.slow
def test_instance_segmentation_runs_through_the_pipeline(tmp_path):
    result = run_pipeline(tmp_path, HERE / "config.yaml", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results"
    for seed in (0, 1):
        folder = results / f"instance_segmentation/instance_segmentation_pipeline_tiny/seed_{seed}"
        assert (folder / "submission.zip").is_file()
        scores = json.loads((folder / "scores/scores.json").read_text())
        assert scores["status"] == "scored" and scores["task"] == "instance_segmentation" and 0 <= scores["ap"] <= 1
        assert set(scores["per_category_ap"]) <= {"human", "ball"}
    verdict = json.loads((results / "instance_segmentation/instance_segmentation_pipeline_tiny/verdict.json").read_text())
    assert verdict["task"] == "instance_segmentation" and verdict["seeds"] == [0, 1] and verdict["metrics"][0]["metric"] == "ap"
    assert (results / "instance_segmentation/instance_segmentation_pipeline_tiny/certificate/certificate.md").is_file()
    assert not list((results / "data/instance_segmentation/subset").rglob("test.json"))  # labels stay hidden
