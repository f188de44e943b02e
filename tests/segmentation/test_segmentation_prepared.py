"""The prepared ground truth: counts equal to the pixel-wise definition, reuse, staleness, refusals."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from segmentation_helpers import write_zip

from viprepro.cli import main
from viprepro.errors import UserError
from viprepro.tasks.segmentation import prepared as prepared_module
from viprepro.tasks.segmentation import scoring
from viprepro.tasks.segmentation.labels import CATEGORY_OF, NUM_IDS
from viprepro.tasks.segmentation.measure import count
from viprepro.tasks.segmentation.prepared import MANIFEST, frame_runs, stale_reason

KEYS = ("iou_class", "iiou_class", "iou_category", "iiou_category", "accuracy")
INSTANCE_LABELS = np.arange(24, 34)  # person .. bicycle: the ids whose instances the official script scores


def reference_counts(gt: np.ndarray, inst: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The official script's definition, pixel by pixel and instance by instance."""
    conf = np.bincount(gt.astype(np.int64).ravel() * NUM_IDS + pred.astype(np.int64).ravel(), minlength=NUM_IDS * NUM_IDS)
    rows = []
    for inst_id in np.unique(inst[inst > 1000]):
        mask = inst == inst_id
        label = int(inst_id) // 1000
        hits = pred[mask].astype(np.int64)
        same_category = [i for i in range(NUM_IDS) if CATEGORY_OF[i] == CATEGORY_OF[label]]
        rows.append([inst_id, mask.sum(), (hits == label).sum(), np.isin(hits, same_category).sum()])
    return conf, np.array(rows, dtype=np.int64).reshape(-1, 4)


def blocky(rng: np.random.Generator, shape: tuple[int, int], values: np.ndarray, block: int) -> np.ndarray:
    """Random values in blocks of about `block` pixels (a label map's smoothness)."""
    small = rng.choice(values, size=(-(-shape[0] // block), -(-shape[1] // block)))
    return np.kron(small, np.ones((block, block), dtype=small.dtype))[: shape[0], : shape[1]]


def scene(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    labels = blocky(rng, shape, np.arange(NUM_IDS, dtype=np.uint8), 5)
    instances = labels.astype(np.uint16)  # stuff: the label id itself (<= 1000)
    objects = blocky(rng, shape, np.arange(6, dtype=np.uint16), 7)  # 0: no object, k: object k
    for k in range(1, 6):
        mask = (objects == k) & np.isin(labels, INSTANCE_LABELS)
        instances[mask] = labels[mask].astype(np.uint16) * 1000 + k
    return labels, instances


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (13, 1), (48, 96), (31, 57)])
@pytest.mark.parametrize("kind", ["smooth", "noise", "exact", "constant", "uint16", "bool"])
def test_counts_equal_the_pixelwise_definition(shape, kind):
    rng = np.random.default_rng([shape[0], shape[1], len(kind)])
    labels, instances = scene(rng, shape)
    pred = {
        "smooth": lambda: blocky(rng, shape, np.arange(NUM_IDS, dtype=np.uint8), 3),
        "noise": lambda: rng.integers(0, NUM_IDS, shape, dtype=np.uint8),  # every pixel its own piece
        "exact": lambda: labels.copy(),
        "constant": lambda: np.full(shape, 26, np.uint8),
        "uint16": lambda: rng.integers(0, NUM_IDS, shape).astype(np.uint16),
        "bool": lambda: rng.random(shape) < 0.5,  # a 1-bit PNG: ids 0 and 1
    }[kind]()
    conf, rows = count(frame_runs(labels, instances, None), pred)
    want_conf, want_rows = reference_counts(labels, instances, pred)
    assert conf.dtype == np.int64 and (conf == want_conf).all()
    assert rows.shape == want_rows.shape and (rows == want_rows).all()


def _zip(task_dir, tmp_path, rng_seed=5):
    """A submission for every ground-truth frame of `task_dir` (Cityscapes names), noisy."""
    rng = np.random.default_rng(rng_seed)
    members = {}
    for label in sorted(task_dir.rglob("*_gtFine_labelIds.png")):
        gt = np.asarray(Image.open(label))
        pred = np.where(rng.random(gt.shape) < 0.3, rng.integers(0, NUM_IDS, gt.shape), np.roll(gt, 1, axis=1)).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pred).save(buffer, format="PNG")
        members[label.name.replace("_gtFine_labelIds", "_leftImg8bit")] = buffer.getvalue()
    return write_zip(tmp_path / "s.zip", members)


def _score(task, gt, zip_path, out, **options):
    return task.score(gt, zip_path, out, mode="strict", options=options)


def test_prepared_ground_truth_is_reused_and_changes_nothing(task, hidden_copy, tmp_path, monkeypatch):
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    fresh = _score(task, hidden_copy, zip_path, tmp_path / "a")
    assert _score(task, hidden_copy, zip_path, tmp_path / "b", prepared_gt=folder) == fresh
    assert stale_reason(folder, hidden_copy, scoring.find_ground_truth(hidden_copy)) is None

    def no_decoding(pair):
        raise AssertionError(f"{pair[0]} decoded again")

    monkeypatch.setattr(scoring, "prepare_frame", no_decoding)
    assert _score(task, hidden_copy, zip_path, tmp_path / "c", prepared_gt=folder) == fresh
    assert _score(task, hidden_copy, zip_path, tmp_path / "d", prepared_gt=folder, workers=2) == fresh


def test_changed_ground_truth_makes_the_prepared_copy_stale(task, hidden_copy, tmp_path):
    """A ground-truth file edited after preparing: detected by its digest, prepared again, scored
    as the edited file says (reusing the old runs would give the old scores)."""
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    before = _score(task, hidden_copy, zip_path, tmp_path / "a", prepared_gt=folder)
    label = sorted(hidden_copy.rglob("*_gtFine_labelIds.png"))[0]
    edited = np.asarray(Image.open(label)).copy()
    edited[: edited.shape[0] // 2] = 7  # road over the top half
    Image.fromarray(edited).save(label)

    pairs = scoring.find_ground_truth(hidden_copy)
    assert stale_reason(folder, hidden_copy, pairs) == f"{label.relative_to(hidden_copy).as_posix()} is not the file it was prepared from"
    after = _score(task, hidden_copy, zip_path, tmp_path / "b", prepared_gt=folder)
    assert after == _score(task, hidden_copy, zip_path, tmp_path / "c") and after["iou_class"] != before["iou_class"]
    assert stale_reason(folder, hidden_copy, pairs) is None


def test_edited_prepared_arrays_are_detected(task, hidden_copy, tmp_path):
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    fresh = _score(task, hidden_copy, zip_path, tmp_path / "a", prepared_gt=folder)
    labels = np.load(folder / "labels.npy")
    np.save(folder / "labels.npy", np.full_like(labels, 7))  # everything road
    pairs = scoring.find_ground_truth(hidden_copy)
    assert stale_reason(folder, hidden_copy, pairs) == f"labels.npy is not the array written with {MANIFEST}"
    assert _score(task, hidden_copy, zip_path, tmp_path / "b", prepared_gt=folder) == fresh


def test_other_frames_or_format_are_stale(task, hidden_copy, tmp_path):
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    _score(task, hidden_copy, zip_path, tmp_path / "a", prepared_gt=folder)
    pairs = scoring.find_ground_truth(hidden_copy)
    assert stale_reason(folder, hidden_copy, pairs[1:]) == f"{len(pairs)} frames prepared, the ground truth has {len(pairs) - 1}"
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "format": 0}))
    assert stale_reason(folder, hidden_copy, pairs) == f"format 0, not {prepared_module.FORMAT}"
    (folder / MANIFEST).unlink()
    assert stale_reason(folder, hidden_copy, pairs).startswith(f"no readable {MANIFEST}")


