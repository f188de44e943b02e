"""The synthetic UCF-101 and the official mod-UCF101 subsetting procedure."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from action_recognition_helpers import TINY, audio_only_clip, clip, files_digest, truncated_clip

from viprepro.errors import UserError
from viprepro.files.subset_manifest import read_manifest
from viprepro.tasks.action_recognition import synth
from viprepro.tasks.action_recognition.annotations import read_class_index, read_split_list
from viprepro.tasks.action_recognition.video_io import decode


def test_synthetic_set_has_the_original_layout_and_split_files(ucf):
    source = ucf["source"]
    classes = read_class_index(source / "ucfTrainTestlist" / "classInd.txt")
    assert [i for i, _ in classes] == [1, 2, 3, 4]
    assert (source / "ucfTrainTestlist" / "classInd.txt").read_bytes().startswith(b"1 DashDeg000\r\n")
    train = read_split_list(source / "ucfTrainTestlist" / "trainlist01.txt", labelled=True)
    test = read_split_list(source / "ucfTrainTestlist" / "testlist01.txt", labelled=False)
    assert train[0][1:] == ("DashDeg000/v_DashDeg000_g02_c01.avi", 1)
    assert test[0][1] == "DashDeg000/v_DashDeg000_g01_c01.avi"
    assert len(train) == 4 * 2 * 2 and len(test) == 4 * 1 * 2
    assert all((source / "UCF-101" / clip_name).is_file() for _, clip_name, _ in train + test)
    modified = read_class_index(ucf["manifests"] / "mod-ucf101-classInd.txt")
    assert [n for _, n in modified] == [n for _, n in classes] and sorted(i for i, _ in modified) == [1, 2, 3, 4]


def test_synthesis_is_deterministic_per_seed(task, tmp_path, ucf):
    again = task.synthesize(tmp_path / "again", seed=0, options=dict(TINY))
    assert files_digest_without_times(again["source"]) == files_digest_without_times(ucf["source"])
    other = task.synthesize(tmp_path / "other", seed=1, options=dict(TINY))
    assert files_digest_without_times(other["source"]) != files_digest_without_times(ucf["source"])


def files_digest_without_times(root):
    import hashlib

    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())).hexdigest()


@pytest.mark.parametrize("name, expected", [("DashDeg000", (3.2, 0.0)), ("DriftDeg120", (-0.64, 1.11)), ("DashDeg240", (-1.6, -2.77))])
def test_the_class_is_the_motion(name, expected):
    """The shape moves by the class's velocity (pixels per frame at 32 px) over a static background."""
    kind, direction = {n: (k, d) for n, k, d in synth.motion_classes(8)}[name]
    base = np.full((32, 32, 3), 128, dtype=np.float32)
    video = synth.render(kind, direction, base, 12, np.random.default_rng(5)).astype(np.float32)
    mask = np.abs(video - 128).sum(-1)
    shifts = []
    for a, b in zip(mask[:-1], mask[1:]):
        errors = {(dx, dy): np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).sum() for dx in range(-5, 6) for dy in range(-5, 6)}
        shifts.append(min(errors, key=errors.get))
    velocity = np.mean(shifts, axis=0)
    assert np.allclose(velocity, expected, atol=0.8), velocity


def test_single_frames_carry_no_class(ucf):
    """Frame statistics do not separate the classes: class means of the first frames differ
    far less than frames within a class do."""
    source, classes = ucf["source"] / "UCF-101", [n for _, n in read_class_index(ucf["source"] / "ucfTrainTestlist" / "classInd.txt")]
    firsts = {c: np.stack([decode(p)[0].astype(np.float32) for p in sorted((source / c).iterdir())]) for c in classes}
    between = np.std([f.mean(axis=0) for f in firsts.values()], axis=0).mean()
    within = np.mean([f.std(axis=0).mean() for f in firsts.values()])
    assert between < 0.6 * within


def test_subset_follows_the_official_procedure(ucf):
    source, subset, hidden = ucf["source"], ucf["subset"], ucf["hidden"]
    classes = [n for _, n in read_class_index(source / "ucfTrainTestlist" / "classInd.txt")]
    new = {n: i for i, n in read_class_index(ucf["manifests"] / "mod-ucf101-classInd.txt")}
    train_list = read_split_list(source / "ucfTrainTestlist" / "trainlist01.txt", labelled=True)
    expected_train, expected_val = [], []
    for name in classes:
        clips = [c for _, c, _ in train_list if c.startswith(name + "/")]
        half = math.ceil(len(clips) / 2)
        expected_train += [(c, new[name]) for c in clips[:half]]
        expected_val += [(c, new[name]) for c in clips[half:]]
    manifest = read_manifest(subset)
    origin = manifest["origin"]
    train = read_split_list(subset / "annotations" / "mod-ucf101-train.txt", labelled=True)
    val = read_split_list(subset / "annotations" / "mod-ucf101-validation.txt", labelled=True)
    assert [(origin[c], label) for _, c, label in train] == expected_train
    assert [(origin[c], label) for _, c, label in val] == expected_val
    assert [c for _, c, _ in train] == [f"video_train_{i:07}.avi" for i in range(1, len(train) + 1)]
    test = read_split_list(subset / "annotations" / "mod-ucf101-test.txt", labelled=False)
    gt = read_split_list(ucf["gt"], labelled=True)
    assert [c for _, c, _ in test] == [c for _, c, _ in gt] == [f"video_test_{i:07}.avi" for i in range(1, 9)]
    assert [label for _, _, label in gt] == [new[origin[c].split("/")[0]] for _, c, _ in gt]
    assert sorted(p.name for p in (subset / "videos").iterdir()) == sorted(origin)
    for new_name, old in origin.items():
        assert (subset / "videos" / new_name).read_bytes() == (source / "UCF-101" / old).read_bytes()
    assert not any(p.name == "mod-ucf101-test-gt.txt" for p in subset.rglob("*")) and hidden.parent != subset
    assert set(manifest["splits"]) == {"train", "val", "test"}
    assert manifest["splits"]["test"][0]["path"] == "annotations/mod-ucf101-test.txt"


