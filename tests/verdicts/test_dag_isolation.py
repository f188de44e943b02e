"""The hidden test ground truth is an input of the scoring rule alone (checked on the DAG)."""

from __future__ import annotations

import re
import subprocess

from testutils import REPO, pipeline_env, snakemake_command


def test_only_scoring_jobs_take_the_hidden_ground_truth(tmp_path):
    result = subprocess.run(
        [
            *snakemake_command(),
            "-n",
            "--forceall",
            "--cores",
            "1",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "tests/data/tiny_config.yaml"),
        ],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", result.stdout, re.M)
    inputs = {}
    for rule, body in jobs:
        line = re.search(r"^    input: (.*)$", body, re.M)
        inputs.setdefault(rule, []).append(line.group(1) if line else "")
    assert {"train_member", "predict_submission", "score_submission", "certify_submission"} <= set(inputs)
    readers = {rule for rule, lines in inputs.items() for line in lines if "/hidden" in line}
    assert readers == {"score_submission"}
