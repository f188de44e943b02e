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
from pathlib import Path

from ...errors import UserError
from ...fileio import atomic_path
from ...imagecheck import find_broken_images
from ...linking import Linker
from ...filestate import subset_state
from ...subset_manifest import build_manifest, write_manifest
from ..base import SubsetResult
from .manifests import MANIFEST_NAMES, MAPPING_NAME, read_instances, read_mapping

GT_NAME = "instances_test.json"
SHOWN = 20


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


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


def _check_plan(source: Path, plan: list[tuple[Path, str, dict]], verify: str) -> None:
    missing = [str(src) for src, _, _ in plan if not src.is_file()]
    if missing:
        shown = "\n  ".join(missing[:SHOWN])
        raise UserError(f"{len(missing)} source image(s) missing (first {min(len(missing), SHOWN)}):\n  {shown}", path=source)
    broken = find_broken_images([src for src, _, _ in plan], level=verify)
    if broken:
        shown = "\n  ".join(f"{p}: {why}" for p, why in broken[:SHOWN])
        raise UserError(f"{len(broken)} corrupt or truncated image(s) (first {min(len(broken), SHOWN)}):\n  {shown}", path=source)


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header") -> SubsetResult:
    source, manifests, out, hidden = Path(source), Path(manifests), Path(out), Path(hidden)
    if _inside(hidden, out) or _inside(out, hidden):
        raise UserError("the hidden ground truth must live outside the subset folder (and the other way round)", path=hidden)
    if _inside(out, source):
        raise UserError("the subset must not be written inside the source dataset", path=out)
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

    plan = [(source / "train2017" / image["file_name"], f"images/{image['file_name']}", image) for image in train["images"] + val["images"]]
    plan += [(source / "val2017" / val2017_images[old]["file_name"], f"test-images/{new:012d}.jpg", val2017_images[old]) for old, new in mapping]
    _check_plan(source, plan, verify)

    linker = Linker(link)
    names = {split: f"annotations/{name}" for split, name in MANIFEST_NAMES.items()}
    with atomic_path(out) as staged:
        for folder in ("images", "test-images", "annotations"):
            (staged / folder).mkdir(parents=True)
        for src, rel, _ in plan:
            linker.place(src, staged / rel)
        for split, rel in names.items():
            linker.place(manifests / MANIFEST_NAMES[split], staged / rel)
        n_train, n_val = len(train["images"]), len(val["images"])
        splits = {
            "train": [names["train"]] + [rel for _, rel, _ in plan[:n_train]],
            "val": [names["val"]] + [rel for _, rel, _ in plan[n_train : n_train + n_val]],
            "test": [names["test"]] + [rel for _, rel, _ in plan[n_train + n_val :]],
        }
        extra = {"category_ids": [c["id"] for c in train["categories"]], "link_mode": linker.mode}
        manifest = build_manifest(staged, splits, task="detection", extra=extra, state=subset_state(out, source))
        write_manifest(staged, manifest)
        with atomic_path(hidden) as hidden_staged:
            hidden_staged.mkdir(parents=True)
            (hidden_staged / GT_NAME).write_text(json.dumps(hidden_ground_truth(val2017, mapping), separators=(",", ":")), encoding="utf-8")
    notes = [] if not linker.fell_back else ["hard links were not possible here; files were copied instead"]
    return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest, notes=notes)