def test_subset_is_reproducible_and_leaves_the_source_untouched(task, ucf, tmp_path):
    before = files_digest(ucf["root"] / "synth")
    result = task.subset(ucf["source"], ucf["manifests"], tmp_path / "again", tmp_path / "hidden", link="copy", options={})
    assert result.manifest["digest"] == read_manifest(ucf["subset"])["digest"]
    assert files_digest(ucf["root"] / "synth") == before


@pytest.fixture
def source_copy(ucf, tmp_path):
    shutil.copytree(ucf["root"] / "synth", tmp_path / "synth")
    return tmp_path / "synth"


def _subset(task, root, tmp_path, **options):
    return task.subset(root / "source", root / "manifests", tmp_path / "out", tmp_path / "hidden", link="hardlink", options=options)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: truncated_clip(p), "v_DashDeg000_g01_c01.avi: truncated AVI: the RIFF header declares"),
        (lambda p: p.write_bytes(b""), "v_DashDeg000_g01_c01.avi: empty file \\(0 bytes\\)"),
        (lambda p: audio_only_clip(p), "v_DashDeg000_g01_c01.avi: no video stream"),
        (lambda p: p.write_bytes(b"RIFF not really an AVI"), "v_DashDeg000_g01_c01.avi: cannot open video"),
    ],
)
def test_subset_names_a_corrupt_clip_and_writes_nothing(task, source_copy, tmp_path, damage, message):
    target = source_copy / "source" / "UCF-101" / "DashDeg000" / "v_DashDeg000_g01_c01.avi"
    target.unlink()
    damage(target)
    with pytest.raises(UserError, match=message):
        _subset(task, source_copy, tmp_path)
    assert not (tmp_path / "out").exists() and not (tmp_path / "hidden").exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (("ucfTrainTestlist/trainlist01.txt", b" 1\r\n", b" 2\r\n", 1), "line 1.*label 2 does not match class 'DashDeg000'"),
        (("ucfTrainTestlist/trainlist01.txt", b"DashDeg000/", b"Nope/", 1), "line 1.*expected '<ClassName>/<clip>.avi'"),
        (("ucfTrainTestlist/testlist01.txt", b"_g01_c02", b"_g01_c01", 1), "line 2.*listed twice"),
        (("ucfTrainTestlist/classInd.txt", b"2 Dash", b"5 Dash", 1), "permutation of 1..4"),
    ],
)
def test_subset_refuses_inconsistent_split_files(task, source_copy, tmp_path, edit, message):
    relative, old, new, count = edit
    path = source_copy / "source" / relative
    path.write_bytes(path.read_bytes().replace(old, new, count))
    with pytest.raises(UserError, match=message):
        _subset(task, source_copy, tmp_path)


def test_subset_refuses_a_class_index_out_of_classind_order(task, source_copy, tmp_path):
    path = source_copy / "manifests" / "mod-ucf101-classInd.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(UserError, match="mod-ucf101-classInd.txt \\(line 1\\).*must follow classInd order"):
        _subset(task, source_copy, tmp_path)


def test_subset_refuses_a_missing_clip_and_a_hidden_folder_inside_the_subset(task, source_copy, tmp_path):
    (source_copy / "source" / "UCF-101" / "DashDeg000" / "v_DashDeg000_g02_c01.avi").unlink()
    with pytest.raises(UserError, match="(?s)1 listed clip\\(s\\) missing.*v_DashDeg000_g02_c01.avi"):
        _subset(task, source_copy, tmp_path)
    with pytest.raises(UserError, match="must not be inside the subset folder"):
        task.subset(
            source_copy / "source", source_copy / "manifests", tmp_path / "out", tmp_path / "out" / "hidden", link="copy", options={}
        )


def test_a_clip_damaged_inside_is_found_by_full_verification(task, source_copy, tmp_path):
    target = source_copy / "source" / "UCF-101" / "DashDeg000" / "v_DashDeg000_g01_c01.avi"
    target.unlink()
    clip(target, frames=24)
    data = bytearray(target.read_bytes())
    data[len(data) // 3 : len(data) * 2 // 3] = bytes(len(data) // 3)  # zero the middle, keep the header and index
    target.write_bytes(bytes(data))
    _subset(task, source_copy, tmp_path, verify="header")  # the header alone looks fine
    with pytest.raises(UserError, match="v_DashDeg000_g01_c01.avi: truncated: the header promises 24 frames"):
        task.subset(
            source_copy / "source",
            source_copy / "manifests",
            tmp_path / "out2",
            tmp_path / "hidden2",
            link="copy",
            options={"verify": "full"},
        )
