"""The official arrangement of DelftBikes, per edition, cut out of a read-only copy.

The toolkit's `data/valset_generate.py` moves the first `valset_size` (1,000) entries of
`os.listdir(train)` into `val/` and writes `val_annotations.json` and
`new_train_annotations.json`; until commit e4ad91b (2023-06-02, so in editions 2021 and 2022)
it wrote the VAL dict into `new_train_annotations.json` (fixed for 2023). Both are reproduced
here without moving anything: the subset is built beside the source.

    out/train/<name>                    the train images left after the move
    out/val/<name>                      the moved images
    out/test/<name>                     the test images (ids: index in the sorted listing)
    out/train_annotations.json          the original labels (every train image, val ones included)
    out/val_annotations.json            the val dict
    out/new_train_annotations.json      2023: the remaining images; 2021/2022: the val dict (the bug)
    out/fake_test_annotations.json      as shipped (placeholder labels)
    out/subset_manifest.json            with the edition, the listing order used and its digest
    hidden/test_ground_truth.json       COCO document of the test images' present parts

`os.listdir` returns the files in an order the file system decides (hash order on ext4,
creation order on others), so which images went to val on the organisers' machine is not
knowable from the toolkit; the order is an option and recorded: `sorted` (the default, the
same on every machine), `filesystem` (this file system's listing, what running the script
here would do), or the path of a text file naming the train images in order, one a line.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path, sha256_bytes
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.detection_delftbikes.annotations import coco_document, image_sizes, read_annotations
from viprepro.tasks.subsetting import Placed, SubsetPlan, cut, linked, refuse_unreadable, taken, written

GT_NAME = "test_ground_truth.json"
VAL_GT_NAME = "val_ground_truth.json"
TRAIN_LABELS, FAKE_TEST_LABELS = "train_annotations.json", "fake_test_annotations.json"
VAL_LABELS, NEW_TRAIN_LABELS = "val_annotations.json", "new_train_annotations.json"
TEST_LABELS, ARRANGEMENT = "test_annotations.json", "valset_generate.json"
OFFICIAL_VALSET_SIZE = 1000
#: editions whose valset_generate.py wrote the val dict as the new train file.
BUGGY_EDITIONS = ("2021", "2022")
SHOWN = 20


def listing(folder: Path, order: str) -> list[str]:
    """The names of `folder` in the order `order` says (see the module docstring)."""
    names = os.listdir(folder)
    if order == "filesystem":
        return names
    if order == "sorted":
        return sorted(names)
    path = Path(order)
    try:
        listed = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the listing order file ({exc})", path=path) from None
    if sorted(listed) != sorted(names):
        missing, extra = sorted(set(names) - set(listed)), sorted(set(listed) - set(names))
        raise UserError(
            f"must name every file of {folder} once: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(extra)} not in the folder (e.g. {extra[:3]}), {len(listed) - len(set(listed))} repeated",
            path=path,
        )
    return listed


def valset_size(manifests: Path, override: int | None) -> int:
    """The script's `valset_size`: the option, else manifests/valset_generate.json, else 1,000."""
    if override is not None:
        return override
    path = manifests / ARRANGEMENT
    if not path.is_file():
        return OFFICIAL_VALSET_SIZE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("valset_size")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise UserError(f'expected {{"valset_size": <integer>}} ({exc})', path=path) from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"'valset_size' must be a positive integer, not {value!r}", path=path)
    return value


def arrangement(train_names: list[str], labels: dict, size: int, edition: str) -> tuple[list[str], list[str], dict, dict]:
    """valset_generate.py of `edition` on a listing: (val names, remaining names, val dict, new train dict)."""
    val_names, remaining = train_names[:size], train_names[size:]
    val_dict = {name: labels[name] for name in val_names}
    new_train = val_dict if edition in BUGGY_EDITIONS else {name: labels[name] for name in remaining}
    return val_names, remaining, val_dict, new_train


def train_labels_file(edition: str) -> str:
    """The file that labels the train images: the new train file, unless the edition's bug
    made it the val dict (then the original file, which has every train image)."""
    return TRAIN_LABELS if edition in BUGGY_EDITIONS else NEW_TRAIN_LABELS


