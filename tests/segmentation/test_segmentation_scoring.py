"""Scoring: numbers equal to cityscapesscripts', both modes, every bad input of issue 3."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from segmentation_helpers import ground_truth_by_int, perturbed, png, write_zip

from viprepro.cli import main
from viprepro.errors import UserError, ValidationFailed
from viprepro.files.safe_pickle import load_plain_pickle

KEYS = ("iou_class", "iiou_class", "iou_category", "iiou_category", "accuracy")


def cityscapes_reference(predictions: list[Path], ground_truth: list[Path]) -> dict:
    """cityscapesscripts' own evaluation of the same files (numpy>=2.4 lacks np.in1d it calls)."""
    if not hasattr(np, "in1d"):
        np.in1d = lambda a, b, invert=False: np.isin(np.ravel(a), b, invert=invert)
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

    cs.args.quiet, cs.args.JSONOutput = True, False
    result = cs.evaluateImgLists([str(p) for p in predictions], [str(g) for g in ground_truth], cs.args)
    conf = np.asarray(result["confMatrix"])
    return {
        "iou_class": result["averageScoreClasses"],
        "iiou_class": result["averageScoreInstClasses"],
        "iou_category": result["averageScoreCategories"],
        "iiou_category": result["averageScoreInstCategories"],
        "accuracy": np.trace(conf) / conf.sum(),
        "per_class_iou": result["classScores"],
    }


def _flat_predictions(members: dict[str, bytes], hidden: Path, folder: Path) -> tuple[list[Path], list[Path]]:
    """The `<int>.png` members written under their Cityscapes names, paired with the ground truth."""
    folder.mkdir()
    names = load_plain_pickle(hidden / "test.p")
    predictions, truth = [], []
    for rel, number in names.items():
        city, image = rel.split("/")
        base = image.replace("_leftImg8bit.png", "")
        predictions.append(folder / f"{base}_pred.png")
        predictions[-1].write_bytes(members[f"{number}.png"])
        truth.append(hidden / "gtFine" / "val" / city / f"{base}_gtFine_labelIds.png")
    return predictions, truth


@pytest.mark.parametrize("mode", ["strict", "official"])
def test_scores_equal_cityscapesscripts(task, minicity, good_members, tmp_path, mode):
    hidden = minicity["hidden"]
    scores = task.score(hidden, write_zip(tmp_path / "s.zip", good_members), tmp_path / "out", mode=mode, options={})
    reference = cityscapes_reference(*_flat_predictions(good_members, hidden, tmp_path / "flat"))
    for key in KEYS:
        assert scores[key] == pytest.approx(reference[key], abs=1e-9), key
    for name, value in scores["per_class_iou"].items():
        expected = reference["per_class_iou"][name]
        assert (value is None and np.isnan(expected)) or value == pytest.approx(expected, abs=1e-9), name
    assert 0.05 < scores["iou_class"] < 0.95 and scores["mode"] == mode


def test_results_txt_has_the_official_lines(task, minicity, good_members, tmp_path):
    scores = task.score(minicity["hidden"], write_zip(tmp_path / "s.zip", good_members), tmp_path / "out", mode="official", options={})
    lines = (tmp_path / "out" / "results.txt").read_text().split("\n")
    assert [line.split(": ")[0] for line in lines] == ["IoU Class", "iIoU Class", "IoU Category", "iIoU Category", "Accuracy"]
    assert lines[0] == f"IoU Class: {scores['iou_class']}" and lines[4] == f"Accuracy: {scores['accuracy']}"
    assert json.loads((tmp_path / "out" / "scores.json").read_text())["iou_class"] == scores["iou_class"]


def test_perfect_prediction_scores_one(task, minicity, tmp_path):
    members = {f"{n}.png": png(gt) for n, gt in ground_truth_by_int(minicity["hidden"]).items()}
    scores = task.score(minicity["hidden"], write_zip(tmp_path / "s.zip", members), tmp_path / "out", mode="strict", options={})
    assert all(scores[key] == 1.0 for key in KEYS)


