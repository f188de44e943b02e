"""The synthetic Kinetics400ViPriors, its official arrangement per edition, and every bad source refused on one line."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest
from kinetics_helpers import TINY
from testutils import tree_digest

from viprepro.errors import UserError
from viprepro.tasks.action_recognition.video_io import probe
from viprepro.tasks.action_recognition_kinetics import EDITIONS
from viprepro.tasks.action_recognition_kinetics.annotations import CORRUPTED, read_corrupted


def rows(path):
    return list(csv.reader(path.open()))


def test_synthetic_layout_and_formats_are_the_challenges(kinetics):
    source, manifests = kinetics["source"], kinetics["manifests"]
    classes = rows(manifests / "clsIdx.csv")
    assert classes[0] == ["label", "idx"] and [r[1] for r in classes[1:]] == ["1", "2", "3"]
    assert [r[0] for r in classes[1:]] == sorted(r[0] for r in classes[1:])  # alphabetical, as Kinetics's
    train = rows(manifests / "kinetics400ViPriors-train.csv")
    assert train[0] == ["label", "videoid", "split"] and len(train) == 1 + 3 * TINY["train_per_class"]
    assert rows(manifests / "kinetics400ViPriors-test-public.csv")[0] == ["videoid", "split"]
    for _, videoid, split in train[1:]:
        assert len(videoid) == 10 and videoid.isalpha() and split == "train" and (source / "train" / f"{videoid}.mp4").is_file()
    blocked = read_corrupted(manifests / CORRUPTED)
    assert len(blocked) == 3  # one per split
    for videoid in blocked:
        (path,) = source.glob(f"*/{videoid}.mp4")
        with pytest.raises(UserError, match="cannot open video|no video stream|no decodable frame"):
            probe(path)
    assert probe(source / "train" / f"{next(v for _, v, _ in train[1:] if v not in blocked)}.mp4").frames == TINY["frames"]


def test_edition_2021_writes_no_corrupted_list_and_no_corrupt_video(task, tmp_path):
    made = task.synthesize(tmp_path / "s", seed=0, options={**TINY, "edition": "2021"})
    assert not (made["manifests"] / CORRUPTED).exists() and made["corrupted"] == []


def test_subset_2022_blocks_the_listed_videos_and_hides_the_test_labels(kinetics):
    subset, hidden, manifests = kinetics["subset"], kinetics["hidden"], kinetics["manifests"]
    blocked = set(read_corrupted(manifests / CORRUPTED))
    manifest = json.loads((subset / "subset_manifest.json").read_text())
    assert manifest["edition"] == "2022" and manifest["toolkit_commit"] == EDITIONS["2022"]
    assert manifest["blocked"] == {"train": 1, "val": 1, "test": 1}
    for split in ("train", "val", "test"):
        on_disk = {p.stem for p in (subset / split).glob("*.mp4")}
        listed = {
            r[-2] for r in rows(subset / "annotations" / f"kinetics400ViPriors-{'test-public' if split == 'test' else split}.csv")[1:]
        }
        assert on_disk == listed and not on_disk & blocked
    assert rows(subset / "annotations" / "kinetics400ViPriors-test-public.csv")[0] == ["videoid", "split"]
    assert not list(subset.rglob("kinetics400ViPriors-test.csv"))  # test labels only in hidden
    assert (hidden / "kinetics400ViPriors-test.csv").read_text() == (manifests / "kinetics400ViPriors-test.csv").read_text()
    assert (hidden / CORRUPTED).is_file() and (subset / "annotations" / CORRUPTED).is_file()


def test_the_source_is_never_modified(task, kinetics, tmp_path):
    before = tree_digest(kinetics["source"])
    task.subset(kinetics["source"], kinetics["manifests"], tmp_path / "out", tmp_path / "hidden", link="hardlink", options={})
    assert tree_digest(kinetics["source"]) == before


def copy_dataset(kinetics, tmp_path):
    shutil.copytree(kinetics["source"], tmp_path / "source")
    shutil.copytree(kinetics["manifests"], tmp_path / "manifests")
    return tmp_path / "source", tmp_path / "manifests"


def test_a_corrupt_video_not_on_the_list_is_refused_naming_it(task, kinetics, tmp_path):
    source, manifests = copy_dataset(kinetics, tmp_path)
    blocked = set(read_corrupted(manifests / CORRUPTED))
    victim = next(p for p in sorted((source / "val").glob("*.mp4")) if p.stem not in blocked)
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(UserError) as error:
        task.subset(source, manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    message = str(error.value)
    assert "\n" not in message and str(victim) in message and "not on the list of corrupted videos" in message
    assert not (tmp_path / "out").exists() and not (tmp_path / "hidden").exists()


def test_edition_2021_refuses_the_videos_only_2022_lists(task, kinetics, tmp_path):
    with pytest.raises(UserError, match="edition 2021 has no list of corrupted videos") as error:
        task.subset(
            kinetics["source"], kinetics["manifests"], tmp_path / "out", tmp_path / "hidden", link="hardlink", options={"edition": "2021"}
        )
    assert "\n" not in str(error.value) and ".mp4" in str(error.value)


def test_a_broken_symlink_is_refused_naming_it(task, kinetics, tmp_path):
    source, manifests = copy_dataset(kinetics, tmp_path)
    blocked = set(read_corrupted(manifests / CORRUPTED))
    victim = next(p for p in sorted((source / "test").glob("*.mp4")) if p.stem not in blocked)
    victim.unlink()
    os.symlink(tmp_path / "nowhere.mp4", victim)
    with pytest.raises(UserError, match="broken link") as error:
        task.subset(source, manifests, tmp_path / "out", tmp_path / "hidden", link="symlink", options={})
    assert "\n" not in str(error.value) and str(victim) in str(error.value)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda m: (m / "kinetics400ViPriors-test.csv").unlink(), "test labels are not public"),
        (lambda m: (m / CORRUPTED).unlink(), "needs the list of corrupted videos"),
        (lambda m: (m / "clsIdx.csv").write_text("label,idx\na,1\nb,3\n"), r"line 3.*numbered 1..K"),
        (
            lambda m: (m / "kinetics400ViPriors-val.csv").write_text(
                (m / "kinetics400ViPriors-val.csv").read_text() + "no such class,abcdefghij,val\n"
            ),
            "is not a class of clsIdx.csv",
        ),
        (lambda m: (m / "kinetics400ViPriors-train.csv").write_text("videoid,label\n"), "header label,videoid,split"),
    ],
)
def test_bad_manifests_are_refused_on_one_line(task, kinetics, tmp_path, damage, match):
    source, manifests = copy_dataset(kinetics, tmp_path)
    damage(manifests)
    with pytest.raises(UserError, match=match) as error:
        task.subset(source, manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert "\n" not in str(error.value)


def test_val_ground_truth_is_in_the_test_formats(task, kinetics, tmp_path):
    gt = task.write_val_ground_truth(kinetics["subset"], tmp_path / "val_gt")
    assert gt == task.val_ground_truth(tmp_path / "val_gt") and rows(gt)[0] == ["label", "videoid", "split"]
    assert (tmp_path / "val_gt" / "clsIdx.csv").is_file() and (tmp_path / "val_gt" / CORRUPTED).is_file()
