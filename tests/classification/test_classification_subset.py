"""Subsetting to the official imagenet_50 layout, from manifests in the official formats."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from testutils import tree_digest

from viprepro.cli import main
from viprepro.errors import UserError
from viprepro.files.safe_pickle import load_plain_pickle
from viprepro.files.subset_manifest import read_manifest


def test_synthetic_manifests_have_the_official_structure(synthetic):
    manifests = Path(synthetic["manifests"])
    train = load_plain_pickle(manifests / "train.pickle")
    val = load_plain_pickle(manifests / "val.pickle")
    test = load_plain_pickle(manifests / "test.pickle")
    assert all(isinstance(p, list) and len(p) == 2 for p in train + val)
    assert [p[0] for p in train] == sorted(p[0] for p in train)  # class blocks sorted by wnid
    assert not {tuple(p) for p in train} & {tuple(p) for p in val}
    assert all(t.count("/") == 1 and t.split("/")[1].startswith("ILSVRC2012_val_") for t in test)
    assert (manifests / "train.pickle").read_bytes()[:2] == b"\x80\x03"  # protocol 3


def test_layout_names_and_hidden_labels(synthetic, subset):
    out = subset.subset_dir
    test = load_plain_pickle(Path(synthetic["manifests"]) / "test.pickle")
    wnids = sorted(p.name for p in (out / "train").iterdir())
    assert sorted(p.name for p in out.iterdir()) == ["subset_manifest.json", "test", "train", "val"]
    for i, entry in enumerate(test):
        linked = out / "test" / "imgs" / f"img_{i}.JPEG"
        assert os.path.samefile(linked, Path(synthetic["source"]) / "val" / entry)
    rows = (subset.hidden_dir / "test_gt.csv").read_text().splitlines()
    assert rows[0] == "Image IDs,Labels"
    assert rows[1:] == [f"img_{i}.JPEG,{wnids.index(e.split('/')[0])}" for i, e in enumerate(test)]
    assert not str(subset.hidden_dir).startswith(str(out) + os.sep)


def test_manifest_lists_every_file_with_its_digest(subset):
    manifest = read_manifest(subset.subset_dir)
    files = {e["path"] for entries in manifest["splits"].values() for e in entries}
    on_disk = {str(p.relative_to(subset.subset_dir)) for p in subset.subset_dir.rglob("*.JPEG")}
    assert files == on_disk
    assert len(manifest["digest"]) == 64


def test_subset_is_deterministic_and_leaves_the_source_untouched(tmp_path, task, synthetic, subset):
    before = tree_digest(synthetic["source"])
    again = task.subset(synthetic["source"], synthetic["manifests"], tmp_path / "copy", tmp_path / "hidden", link="copy", options={})
    assert tree_digest(synthetic["source"]) == before
    assert again.manifest["digest"] == subset.manifest["digest"]
    assert not any(
        os.path.samefile(p, synthetic["source"] / "train" / p.parent.name / p.name) for p in (tmp_path / "copy" / "train").rglob("*.JPEG")
    )


def test_symlink_mode(tmp_path, task, synthetic):
    result = task.subset(synthetic["source"], synthetic["manifests"], tmp_path / "s", tmp_path / "h", link="symlink", options={})
    first = next((result.subset_dir / "train").rglob("*.JPEG"))
    assert first.is_symlink()


def test_cli_subset_command_line(tmp_path, synthetic, capsys):
    code = main(
        [
            "subset",
            "--task",
            "classification",
            "--source",
            str(synthetic["source"]),
            "--manifests",
            str(synthetic["manifests"]),
            "--out",
            str(tmp_path / "imagenet_50"),
        ]
    )
    assert code == 0
    assert (tmp_path / "imagenet_50.hidden" / "test_gt.csv").exists()
    assert "digest" in capsys.readouterr().out


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _copy_manifests(synthetic, tmp_path) -> Path:
    folder = tmp_path / "manifests"
    shutil.copytree(synthetic["manifests"], folder)
    return folder


def test_a_pickle_with_a_global_is_refused_and_nothing_runs(tmp_path, task, synthetic):
    manifests = _copy_manifests(synthetic, tmp_path)
    marker = tmp_path / "pwned"
    (manifests / "train.pickle").write_bytes(pickle.dumps([_Exploit(marker)], protocol=3))
    with pytest.raises(UserError, match="refused to load global 'posix.system'"):
        task.subset(synthetic["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert not marker.exists()
    assert not (tmp_path / "out").exists() and not (tmp_path / "hidden").exists()


def test_a_pickle_holding_a_class_instance_is_refused(tmp_path, task, synthetic):
    manifests = _copy_manifests(synthetic, tmp_path)
    (manifests / "val.pickle").write_bytes(pickle.dumps([Path("a/b")], protocol=3))
    with pytest.raises(UserError, match="val.pickle: refused to load global 'pathlib"):
        task.subset(synthetic["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"n01": "x.JPEG"}, "expected a list of \\[wnid, filename\\] pairs, found dict"),
        ([["n01", "x.JPEG", "extra"]], "entry 0\\): expected \\[wnid, filename\\]"),
        ([["n01", "../../etc/passwd"]], "unsafe path component"),
    ],
)
def test_wrong_manifest_structure(tmp_path, task, synthetic, payload, message):
    manifests = _copy_manifests(synthetic, tmp_path)
    (manifests / "train.pickle").write_bytes(pickle.dumps(payload, protocol=3))
    with pytest.raises(UserError, match=message):
        task.subset(synthetic["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})


@pytest.mark.parametrize(
    "bad, message",
    [
        (["n01", ""], "entry 3\\): unsafe path component ''"),
        ([".", "x.JPEG"], "entry 3\\): unsafe path component '.'"),
        (["n01", "a\\b.JPEG"], "entry 3\\): unsafe path component"),
        (["n01", 7], "entry 3\\): expected \\[wnid, filename\\]"),
        (("n01",), "entry 3\\): expected \\[wnid, filename\\]"),
    ],
)
def test_a_bad_entry_among_good_ones_is_named(tmp_path, task, synthetic, bad, message):
    """The whole list is checked at once (C speed); a bad entry anywhere is still found and named."""
    manifests = _copy_manifests(synthetic, tmp_path)
    pairs = [["n01", f"n01_{i}.JPEG"] for i in range(6)]
    pairs[3] = list(bad) if isinstance(bad, list) else bad
    (manifests / "train.pickle").write_bytes(pickle.dumps(pairs, protocol=3))
    with pytest.raises(UserError, match=message):
        task.subset(synthetic["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})


def test_missing_source_files_are_listed_with_a_count(tmp_path, task, synthetic):
    manifests = _copy_manifests(synthetic, tmp_path)
    train = load_plain_pickle(manifests / "train.pickle")
    train += [[train[0][0], f"{train[0][0]}_missing{i}.JPEG"] for i in range(25)]
    (manifests / "train.pickle").write_bytes(pickle.dumps(train, protocol=3))
    with pytest.raises(UserError) as error:
        task.subset(synthetic["source"], manifests, tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert "25 source file(s) missing or unreadable (first 20)" in error.value.message
    assert error.value.message.count("_missing") == 20
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "(?i)truncated"),
        (lambda data: b"not an image at all", "cannot be decoded"),
    ],
)
def test_corrupt_source_jpeg_is_named(tmp_path, task, synthetic, damage, message):
    source = tmp_path / "source"
    shutil.copytree(synthetic["source"], source)
    victim = sorted((source / "train").rglob("*.JPEG"))[0]
    victim.write_bytes(damage(victim.read_bytes()))
    with pytest.raises(UserError, match=message) as error:
        task.subset(source, synthetic["manifests"], tmp_path / "out", tmp_path / "hidden", link="copy", options={})
    assert victim.name in error.value.message
    assert not (tmp_path / "out").exists()


def test_cli_reports_bad_input_on_one_line_and_exits_non_zero(tmp_path, synthetic, capsys):
    code = main(
        [
            "subset",
            "--task",
            "classification",
            "--source",
            str(tmp_path / "nowhere"),
            "--manifests",
            str(synthetic["manifests"]),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("viprepro subset: error: ") and "missing or unreadable" in err
    assert not (tmp_path / "out").exists()
