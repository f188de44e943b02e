"""Subsetting from the official manifests: layout, hidden ground truth, bad input."""

from __future__ import annotations

import shutil

import pytest
from detection_helpers import read_json, write_json
from testutils import tree_digest

from viprepro.cli import main
from viprepro.errors import UserError
from viprepro.files.subset_manifest import read_manifest
from viprepro.tasks.detection.manifests import MANIFEST_NAMES, read_mapping


def test_cli_subset_links_the_official_layout_and_leaves_the_source_alone(coco, tmp_path, capsys):
    before = tree_digest(coco["source"])
    out = tmp_path / "subset"
    assert (
        main(["subset", "--task", "detection", "--source", str(coco["source"]), "--manifests", str(coco["manifests"]), "--out", str(out)])
        == 0
    )
    assert "ground truth in" in capsys.readouterr().out
    assert tree_digest(coco["source"]) == before
    assert (coco["source"] / "val2017").is_dir(), "the official script deleted val2017; we must not"

    train = read_json(coco["manifests"] / MANIFEST_NAMES["train"])
    image = train["images"][0]
    linked = out / "images" / image["file_name"]
    assert linked.stat().st_ino == (coco["source"] / "train2017" / image["file_name"]).stat().st_ino
    val2017 = {i["id"]: i for i in read_json(coco["source"] / "annotations/instances_val2017.json")["images"]}
    for old, new in read_mapping(coco["manifests"] / "test_image_mappings.txt"):
        assert (out / "test-images" / f"{new:012d}.jpg").read_bytes() == (
            coco["source"] / "val2017" / val2017[old]["file_name"]
        ).read_bytes()

    manifest = read_manifest(out)
    assert set(manifest["splits"]) == {"train", "val", "test"}
    test_paths = [entry["path"] for entry in manifest["splits"]["test"]]
    assert test_paths[0] == f"annotations/{MANIFEST_NAMES['test']}" and all(p.startswith("test-images/") for p in test_paths[1:])
    hidden = out.with_name("subset.hidden")
    assert (hidden / "instances_test.json").is_file() and not (out / "instances_test.json").exists()


def test_hidden_ground_truth_is_val2017_with_new_ids(coco, gt_doc):
    val2017 = read_json(coco["source"] / "annotations/instances_val2017.json")
    mapping = dict(read_mapping(coco["manifests"] / "test_image_mappings.txt"))
    expected = sorted((mapping[a["image_id"]], a["id"], a["category_id"], tuple(a["bbox"])) for a in val2017["annotations"])
    assert sorted((a["image_id"], a["id"], a["category_id"], tuple(a["bbox"])) for a in gt_doc["annotations"]) == expected
    assert {i["id"] for i in gt_doc["images"]} == set(mapping.values())
    assert gt_doc["categories"] == val2017["categories"]


def test_hidden_folder_inside_the_subset_is_refused(coco, task, tmp_path):
    with pytest.raises(UserError, match="outside the subset"):
        task.subset(coco["source"], coco["manifests"], tmp_path / "s", tmp_path / "s" / "hidden", link="hardlink", options={})
    assert not (tmp_path / "s").exists()


def test_corrupt_source_jpeg_is_named_and_nothing_is_written(coco, task, tmp_path):
    source = shutil.copytree(coco["source"], tmp_path / "source")
    train = read_json(coco["manifests"] / MANIFEST_NAMES["train"])
    broken = source / "train2017" / train["images"][3]["file_name"]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    with pytest.raises(UserError, match="corrupt or truncated") as caught:
        task.subset(source, coco["manifests"], tmp_path / "subset", tmp_path / "hidden", link="copy", options={})
    assert str(broken) in caught.value.message
    assert not (tmp_path / "subset").exists() and not (tmp_path / "hidden").exists()


def test_missing_source_image_is_named(coco, task, tmp_path):
    source = shutil.copytree(coco["source"], tmp_path / "source")
    val = read_json(coco["manifests"] / MANIFEST_NAMES["val"])
    (source / "train2017" / val["images"][0]["file_name"]).unlink()
    with pytest.raises(UserError, match="1 source image\\(s\\) missing") as caught:
        task.subset(source, coco["manifests"], tmp_path / "subset", tmp_path / "hidden", link="copy", options={})
    assert val["images"][0]["file_name"] in caught.value.message


@pytest.mark.parametrize("line, problem", [("12,abc", "two integers"), ("7", "two integers")])
def test_bad_mapping_line_is_named(coco, task, manifests_copy, tmp_path, line, problem):
    path = manifests_copy / "test_image_mappings.txt"
    path.write_text(path.read_text() + "\n" + line)
    number = len(path.read_text().splitlines())
    with pytest.raises(UserError, match=problem) as caught:
        task.subset(coco["source"], manifests_copy, tmp_path / "subset", tmp_path / "hidden", link="copy", options={})
    assert caught.value.where == f"line {number}" and caught.value.path == str(path)


def test_manifest_annotation_with_id_zero_is_refused(coco, task, manifests_copy, tmp_path):
    path = manifests_copy / MANIFEST_NAMES["train"]
    train = read_json(path)
    train["annotations"][2]["id"] = 0
    write_json(path, train)
    with pytest.raises(UserError, match="unique integer >= 1") as caught:
        task.subset(coco["source"], manifests_copy, tmp_path / "subset", tmp_path / "hidden", link="copy", options={})
    assert caught.value.where == "annotations[2]"


def test_train_and_val_manifests_must_be_disjoint(coco, task, manifests_copy, tmp_path):
    train = read_json(manifests_copy / MANIFEST_NAMES["train"])
    val = read_json(manifests_copy / MANIFEST_NAMES["val"])
    val["images"].append(train["images"][0])
    write_json(manifests_copy / MANIFEST_NAMES["val"], val)
    with pytest.raises(UserError, match="in both the train and the val manifest"):
        task.subset(coco["source"], manifests_copy, tmp_path / "subset", tmp_path / "hidden", link="copy", options={})
