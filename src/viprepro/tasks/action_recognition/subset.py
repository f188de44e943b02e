"""Cut mod-UCF101 out of a UCF-101 copy, exactly as the official procedure does.

Per class in classInd.txt line order, the class's trainlist01 clips in file order: the first
ceil(n/2) go to train, the rest to validation; test is testlist01, also class by class. Each
split is renamed `video_<split>_<i:07>.avi` (i counts from 1 over the split) into one folder,
and the labels become the permuted indices of mod-ucf101-classInd.txt. Unlike the toolkit
script (which copies, then deletes the source folders), the source is only read: clips are
linked or copied, and the test labels go to a hidden folder outside the subset.

    out/videos/video_{train,validation,test}_<i:07>.avi
    out/annotations/mod-ucf101-classInd.txt, mod-ucf101-{train,validation,test}.txt
    hidden/mod-ucf101-test-gt.txt (`clip.avi label`), hidden/mod-ucf101-classInd.txt
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path, PurePosixPath

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.tasks.action_recognition.annotations import (
    CLASS_INDEX,
    SPLIT_FILES,
    TEST_GT,
    format_class_index,
    format_clips,
    read_class_index,
    read_labelled_clips,
    read_split_list,
)
from viprepro.tasks.action_recognition.videocheck import raise_if_broken, survey
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.subsetting import SubsetPlan, cut, linked, written

PREFIX = {"train": "video_train", "val": "video_validation", "test": "video_test"}
SHOWN = 20


def read_official_classes(lists: Path, manifests: Path) -> tuple[list[str], dict[str, int]]:
    """Class names in classInd order and their mod-UCF101 indices, cross-checked."""
    original = read_class_index(lists / "classInd.txt")
    for position, (index, name) in enumerate(original, start=1):
        if index != position:
            raise UserError(
                f"class {name!r} has index {index} on line {position}; the split files rely on line order", path=lists / "classInd.txt"
            )
    modified = read_class_index(manifests / CLASS_INDEX)
    names = [name for _, name in original]
    if len(modified) != len(names):
        raise UserError(f"lists {len(modified)} classes, classInd.txt lists {len(names)}", path=manifests / CLASS_INDEX)
    for line, ((_, name), expected) in enumerate(zip(modified, names), start=1):
        if name != expected:
            raise UserError(
                f"class {name!r} where classInd.txt has {expected!r}: the file must follow classInd order",
                path=manifests / CLASS_INDEX,
                where=f"line {line}",
            )
    return names, {name: new for new, name in modified}


def clips_by_class(path: Path, names: list[str], *, labelled: bool) -> dict[str, list[str]]:
    """trainlist01/testlist01 grouped per class, each group in file order."""
    position = {name: i for i, name in enumerate(names, start=1)}
    groups: dict[str, list[str]] = {name: [] for name in names}
    seen: dict[str, int] = {}
    for number, clip, label in read_split_list(path, labelled=labelled):
        parts = PurePosixPath(clip).parts
        if len(parts) != 2 or parts[0] not in position or parts[1] in ("..", ".") or not clip.endswith(".avi"):
            raise UserError(
                f"expected '<ClassName>/<clip>.avi' with a class of classInd.txt, found {clip!r}", path=path, where=f"line {number}"
            )
        if labelled and label != position[parts[0]]:
            raise UserError(
                f"label {label} does not match class {parts[0]!r} (index {position[parts[0]]} in classInd.txt)",
                path=path,
                where=f"line {number}",
            )
        if clip in seen:
            raise UserError(f"clip {clip!r} is listed twice (first on line {seen[clip]})", path=path, where=f"line {number}")
        seen[clip] = number
        groups[parts[0]].append(clip)
    return groups


def plan_splits(source: Path, manifests: Path) -> tuple[dict[str, list[tuple[str, int]]], dict[str, int], list[str]]:
    """Per split, (source clip, mod label) in output order; also the mod indices and names."""
    lists = source / "ucfTrainTestlist"
    names, new_index = read_official_classes(lists, manifests)
    train_lists = clips_by_class(lists / "trainlist01.txt", names, labelled=True)
    test_lists = clips_by_class(lists / "testlist01.txt", names, labelled=False)
    leaked = sorted({c for v in train_lists.values() for c in v} & {c for v in test_lists.values() for c in v})
    if leaked:
        raise UserError(f"{len(leaked)} clip(s) are in both trainlist01.txt and testlist01.txt, e.g. {leaked[0]}", path=lists)
    splits: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    for name in names:
        clips = train_lists[name]
        half = math.ceil(len(clips) / 2)
        splits["train"] += [(clip, new_index[name]) for clip in clips[:half]]
        splits["val"] += [(clip, new_index[name]) for clip in clips[half:]]
        splits["test"] += [(clip, new_index[name]) for clip in test_lists[name]]
    return splits, new_index, names


def plan(source: Path, manifests: Path) -> SubsetPlan:
    for folder in ("UCF-101", "ucfTrainTestlist"):
        if not (source / folder).is_dir():
            raise UserError(f"no {folder}/ folder here: --source must hold UCF-101/ and ucfTrainTestlist/", path=source)
    splits, new_index, names = plan_splits(source, manifests)
    renamed = {
        split: [(f"{PREFIX[split]}_{i:07}.avi", clip, label) for i, (clip, label) in enumerate(rows, start=1)]
        for split, rows in splits.items()
    }
    class_index = format_class_index([(new_index[name], name) for name in names])
    files = {}
    for split, rows in renamed.items():
        listed = [(new,) for new, _, _ in rows] if split == "test" else [(new, label) for new, _, label in rows]
        files[split] = [written(f"annotations/{SPLIT_FILES[split]}", format_clips(listed))]
        files[split] += [linked(source / "UCF-101" / clip, f"videos/{new}") for new, clip, _ in rows]
    files["train"].insert(0, written(f"annotations/{CLASS_INDEX}", class_index))
    return SubsetPlan(
        splits=files,
        hidden=[written(TEST_GT, format_clips([(new, label) for new, _, label in renamed["test"]])), written(CLASS_INDEX, class_index)],
        extra={"classes": len(names), "origin": {new: clip for rows in renamed.values() for new, clip, _ in rows}},
        folders=("videos", "annotations"),
    )


def check(plan: SubsetPlan, *, source: Path, verify: str) -> None:
    clips = [Path(p) for p in plan.sources()]
    missing = [str(p) for p in clips if not p.is_file()]
    if missing:
        shown = "\n  ".join(missing[:SHOWN])
        raise UserError(f"{len(missing)} listed clip(s) missing (first {min(len(missing), SHOWN)}):\n  {shown}", path=source / "UCF-101")
    if verify != "none":
        raise_if_broken(survey(clips, level=verify)[1], source / "UCF-101")


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header") -> SubsetResult:
    return cut(
        "action_recognition",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=plan,
        check_files=partial(check, source=Path(source), verify=verify),
        copied="clips",
    )


VAL_GT = "mod-ucf101-validation-gt.txt"


def write_val_ground_truth(subset_dir: Path, out: Path) -> Path:
    """The val ground truth in the test ground truth's format (`clip.avi label`), with the
    class index beside it as in the hidden folder, both from the subset's annotations."""
    annotations = Path(subset_dir) / "annotations"
    class_index = read_class_index(annotations / CLASS_INDEX)
    clips = read_labelled_clips(annotations / SPLIT_FILES["val"], len(class_index))
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        (staged / VAL_GT).write_text(format_clips(list(clips.items())), encoding="utf-8")
        (staged / CLASS_INDEX).write_text(format_class_index(class_index), encoding="utf-8")
    return Path(out) / VAL_GT