def test_void_ground_truth_never_counts_as_false_positive(task, minicity, tmp_path):
    """Predicting road on void pixels costs Accuracy but no IoU (the official fp rule)."""
    truth = ground_truth_by_int(minicity["hidden"])
    members = {}
    for number, gt in truth.items():
        prediction = gt.copy()
        prediction[gt < 7] = 7  # every void pixel (ids 0..6) predicted as road
        members[f"{number}.png"] = png(prediction)
    scores = task.score(minicity["hidden"], write_zip(tmp_path / "s.zip", members), tmp_path / "out", mode="strict", options={})
    assert scores["iou_class"] == 1.0 and scores["per_class_iou"]["road"] == 1.0
    void = sum(int((gt < 7).sum()) for gt in truth.values())
    assert scores["accuracy"] == pytest.approx(1 - void / sum(gt.size for gt in truth.values()))


def test_cityscapes_names_and_test_names_option(task, minicity, good_members, tmp_path):
    """Members named like the official scorer expects, and --test-names from elsewhere."""
    hidden = minicity["hidden"]
    flat, _ = _flat_predictions(good_members, hidden, tmp_path / "flat")
    by_name = write_zip(tmp_path / "names.zip", {p.name: p.read_bytes() for p in flat})
    gt_only = tmp_path / "gt"
    shutil.copytree(hidden / "gtFine", gt_only / "gtFine")
    a = task.score(gt_only, by_name, tmp_path / "a", mode="strict", options={})
    b = task.score(
        gt_only, write_zip(tmp_path / "ints.zip", good_members), tmp_path / "b", mode="strict", options={"test_names": hidden / "test.p"}
    )
    assert all(a[key] == b[key] for key in KEYS)


def test_parallel_workers_give_the_same_numbers(task, minicity, tmp_path):
    """Scoring the 8 train images (Cityscapes names) in-process and on 2 processes."""
    rng = np.random.default_rng(3)
    gt_dir = minicity["subset"] / "gtFine" / "train"
    members = {
        p.name.replace("_gtFine_labelIds", "_leftImg8bit"): png(perturbed(np.asarray(Image.open(p)), rng))
        for p in sorted(gt_dir.glob("*_labelIds.png"))
    }
    zip_path = write_zip(tmp_path / "s.zip", members)
    one = task.score(gt_dir, zip_path, tmp_path / "one", mode="strict", options={"workers": 1})
    two = task.score(gt_dir, zip_path, tmp_path / "two", mode="strict", options={"workers": 2})
    assert one == two and one["images"] == 8


def test_optional_decoder_changes_nothing(task, minicity, good_members, tmp_path, monkeypatch):
    """pyspng only speeds decoding up: without it the scores are the same."""
    from viprepro.tasks.segmentation import measure

    zip_path = write_zip(tmp_path / "s.zip", good_members)
    fast = task.score(minicity["hidden"], zip_path, tmp_path / "fast", mode="strict", options={})
    monkeypatch.setattr(measure, "pyspng", None)
    assert task.score(minicity["hidden"], zip_path, tmp_path / "plain", mode="strict", options={}) == fast


# --- bad input: strict refuses with one message per problem; official does what the script did