def _sizes(paths: list[Path]) -> list[tuple[int, int]]:
    """Image sizes for the ground truth; a missing or broken image gets a placeholder, since
    the check refuses it (naming every such file) before anything is written."""
    sizes = []
    for path in paths:
        try:
            sizes += image_sizes([path])
        except UserError:
            sizes.append((1, 1))
    return sizes


def plan(source: Path, manifests: Path, *, edition: str, commit: str, order: str, size: int | None) -> SubsetPlan:
    for required in (source / "train", source / "test", source / TRAIN_LABELS, source / FAKE_TEST_LABELS, manifests / TEST_LABELS):
        if not required.exists():
            raise UserError(
                "not found: a DelftBikes copy holds train/, test/, train_annotations.json and fake_test_annotations.json, "
                "and the manifests folder the organisers' test_annotations.json",
                path=required,
            )
    labels = read_annotations(source / TRAIN_LABELS)
    test_labels = read_annotations(manifests / TEST_LABELS)
    train_names = listing(source / "train", order)
    test_names = sorted(os.listdir(source / "test"))
    for names, known, path in ((train_names, labels, source / TRAIN_LABELS), (test_names, test_labels, manifests / TEST_LABELS)):
        unlabelled = [name for name in names if name not in known]
        if unlabelled:
            raise UserError(f"{len(unlabelled)} image(s) have no labels here, e.g. {unlabelled[:3]}", path=path)
    size = valset_size(manifests, size)
    if size >= len(train_names):
        raise UserError(
            f"valset_size {size} leaves no train image ({len(train_names)} in {source / 'train'})", path=manifests / ARRANGEMENT
        )
    val_names, remaining, val_dict, new_train = arrangement(train_names, labels, size, edition)
    test_paths = [source / "test" / name for name in test_names]
    truth = coco_document(
        test_names,
        test_labels,
        _sizes(test_paths),
        "DelftBikes test ground truth: present parts, image id = index in the sorted test listing",
    )

    def dumped(document) -> str:
        return json.dumps(document, separators=(",", ":"))

    def label_file(name: str) -> Placed:
        return taken(name, source / name)

    return SubsetPlan(
        splits={
            "train": [label_file(TRAIN_LABELS), written(NEW_TRAIN_LABELS, dumped(new_train))]
            + [linked(source / "train" / name, f"train/{name}") for name in remaining],
            "val": [written(VAL_LABELS, dumped(val_dict))] + [linked(source / "train" / name, f"val/{name}") for name in val_names],
            "test": [label_file(FAKE_TEST_LABELS)] + [linked(path, f"test/{path.name}") for path in test_paths],
        },
        hidden=[written(GT_NAME, dumped(truth))],
        extra={
            "edition": edition,
            "toolkit_commit": commit,
            "valset_size": size,
            "listing_order": {
                "order": order if order in ("sorted", "filesystem") else "file",
                "file": None if order in ("sorted", "filesystem") else str(order),
                "train_listing_sha256": sha256_bytes("\n".join(train_names).encode("utf-8")),
            },
            "new_train_annotations": "the val dict (valset_generate.py bug of 2021/2022)"
            if edition in BUGGY_EDITIONS
            else "the train images left after the move",
            "train_labels": train_labels_file(edition),
            "category_ids": list(range(1, 23)),
        },
        folders=("train", "val", "test"),
    )


def subset(
    source: Path,
    manifests: Path,
    out: Path,
    hidden: Path,
    *,
    link: str,
    edition: str,
    commit: str,
    order: str,
    size: int | None,
    verify: str,
) -> SubsetResult:
    return cut(
        "detection_delftbikes",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=partial(plan, edition=edition, commit=commit, order=order, size=size),
        check=partial(refuse_unreadable, source=Path(source), shown=SHOWN, missing_as="source image(s) missing"),
        verify=verify,
    )


def write_val_ground_truth(subset_dir: Path, out: Path) -> Path:
    """The val split's ground truth as the test one is made: present parts of the sorted val
    listing (what generate_submission.py --eval_mode val numbers), from val_annotations.json."""
    subset_dir = Path(subset_dir)
    labels = read_annotations(subset_dir / VAL_LABELS)
    names = sorted(os.listdir(subset_dir / "val"))
    document = coco_document(names, labels, image_sizes([subset_dir / "val" / n for n in names]), "DelftBikes val ground truth")
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        (staged / VAL_GT_NAME).write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    return Path(out) / VAL_GT_NAME