def test_cli_keeps_the_prepared_ground_truth(minicity, good_members, tmp_path, capsys):
    folder = tmp_path / "prepared"
    argv = ["score", "--task", "segmentation", "--gt", str(minicity["hidden"]), "--submission"]
    argv += [str(write_zip(tmp_path / "s.zip", good_members)), "--out", str(tmp_path / "out"), "--prepared-gt", str(folder)]
    assert main(argv) == 0 and "IoU Class: 0." in capsys.readouterr().out
    assert stale_reason(folder, minicity["hidden"], scoring.find_ground_truth(minicity["hidden"])) is None


# --- a broken ground truth: named, and nothing prepared


def _frame(hidden):
    label = sorted(hidden.rglob("*_gtFine_labelIds.png"))[0]
    return label, label.with_name(label.name.replace("labelIds", "instanceIds"))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("instance_without_label", "instance id 40001 names no label id"),
        ("instance_of_stuff", "instance id 7001 belongs to a class without instances"),
        ("instance_size", "instanceIds is 5x4, labelIds 96x48"),
        ("corrupt_label", "cannot decode ground truth"),
        ("rgb_instances", "ground truth must be a single-channel image"),
    ],
)
def test_broken_ground_truth_is_named_and_nothing_is_prepared(task, hidden_copy, good_members, tmp_path, broken, message):
    label, inst = _frame(hidden_copy)
    instances = np.asarray(Image.open(inst)).astype(np.uint16)
    victim = {
        "instance_without_label": lambda: Image.fromarray(np.full_like(instances, 40001)).save(inst),
        "instance_of_stuff": lambda: Image.fromarray(np.full_like(instances, 7001)).save(inst),
        "instance_size": lambda: Image.fromarray(np.zeros((4, 5), np.uint16)).save(inst),
        "corrupt_label": lambda: label.write_bytes(label.read_bytes()[:60]),
        "rgb_instances": lambda: Image.new("RGB", (96, 48)).save(inst),
    }
    victim[broken]()
    named = label if broken == "corrupt_label" else inst
    with pytest.raises(UserError, match=message) as caught:
        _score(task, hidden_copy, write_zip(tmp_path / "s.zip", good_members), tmp_path / "out", prepared_gt=tmp_path / "prepared")
    assert str(named) in caught.value.message
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "out").exists()
