"""Synthetic Cityscapes and the minicity subset: layout, manifests, guarantees, bad manifests."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from viprepro.cli import main
from viprepro.errors import UserError
from viprepro.files.fileio import sha256_file
from viprepro.files.safe_pickle import dump_plain_pickle, load_plain_pickle
from viprepro.files.subset_manifest import read_manifest
from viprepro.tasks.segmentation.labels import HAS_INSTANCES

SMALL = {"width": 64, "height": 32, "train_images": 3, "val_images": 2, "test_images": 2, "unused_images": 1}


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_layout_and_official_manifests(minicity):
    source, manifests = minicity["source"], minicity["manifests"]
    train, val, test = (load_plain_pickle(manifests / n) for n in ("train.p", "val.p", "test.p"))
    assert len(train) == 8 and len(val) == 3 and not set(train) & set(val)
    assert isinstance(test, dict) and len(test) == 4 and len(set(test.values())) == 4
    assert all(isinstance(v, int) and 0 < v < 2**63 for v in test.values())
    assert (manifests / "test.p").read_bytes()[1] == 4  # pickle protocol 4, as the toolkit's
    city, name = train[0].split("/")
    assert name.startswith(city + "_") and name.endswith("_leftImg8bit.png")
    image = source / "leftImg8bit" / "train" / train[0]
    labels = np.asarray(Image.open(str(image).replace("leftImg8bit", "gtFine", 1).replace("_leftImg8bit.png", "_gtFine_labelIds.png")))
    instances = np.asarray(
        Image.open(str(image).replace("leftImg8bit", "gtFine", 1).replace("_leftImg8bit.png", "_gtFine_instanceIds.png"))
    )
    assert Image.open(image).size == (96, 48) and Image.open(image).mode == "RGB" and labels.dtype == np.uint8
    assert labels.max() <= 33 and {7, 8, 11, 23, 26} <= set(np.unique(labels).tolist())
    objects = instances[instances >= 1000]
    assert objects.size and np.all(HAS_INSTANCES[objects // 1000]) and np.all(objects // 1000 == labels[instances >= 1000])
    assert np.array_equal(instances[instances < 1000], labels[instances < 1000])
    # unused images exist in the source but in no manifest
    on_disk = {str(p.relative_to(source / "leftImg8bit" / "train")) for p in (source / "leftImg8bit" / "train").rglob("*.png")}
    assert len(on_disk - set(train) - set(val)) == 1


def test_synth_is_deterministic(task, tmp_path):
    a = task.synthesize(tmp_path / "a", seed=5, options=dict(SMALL))
    task.synthesize(tmp_path / "b", seed=5, options=dict(SMALL))
    task.synthesize(tmp_path / "c", seed=6, options=dict(SMALL))
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b") != _tree_digest(tmp_path / "c")
    assert a["source"] == tmp_path / "a" / "source"


def test_cli_synth_and_subset(tmp_path, capsys):
    assert (
        main(
            [
                "synth",
                "--task",
                "segmentation",
                "--out",
                str(tmp_path / "s"),
                "--seed",
                "1",
                "--width",
                "64",
                "--height",
                "32",
                "--train-images",
                "2",
                "--val-images",
                "1",
                "--test-images",
                "2",
                "--unused-images",
                "0",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "subset",
                "--task",
                "segmentation",
                "--source",
                str(tmp_path / "s/source"),
                "--manifests",
                str(tmp_path / "s/manifests"),
                "--out",
                str(tmp_path / "minicity"),
                "--link",
                "copy",
            ]
        )
        == 0
    )
    assert "'test': 2" in capsys.readouterr().out
    assert len(list((tmp_path / "minicity.hidden").rglob("*_gtFine_labelIds.png"))) == 2


def test_subset_layout_hidden_and_manifest(minicity):
    subset, hidden, manifests = minicity["subset"], minicity["hidden"], minicity["manifests"]
    test = load_plain_pickle(manifests / "test.p")
    assert sorted(p.name for p in (subset / "leftImg8bit" / "test").iterdir()) == sorted(f"{v}.png" for v in test.values())
    assert len(list((subset / "leftImg8bit" / "train").iterdir())) == 8 and len(list((subset / "gtFine" / "train").iterdir())) == 16
    assert len(list((subset / "gtFine" / "val").iterdir())) == 6 and not (subset / "gtFine" / "test").exists()
    assert not list(subset.rglob("*frankfurt*")) + list(subset.rglob("*lindau*")) + list(subset.rglob("*munster*"))
    for rel in test:
        city, name = rel.split("/")
        assert (hidden / "gtFine" / "val" / city / name.replace("_leftImg8bit", "_gtFine_instanceIds")).is_file()
    assert load_plain_pickle(hidden / "test.p") == test
    manifest = read_manifest(subset)
    assert manifest["task"] == "segmentation" and set(manifest["splits"]) == {"train", "val", "test"}
    assert len(manifest["splits"]["test"]) == 4 and len(manifest["splits"]["train"]) == 24


def test_subset_never_modifies_the_source(task, minicity, tmp_path):
    before = _tree_digest(minicity["source"])
    task.subset(minicity["source"], minicity["manifests"], tmp_path / "out", tmp_path / "hidden", link="hardlink", options={})
    assert _tree_digest(minicity["source"]) == before


def _manifests_with(tmp_path: Path, minicity, name: str, content, *, raw: bytes | None = None) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    for other in ("train.p", "val.p", "test.p"):
        (folder / other).write_bytes((minicity["manifests"] / other).read_bytes())
    if raw is not None:
        (folder / name).write_bytes(raw)
    else:
        dump_plain_pickle(content, folder / name, protocol=4)
    return folder


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize(
    "name, content, raw, message",
    [
        ("test.p", ["a/b"], None, "expected a dict of image path -> int"),
        (
            "test.p",
            {"aachen/aachen_000000_000001_leftImg8bit.png": 5, "aachen/aachen_000000_000002_leftImg8bit.png": 5},
            None,
            "int 5 is given to two images",
        ),
        (
            "train.p",
            ["aachen/../etc_000000_000001_leftImg8bit.png"],
            None,
            "expected '<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png'",
        ),
        ("train.p", None, pickle.dumps([Evil()]), "refused to load global"),
    ],
)
def test_bad_manifests_are_refused(task, minicity, tmp_path, name, content, raw, message):
    manifests = _manifests_with(tmp_path, minicity, name, content, raw=raw)
    with pytest.raises(UserError, match=message) as caught:
        task.subset(minicity["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert name in caught.value.message and not (tmp_path / "out").exists()


def test_missing_source_is_named(task, minicity, tmp_path):
    manifests = _manifests_with(tmp_path, minicity, "train.p", ["aachen/aachen_123456_654321_leftImg8bit.png"])
    with pytest.raises(UserError, match=r"3 source file\(s\) missing or unreadable") as caught:
        task.subset(minicity["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert "aachen_123456_654321_gtFine_instanceIds.png: missing" in caught.value.message
    assert not (tmp_path / "out").exists() and not (tmp_path / "hidden").exists()


def test_corrupt_source_png_is_named(task, minicity, tmp_path):
    source = Path(shutil.copytree(minicity["source"], tmp_path / "source"))
    broken = sorted((source / "gtFine" / "val").rglob("*_labelIds.png"))[0]
    broken.write_bytes(broken.read_bytes()[:50])
    with pytest.raises(UserError, match=r"1 source file\(s\) missing or unreadable") as caught:
        task.subset(source, minicity["manifests"], tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert f"{broken}: corrupt" in caught.value.message and not (tmp_path / "out").exists()


def test_hidden_inside_subset_is_refused(task, minicity, tmp_path):
    with pytest.raises(UserError, match="must not be inside the subset folder"):
        task.subset(minicity["source"], minicity["manifests"], tmp_path / "out", tmp_path / "out" / "hidden", link="copy", options={})
