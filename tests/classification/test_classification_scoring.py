"""The validator, and the scorer in its official and strict modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viprepro.cli import main

GT_ROWS = [(f"img_{i}.JPEG", i % 3) for i in range(6)]


@pytest.fixture
def gt(tmp_path) -> Path:
    path = tmp_path / "gt.csv"
    path.write_text("Image IDs,Labels\n" + "".join(f"{i},{l}\n" for i, l in GT_ROWS))
    return path


def write(tmp_path, text: str | bytes, name="submission.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def perfect() -> str:
    return "Image IDs,Predictions\n" + "".join(f"{i},{l}\n" for i, l in GT_ROWS)


def score(gt, submission, out, mode, capsys):
    code = main(["score", "--task", "classification", "--gt", str(gt), "--submission", str(submission), "--out", str(out), "--mode", mode])
    return code, capsys.readouterr()


def test_perfect_submission_scores_one_in_both_modes(tmp_path, gt, capsys):
    submission = write(tmp_path, perfect())
    for mode in ("official", "strict"):
        code, _ = score(gt, submission, tmp_path / mode, mode, capsys)
        assert code == 0
        assert (tmp_path / mode / "scores.txt").read_text() == "Top1 accuracy: 1.00000000\n"
        scores = json.loads((tmp_path / mode / "scores.json").read_text())
        assert scores["top1"] == 1.0 and scores["mode"] == mode and scores["n_scored"] == 6


def test_accuracy_is_computed(tmp_path, gt, capsys):
    rows = [(i, (l + 1) % 3 if k < 2 else l) for k, (i, l) in enumerate(GT_ROWS)]
    submission = write(tmp_path, "Image IDs,Predictions\n" + "".join(f"{i},{l}\n" for i, l in rows))
    code, _ = score(gt, submission, tmp_path / "out", "strict", capsys)
    assert code == 0
    assert (tmp_path / "out" / "scores.txt").read_text() == "Top1 accuracy: 0.66666667\n"


def test_official_quirks(tmp_path, gt, capsys):
    # missing rows skipped, unknown ids ignored, duplicates: the last row wins
    text = "Image IDs,Predictions\nimg_0.JPEG,2\nimg_0.JPEG,0\nimg_1.JPEG,1\nimg_99.JPEG,1\nimg_2.JPEG,0\n"
    code, _ = score(gt, write(tmp_path, text), tmp_path / "out", "official", capsys)
    assert code == 0
    # scored: img_0 (0, right after the duplicate), img_1 (right), img_2 (wrong) -> 2/3
    assert (tmp_path / "out" / "scores.txt").read_text() == "Top1 accuracy: 0.66666667\n"


def test_official_mode_loses_the_first_row_of_a_file_without_header(tmp_path, gt, capsys):
    text = "".join(f"{i},{(l + 1) % 3 if k == 0 else l}\n" for k, (i, l) in enumerate(GT_ROWS))
    code, _ = score(gt, write(tmp_path, text), tmp_path / "out", "official", capsys)
    assert code == 0
    assert json.loads((tmp_path / "out" / "scores.json").read_text())["n_scored"] == 5  # the wrong first row is the header
    assert (tmp_path / "out" / "scores.txt").read_text() == "Top1 accuracy: 1.00000000\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty"),
        ("".join(f"{i},{l}\n" for i, l in GT_ROWS), "line 1: header must be 'Image IDs,Predictions'"),
        ("Image IDs,Predictions\n" + "".join(f"{i},{l}\n" for i, l in GT_ROWS[:4]), "2 test image(s) have no prediction"),
        (perfect() + "img_0.JPEG,0\n", "line 8: duplicate image id 'img_0.JPEG' (first on line 2)"),
        (perfect() + "img_77.JPEG,0\n", "line 8: unknown image id 'img_77.JPEG'"),
        (perfect().replace("img_3.JPEG,0", "img_3.JPEG,cat"), "line 5: prediction 'cat' is not an integer"),
        (perfect().replace("img_3.JPEG,0", "img_3.JPEG,1.5"), "line 5: prediction '1.5' is not an integer"),
        (perfect().replace("img_3.JPEG,0", "img_3.JPEG,7"), "line 5: prediction 7 is outside 0..2"),
        (perfect().replace("img_3.JPEG,0", "img_3.JPEG,-1"), "line 5: prediction -1 is outside 0..2"),
        (perfect().replace("img_3.JPEG,0", "img_3.JPEG,NaN"), "line 5: prediction is NaN"),
        (perfect().replace(",", ";"), "line 1: the delimiter must be a comma"),
        (b"\xef\xbb\xbf" + perfect().encode(), "line 1: starts with a UTF-8 byte-order mark"),
    ],
)
def test_validator_names_each_problem_with_its_line(tmp_path, gt, capsys, text, expected):
    submission = write(tmp_path, text)
    code = main(["validate", "--task", "classification", "--gt", str(gt), "--submission", str(submission)])
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err
    assert err.count("\n") == 1  # one line on stderr
    code, captured = score(gt, submission, tmp_path / "out", "strict", capsys)
    assert code == 1 and expected in captured.err
    assert not (tmp_path / "out").exists()  # strict mode leaves nothing behind


def test_validator_lists_every_problem(tmp_path, gt, capsys):
    text = perfect().replace("img_3.JPEG,0", "img_3.JPEG,9").replace("img_4.JPEG,1", "img_4.JPEG,x") + "img_0.JPEG,0\n"
    main(["validate", "--task", "classification", "--gt", str(gt), "--submission", str(write(tmp_path, text))])
    err = capsys.readouterr().err
    assert "3 problem(s)" in err and "line 5" in err and "line 6" in err and "line 8" in err


def test_valid_submission_passes_validation(tmp_path, gt, capsys):
    assert main(["validate", "--task", "classification", "--gt", str(gt), "--submission", str(write(tmp_path, perfect()))]) == 0
    assert "valid" in capsys.readouterr().out


def test_score_leaves_other_files_in_the_out_folder_alone(tmp_path, gt, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert score(gt, write(tmp_path, perfect()), out, "strict", capsys)[0] == 0
    assert (out / "notes.txt").read_text() == "keep me"
