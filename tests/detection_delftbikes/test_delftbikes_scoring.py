"""Scoring: official mode equals a reference procedure written from the toolkit's evaluate.py
(CocoEvaluator.put_results: pycocotools restricted to the images with predictions, on the
present parts only); strict mode refuses every problem; every check fails on a bad input."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile

import numpy as np
import pytest
from delft_helpers import read_json, shifted_detections, write_zip

from viprepro.cli import main
from viprepro.errors import UserError, ValidationFailed
from viprepro.tasks.detection.scoring import STAT_KEYS


def _reference_official(gt: dict, detections: list[dict]) -> list[float]:
    """evaluate.py: COCO() with the ground truth as the organisers built it (categories = the
    ids seen), loadRes, params.imgIds = the unique image ids of the results, then
    evaluate/accumulate/summarize (its evaluate() is pycocotools' without the prints)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    official_gt = copy.deepcopy(gt)
    official_gt["categories"] = [{"id": i} for i in sorted({a["category_id"] for a in gt["annotations"]})]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = official_gt
        coco.createIndex()
        coco_dt = coco.loadRes(copy.deepcopy(detections))
        evaluator = COCOeval(coco, coco_dt, "bbox")
        evaluator.params.imgIds = list(np.unique([d["image_id"] for d in detections]))
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return list(evaluator.stats)


def _score(task, gt_path, rows, tmp_path, mode, name="submission.zip"):
    return task.score(gt_path, write_zip(tmp_path / name, rows), tmp_path / f"{mode}_{name}", mode=mode, options={})


@pytest.mark.parametrize(("seed", "skip_images"), [(0, 0), (1, 2), (2, 4)])
def test_official_mode_equals_the_reference_procedure(task, gt_path, gt_doc, tmp_path, seed, skip_images):
    rows = shifted_detections(gt_doc, seed=seed, skip_images=skip_images)
    rows[0]["category_id"] = 23  # not a part: the official evaluator ignores it (not among its category ids)
    official = _score(task, gt_path, rows, tmp_path, "official")
    assert [official[k] for k in STAT_KEYS] == pytest.approx(_reference_official(gt_doc, rows), abs=1e-12)
    assert official["n_scored"] == len(gt_doc["images"]) - skip_images
    assert (tmp_path / "official_submission.zip/scores.txt").read_text().startswith(f"AP @ 0.50-0.95: {official['ap']:.8f}\n")


def test_images_without_predictions_count_only_in_strict_mode(task, gt_path, gt_doc, tmp_path):
    rows = shifted_detections(gt_doc, seed=3, skip_images=3)
    official = _score(task, gt_path, rows, tmp_path, "official")
    strict = _score(task, gt_path, rows, tmp_path, "strict")
    assert official["ap"] > strict["ap"] and official["ar100"] > strict["ar100"], "skipping hard images pays only in official mode"
    assert strict["n_scored"] == len(gt_doc["images"])


def test_boxes_on_absent_parts_are_false_positives(task, gt_path, gt_doc, synth, tmp_path):
    """Only parts whose object_state is not absent are in the ground truth: predicting an absent
    part's annotated box (a hallucination) costs AP; counting absent parts would reward it."""
    names = [image["file_name"] for image in gt_doc["images"]]
    labels = read_json(synth["manifests"] / "test_annotations.json")
    exact = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9} for a in gt_doc["annotations"]]
    hallucinated = [
        {"image_id": image_id, "category_id": position + 1, "bbox": [b["left"], b["top"], b["width"], b["height"]], "score": 0.95}
        for image_id, name in enumerate(names)
        for position, part in enumerate(labels[name]["parts"].values())
        if part["object_state"] == "absent"
        for b in [part["absolute_bounding_box"]]
    ]
    assert hallucinated
    clean = _score(task, gt_path, exact, tmp_path, "strict", "clean.zip")
    with_absent = _score(task, gt_path, exact + hallucinated, tmp_path, "strict", "absent.zip")
    assert clean["ap"] == pytest.approx(1.0) and with_absent["ap"] < clean["ap"] - 0.05


def test_numeric_order_image_ids_score_badly(task, gt_path, gt_doc, tmp_path):
    """image_id is the index in the SORTED test listing; numbering images by their numeric
    file names (a common mistake) puts boxes on the wrong images."""
    rows = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9} for a in gt_doc["annotations"]]
    names = [image["file_name"] for image in gt_doc["images"]]
    numeric = {sorted(names).index(n): i for i, n in enumerate(sorted(names, key=lambda n: int(n.split(".")[0])))}
    assert any(k != v for k, v in numeric.items())
    wrong = [{**r, "image_id": numeric[r["image_id"]]} for r in rows]
    right = _score(task, gt_path, rows, tmp_path, "strict", "right.zip")
    assert right["ap"] == pytest.approx(1.0) and _score(task, gt_path, wrong, tmp_path, "strict", "wrong.zip")["ap"] < 0.7


def test_strict_lists_every_problem_and_official_stops_where_the_scorer_would(task, gt_path, gt_doc, tmp_path):
    rows = shifted_detections(gt_doc, seed=4)
    rows[0]["category_id"] = 23
    rows[1]["category_id"] = 0
    rows[2]["image_id"] = len(gt_doc["images"])
    rows[3]["bbox"] = [1, 2, -3, 4]
    rows[4]["score"] = 1.5
    del rows[5]["score"]
    path = write_zip(tmp_path / "bad.zip", rows)
    problems = task.validate(gt_path, path, {})
    assert [p.split(":")[0] for p in problems] == [f"detection {i}" for i in range(6)]
    assert "category_id 23 is not a category" in problems[0] and "image_id 6 is not a test image" in problems[2]
    with pytest.raises(ValidationFailed):
        task.score(gt_path, path, tmp_path / "strict", mode="strict", options={})
    with pytest.raises(UserError, match="detection 2: image_id 6 is not in the ground truth"):
        task.score(gt_path, path, tmp_path / "official", mode="official", options={})
    assert not (tmp_path / "strict").exists() and not (tmp_path / "official").exists()


