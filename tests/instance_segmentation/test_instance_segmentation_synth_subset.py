"""The synthetic set is in the challenge's layout; the subset is its official arrangement,
the source untouched, broken sources refused in one line, the edition recorded."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from instance_segmentation_helpers import TINY, read_json

from viprepro.errors import UserError
from viprepro.tasks.instance_segmentation import TASK
from viprepro.tasks.instance_segmentation.layout import read_coco


def _digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_synthetic_option_has_a_description_and_a_default():
    schema = yaml.safe_load(TASK.schema("synthetic").read_text())
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert prop.get("description") and "default" in prop, name


def test_synthetic_layout_and_masks(courts):
    source = courts["source"]
    assert sorted(p.name for p in source.iterdir()) == ["test", "test_nolabels.json", "train", "train.json", "val", "val.json"]
    assert "annotations" not in read_json(source / "test_nolabels.json")
    for name in ("train.json", "val.json"):
        document = read_coco(source / name)  # every mask checked against its image
        assert {c["name"] for c in document["categories"]} == {"human", "ball"}
        kinds = {type(a["segmentation"]).__name__ for a in document["annotations"]}
        assert document["annotations"] and kinds <= {"list", "dict"}
    labels = read_coco(courts["manifests"] / "test.json")
    assert {a["category_id"] for a in labels["annotations"]} == {1, 2}


def test_synthesis_is_seeded(task, tmp_path):
    a = task.synthesize(tmp_path / "a", seed=3, options=dict(TINY, train_images=2, val_images=1, test_images=1))
    b = task.synthesize(tmp_path / "b", seed=3, options=dict(TINY, train_images=2, val_images=1, test_images=1))
    assert _digests(a["source"]) == _digests(b["source"])


def test_unknown_synthetic_options_are_refused(task, tmp_path):
    with pytest.raises(UserError, match="trian_images"):
        task.synthesize(tmp_path / "x", seed=0, options={"trian_images": 3})


def test_subset_is_the_official_arrangement(courts, gt_doc):
    subset = courts["subset"]
    manifest = read_json(subset / "subset_manifest.json")
    assert manifest["edition"] == "2023" and manifest["toolkit_commit"] == TASK.editions["2023"]
    assert manifest["category_ids"] == [1, 2]
    public_test = read_json(subset / "test_nolabels.json")
    assert "annotations" not in public_test and public_test["images"] == gt_doc["images"]
    for split in ("train", "val", "test"):
        document = read_json(subset / ("test_nolabels.json" if split == "test" else f"{split}.json"))
        assert sorted(p.name for p in (subset / split).iterdir()) == sorted(i["file_name"] for i in document["images"])
    assert gt_doc["annotations"] and not list(subset.rglob("test.json"))


def test_the_source_is_never_modified(task, courts, tmp_path):
    before = _digests(courts["source"]) | {f"m/{k}": v for k, v in _digests(courts["manifests"]).items()}
    task.subset(courts["source"], courts["manifests"], tmp_path / "s", tmp_path / "h", link="copy", options={"edition": "2021"})
    after = _digests(courts["source"]) | {f"m/{k}": v for k, v in _digests(courts["manifests"]).items()}
    assert before == after
    assert read_json(tmp_path / "s" / "subset_manifest.json")["toolkit_commit"] == TASK.editions["2021"]


@pytest.fixture
def source_copy(courts, tmp_path):
    return Path(shutil.copytree(courts["source"], tmp_path / "source")), Path(shutil.copytree(courts["manifests"], tmp_path / "manifests"))


def _cut(task, source, manifests, tmp_path, **options):
    return task.subset(source, manifests, tmp_path / "out", tmp_path / "hidden", link="hardlink", options=options)


def _first(source: Path, split: str) -> Path:
    return source / split / read_json(source / f"{split}.json")["images"][0]["file_name"]


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda s: _first(s, "train").unlink(), r"1 source image\(s\) missing"),
        (lambda s: _first(s, "val").write_bytes(_first(s, "val").read_bytes()[:100]), "corrupt or truncated"),
        (lambda s: (_first(s, "train").unlink(), _first(s, "train").symlink_to(s / "nowhere.png")), "missing"),
    ],
    ids=["missing", "truncated", "broken symlink"],
)
def test_broken_sources_are_refused_in_one_error(breakage, expected, task, source_copy, tmp_path):
    source, manifests = source_copy
    breakage(source)
    with pytest.raises(UserError, match=expected) as caught:
        _cut(task, source, manifests, tmp_path)
    assert str(source) in str(caught.value).splitlines()[0] and not (tmp_path / "out").exists() and not (tmp_path / "hidden").exists()


def _edit(path: Path, change) -> None:
    document = read_json(path)
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "target, change, expected",
    [
        ("val.json", None, None),
        ("manifests/test.json", lambda d: d["images"][0].__setitem__("file_name", "other.png"), "test labels' images differ"),
        ("val.json", lambda d: d["categories"].reverse(), "categories differ"),
        ("train.json", lambda d: d["annotations"][0].__setitem__("segmentation", {"size": [1, 1], "counts": "1"}), "is not the image's"),
        ("train.json", lambda d: d["annotations"][0].__setitem__("segmentation", [[1, 2]]), "at least three points"),
    ],
    ids=["id-overlap", "test-labels-mismatch", "categories", "mask-size", "polygon"],
)
def test_inconsistent_documents_are_refused(target, change, expected, task, source_copy, tmp_path):
    source, manifests = source_copy
    if expected is None:  # an image id shared by two splits
        train_id = read_json(source / "train.json")["images"][0]["id"]
        expected = f"image id {train_id} is in both"

        def change(document):
            old = document["images"][0]["id"]
            document["images"][0]["id"] = train_id
            for ann in document["annotations"]:
                ann["image_id"] = train_id if ann["image_id"] == old else ann["image_id"]

    path = manifests / "test.json" if target.startswith("manifests/") else source / target
    _edit(path, change)
    with pytest.raises(UserError, match=expected):
        _cut(task, source, manifests, tmp_path)


def test_a_test_file_with_labels_is_published_without_them(task, source_copy, tmp_path):
    source, manifests = source_copy
    _edit(source / "test_nolabels.json", lambda d: d.__setitem__("annotations", read_json(manifests / "test.json")["annotations"]))
    _cut(task, source, manifests, tmp_path)
    assert "annotations" not in read_json(tmp_path / "out" / "test_nolabels.json")


def test_unknown_edition_is_refused(task, courts, tmp_path):
    with pytest.raises(UserError, match="unknown edition '2020'"):
        _cut(task, courts["source"], courts["manifests"], tmp_path, edition="2020")
    assert TASK.default_edition == "2023" and sorted(TASK.editions) == ["2021", "2022", "2023"]
    assert all(len(commit) == 40 for commit in TASK.editions.values())


def test_val_ground_truth_is_the_val_file(task, courts, tmp_path):
    gt = task.write_val_ground_truth(courts["subset"], tmp_path / "val_gt")
    assert (
        gt == task.val_ground_truth(tmp_path / "val_gt")
        and read_json(gt)["annotations"] == read_json(courts["subset"] / "val.json")["annotations"]
    )
