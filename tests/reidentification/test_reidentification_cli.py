"""`viprepro synth|subset|validate|score --task reidentification`, run through viprepro.cli.main."""

from __future__ import annotations

import json

import numpy as np
from reidentification_helpers import TINY

from viprepro.cli import main
from viprepro.tasks.reidentification.layout import read_identities
from viprepro.tasks.reidentification.submission import write_matrix


def test_synth_subset_validate_and_score_command_lines(tmp_path, capsys):
    options = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    assert main(["synth", "--task", "reidentification", "--out", str(tmp_path / "synergy"), "--seed", "0", *options]) == 0
    source, manifests, out = tmp_path / "synergy" / "source", tmp_path / "synergy" / "manifests", tmp_path / "subset"
    assert main(["subset", "--task", "reidentification", "--source", str(source), "--manifests", str(manifests), "--out", str(out)]) == 0
    gt = tmp_path / "subset.hidden" / "test_identities.csv"
    truth = read_identities(gt)
    q, g = np.array(truth.person_ids["query"]), np.array(truth.person_ids["gallery"])
    perfect = tmp_path / "perfect.csv"
    write_matrix(perfect, (q[:, None] != g[None, :]).astype(float), truth.ids["query"], truth.ids["gallery"])
    assert main(["validate", "--task", "reidentification", "--gt", str(gt), "--submission", str(perfect)]) == 0
    for mode in ("official", "strict"):
        scores = tmp_path / f"scores_{mode}"
        args = ["score", "--task", "reidentification", "--gt", str(gt), "--submission", str(perfect), "--out", str(scores), "--mode", mode]
        assert main(args) == 0
        assert json.loads((scores / "scores.json").read_text())["map"] == 1.0
        assert (scores / "scores.txt").read_text().startswith("Mean AP: 100.0%")
    capsys.readouterr()

    bad = tmp_path / "bad.csv"
    bad.write_text(perfect.read_text().replace(f",{truth.ids['gallery'][0]},", ",999999999,", 1))
    assert main(["score", "--task", "reidentification", "--gt", str(gt), "--submission", str(bad), "--out", str(tmp_path / "s")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("viprepro score: error: ") and "\n" not in error
    assert "line 1, column 2: unknown gallery id 999999999" in error and "gallery id(s) missing" in error
