"""Scoring: faster-coco-eval equals pycocotools, and both modes follow their rules."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from detection_helpers import noisy_detections, read_json, write_json

from viprepro.cli import main
from viprepro.tasks.detection.scoring import STAT_KEYS, TXT_LABELS, evaluate_boxes


def _both(gt, detections, img_ids=None):
    return [
        evaluate_boxes(copy.deepcopy(gt), copy.deepcopy(detections), img_ids=img_ids, engine=engine)
        for engine in ("faster-coco-eval", "pycocotools")
    ]


def _official_reference(gt, detections) -> list[float]:
    """pycocotools restricted to the images with predictions, as the official scorer runs it."""
    stats, _ = evaluate_boxes(
        copy.deepcopy(gt), copy.deepcopy(detections), img_ids={d["image_id"] for d in detections}, engine="pycocotools"
    )
    return list(stats)


def _gt(tmp_path, gt_doc):
    return write_json(tmp_path / "gt.json", gt_doc)


@pytest.mark.parametrize("skip_images", [0, 3])
def test_faster_coco_eval_equals_pycocotools_in_both_modes(gt_doc, skip_images):
    detections = noisy_detections(gt_doc, seed=skip_images, skip_images=skip_images)
    with_predictions = {d["image_id"] for d in detections}
    for img_ids in (None, with_predictions):
        (fast, fast_cats), (reference, reference_cats) = _both(gt_doc, detections, img_ids)
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)
        assert fast_cats.keys() == reference_cats.keys()
        np.testing.assert_allclose(list(fast_cats.values()), list(reference_cats.values()), rtol=0, atol=1e-9)
    assert 0 < fast[0] < 1


def test_the_official_restriction_only_counts_images_with_predictions(gt_doc, tmp_path, task):
    detections = noisy_detections(gt_doc, seed=2, skip_images=4)
    submission = write_json(tmp_path / "submission.json", detections)
    strict = task.score(_gt(tmp_path, gt_doc), submission, tmp_path / "strict", mode="strict", options={})
    official = task.score(_gt(tmp_path, gt_doc), submission, tmp_path / "official", mode="official", options={})
    assert [official[k] for k in STAT_KEYS] == pytest.approx(_official_reference(gt_doc, detections), abs=1e-9)
    assert official["ar100"] > strict["ar100"], "the missed images' boxes count against recall only in strict mode"
    assert official["n_scored"] == len(gt_doc["images"]) - 4 and strict["n_scored"] == len(gt_doc["images"])


def test_cli_score_writes_scores_txt_and_all_twelve_stats(coco, good_submission, tmp_path, capsys):
    out = tmp_path / "scores"
    argv = ["score", "--task", "detection", "--gt", str(coco["gt"]), "--submission", str(good_submission), "--out", str(out)]
    assert main(argv + ["--mode", "official"]) == 0
    assert "AP @ 0.50-0.95: " in capsys.readouterr().out
    scores = read_json(out / "scores.json")
    assert scores["mode"] == "official" and all(isinstance(scores[k], float) for k in STAT_KEYS)
    assert set(scores["per_category_ap"]) == {
        c["name"]
        for c in read_json(coco["gt"])["categories"]
        if any(a["category_id"] == c["id"] for a in read_json(coco["gt"])["annotations"])
    }
    lines = (out / "scores.txt").read_text().splitlines()
    assert [line.split(": ")[0] for line in lines] == list(TXT_LABELS)
    assert lines[0] == f"AP @ 0.50-0.95: {scores['ap']:.8f}"
    assert main(argv) == 0  # strict is the default mode
    assert read_json(out / "scores.json")["mode"] == "strict"


def test_unknown_categories_count_in_strict_only(gt_doc, tmp_path, task):
    detections = noisy_detections(gt_doc, seed=3)
    detections[0]["category_id"] = 12  # a gap in COCO's ids
    submission = write_json(tmp_path / "submission.json", detections)
    official = task.score(_gt(tmp_path, gt_doc), submission, tmp_path / "official", mode="official", options={})
    assert official["ap"] == pytest.approx(_official_reference(gt_doc, detections)[0], abs=1e-9)
    problems = task.validate(_gt(tmp_path, gt_doc), submission, {})
    assert problems == ["detection 0: category_id 12 is not a category of the ground truth"]


def test_official_mode_scores_nan_and_negative_sizes_as_pycocotools_does(gt_doc, tmp_path, task):
    detections = noisy_detections(gt_doc, seed=4)
    detections[1]["score"] = float("nan")
    detections[2]["bbox"][2] = -detections[2]["bbox"][2]
    detections[3]["bbox"][3] = float("nan")
    detections[4]["score"] = 1.7
    submission = tmp_path / "submission.json"
    submission.write_text(json.dumps(detections))  # NaN as the bare token Python's json writes and reads
    official = task.score(_gt(tmp_path, gt_doc), submission, tmp_path / "official", mode="official", options={})
    assert official["engine"] == "pycocotools"
    assert [official[k] for k in STAT_KEYS] == pytest.approx(_official_reference(gt_doc, detections), abs=1e-9)
