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
from viprepro.tasks.segmentation.prepared import MANIFEST, copy_folder, frame_runs, ground_truth_files, stale_reason

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


def _copy(root, gt):
    """The prepared copy's folder under `root` for the ground truth `gt` as it is now, and its files."""
    files = ground_truth_files(gt, scoring.find_ground_truth(gt))
    return copy_folder(root, files), files


def test_prepared_ground_truth_is_reused_and_changes_nothing(task, hidden_copy, tmp_path, monkeypatch):
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    fresh = _score(task, hidden_copy, zip_path, tmp_path / "a")
    assert _score(task, hidden_copy, zip_path, tmp_path / "b", prepared_gt=folder) == fresh
    assert stale_reason(*_copy(folder, hidden_copy)) is None and len(list(folder.iterdir())) == 1

    def no_decoding(pair):
        raise AssertionError(f"{pair[0]} decoded again")

    monkeypatch.setattr(scoring, "prepare_frame", no_decoding)
    assert _score(task, hidden_copy, zip_path, tmp_path / "c", prepared_gt=folder) == fresh
    assert _score(task, hidden_copy, zip_path, tmp_path / "d", prepared_gt=folder, workers=2) == fresh


def test_pool_workers_read_the_prepared_copy(task, minicity, tmp_path):
    """8 frames on 2 forked workers: prepared on the pool, then memory-mapped by each worker."""
    gt_dir = minicity["subset"] / "gtFine" / "train"
    zip_path, folder = _zip(gt_dir, tmp_path), tmp_path / "prepared"
    alone = _score(task, gt_dir, zip_path, tmp_path / "a", workers=1)
    assert _score(task, gt_dir, zip_path, tmp_path / "b", workers=2, prepared_gt=folder) == alone
    assert _score(task, gt_dir, zip_path, tmp_path / "c", workers=2, prepared_gt=folder) == alone
    assert alone["images"] == 8 and stale_reason(*_copy(folder, gt_dir)) is None


def test_changed_ground_truth_makes_the_prepared_copy_stale(task, hidden_copy, tmp_path):
    """A ground-truth file edited after preparing: detected by its digest, prepared again, scored
    as the edited file says (reusing the old runs would give the old scores)."""
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    before = _score(task, hidden_copy, zip_path, tmp_path / "a", prepared_gt=folder)
    old_copy, _ = _copy(folder, hidden_copy)
    label = sorted(hidden_copy.rglob("*_gtFine_labelIds.png"))[0]
    edited = np.asarray(Image.open(label)).copy()
    edited[: edited.shape[0] // 2] = 7  # road over the top half
    Image.fromarray(edited).save(label)

    new_copy, new_files = _copy(folder, hidden_copy)
    assert new_copy != old_copy and stale_reason(new_copy, new_files).startswith(f"no readable {MANIFEST}")
    assert stale_reason(old_copy, new_files) == f"{label.relative_to(hidden_copy).as_posix()} is not the file it was prepared from"
    after = _score(task, hidden_copy, zip_path, tmp_path / "b", prepared_gt=folder)
    assert after == _score(task, hidden_copy, zip_path, tmp_path / "c") and after["iou_class"] != before["iou_class"]
    assert stale_reason(new_copy, new_files) is None


def test_edited_prepared_arrays_are_detected(task, hidden_copy, tmp_path):
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    fresh = _score(task, hidden_copy, zip_path, tmp_path / "a", prepared_gt=folder)
    copy, files = _copy(folder, hidden_copy)
    labels = np.load(copy / "labels.npy")
    np.save(copy / "labels.npy", np.full_like(labels, 7))  # everything road
    assert stale_reason(copy, files) == f"labels.npy is not the array written with {MANIFEST}"
    assert _score(task, hidden_copy, zip_path, tmp_path / "b", prepared_gt=folder) == fresh
    assert stale_reason(copy, files) is None


def test_other_frames_or_format_are_stale(task, hidden_copy, tmp_path):
    zip_path, folder = _zip(hidden_copy, tmp_path), tmp_path / "prepared"
    _score(task, hidden_copy, zip_path, tmp_path / "a", prepared_gt=folder)
    copy, files = _copy(folder, hidden_copy)
    assert stale_reason(copy, files[1:]) == f"{len(files)} frames prepared, the ground truth has {len(files) - 1}"
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "format": 0}))
    assert stale_reason(copy, files) == f"format 0, not {prepared_module.FORMAT}"
    (copy / MANIFEST).unlink()
    assert stale_reason(copy, files).startswith(f"no readable {MANIFEST}")


def test_a_copy_published_first_is_kept_and_a_bad_one_replaced(hidden_copy, tmp_path):
    """Scorers running at once may prepare the same copy: the first one renamed into place stays."""
    pairs = scoring.find_ground_truth(hidden_copy)
    files = ground_truth_files(hidden_copy, pairs)
    folder, made = copy_folder(tmp_path / "cache", files), [prepared_module.prepare_frame(pair) for pair in pairs]
    prepared_module.write_prepared(folder, files, made)
    first = (folder / MANIFEST).stat().st_ino
    prepared_module.write_prepared(folder, files, made)
    assert (folder / MANIFEST).stat().st_ino == first and stale_reason(folder, files) is None
    (folder / "slots.npy").write_bytes(b"junk")
    prepared_module.write_prepared(folder, files, made)
    assert (folder / MANIFEST).stat().st_ino != first and stale_reason(folder, files) is None
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [folder.name]  # no staging left behind


def test_cli_keeps_the_prepared_ground_truth(minicity, good_members, tmp_path, capsys):
    folder = tmp_path / "prepared"
    argv = ["score", "--task", "segmentation", "--gt", str(minicity["hidden"]), "--submission"]
    argv += [str(write_zip(tmp_path / "s.zip", good_members)), "--out", str(tmp_path / "out"), "--prepared-gt", str(folder)]
    assert main(argv) == 0 and "IoU Class: 0." in capsys.readouterr().out
    assert stale_reason(*_copy(folder, minicity["hidden"])) is None


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
