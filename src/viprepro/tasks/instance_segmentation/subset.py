"""The challenge's arrangement of the basketball set, cut out of a copy of it.

The challenge shipped the dataset arranged (no arrange script): train and val with their
labels, the test images with `test_nolabels.json`. The subset is that arrangement, linked
from the source, which stays as it is; the organisers' test labels go to the hidden folder:

    out/train.json, out/val.json              as shipped
    out/test_nolabels.json                    the test images and categories (any annotations dropped)
    out/{train,val,test}/<file_name>          the images, linked
    out/subset_manifest.json
    hidden/test.json                          the test labels (manifests/test.json), copied
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.instance_segmentation.layout import GT_NAME, IMAGE_FOLDERS, SPLIT_FILES, TEST_LABELS, VAL_GT_NAME, read_coco
from viprepro.tasks.subsetting import Placed, SubsetPlan, cut, linked, refuse_unreadable, taken, written

SHOWN = 20


def _same_images(a: dict, b: dict) -> bool:
    key = ("id", "file_name", "width", "height")
    return sorted(tuple(i[k] for k in key) for i in a["images"]) == sorted(tuple(i[k] for k in key) for i in b["images"])


def plan(source: Path, manifests: Path, *, edition: str, commit: str) -> SubsetPlan:
    documents = {split: read_coco(source / name, annotations=split != "test") for split, name in SPLIT_FILES.items()}
    labels = read_coco(manifests / TEST_LABELS)
    seen: dict[int, str] = {}
    for split, document in documents.items():
        for image in document["images"]:
            if image["id"] in seen:
                raise UserError(f"image id {image['id']} is in both {SPLIT_FILES[seen[image['id']]]} and {SPLIT_FILES[split]}", path=source)
            seen[image["id"]] = split
    if not _same_images(labels, documents["test"]):
        raise UserError(
            f"the test labels' images differ from those of {SPLIT_FILES['test']} (ids, file names or sizes)", path=manifests / TEST_LABELS
        )
    categories = documents["train"]["categories"]
    for name, document in (*((SPLIT_FILES[s], documents[s]) for s in ("val", "test")), (TEST_LABELS, labels)):
        if document["categories"] != categories:
            raise UserError(
                f"its categories differ from those of {SPLIT_FILES['train']}", path=(manifests if name == TEST_LABELS else source) / name
            )

    def images(split: str) -> list[Placed]:
        folder = IMAGE_FOLDERS[split]
        return [linked(source / folder / image["file_name"], f"{folder}/{image['file_name']}") for image in documents[split]["images"]]

    public_test = {key: value for key, value in documents["test"].items() if key != "annotations"}
    return SubsetPlan(
        splits={
            "train": [taken(SPLIT_FILES["train"], source / SPLIT_FILES["train"]), *images("train")],
            "val": [taken(SPLIT_FILES["val"], source / SPLIT_FILES["val"]), *images("val")],
            "test": [written(SPLIT_FILES["test"], json.dumps(public_test, separators=(",", ":"))), *images("test")],
        },
        hidden=[taken(GT_NAME, manifests / TEST_LABELS, copy=True)],
        extra={"category_ids": [c["id"] for c in categories], "edition": edition, "toolkit_commit": commit},
        folders=tuple(IMAGE_FOLDERS.values()),
    )


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header", edition: str) -> SubsetResult:
    from viprepro.tasks.instance_segmentation import TASK

    return cut(
        "instance_segmentation",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=partial(plan, edition=edition, commit=TASK.editions[edition]),
        check=partial(refuse_unreadable, source=Path(source), shown=SHOWN, missing_as="source image(s) missing"),
        verify=verify,
    )


def write_val_ground_truth(subset_dir: Path, out: Path) -> Path:
    """The val ground truth as `score --gt` reads it: the subset's val.json (checked on the way)."""
    document = read_coco(Path(subset_dir) / SPLIT_FILES["val"])
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        (staged / VAL_GT_NAME).write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    return Path(out) / VAL_GT_NAME
