"""Strict validation: every check shown failing on a broken or cheating submission, every
problem listed; unreadable files are one-line UserErrors in both modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from instance_segmentation_helpers import noisy_instances, rle, write_zip

from viprepro.errors import UserError
from viprepro.tasks.instance_segmentation import rle as rle_codec
from viprepro.tasks.instance_segmentation.submission import Limits, read_instances


def _row(gt_doc, **changes):
    image = gt_doc["images"][0]
    mask = np.zeros((image["height"], image["width"]), np.uint8)
    mask[5:20, 5:12] = 1
    row = {"image_id": image["id"], "category_id": 1, "segmentation": rle(mask), "score": 0.9}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not DROP}


DROP = object()


def _problems(task, courts, tmp_path, rows):
    return task.validate(courts["gt"], write_zip(tmp_path / "s.zip", rows), {})


def test_a_valid_submission_has_no_problem(task, courts, good_submission):
    assert task.validate(courts["gt"], good_submission, {}) == []


def _bad_rows(gt_doc):
    image = gt_doc["images"][0]
    h, w = image["height"], image["width"]
    good = _row(gt_doc)["segmentation"]
    return {
        "unknown image": (_row(gt_doc, image_id=987654321), "image_id 987654321 is not a test image"),
        "image id not an integer": (_row(gt_doc, image_id="1"), "is not an integer"),
        "category 3": (_row(gt_doc, category_id=3), "category_id 3 is not a category"),
        "category 0": (_row(gt_doc, category_id=0), "category_id 0 is not a category"),
        "score above 1": (_row(gt_doc, score=1.5), "not in [0, 1]"),
        "score NaN": (_row(gt_doc, score=float("nan")), "not in [0, 1]"),
        "score a string": (_row(gt_doc, score="0.5"), "is not a number"),
        "missing segmentation": (_row(gt_doc, segmentation=DROP), "missing key 'segmentation'"),
        "missing score": (_row(gt_doc, score=DROP), "missing key 'score'"),
        "unknown key": (_row(gt_doc, area=3), "unknown key 'area'"),
        "a box": (_row(gt_doc, bbox=[0, 0, 1, 1]), "official scorer takes areas from it"),
        "polygon": (_row(gt_doc, segmentation=[[0, 0, 5, 0, 5, 5]]), "expected a compressed RLE object"),
        "uncompressed counts": (_row(gt_doc, segmentation={"size": [h, w], "counts": [h * w]}), "uncompressed run lists crash"),
        "wrong size": (_row(gt_doc, segmentation=rle(np.ones((h + 1, w), np.uint8))), f"is not the image's [height, width] {[h, w]}"),
        "size not a pair": (_row(gt_doc, segmentation={"size": [h], "counts": good["counts"]}), "is not [height, width]"),
        "bad RLE character": (_row(gt_doc, segmentation={"size": [h, w], "counts": good["counts"] + "~"}), "outside '0'..'o'"),
        "truncated RLE": (_row(gt_doc, segmentation={"size": [h, w], "counts": "Z0k"}), "end inside a number"),
        "RLE of too few pixels": (_row(gt_doc, segmentation={"size": [h, w], "counts": "5"}), f"not the image's {h * w}"),
        "extra RLE key": (_row(gt_doc, segmentation={**good, "area": 3}), "unknown key 'area'"),
        "not an object": ([1, 2], "expected an object"),
    }


@pytest.mark.parametrize("case", sorted(_bad_rows({"images": [{"id": 1, "height": 8, "width": 8}]})))
def test_each_check_fails_on_its_bad_input(case, task, courts, gt_doc, tmp_path):
    row, expected = _bad_rows(gt_doc)[case]
    problems = _problems(task, courts, tmp_path, [_row(gt_doc), row])
    assert problems and any(expected in p for p in problems), problems
    assert all(p.startswith("instance 1:") for p in problems)


def test_every_problem_is_listed_and_the_list_is_bounded(task, courts, gt_doc, tmp_path):
    rows = [_row(gt_doc, category_id=9, score=2) for _ in range(150)]
    problems = _problems(task, courts, tmp_path, rows)
    assert problems.total == 300 and len(problems) == 100


def test_an_empty_list_is_a_problem(task, courts, tmp_path):
    assert _problems(task, courts, tmp_path, []) == ["the list is empty: no instances to score"]


def test_the_zip_holds_one_json_and_nothing_else(task, courts, gt_doc, tmp_path):
    extra = write_zip(tmp_path / "extra.zip", [_row(gt_doc)], extra={"notes.txt": "hi"})
    assert task.validate(courts["gt"], extra, {}) == [
        "notes.txt: not the submission's JSON (the zip holds one .json file and nothing else)"
    ]
    two = write_zip(tmp_path / "two.zip", [_row(gt_doc)], extra={"b.json": "[]"})
    for mode in ("strict", "official"):
        with pytest.raises(UserError, match="exactly one .json file, it holds 2"):
            read_instances(gt_doc, two, mode=mode)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"PK\x03\x04 not really a zip", "not a readable zip"),
        (b"{not json", "JSON"),
        (b"\xef\xbb\xbf[]", "byte-order mark"),
        (b"\xff\xfe[\x00]\x00", "UTF"),
        (b"[" * 100 + b"]" * 100, "deeper"),
        (b'{"image_id": 1}', "list"),
    ],
)
def test_hostile_files_are_one_line_errors(content, expected, gt_doc, tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(content)
    for mode in ("strict", "official"):
        with pytest.raises(UserError) as caught:
            read_instances(gt_doc, path, mode=mode)
        assert "\n" not in str(caught.value) and str(path) in str(caught.value)
        assert expected.lower() in str(caught.value).lower(), str(caught.value)


def test_size_and_item_limits(gt_doc, tmp_path):
    rows = noisy_instances(gt_doc, seed=1)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(UserError, match="max-submission-mb"):
        read_instances(gt_doc, path, mode="strict", limits=Limits.from_options({"max_submission_mb": 0.001}))
    _, problems = read_instances(gt_doc, path, mode="strict", limits=Limits.from_options({"max_item_kb": 0.05}))
    assert problems and "far longer than an instance" in problems[0]


def test_counts_decoder_agrees_with_pycocotools():
    """decode_counts reads what pycocotools writes, run for run, on random masks."""
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 40, size=2)
        mask = (rng.uniform(size=(h, w)) < rng.uniform()).astype(np.uint8)
        counts = mask_util.encode(np.asfortranarray(mask))["counts"].decode()
        runs, problem = rle_codec.decode_counts(counts)
        assert problem is None and sum(runs) == h * w
        assert sum(runs[1::2]) == int(mask.sum()) == int(mask_util.area({"size": [int(h), int(w)], "counts": counts}))
        assert not rle_codec.truncated(counts)
    assert rle_codec.truncated("Z0k") and rle_codec.counts_problem("Z0k", 10).startswith("compressed RLE counts end inside")
