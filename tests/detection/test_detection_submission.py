"""Bad submissions: strict mode names every problem, official mode stops where the grader did."""

from __future__ import annotations

import json

import pytest
from detection_helpers import noisy_detections, read_json, write_json

from viprepro.cli import main
from viprepro.errors import UserError, ValidationFailed
from viprepro.tasks.detection.submission import read_submission, write_submission


def _score(task, coco, path, tmp_path, mode):
    return task.score(coco["gt"], path, tmp_path / "scores", mode=mode, options={})


def _broken(gt_doc, tmp_path, edit):
    detections = noisy_detections(gt_doc, seed=5)
    edit(detections)
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(detections))
    return path


def _set(index, key, value):
    def edit(detections):
        detections[index][key] = value

    return edit


def _set_box(index, position, value):
    def edit(detections):
        detections[index]["bbox"][position] = value

    return edit


@pytest.mark.parametrize(
    "edit, problem",
    [
        (_set(0, "image_id", "12"), "detection 0: image_id '12' is not an integer"),
        (_set(1, "image_id", 999_999_999), "detection 1: image_id 999999999 is not a test image"),
        (_set(2, "category_id", 12), "detection 2: category_id 12 is not a category of the ground truth"),
        (_set_box(3, 2, -4.0), "detection 3: bbox \\[.*\\] has a negative width or height"),
        (_set_box(4, 3, float("nan")), "detection 4: bbox \\[.*\\] has a NaN or infinite value"),
        (_set(5, "score", 1.5), "detection 5: score 1.5 is not in \\[0, 1\\]"),
        (_set(6, "score", float("nan")), "detection 6: score nan is not in \\[0, 1\\]"),
        (lambda d: d[7].pop("score"), "detection 7: missing key 'score'"),
        (_set(8, "bbox", [1, 2, 3]), "detection 8: bbox \\[1, 2, 3\\] is not \\[x, y, width, height\\]"),
    ],
)
def test_strict_mode_names_each_problem(task, coco, gt_doc, tmp_path, edit, problem):
    path = _broken(gt_doc, tmp_path, edit)
    with pytest.raises(ValidationFailed, match=problem) as caught:
        _score(task, coco, path, tmp_path, "strict")
    assert caught.value.path == str(path) and len(caught.value.problems) == 1
    assert not (tmp_path / "scores").exists(), "no partial output"


def test_every_problem_is_listed_in_file_order(task, coco, gt_doc, tmp_path):
    def edit(detections):
        detections[3]["score"] = -1
        detections[9]["image_id"] = "x"
        del detections[12]["bbox"]

    problems = task.validate(coco["gt"], _broken(gt_doc, tmp_path, edit), {})
    assert [p.split(":")[0] for p in problems] == ["detection 3", "detection 9", "detection 12"]


@pytest.mark.parametrize(
    "edit, problem",
    [
        (_set(0, "image_id", "12"), "image_id '12' is not in the ground truth"),
        (_set(1, "image_id", 999_999_999), "Results do not correspond to current coco set"),
        (lambda d: d[2].pop("category_id"), "detection 2 lacks one of image_id, category_id, bbox, score"),
        (_set(3, "score", "high"), "bbox .* or score 'high' is not numeric"),
    ],
)
def test_official_mode_stops_where_the_official_scorer_crashed(task, coco, gt_doc, tmp_path, edit, problem):
    with pytest.raises(UserError, match=problem):
        _score(task, coco, _broken(gt_doc, tmp_path, edit), tmp_path, "official")
    assert not (tmp_path / "scores").exists()


@pytest.mark.parametrize(
    "mode, problem",
    [
        ("strict", "the list is empty: no detections to score"),
        ("official", "the official scorer crashes on an empty list and produces no score"),
    ],
)
def test_empty_list(task, coco, tmp_path, mode, problem):
    with pytest.raises(UserError, match=problem):
        _score(task, coco, write_json(tmp_path / "empty.json", []), tmp_path, mode)


@pytest.mark.parametrize("mode", ["strict", "official"])
def test_not_a_json_list(task, coco, tmp_path, mode):
    path = write_json(tmp_path / "dict.json", {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1})
    with pytest.raises(UserError, match="not a JSON list|found a JSON dict"):
        _score(task, coco, path, tmp_path, mode)


def test_invalid_json_names_line_and_column(task, coco, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"image_id": 1,\n "score": }\n]')
    with pytest.raises(UserError, match="not valid JSON") as caught:
        _score(task, coco, path, tmp_path, "official")
    assert caught.value.where.startswith("line 3")


def test_a_200_mb_file_is_refused_before_it_is_read(task, coco, tmp_path, capsys):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:
        fh.truncate(200 << 20)  # sparse: costs no disk and no time
    argv = ["score", "--task", "detection", "--gt", str(coco["gt"]), "--submission", str(huge), "--out", str(tmp_path / "scores")]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip()
    assert "200 MB, above the 128 MB limit" in error and "--max-submission-mb" in error and "\n" not in error
    with pytest.raises(UserError, match="NUL bytes"):  # with the limit raised it is read (and found to be zeros)
        read_submission(huge, max_mb=300)


def test_cli_validate_prints_the_problems_on_one_line(coco, gt_doc, tmp_path, capsys):
    path = _broken(gt_doc, tmp_path, _set(0, "score", 2))
    assert main(["validate", "--task", "detection", "--gt", str(coco["gt"]), "--submission", str(path)]) == 1
    assert "1 problem(s): detection 0: score 2 is not in [0, 1]" in capsys.readouterr().err


def test_written_submission_round_trips_with_its_csv_twin(gt_doc, tmp_path, task, coco):
    detections = noisy_detections(gt_doc, seed=6)
    csv_path = write_submission(tmp_path / "submission.json", detections)
    assert read_json(tmp_path / "submission.json") == detections
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "image_id,category_id,bbox_x,bbox_y,bbox_width,bbox_height,score" and len(rows) == len(detections) + 1
    d = detections[0]
    assert rows[1] == ",".join(str(v) for v in (d["image_id"], d["category_id"], *d["bbox"], d["score"]))
    assert task.validate(coco["gt"], tmp_path / "submission.json", {}) == []
