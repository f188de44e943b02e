"""The commands (`viprepro synth|subset|validate|score --task action_recognition_kinetics`), the
training and prediction path on the tiny set, and a scoring path without torch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import torch
from kinetics_helpers import TINY

from viprepro.cli import main
from viprepro.tasks import get_task

TASK = "action_recognition_kinetics"


def test_synth_subset_validate_and_score_command_lines(tmp_path, capsys):
    options = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    assert main(["synth", "--task", TASK, "--out", str(tmp_path / "k"), "--seed", "0", *options]) == 0
    source, manifests, out = tmp_path / "k" / "source", tmp_path / "k" / "manifests", tmp_path / "subset"
    assert main(["subset", "--task", TASK, "--source", str(source), "--manifests", str(manifests), "--out", str(out)]) == 0
    assert "'test': 6" in capsys.readouterr().out  # 5 unblocked test videos and the public list
    gt = tmp_path / "subset.hidden" / "kinetics400ViPriors-test.csv"
    names = [r[0] for r in list(csv.reader((manifests / "clsIdx.csv").open()))[1:]]
    rows = list(csv.reader(gt.open()))[1:]
    bad = tmp_path / "bad.txt"
    bad.write_text("".join(f"{v} {names.index(label) + 1} 4\n" for label, v, _ in rows))
    assert main(["validate", "--task", TASK, "--gt", str(gt), "--submission", str(bad)]) == 1
    assert "line 1: 2 label(s); give at least 3" in capsys.readouterr().err
    perfect = tmp_path / "perfect.txt"
    ranked = {1: "1 2 3", 2: "2 1 3", 3: "3 1 2"}
    perfect.write_text("".join(f"{v} {ranked[names.index(label) + 1]}\n" for label, v, _ in rows))
    assert main(["validate", "--task", TASK, "--gt", str(gt), "--submission", str(perfect)]) == 0
    for mode in ("official", "strict"):
        assert (
            main(["score", "--task", TASK, "--gt", str(gt), "--submission", str(perfect), "--out", str(tmp_path / mode), "--mode", mode])
            == 0
        )
    scores = json.loads((tmp_path / "official" / "scores.json").read_text())
    assert scores["top1"] == 1.0 and scores["edition"] == "2022" and scores["n_scored"] == 5
    assert json.loads((tmp_path / "strict" / "scores.json").read_text())["top5"] == 1.0


def test_train_and_predict_path_writes_a_valid_submission(task, kinetics, tmp_path):
    recipe = {"batch_size": 4, "frames_per_clip": 4, "frame_stride": 1, "test_clips": 1, "verify": "header", "cache_decoded": False}
    torch.manual_seed(0)
    model = task.build_model({"name": "tiny3d", "kwargs": {"width": 4}}, kinetics["subset"])
    loaders = task.loaders(kinetics["subset"], recipe, seed=0, workers=0, generator=torch.Generator().manual_seed(0))
    assert loaders.train_size == 3 * TINY["train_per_class"] - 1  # one blocked training video
    clips, labels = next(iter(loaders.train))
    loss = task.training_loss(model, (clips, labels), recipe, torch.device("cpu"))
    assert torch.isfinite(loss)
    assert set(task.evaluate(model, loaders.val, torch.device("cpu"))) >= {"top1", "top3", "top5"}
    out = tmp_path / "submission.txt"
    summary = task.predict([model], kinetics["subset"], recipe, out, device=torch.device("cpu"), workers=0)
    assert summary["clips"] == 5
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and all(len(line.split(" ")) == 4 for line in lines)  # 3 classes: each ranked once
    assert task.validate(kinetics["gt"], out, {}) == []


def test_scoring_path_imports_no_torch(tmp_path):
    script = (
        "import sys, json; from viprepro.tasks import get_task; t = get_task('action_recognition_kinetics')\n"
        "for call in (lambda: t.score('x/gt', 'x/s', 'x/o', mode='strict', options={}), lambda: t.validate('x/gt', 'x/s', {}),"
        " lambda: t.figure_data('confusion_matrix', 'x/gt', 'x/s', 'x')):\n"
        "    try: call()\n    except Exception: pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []
    assert get_task(TASK).editions == {
        "2021": "1d8b23703e17c14dab9899b986827dd01c583b59",
        "2022": "8490d7a40785ca7ce2e04a3de25da0855661868b",
    }


def test_figures_read_the_hidden_folder_of_either_edition(task, kinetics, tmp_path):
    import shutil

    rows = list(csv.reader(kinetics["gt"].open()))[1:]
    names = [r[0] for r in list(csv.reader((kinetics["hidden"] / "clsIdx.csv").open()))[1:]]
    sub = tmp_path / "s.txt"
    sub.write_text("".join(f"{v} {names.index(label) + 1}\n" for label, v, _ in rows))
    labels = task.figure_data("confusion_matrix", kinetics["gt"], sub, kinetics["subset"])
    assert len(labels.y_true) == 5  # the blocked test video left out
    hidden_2021 = tmp_path / "hidden"
    shutil.copytree(kinetics["hidden"], hidden_2021)
    (hidden_2021 / "kinetics400ViPriors_corrupted_videos.txt").unlink()
    assert len(task.figure_data("confusion_matrix", hidden_2021 / kinetics["gt"].name, sub, kinetics["subset"]).y_true) == 6
    examples, note = task.figure_data("examples", kinetics["gt"], sub, kinetics["subset"])
    assert examples and "frames" in note
