"""Scoring: official mode equals the toolkit's evaluate.py (written out in the helpers) on
generated cases, quirks included; strict mode refuses what official mode lets through."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from instance_segmentation_helpers import noisy_instances, official_reference, rle, write_zip

from viprepro.cli import main
from viprepro.errors import UserError, ValidationFailed
from viprepro.tasks.detection.scoring import STAT_KEYS


def _wrong_category(rows):
    return [{**r, "category_id": 3} if i % 4 == 0 else r for i, r in enumerate(rows)]


def _wrong_size(rows):
    out = []
    for i, r in enumerate(rows):
        if i % 3 == 0:
            h, w = r["segmentation"]["size"]
            mask = np.zeros((h + 4, w), np.uint8)
            mask[:h] = 1
            r = {**r, "segmentation": rle(mask)}
        out.append(r)
    return out


def _with_boxes(rows):
    """Every item with a (loose) box: loadRes takes its bbox branch, areas become box areas."""
    from pycocotools import mask as mask_util

    out = []
    for r in rows:
        x, y, w, h = (float(v) for v in mask_util.toBbox(r["segmentation"]))
        out.append({**r, "bbox": [x - 1, y - 1, w + 12, h + 12]})
    return out


def _scores_out_of_range(rows):
    return [{**r, "score": r["score"] * 3 - 1} for r in rows]


CASES = {
    "valid": lambda gt: noisy_instances(gt, seed=3),
    "images_without_predictions": lambda gt: noisy_instances(gt, seed=4, skip_images=3),
    "unknown_category_ignored": lambda gt: _wrong_category(noisy_instances(gt, seed=5)),
    "wrong_size_matches_nothing": lambda gt: _wrong_size(noisy_instances(gt, seed=6)),
    "boxes_set_the_areas": lambda gt: _with_boxes(noisy_instances(gt, seed=7)),
    "scores_outside_0_1": lambda gt: _scores_out_of_range(noisy_instances(gt, seed=8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_official_mode_equals_the_official_procedure(case, courts, gt_doc, task, tmp_path):
    rows = CASES[case](gt_doc)
    submission = write_zip(tmp_path / "submission.zip", rows)
    scores = task.score(courts["gt"], submission, tmp_path / "out", mode="official", options={})
    assert [scores[k] for k in STAT_KEYS] == pytest.approx(official_reference(gt_doc, rows), abs=1e-12)
    assert 0 < scores["ap"] < 1
    assert (tmp_path / "out" / "scores.txt").read_text().splitlines()[0] == f"AP @ 0.50-0.95: {scores['ap']:.8f}"
    if case != "valid":  # each quirk's case is one strict mode refuses, or scores differently
        try:
            strict = task.score(courts["gt"], submission, tmp_path / "strict", mode="strict", options={})
        except ValidationFailed:
            return
        assert case == "images_without_predictions"
        assert strict["ar100"] < scores["ar100"] and strict["n_scored"] == len(gt_doc["images"]) > scores["n_scored"]


def test_the_quirk_cases_change_the_score(gt_doc):
    """Each generated quirk matters: the reference gives another number without it."""
    base = noisy_instances(gt_doc, seed=6)
    assert official_reference(gt_doc, _wrong_size(base))[0] < official_reference(gt_doc, base)[0]
    base = noisy_instances(gt_doc, seed=7)
    assert official_reference(gt_doc, _with_boxes(base))[3:6] != official_reference(gt_doc, base)[3:6]


def test_strict_scores_every_image_and_valid_files_score_alike(courts, gt_doc, task, tmp_path):
    rows = noisy_instances(gt_doc, seed=9)
    submission = write_zip(tmp_path / "submission.zip", rows)
    strict = task.score(courts["gt"], submission, tmp_path / "strict", mode="strict", options={})
    official = task.score(courts["gt"], submission, tmp_path / "official", mode="official", options={})
    assert strict["ap"] == pytest.approx(official["ap"], abs=1e-12)  # every image has predictions
    assert set(strict["per_category_ap"]) == {"human", "ball"} and strict["edition"] == "2023"
    perfect = [{**r, "score": 1.0} for r in noisy_instances(gt_doc, seed=0, false_positives=0)]
    exact = []
    for ann in gt_doc["annotations"]:
        from instance_segmentation_helpers import gt_mask

        image = next(i for i in gt_doc["images"] if i["id"] == ann["image_id"])
        exact.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "segmentation": rle(gt_mask(ann, image["height"], image["width"])),
                "score": 1.0,
            }
        )
    assert task.score(courts["gt"], write_zip(tmp_path / "exact.zip", exact), tmp_path / "e", mode="strict", options={})[
        "ap"
    ] == pytest.approx(1.0)
    assert perfect  # the noisy copy is not perfect, the exact one is


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([], "empty"),
        (
            [{"image_id": 123456789, "category_id": 1, "segmentation": {"size": [1, 1], "counts": "1"}, "score": 1}],
            "Results do not correspond",
        ),
        ([{"category_id": 1, "score": 1}], "not an object with an 'image_id'"),
        (["text"], "not an object"),
    ],
)
def test_official_mode_stops_where_the_official_scorer_crashes(rows, expected, courts, task, tmp_path):
    with pytest.raises(UserError, match=expected) as caught:
        task.score(courts["gt"], write_zip(tmp_path / "s.zip", rows), tmp_path / "out", mode="official", options={})
    assert "\n" not in str(caught.value) and not (tmp_path / "out" / "scores.json").exists()


def test_official_mode_reports_pycocotools_crashes(courts, gt_doc, task, tmp_path):
    """A missing segmentation or an uncompressed RLE: pycocotools raises; one line says so."""
    image = gt_doc["images"][0]
    rows = noisy_instances(gt_doc, seed=1)
    for bad in (
        [{**rows[0], "bbox": [0, 0, 5, 5]}, *rows[1:]],  # a box on the first item only: KeyError 'bbox' on the second
        [{"image_id": image["id"], "category_id": 1, "score": 0.5}],
        [
            {
                "image_id": image["id"],
                "category_id": 1,
                "score": 0.5,
                "segmentation": {"size": [image["height"], image["width"]], "counts": [0, 10]},
            }
        ],
        [{"image_id": image["id"], "category_id": 1, "score": 0.5, "segmentation": [[0, 0, 5, 0, 5, 5]]}],
    ):
        with pytest.raises(UserError, match="official scorer crashes") as caught:
            task.score(courts["gt"], write_zip(tmp_path / "s.zip", bad), tmp_path / "out", mode="official", options={})
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("segmentation", [{"size": [0, 96], "counts": "0"}, {"size": [72, 96], "counts": "Z0k"}])
def test_official_mode_refuses_what_pycocotools_cannot_read_safely(segmentation, courts, gt_doc, task, tmp_path):
    """A zero side (pycocotools divides by it) or counts cut inside a number (it reads past the string)."""
    row = {"image_id": gt_doc["images"][0]["id"], "category_id": 1, "segmentation": segmentation, "score": 0.5}
    with pytest.raises(UserError, match="pycocotools"):
        task.score(courts["gt"], write_zip(tmp_path / "s.zip", [row]), tmp_path / "out", mode="official", options={})


def test_a_bare_json_file_is_read_as_the_server_reads_it(courts, gt_doc, task, tmp_path):
    rows = noisy_instances(gt_doc, seed=2)
    bare = tmp_path / "prediction.json"
    bare.write_text(json.dumps(rows))
    zipped = write_zip(tmp_path / "s.zip", copy.deepcopy(rows))
    a = task.score(courts["gt"], bare, tmp_path / "a", mode="official", options={})
    b = task.score(courts["gt"], zipped, tmp_path / "b", mode="official", options={})
    assert a["ap"] == b["ap"]


def test_cli_validate_and_score(courts, good_submission, tmp_path, capsys):
    gt = str(courts["gt"])
    assert main(["validate", "--task", "instance_segmentation", "--gt", gt, "--submission", str(good_submission)]) == 0
    argv = ["score", "--task", "instance_segmentation", "--gt", gt, "--submission", str(good_submission), "--out", str(tmp_path / "o")]
    assert main([*argv, "--mode", "official"]) == 0
    assert json.loads((tmp_path / "o" / "scores.json").read_text())["task"] == "instance_segmentation"
    bad = write_zip(tmp_path / "bad.zip", [{"image_id": -1}])
    capsys.readouterr()
    assert main(["validate", "--task", "instance_segmentation", "--gt", gt, "--submission", str(bad)]) != 0
    captured = capsys.readouterr()
    assert "image_id -1 is not a test image" in captured.out + captured.err


def test_scoring_imports_no_torch(courts, good_submission, tmp_path):
    """A score job scores a real submission (both modes, and validates it) without torch."""
    import subprocess
    import sys

    script = (
        "import sys, json\n"
        "from viprepro.tasks import get_task\n"
        "task = get_task('instance_segmentation')\n"
        "for mode in ('strict', 'official'):\n"
        "    task.score(sys.argv[1], sys.argv[2], sys.argv[3] + mode, mode=mode, options={})\n"
        "assert task.validate(sys.argv[1], sys.argv[2], {}) == []\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(courts["gt"]), str(good_submission), str(tmp_path / "o")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_example_figure_draws_masks_and_skips_what_it_cannot_decode(courts, gt_doc, task, tmp_path):
    rows = noisy_instances(gt_doc, seed=1)
    hostile = {**rows[0], "segmentation": {"size": [0, 0], "counts": "Z0k"}, "score": 1.0}
    submission = write_zip(tmp_path / "s.zip", [hostile, *rows])
    examples, note = task.figure_data("examples", courts["gt"], submission, courts["subset"])
    assert examples and "predicted masks" in note
    assert all(example.panels[0].ndim == 3 and example.panels[0].dtype.name == "uint8" for example in examples)


@pytest.mark.parametrize("mode", ["strict", "official"])
def test_a_refused_zip_is_recorded_as_an_invalid_submission(mode, courts, tmp_path):
    """Errors inside the zip name the submission file (and the member), so the pipeline's
    `score --on-invalid record` records the refusal instead of failing the job."""
    bad = write_zip(tmp_path / "bad.zip", "[{not json")
    out = tmp_path / "o"
    argv = ["score", "--task", "instance_segmentation", "--gt", str(courts["gt"]), "--submission", str(bad), "--out", str(out)]
    assert main([*argv, "--mode", mode, "--on-invalid", "record"]) == 0
    record = json.loads((out / "scores.json").read_text())
    assert record["status"] == "invalid" and record["problems"][0].startswith("prediction.json")
