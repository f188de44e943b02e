"""Cut the official `imagenet_50` subset out of an ImageNet copy.

Reads the toolkit's manifests (plain-data pickles only), places train/val files under their
own names and the test images as `test/imgs/img_<i>.JPEG` (i = position in test.pickle), and
writes the hidden test labels, in the CSV the official grader reads, to a separate folder.
One pass over the manifests: O(n), no directory scans of the source.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.files.safe_pickle import load_plain_pickle
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.subsetting import SubsetPlan, cut, linked_all, refuse_unreadable, written

GT_NAME = "test_gt.csv"
VAL_GT_NAME = "val_gt.csv"
GT_HEADER = "Image IDs,Labels"
MISSING_SHOWN = 20


def read_pair_manifest(path: Path) -> list[tuple[str, str]]:
    """train.pickle / val.pickle: a list of [wnid, filename] pairs."""
    data = load_plain_pickle(path)
    if not isinstance(data, (list, tuple)):
        raise UserError(f"expected a list of [wnid, filename] pairs, found {type(data).__name__}", path=path)
    if set(map(type, data)) <= {list, tuple} and set(map(len, data)) <= {2}:  # checked at C speed; the loop below names the first bad entry
        wnids, filenames = zip(*data) if data else ((), ())
        if all(set(map(type, column)) <= {str} and _safe_names(column) for column in (wnids, filenames)):
            return list(zip(wnids, filenames))
    pairs = []
    for index, item in enumerate(data):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise UserError(f"expected [wnid, filename], found {item!r}", path=path, where=f"entry {index}")
        wnid, filename = item
        _check_name(path, index, wnid, filename)
        pairs.append((wnid, filename))
    return pairs


def read_test_manifest(path: Path) -> list[tuple[str, str]]:
    """test.pickle: a list of 'wnid/ILSVRC2012_val_XXXXXXXX.JPEG' strings."""
    data = load_plain_pickle(path)
    if not isinstance(data, (list, tuple)):
        raise UserError(f"expected a list of 'wnid/filename' strings, found {type(data).__name__}", path=path)
    entries = []
    for index, item in enumerate(data):
        if not isinstance(item, str) or item.count("/") != 1:
            raise UserError(f"expected 'wnid/filename', found {item!r}", path=path, where=f"entry {index}")
        wnid, filename = item.split("/")
        _check_name(path, index, wnid, filename)
        entries.append((wnid, filename))
    return entries


def _safe_names(parts) -> bool:
    """No part is empty, '.', '..' or holds a path separator (what `_check_name` refuses one by one)."""
    distinct = set(parts)
    joined = "\0".join(distinct)
    return not distinct & {"", ".", ".."} and "/" not in joined and "\\" not in joined


def _check_name(path: Path, index: int, wnid: str, filename: str) -> None:
    for part in (wnid, filename):
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise UserError(f"unsafe path component {part!r}", path=path, where=f"entry {index}")


def plan(source: Path, manifests: Path) -> SubsetPlan:
    train = read_pair_manifest(manifests / "train.pickle")
    val = read_pair_manifest(manifests / "val.pickle")
    test = read_test_manifest(manifests / "test.pickle")
    overlap = set(train) & set(val)
    if overlap:
        raise UserError(f"{len(overlap)} image(s) are in both train.pickle and val.pickle, e.g. {sorted(overlap)[0]}", path=manifests)
    classes = sorted({wnid for wnid, _ in train})
    class_index = {wnid: i for i, wnid in enumerate(classes)}
    unknown = sorted({wnid for wnid, _ in val + test if wnid not in class_index})
    if unknown:
        raise UserError(f"wnid(s) not in train.pickle: {', '.join(unknown[:MISSING_SHOWN])}", path=manifests)
    flat_val = not (source / "val" / test[0][0]).is_dir() if test else False
    rows = [f"img_{i}.JPEG,{class_index[wnid]}" for i, (wnid, _) in enumerate(test)]
    train_root, val_root = str(source / "train"), str(source / "val")
    # Plain strings, one per file: Path objects cost more than the rest of a rerun's plan.
    return SubsetPlan(
        splits={
            "train": linked_all([f"{train_root}/{wnid}/{name}" for wnid, name in train], [f"train/{wnid}/{name}" for wnid, name in train]),
            "val": linked_all([f"{train_root}/{wnid}/{name}" for wnid, name in val], [f"val/{wnid}/{name}" for wnid, name in val]),
            "test": linked_all(
                [f"{val_root}/{name}" if flat_val else f"{val_root}/{wnid}/{name}" for wnid, name in test],
                [f"test/imgs/img_{i}.JPEG" for i in range(len(test))],
            ),
        },
        hidden=[written(GT_NAME, GT_HEADER + "\n" + "\n".join(rows) + "\n")],
        extra={"classes": classes},
    )


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header") -> SubsetResult:
    return cut(
        "classification",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=plan,
        check=partial(refuse_unreadable, source=Path(source), shown=MISSING_SHOWN),
        verify=verify,
    )


def write_ground_truth(path: Path, ids: list[str], labels: list[int]) -> Path:
    """The CSV the official grader reads: header, then `image id,label` per image."""
    rows = [f"{image_id},{label}" for image_id, label in zip(ids, labels)]
    with atomic_path(path) as staged:
        staged.write_text(GT_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path
