"""synth -> subset -> train -> predict -> score -> verdict of detection_delftbikes through Snakemake."""

from __future__ import annotations

import json
import os
import zipfile

import pytest
from testutils import REPO, pipeline_env, run_pipeline

CONFIG = REPO / "tests" / "detection_delftbikes" / "config.yaml"


@pytest.mark.slow
def test_delftbikes_runs_through_the_pipeline(tmp_path):
    env = pipeline_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    result = run_pipeline(tmp_path, CONFIG, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results"
    seed = results / "detection_delftbikes/delftbikes_pipeline_tiny/seed_0"
    with zipfile.ZipFile(seed / "submission.zip") as archive:
        assert archive.namelist() == ["submission.json"]
    scores = json.loads((seed / "scores/scores.json").read_text())
    assert scores["task"] == "detection_delftbikes" and scores["status"] == "scored" and 0 <= scores["ap"] <= 1
    manifest = json.loads((results / "data/detection_delftbikes/subset/subset_manifest.json").read_text())
    assert manifest["edition"] == "2023" and manifest["listing_order"]["order"] == "sorted"
    verdict = json.loads((results / "detection_delftbikes/delftbikes_pipeline_tiny/verdict.json").read_text())
    assert verdict["task"] == "detection_delftbikes" and verdict["seeds"] == [0] and verdict["metrics"][0]["metric"] == "ap"
