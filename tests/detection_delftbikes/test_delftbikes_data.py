"""Synthetic DelftBikes and its official arrangement per edition, against reference procedures
written here from the toolkit's valset_generate.py, bike_dataset.py and convert_to_coco_api."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from delft_helpers import TINY, read_json

from viprepro.cli import main
from viprepro.errors import UserError
from viprepro.files.subset_manifest import read_manifest
from viprepro.tasks.detection_delftbikes.annotations import PART_NAMES


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _reference_valset(train_names: list[str], labels: dict, size: int, *, fixed: bool) -> tuple[list[str], dict, dict]:
    """valset_generate.py on a listing: the first `size` names move; val dict; new train dict
    (before e4ad91b the val dict was dumped as the new train file)."""
    val_list, rest = train_names[:size], train_names[size:]
    val_dict = {name: labels[name] for name in val_list}
    new_train_dict = {name: labels[name] for name in rest}
    return val_list, val_dict, (new_train_dict if fixed else val_dict)


def _reference_ground_truth(folder: Path, labels: dict) -> dict:
    """bike_dataset.py (sorted listing, label = position + 1, absent parts skipped) through
    convert_to_coco_api (ids from 1, xywh, area from the xyxy box, categories seen only)."""
    from PIL import Image

    images, annotations, seen = [], [], set()
    for idx, name in enumerate(sorted(os.listdir(folder))):
        width, height = Image.open(folder / name).size
        images.append({"id": idx, "height": height, "width": width})
        for ind, part in enumerate(labels[name]["parts"]):
            lab = labels[name]["parts"][part]
            if lab["object_state"] != "absent":
                loc = lab["absolute_bounding_box"]
                xmin, ymin, xmax, ymax = loc["left"], loc["top"], loc["left"] + loc["width"], loc["top"] + loc["height"]
                annotations.append(
                    {
                        "image_id": idx,
                        "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                        "category_id": ind + 1,
                        "area": (ymax - ymin) * (xmax - xmin),
                        "iscrowd": 0,
                        "id": len(annotations) + 1,
                    }
                )
                seen.add(ind + 1)
    return {"images": images, "annotations": annotations, "categories": [{"id": i} for i in sorted(seen)]}


def test_synthetic_layout_and_annotation_format(synth):
    source = synth["source"]
    assert sorted(p.name for p in source.iterdir()) == ["fake_test_annotations.json", "test", "train", "train_annotations.json"]
    labels = read_json(source / "train_annotations.json")
    assert sorted(labels) == sorted(os.listdir(source / "train")) and len(labels) == TINY["train_images"]
    states = [part["object_state"] for entry in labels.values() for part in entry["parts"].values()]
    assert all(tuple(entry["parts"]) == PART_NAMES for entry in labels.values())
    assert {"absent", "intact"} <= set(states) and set(states) <= {"absent", "intact", "occluded", "damaged"}
    assert all(any(p["object_state"] != "absent" for p in entry["parts"].values()) for entry in labels.values())
    names = os.listdir(source / "train") + os.listdir(source / "test")
    assert sorted(names) != sorted(names, key=lambda n: int(n.split(".")[0])), "sorted listing differs from numeric order"
    assert read_json(synth["manifests"] / "valset_generate.json") == {"valset_size": TINY["valset_size"]}


def test_synthesis_is_seeded_and_its_options_checked(task, tmp_path):
    """Same seed, same bytes; a val set that would empty train is refused."""
    a = task.synthesize(tmp_path / "a", seed=3, options=dict(TINY))
    b = task.synthesize(tmp_path / "b", seed=3, options=dict(TINY))
    assert _tree_digest(a["source"]) == _tree_digest(b["source"])
    with pytest.raises(UserError, match="valset_size must be smaller"):
        task.synthesize(tmp_path / "c", seed=0, options={**TINY, "valset_size": TINY["train_images"]})
    with pytest.raises(UserError, match="must not exceed 1"):
        task.synthesize(tmp_path / "c", seed=0, options={**TINY, "absent_fraction": 0.6, "occluded_fraction": 0.5})
    assert not (tmp_path / "c").exists()


def test_an_image_without_labels_is_refused(task, synth, source_copy, tmp_path):
    shutil.copy(source_copy / "train" / sorted(os.listdir(source_copy / "train"))[0], source_copy / "train" / "99999.jpg")
    with pytest.raises(UserError, match="1 image\\(s\\) have no labels here, e.g. \\['99999.jpg'\\]"):
        task.subset(source_copy, synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={})


@pytest.mark.parametrize("edition", ["2021", "2022", "2023"])
def test_arrangement_follows_valset_generate_of_the_edition(task, bikes, synth, edition):
    subset = bikes[edition]["subset"]
    labels = read_json(synth["source"] / "train_annotations.json")
    val_list, val_dict, new_train = _reference_valset(
        sorted(os.listdir(synth["source"] / "train")), labels, TINY["valset_size"], fixed=edition == "2023"
    )
    assert sorted(os.listdir(subset / "val")) == sorted(val_list)
    assert sorted(os.listdir(subset / "train")) == sorted(set(labels) - set(val_list))
    assert read_json(subset / "val_annotations.json") == val_dict
    assert read_json(subset / "new_train_annotations.json") == new_train
    manifest = read_manifest(subset)
    assert manifest["edition"] == edition and manifest["toolkit_commit"] == task.editions[edition]
    assert manifest["listing_order"]["order"] == "sorted" and manifest["valset_size"] == TINY["valset_size"]
    assert manifest["train_labels"] == ("new_train_annotations.json" if edition == "2023" else "train_annotations.json")


def test_the_2021_bug_writes_the_val_dict_as_new_train_file_and_2023_does_not(bikes):
    buggy, fixed = (read_json(bikes[e]["subset"] / "new_train_annotations.json") for e in ("2021", "2023"))
    val = read_json(bikes["2021"]["subset"] / "val_annotations.json")
    assert buggy == val and fixed != val and not set(fixed) & set(val)


def test_hidden_ground_truth_equals_the_official_construction(bikes, synth, gt_doc):
    labels = read_json(synth["manifests"] / "test_annotations.json")
    reference = _reference_ground_truth(synth["source"] / "test", labels)
    ours = {k: gt_doc[k] for k in ("images", "annotations")}
    assert [{k: i[k] for k in ("id", "height", "width")} for i in ours["images"]] == reference["images"]
    assert [i["file_name"] for i in ours["images"]] == sorted(os.listdir(synth["source"] / "test"))
    assert ours["annotations"] == reference["annotations"]
    absent = sum(p["object_state"] == "absent" for e in labels.values() for p in e["parts"].values())
    assert absent and len(ours["annotations"]) == len(labels) * 22 - absent, "absent parts are not in the ground truth"
    assert {c["id"] for c in gt_doc["categories"]} == set(range(1, 23))


def test_listing_order_is_an_option_recorded_in_the_manifest(task, synth, tmp_path):
    names = sorted(os.listdir(synth["source"] / "train"), reverse=True)
    order = tmp_path / "order.txt"
    order.write_text("\n".join(names) + "\n")
    task.subset(synth["source"], synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={"listing_order": str(order)})
    assert sorted(os.listdir(tmp_path / "s/val")) == sorted(names[: TINY["valset_size"]])
    manifest = read_manifest(tmp_path / "s")
    assert manifest["listing_order"]["order"] == "file" and manifest["listing_order"]["file"] == str(order)
    task.subset(synth["source"], synth["manifests"], tmp_path / "f", tmp_path / "fh", link="copy", options={"listing_order": "filesystem"})
    first = os.listdir(synth["source"] / "train")[: TINY["valset_size"]]
    assert sorted(os.listdir(tmp_path / "f/val")) == sorted(first)
    assert read_manifest(tmp_path / "f")["listing_order"]["order"] == "filesystem"


def test_a_listing_file_that_misses_an_image_is_refused(task, synth, tmp_path):
    order = tmp_path / "order.txt"
    order.write_text("\n".join(sorted(os.listdir(synth["source"] / "train"))[1:]))
    with pytest.raises(UserError, match="1 missing"):
        task.subset(synth["source"], synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={"listing_order": str(order)})
    assert not (tmp_path / "s").exists()


def test_the_source_is_never_modified(task, synth, tmp_path):
    before = _tree_digest(synth["source"])
    task.subset(synth["source"], synth["manifests"], tmp_path / "s", tmp_path / "h", link="hardlink", options={"edition": "2021"})
    assert _tree_digest(synth["source"]) == before


@pytest.fixture
def source_copy(synth, tmp_path) -> Path:
    return Path(shutil.copytree(synth["source"], tmp_path / "source"))


def test_parts_out_of_order_are_refused(task, synth, source_copy, tmp_path):
    path = source_copy / "train_annotations.json"
    labels = read_json(path)
    name = sorted(labels)[2]
    labels[name]["parts"] = dict(reversed(labels[name]["parts"].items()))
    path.write_text(json.dumps(labels))
    with pytest.raises(UserError, match=f"train_annotations.json \\({name}\\): its parts are not the 22 DelftBikes parts in order"):
        task.subset(source_copy, synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={})


def test_an_unknown_state_and_a_missing_image_are_refused(task, synth, source_copy, tmp_path):
    path = source_copy / "train_annotations.json"
    labels = read_json(path)
    name = sorted(labels)[0]
    labels[name]["parts"]["bell"]["object_state"] = "missing"
    path.write_text(json.dumps(labels))
    with pytest.raises(UserError, match="bell\\): 'object_state' must be one of"):
        task.subset(source_copy, synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={})
    shutil.copy(synth["source"] / "train_annotations.json", path)
    (source_copy / "test" / sorted(os.listdir(source_copy / "test"))[0]).write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(UserError, match="corrupt or truncated"):
        task.subset(source_copy, synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={})
    assert not (tmp_path / "s").exists() and not (tmp_path / "h").exists()


def test_unknown_edition_and_oversized_valset_are_refused(task, synth, tmp_path):
    with pytest.raises(UserError, match="unknown edition '2020'"):
        task.subset(synth["source"], synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={"edition": "2020"})
    with pytest.raises(UserError, match="leaves no train image"):
        task.subset(synth["source"], synth["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={"valset_size": 99})


def test_cli_synth_and_subset(tmp_path, capsys):
    assert (
        main(
            [
                "synth",
                "--task",
                "detection_delftbikes",
                "--out",
                str(tmp_path / "d"),
                "--train-images",
                "6",
                "--test-images",
                "2",
                "--valset-size",
                "2",
                "--image-width",
                "48",
                "--image-height",
                "36",
            ]
        )
        == 0
    )
    argv = [
        "subset",
        "--task",
        "detection_delftbikes",
        "--source",
        str(tmp_path / "d/source"),
        "--manifests",
        str(tmp_path / "d/manifests"),
        "--out",
        str(tmp_path / "s"),
    ]
    assert main(argv + ["--listing-order", "sorted", "--valset-size", "1"]) == 0
    assert len(os.listdir(tmp_path / "s/val")) == 1 and len(os.listdir(tmp_path / "s.hidden")) == 1