def test_file_names_as_image_ids_fail_both_modes(task, gt_path, gt_doc, tmp_path):
    """The README's example shows "image_id": "0.jpg"; the scorer checks ids against the ground truth's integers."""
    rows = [{**r, "image_id": f"{r['image_id']}.jpg"} for r in shifted_detections(gt_doc, seed=5)]
    path = write_zip(tmp_path / "names.zip", rows)
    assert "is not an integer" in task.validate(gt_path, path, {})[0]
    with pytest.raises(UserError, match="Results do not correspond"):
        task.score(gt_path, path, tmp_path / "o", mode="official", options={})


def test_an_empty_submission(task, gt_path, tmp_path):
    path = write_zip(tmp_path / "empty.zip", [])
    assert task.validate(gt_path, path, {}) == ["the list is empty: no detections to score"]
    with pytest.raises(UserError, match="empty"):
        task.score(gt_path, path, tmp_path / "o", mode="official", options={})


def test_problems_are_bounded(task, gt_path, tmp_path):
    rows = [{"image_id": 0, "category_id": 99, "bbox": [0, 0, 1, 1], "score": 0.5}] * 5000
    problems = task.validate(gt_path, write_zip(tmp_path / "many.zip", rows), {})
    assert len(problems) == 100 and problems.total == 5000


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"submission.json": "[]", "extra.txt": "x"}, "exactly one JSON file"),
        ({"folder/submission.json": "[]"}, "exactly one JSON file"),
        ({"submission.csv": "a,b"}, "exactly one JSON file"),
        ({"submission.json": '[{"image_id": 0,'}, "JSON"),
        ({"submission.json": '{"image_id": 0}'}, "list"),
    ],
)
def test_hostile_zips_get_one_line_errors(task, gt_path, tmp_path, members, message):
    path = write_zip(tmp_path / "hostile.zip", None, members=members)
    for call in (lambda: task.validate(gt_path, path, {}), lambda: task.score(gt_path, path, tmp_path / "o", mode="official", options={})):
        with pytest.raises(UserError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value) and "hostile.zip" in str(caught.value)


def test_not_a_zip_and_a_zip_bomb_are_refused(task, gt_path, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UserError, match="not a readable zip"):
        task.validate(gt_path, fake, {})
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("submission.json", "[" + " " * (3 << 20) + "]")
    with pytest.raises(UserError, match="submission.json\\): declares 3.0 MB uncompressed, above the 1 MB limit"):
        task.validate(gt_path, bomb, {"max_submission_mb": 1})


def test_a_plain_json_file_is_read_as_the_zipped_one(task, gt_path, gt_doc, tmp_path):
    rows = shifted_detections(gt_doc, seed=6)
    (tmp_path / "submission.json").write_text(json.dumps(rows))
    plain = task.score(gt_path, tmp_path / "submission.json", tmp_path / "plain", mode="strict", options={})
    zipped = _score(task, gt_path, rows, tmp_path, "strict")
    assert plain["ap"] == zipped["ap"] and plain["task"] == "detection_delftbikes"


def test_cli_validate_and_score(gt_path, good_submission, tmp_path, capsys):
    assert main(["validate", "--task", "detection_delftbikes", "--gt", str(gt_path), "--submission", str(good_submission)]) == 0
    argv = [
        "score",
        "--task",
        "detection_delftbikes",
        "--gt",
        str(gt_path),
        "--submission",
        str(good_submission),
        "--out",
        str(tmp_path / "s"),
    ]
    assert main(argv + ["--mode", "official"]) == 0
    scores = read_json(tmp_path / "s/scores.json")
    assert scores["mode"] == "official" and 0 < scores["ap"] <= 1 and set(scores["per_category_ap"]) <= set(_part_names())
    bad = write_zip(tmp_path / "bad.zip", [{"image_id": 0, "category_id": 30, "bbox": [0, 0, 1, 1], "score": 0.5}])
    assert main(["validate", "--task", "detection_delftbikes", "--gt", str(gt_path), "--submission", str(bad)]) == 1
    assert "category_id 30" in capsys.readouterr().err


def _part_names():
    from viprepro.tasks.detection_delftbikes.annotations import PART_NAMES

    return PART_NAMES


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"image_id": 0}]'.encode("utf-16"), "UTF-"),
        (b"\xef\xbb\xbf[]", "byte-order mark"),
        (b"[" * 100 + b"]" * 100, "nested deeper than 64 levels"),
        (b"\x00\x01 not json", "NUL bytes"),
        (b'[{"image_id": 0', "hostile.zip"),
    ],
)
def test_hostile_json_in_the_zip_is_one_line_and_exit_1_on_the_command_line(gt_path, tmp_path, capsys, content, message):
    path = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("submission.json", content)
    for command in ("validate", "score"):
        argv = [command, "--task", "detection_delftbikes", "--gt", str(gt_path), "--submission", str(path)]
        argv += ["--out", str(tmp_path / "o"), "--mode", "official"] if command == "score" else []
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()
