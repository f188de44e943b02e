"""Cut the challenge's COCO subset out of a COCO 2017 copy, from the official manifests.

What the official arrange script did, without its side effects (it deleted `val2017` and
renamed `train2017`): the source stays as it is and the subset is built beside it.

    out/images/<file_name>                train and val images, linked from train2017
    out/test-images/<new_id:012d>.jpg     test images, linked from val2017 under their new ids
    out/annotations/vipriors-object-detection-{train,val,test}.json   the manifests (test: no boxes)
    out/subset_manifest.json
    hidden/instances_test.json            val2017 boxes of the test images, image ids remapped
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.detection.manifests import MANIFEST_NAMES, MAPPING_NAME, read_instances, read_mapping
from viprepro.tasks.subsetting import Placed, SubsetPlan, cut, linked, refuse_unreadable, taken, written

GT_NAME = "instances_test.json"
VAL_GT_NAME = "instances_val.json"
SHOWN = 20


def hidden_ground_truth(val2017: dict, mapping: list[tuple[int, int]]) -> dict:
    """The val2017 annotations of the test images, with the test ids and file names."""
    new_id = dict(mapping)
    images = {image["id"]: image for image in val2017["images"]}
    return {
        "info": {"description": "VIPriors object detection test ground truth (val2017, remapped ids)"},
        "licenses": val2017.get("licenses", []),
        "images": [{**images[old], "id": new, "file_name": f"{new:012d}.jpg"} for old, new in mapping],
        "annotations": [{**ann, "image_id": new_id[ann["image_id"]]} for ann in val2017["annotations"] if ann["image_id"] in new_id],
        "categories": val2017["categories"],
    }


def plan(source: Path, manifests: Path) -> SubsetPlan:
    train = read_instances(manifests / MANIFEST_NAMES["train"])
    val = read_instances(manifests / MANIFEST_NAMES["val"])
    test = read_instances(manifests / MANIFEST_NAMES["test"], annotations=False)
    mapping = read_mapping(manifests / MAPPING_NAME)
    val2017 = read_instances(source / "annotations" / "instances_val2017.json")

    overlap = {i["id"] for i in train["images"]} & {i["id"] for i in val["images"]}
    if overlap:
        raise UserError(f"{len(overlap)} image(s) are in both the train and the val manifest, e.g. id {min(overlap)}", path=manifests)
    val2017_images = {image["id"]: image for image in val2017["images"]}
    unknown = [old for old, _ in mapping if old not in val2017_images]
    if unknown:
        raise UserError(f"{len(unknown)} old id(s) are not val2017 images, e.g. {unknown[0]}", path=manifests / MAPPING_NAME)
    if {i["id"] for i in test["images"]} != {new for _, new in mapping}:
        raise UserError(f"the test manifest's image ids differ from the new ids of {MAPPING_NAME}", path=manifests / MANIFEST_NAMES["test"])

    def annotations(split: str) -> Placed:
        return taken(f"annotations/{MANIFEST_NAMES[split]}", manifests / MANIFEST_NAMES[split])

    ground_truth = json.dumps(hidden_ground_truth(val2017, mapping), separators=(",", ":"))
    return SubsetPlan(
        splits={
            "train": [annotations("train")]
            + [linked(source / "train2017" / i["file_name"], f"images/{i['file_name']}") for i in train["images"]],
            "val": [annotations("val")]
            + [linked(source / "train2017" / i["file_name"], f"images/{i['file_name']}") for i in val["images"]],
            "test": [annotations("test")]
            + [linked(source / "val2017" / val2017_images[old]["file_name"], f"test-images/{new:012d}.jpg") for old, new in mapping],
        },
        hidden=[written(GT_NAME, ground_truth)],
        extra={"category_ids": [c["id"] for c in train["categories"]]},
        folders=("images", "test-images", "annotations"),
    )


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header") -> SubsetResult:
    return cut(
        "detection",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=plan,
        check=partial(refuse_unreadable, source=Path(source), shown=SHOWN, missing_as="source image(s) missing"),
        verify=verify,
    )


def write_val_ground_truth(subset_dir: Path, out: Path) -> Path:
    """The val ground truth as `score --gt` reads it: the subset's val manifest, a COCO
    instances document with every box (checked as one on the way)."""
    document = read_instances(Path(subset_dir) / "annotations" / MANIFEST_NAMES["val"])
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        (staged / VAL_GT_NAME).write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    return Path(out) / VAL_GT_NAME
