"""The synthetic COCO: real instances format, real category ids, deterministic."""

from __future__ import annotations

import contextlib
import io

import pytest
from detection_helpers import TINY, read_json
from pycocotools.coco import COCO

from viprepro.cli import main
from viprepro.files.schemas_io import validate
from viprepro.tasks.detection.manifests import MANIFEST_NAMES, read_mapping


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory, task):
    """The embedded default (the schema's defaults), made through the command line."""
    out = tmp_path_factory.mktemp("default") / "synthetic"
    assert main(["synth", "--task", "detection", "--out", str(out), "--seed", "0"]) == 0
    return out


def test_schema_defaults_are_the_embedded_default(default_dataset):
    options = {}
    validate(options, "synthetic.detection.schema.yaml")
    val2017 = read_json(default_dataset / "source/annotations/instances_val2017.json")
    assert len(val2017["images"]) == options["val2017_images"]
    assert len(read_json(default_dataset / "manifests" / MANIFEST_NAMES["train"])["images"]) == options["train_images"]


def test_instances_files_load_in_pycocotools_with_real_category_ids(default_dataset):
    annotation_ids = []
    for split in ("train2017", "val2017"):
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(default_dataset / f"source/annotations/instances_{split}.json"))
        assert len(coco.getCatIds()) == 80 and max(coco.getCatIds()) == 90 and 12 not in coco.getCatIds()
        annotation_ids += coco.getAnnIds()
        for image in coco.dataset["images"]:
            assert image["file_name"] == f"{image['id']:012d}.jpg"
            assert (default_dataset / "source" / split / image["file_name"]).is_file()
    assert min(annotation_ids) == 1, "annotation ids start at 1 (COCOeval reads 0 as unmatched)"
    assert len(set(annotation_ids)) == len(annotation_ids)


def test_objects_cover_the_coco_area_ranges_crowds_and_empty_images(default_dataset):
    val2017 = read_json(default_dataset / "source/annotations/instances_val2017.json")
    train2017 = read_json(default_dataset / "source/annotations/instances_train2017.json")
    annotations = val2017["annotations"] + train2017["annotations"]
    areas = [a["area"] for a in annotations if not a["iscrowd"]]
    assert min(areas) < 32**2 and any(32**2 <= a < 96**2 for a in areas) and max(areas) >= 96**2
    crowds = [a for a in annotations if a["iscrowd"]]
    assert crowds and all(set(c["segmentation"]) == {"counts", "size"} for c in crowds)
    assert all(isinstance(a["segmentation"], list) for a in annotations if not a["iscrowd"])
    used = {a["category_id"] for a in annotations}
    assert len(used) == 6 and used <= {c["id"] for c in val2017["categories"]}
    annotated = {a["image_id"] for a in val2017["annotations"]}
    assert any(image["id"] not in annotated for image in val2017["images"]), "some val2017 images hold no object"


def test_manifests_follow_the_challenge(default_dataset):
    manifests, source = default_dataset / "manifests", default_dataset / "source"
    train = read_json(manifests / MANIFEST_NAMES["train"])
    val = read_json(manifests / MANIFEST_NAMES["val"])
    test = read_json(manifests / MANIFEST_NAMES["test"])
    train2017_ids = {i["id"] for i in read_json(source / "annotations/instances_train2017.json")["images"]}
    val2017 = read_json(source / "annotations/instances_val2017.json")
    train_ids, val_ids = {i["id"] for i in train["images"]}, {i["id"] for i in val["images"]}
    assert train_ids | val_ids < train2017_ids and not train_ids & val_ids
    assert {a["image_id"] for a in train["annotations"]} <= train_ids
    mapping = read_mapping(manifests / "test_image_mappings.txt")
    annotated = {a["image_id"] for a in val2017["annotations"]}
    assert {old for old, _ in mapping} == annotated, "test = val2017 minus the images without annotations"
    assert {new for _, new in mapping} == {i["id"] for i in test["images"]} and test["annotations"] == []
    assert not (manifests / "test_image_mappings.txt").read_text().endswith("\n"), "the official parser fails on a trailing empty line"


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, task):
    made = [task.synthesize(tmp_path / f"run{i}", seed=seed, options=dict(TINY)) for i, seed in enumerate((3, 3, 4))]
    contents = [[p.read_bytes() for p in sorted(m["source"].parent.rglob("*")) if p.is_file()] for m in made]
    assert contents[0] == contents[1]
    assert contents[0] != contents[2]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own numpy 2 warning
def test_crowd_masks_decode_in_pycocotools_to_their_area_and_box(default_dataset):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(default_dataset / "source/annotations/instances_train2017.json"))
    crowds = [a for a in coco.dataset["annotations"] if a["iscrowd"]]
    assert crowds
    for ann in crowds:
        mask = coco.annToMask(ann)
        rows, cols = mask.any(axis=1).nonzero()[0], mask.any(axis=0).nonzero()[0]
        assert mask.sum() == ann["area"]
        assert ann["bbox"] == [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]
