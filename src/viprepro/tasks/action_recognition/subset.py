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
from pathlib import Path, PurePosixPath

from ...errors import UserError
from ...fileio import atomic_path
from ...linking import Linker
from ...filestate import subset_state
from ...subset_manifest import build_manifest, write_manifest
from ..base import SubsetResult
from .annotations import CLASS_INDEX, SPLIT_FILES, TEST_GT, format_class_index, format_clips, read_class_index, read_split_list
from .videocheck import raise_if_broken, survey

PREFIX = {"train": "video_train", "val": "video_validation", "test": "video_test"}
SHOWN = 20


def read_official_classes(lists: Path, manifests: Path) -> tuple[list[str], dict[str, int]]:
    """Class names in classInd order and their mod-UCF101 indices, cross-checked."""
    original = read_class_index(lists / "classInd.txt")
    for position, (index, name) in enumerate(original, start=1):
        if index != position:
            raise UserError(f"class {name!r} has index {index} on line {position}; the split files rely on line order", path=lists / "classInd.txt")
    modified = read_class_index(manifests / CLASS_INDEX)
    names = [name for _, name in original]
    if len(modified) != len(names):
        raise UserError(f"lists {len(modified)} classes, classInd.txt lists {len(names)}", path=manifests / CLASS_INDEX)
    for line, ((_, name), expected) in enumerate(zip(modified, names), start=1):
        if name != expected:
            raise UserError(f"class {name!r} where classInd.txt has {expected!r}: the file must follow classInd order", path=manifests / CLASS_INDEX, where=f"line {line}")
    return names, {name: new for new, name in modified}


def clips_by_class(path: Path, names: list[str], *, labelled: bool) -> dict[str, list[str]]:
    """trainlist01/testlist01 grouped per class, each group in file order."""
    position = {name: i for i, name in enumerate(names, start=1)}
    groups: dict[str, list[str]] = {name: [] for name in names}
    seen: dict[str, int] = {}
    for number, clip, label in read_split_list(path, labelled=labelled):
        parts = PurePosixPath(clip).parts
        if len(parts) != 2 or parts[0] not in position or parts[1] in ("..", ".") or not clip.endswith(".avi"):
            raise UserError(f"expected '<ClassName>/<clip>.avi' with a class of classInd.txt, found {clip!r}", path=path, where=f"line {number}")
        if labelled and label != position[parts[0]]:
            raise UserError(f"label {label} does not match class {parts[0]!r} (index {position[parts[0]]} in classInd.txt)", path=path, where=f"line {number}")
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


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header") -> SubsetResult:
    source, manifests, out, hidden = Path(source), Path(manifests), Path(out), Path(hidden)
    _check_locations(source, out, hidden)
    splits, new_index, names = plan_splits(source, manifests)
    renamed = {split: [(f"{PREFIX[split]}_{i:07}.avi", clip, label) for i, (clip, label) in enumerate(rows, start=1)] for split, rows in splits.items()}
    clips = [source / "UCF-101" / clip for rows in renamed.values() for _, clip, _ in rows]
    missing = [str(p) for p in clips if not p.is_file()]
    if missing:
        shown = "\n  ".join(missing[:SHOWN])
        raise UserError(f"{len(missing)} listed clip(s) missing (first {min(len(missing), SHOWN)}):\n  {shown}", path=source / "UCF-101")
    if verify != "none":
        raise_if_broken(survey(clips, level=verify)[1], source / "UCF-101")

    class_index = [(new_index[name], name) for name in names]
    linker = Linker(link)
    with atomic_path(out) as staged:
        (staged / "videos").mkdir(parents=True)
        (staged / "annotations").mkdir()
        (staged / "annotations" / CLASS_INDEX).write_text(format_class_index(class_index), encoding="utf-8")
        files: dict[str, list[str]] = {}
        for split, rows in renamed.items():
            for new, clip, _ in rows:
                linker.place(source / "UCF-101" / clip, staged / "videos" / new)
            listed = [(new,) for new, _, _ in rows] if split == "test" else [(new, label) for new, _, label in rows]
            (staged / "annotations" / SPLIT_FILES[split]).write_text(format_clips(listed), encoding="utf-8")
            files[split] = [f"annotations/{SPLIT_FILES[split]}"] + [f"videos/{new}" for new, _, _ in rows]
        files["train"].insert(0, f"annotations/{CLASS_INDEX}")
        extra = {
            "classes": len(names),
            "origin": {new: clip for rows in renamed.values() for new, clip, _ in rows},
            "link_mode": linker.mode,
        }
        manifest = build_manifest(staged, files, task="action_recognition", extra=extra, state=subset_state(out, source))
        write_manifest(staged, manifest)
        with atomic_path(hidden) as hidden_staged:
            hidden_staged.mkdir(parents=True)
            (hidden_staged / TEST_GT).write_text(format_clips([(new, label) for new, _, label in renamed["test"]]), encoding="utf-8")
            (hidden_staged / CLASS_INDEX).write_text(format_class_index(class_index), encoding="utf-8")
    notes = ["hard links were not possible here; clips were copied instead"] if linker.fell_back else []
    return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest, notes=notes)


def _check_locations(source: Path, out: Path, hidden: Path) -> None:
    for folder in ("UCF-101", "ucfTrainTestlist"):
        if not (source / folder).is_dir():
            raise UserError(f"no {folder}/ folder here: --source must hold UCF-101/ and ucfTrainTestlist/", path=source)
    resolved = {name: p.resolve() for name, p in (("source", source), ("out", out), ("hidden", hidden))}

    def inside(a: str, b: str) -> bool:
        return resolved[a] == resolved[b] or resolved[b] in resolved[a].parents

    if inside("hidden", "out") or inside("out", "hidden"):
        raise UserError("the hidden ground-truth folder must not be inside the subset folder (or the reverse)", path=hidden)
    for name in ("out", "hidden"):
        if inside(name, "source"):
            raise UserError(f"the {name} folder must not be inside the source dataset, which is never modified", path=resolved[name])
