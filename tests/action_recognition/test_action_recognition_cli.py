"""The command lines of issue 5, run through viprepro.cli.main."""

from __future__ import annotations

import json

from action_recognition_helpers import TINY, write_lines

from viprepro.cli import main


def test_synth_subset_validate_and_score_command_lines(tmp_path, capsys):
    options = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    assert main(["synth", "--task", "action_recognition", "--out", str(tmp_path / "ucf"), "--seed", "0", *options]) == 0
    root, manifests, out = tmp_path / "ucf" / "source", tmp_path / "ucf" / "manifests", tmp_path / "mod-ucf101"
    assert main(["subset", "--task", "action_recognition", "--source", str(root), "--manifests", str(manifests), "--out", str(out)]) == 0
    assert "'test': 9" in capsys.readouterr().out  # 8 clips and the test list
    gt = tmp_path / "mod-ucf101.hidden" / "mod-ucf101-test-gt.txt"
    perfect = tmp_path / "perfect.txt"
    perfect.write_text(gt.read_text())  # `clip label`: one label per clip is a valid ranking
    assert main(["validate", "--task", "action_recognition", "--gt", str(gt), "--submission", str(perfect)]) == 0
    for mode in ("official", "strict"):
        scores_dir = tmp_path / f"scores_{mode}"
        assert (
            main(
                [
                    "score",
                    "--task",
                    "action_recognition",
                    "--gt",
                    str(gt),
                    "--submission",
                    str(perfect),
                    "--out",
                    str(scores_dir),
                    "--mode",
                    mode,
                ]
            )
            == 0
        )
        assert f"Top-1 accuracy: 1.00000000 ({mode} mode)" in capsys.readouterr().out
        assert json.loads((scores_dir / "scores.json").read_text())["top1"] == 1.0
    assert (
        main(["score", "--task", "action_recognition", "--gt", str(gt), "--submission", str(perfect), "--out", str(tmp_path / "default")])
        == 0
    )
    assert json.loads((tmp_path / "default" / "scores.json").read_text())["mode"] == "strict"


def test_a_bad_submission_exits_1_with_the_problem_on_one_line(tmp_path, capsys):
    write_lines(tmp_path / "mod-ucf101-classInd.txt", ["2 Left", "1 Right"])
    write_lines(tmp_path / "gt.txt", ["video_test_0000001.avi 1", "video_test_0000002.avi 2"])
    write_lines(tmp_path / "s.txt", ["video_test_0000001.avi\t1", "video_test_0000002.avi 3"])
    args = ["--task", "action_recognition", "--gt", str(tmp_path / "gt.txt"), "--submission", str(tmp_path / "s.txt")]
    assert main(["score", *args, "--out", str(tmp_path / "out"), "--mode", "strict"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("viprepro score: error: ") and "\n" not in error
    assert "line 1: contains a tab" in error and "line 2: label 3 is outside 1..2" in error
    assert main(["score", *args, "--out", str(tmp_path / "out"), "--mode", "official"]) == 1
    assert "unseeded random label" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["validate", *args]) == 1


def test_class_index_option_overrides_the_file_beside_the_ground_truth(tmp_path, capsys):
    write_lines(tmp_path / "gt.txt", ["video_test_0000001.avi 1", "video_test_0000002.avi 2"])
    write_lines(tmp_path / "classes.txt", ["1 Up", "2 Down"])
    write_lines(tmp_path / "s.txt", ["video_test_0000001.avi 1 2", "video_test_0000002.avi 1 2"])
    args = ["--task", "action_recognition", "--gt", str(tmp_path / "gt.txt"), "--submission", str(tmp_path / "s.txt")]
    assert main(["score", *args, "--out", str(tmp_path / "out"), "--class-index", str(tmp_path / "classes.txt")]) == 0
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["per_class_accuracy"] == {"Up": 1.0, "Down": 0.0} and scores["top1"] == 0.5 and scores["top3"] == 1.0


def test_synth_refuses_a_split_without_training_groups(tmp_path, capsys):
    assert main(["synth", "--task", "action_recognition", "--out", str(tmp_path / "ucf"), "--groups", "2", "--test-groups", "2"]) == 1
    assert "test_groups must be between 1 and groups - 1 = 1" in capsys.readouterr().err
    assert not (tmp_path / "ucf").exists()


def test_a_malformed_ground_truth_is_named_with_its_line(tmp_path, capsys):
    write_lines(tmp_path / "gt.txt", ["video_test_0000001.avi 1", "video_test_0000002.avi two"])
    write_lines(tmp_path / "s.txt", ["video_test_0000001.avi 1", "video_test_0000002.avi 2"])
    args = ["--task", "action_recognition", "--gt", str(tmp_path / "gt.txt"), "--submission", str(tmp_path / "s.txt")]
    assert main(["score", *args, "--out", str(tmp_path / "out")]) == 1
    assert f"{tmp_path / 'gt.txt'} (line 2): label 'two' is not a positive integer" in capsys.readouterr().err