def _replace(members: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    """The members without the first one, and its name."""
    members = dict(members)
    victim = sorted(members)[0]
    del members[victim]
    return members, victim


def _strict_problems(task, hidden, members, tmp_path) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        task.score(hidden, write_zip(tmp_path / "bad.zip", members), tmp_path / "out", mode="strict", options={})
    assert not (tmp_path / "out").exists()  # nothing partial
    return caught.value.problems


def _official(task, hidden, members, tmp_path):
    return task.score(hidden, write_zip(tmp_path / "bad.zip", members), tmp_path / "off", mode="official", options={})


def test_non_png_member(task, minicity, good_members, tmp_path):
    members = {**good_members, "readme.txt": b"hello"}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == ["readme.txt: not a .png file"]
    assert _official(task, minicity["hidden"], members, tmp_path)["images"] == 4  # ignored, as the script did


def test_nested_folder(task, minicity, good_members, tmp_path):
    members, victim = _replace(good_members)
    members[f"results/{victim}"] = good_members[victim]
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [
        f"results/{victim}: inside a folder; PNGs must be at the top level of the zip",
        f"missing prediction for {_gt_name(minicity, victim)} ({victim})",
    ]
    assert _official(task, minicity["hidden"], members, tmp_path)["images"] == 4  # os.walk found it


def test_path_traversal_name(task, minicity, good_members, tmp_path):
    members = {**good_members, "../evil.png": good_members[sorted(good_members)[0]]}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == ["../evil.png: unsafe member name (absolute or '..' path)"]
    with pytest.raises(UserError, match=r"unsafe member name '\.\./evil\.png'"):
        _official(task, minicity["hidden"], members, tmp_path)


def test_rgb_png(task, minicity, good_members, tmp_path):
    victim = sorted(good_members)[0]
    gray = np.asarray(Image.open(io.BytesIO(good_members[victim])))
    members = {**good_members, victim: png(np.stack([gray] * 3, axis=-1))}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [
        f"{victim}: 3 channels (mode RGB); expected one channel of label ids"
    ]
    with pytest.raises(UserError, match="official scorer: Predicted image has multiple channels"):
        _official(task, minicity["hidden"], members, tmp_path)


def test_16_bit_png(task, minicity, good_members, tmp_path):
    victim = sorted(good_members)[0]
    values = np.asarray(Image.open(io.BytesIO(good_members[victim]))).astype(np.uint16)
    members = {**good_members, victim: png(values)}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [f"{victim}: 16-bit PNG (mode I;16); expected 8-bit label ids"]
    reference = task.score(minicity["hidden"], write_zip(tmp_path / "g.zip", good_members), tmp_path / "g", mode="official", options={})
    assert _official(task, minicity["hidden"], members, tmp_path)["iou_class"] == reference["iou_class"]  # the script read it


def test_values_above_33(task, minicity, good_members, tmp_path):
    victim = sorted(good_members)[0]
    values = np.array(Image.open(io.BytesIO(good_members[victim])))
    values[0, 0] = 40
    members = {**good_members, victim: png(values)}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [f"{victim}: values up to 40; label ids are 0..33"]
    with pytest.raises(UserError, match="holds the value 40: the official script crashes"):
        _official(task, minicity["hidden"], members, tmp_path)


def test_wrong_size(task, minicity, good_members, tmp_path):
    victim = sorted(good_members)[0]
    members = {**good_members, victim: png(np.zeros((24, 48), np.uint8))}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [f"{victim}: 48x24 pixels, the ground truth is 96x48"]
    with pytest.raises(UserError, match="official scorer: Image widths of"):
        _official(task, minicity["hidden"], members, tmp_path)


def _gt_name(minicity, member: str) -> str:
    rel = {str(v): k for k, v in load_plain_pickle(minicity["hidden"] / "test.p").items()}[member[:-4]]
    return rel.split("/")[1].replace("_leftImg8bit.png", "_gtFine_labelIds.png")


def test_missing_test_image(task, minicity, good_members, tmp_path):
    members, victim = _replace(good_members)
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [
        f"missing prediction for {_gt_name(minicity, victim)} ({victim})"
    ]
    with pytest.raises(UserError, match="official scorer: Found no prediction for ground truth"):
        _official(task, minicity["hidden"], members, tmp_path)


def test_extra_test_image(task, minicity, good_members, tmp_path):
    members = {**good_members, "123.png": good_members[sorted(good_members)[0]]}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == ["123.png: 123 is not a test image id of test.p"]
    assert _official(task, minicity["hidden"], members, tmp_path)["images"] == 4  # never looked at


def test_duplicate_prediction(task, minicity, good_members, tmp_path):
    victim = sorted(good_members)[0]
    alias = _gt_name(minicity, victim).replace("_gtFine_labelIds.png", "_leftImg8bit.png")
    members = {**good_members, alias: good_members[victim]}
    assert _strict_problems(task, minicity["hidden"], members, tmp_path) == [
        f"2 predictions for {_gt_name(minicity, victim)} ({victim}): {victim}, {alias}"
    ]
    with pytest.raises(UserError, match="official scorer: Found multiple predictions"):
        _official(task, minicity["hidden"], members, tmp_path)


def test_corrupt_png(task, minicity, good_members, tmp_path):
    victim = sorted(good_members)[0]
    members = {**good_members, victim: good_members[victim][:60]}
    problems = _strict_problems(task, minicity["hidden"], members, tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{victim}: not a readable PNG")
    with pytest.raises(UserError, match=f"official scorer: Unable to load {victim}"):
        _official(task, minicity["hidden"], members, tmp_path)


def test_empty_zip(task, minicity, tmp_path):
    problems = _strict_problems(task, minicity["hidden"], {}, tmp_path)
    assert problems[0] == "the zip holds no files" and len(problems) == 5  # and each of the 4 missing
    with pytest.raises(UserError, match="official scorer: Found no prediction"):
        _official(task, minicity["hidden"], {}, tmp_path)


def test_not_a_zip(task, minicity, tmp_path):
    (tmp_path / "s.zip").write_text("not a zip")
    with pytest.raises(UserError, match="not a readable zip file"):
        task.score(minicity["hidden"], tmp_path / "s.zip", tmp_path / "out", mode="strict", options={})


def test_several_problems_one_message_each(task, minicity, good_members, tmp_path):
    first, second = sorted(good_members)[:2]
    members = {**good_members, first: png(np.zeros((48, 96, 3), np.uint8)), "notes.txt": b"x"}
    members.pop(second)
    problems = _strict_problems(task, minicity["hidden"], members, tmp_path)
    assert len(problems) == 3
    assert task.validate(minicity["hidden"], tmp_path / "bad.zip", {}) == problems


# --- the command line of issue 3


def test_cli_score_official_with_test_names(minicity, good_members, tmp_path, capsys):
    gt = tmp_path / "gt"
    shutil.copytree(minicity["hidden"] / "gtFine", gt / "gtFine")
    zip_path = write_zip(tmp_path / "s.zip", good_members)
    code = main(
        [
            "score",
            "--task",
            "segmentation",
            "--gt",
            str(gt),
            "--submission",
            str(zip_path),
            "--out",
            str(tmp_path / "out"),
            "--mode",
            "official",
            "--test-names",
            str(minicity["hidden"] / "test.p"),
        ]
    )
    assert code == 0 and "IoU Class: 0." in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["confusion_matrix.csv", "results.txt", "scores.json"]


def test_cli_score_strict_refuses_in_one_line(minicity, good_members, tmp_path, capsys):
    members, victim = _replace(good_members)
    zip_path = write_zip(tmp_path / "s.zip", members)
    code = main(
        [
            "score",
            "--task",
            "segmentation",
            "--gt",
            str(minicity["hidden"]),
            "--submission",
            str(zip_path),
            "--out",
            str(tmp_path / "out"),
            "--mode",
            "strict",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and f"missing prediction for {_gt_name(minicity, victim)} ({victim})" in err
    assert not (tmp_path / "out").exists()


def test_cli_validate(minicity, good_members, tmp_path, capsys):
    zip_path = write_zip(tmp_path / "s.zip", good_members)
    assert main(["validate", "--task", "segmentation", "--gt", str(minicity["hidden"]), "--submission", str(zip_path)]) == 0
    assert "valid" in capsys.readouterr().out


def test_bad_ground_truth_is_named(task, hidden_copy, good_members, tmp_path):
    label = sorted(hidden_copy.rglob("*_gtFine_labelIds.png"))[0]
    Image.fromarray(np.full((48, 96), 200, np.uint8)).save(label)
    with pytest.raises(UserError, match="unknown label id 200 in the ground truth") as caught:
        task.score(hidden_copy, write_zip(tmp_path / "s.zip", good_members), tmp_path / "out", mode="official", options={})
    assert str(label) in caught.value.message
