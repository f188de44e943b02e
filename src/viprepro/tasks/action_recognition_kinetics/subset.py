"""The Kinetics400ViPriors arrangement, as the challenge distributed it (the source is only read).

    out/{train,val,test}/<videoid>.mp4
    out/annotations/clsIdx.csv, kinetics400ViPriors-{train,val}.csv (labels), kinetics400ViPriors-test-public.csv
    out/annotations/kinetics400ViPriors_corrupted_videos.txt        (edition 2022)
    hidden/kinetics400ViPriors-test.csv (`label,videoid,split`), hidden/clsIdx.csv
    hidden/kinetics400ViPriors_corrupted_videos.txt                 (edition 2022, read by the scorer as `-corr`)

The dataset (`--source`) holds `train/`, `val/`, `test/`; the manifests folder the toolkit's
`data/annotations/` plus the organisers' test ground truth `kinetics400ViPriors-test.csv`
(not public: the synthetic set writes one). Edition 2022 applies its list of corrupted videos
as its data check does: a listed video is blocked (left out of the subset, of its public lists
and, at scoring, of the ground truth and the predictions), and every other video must open
and decode its header, else the subset is refused naming the first such video.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.tasks.action_recognition.videocheck import survey
from viprepro.tasks.action_recognition_kinetics import EDITIONS, has_corrupted_list
from viprepro.tasks.action_recognition_kinetics.annotations import (
    CLASS_INDEX,
    CORRUPTED,
    SPLIT_FILES,
    TEST_GT,
    format_class_index,
    format_labelled,
    format_public,
    read_class_index,
    read_corrupted,
    read_labelled,
    read_public,
)
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.subsetting import SubsetPlan, cut, linked, written

SPLITS = ("train", "val", "test")
VAL_GT = "kinetics400ViPriors-val.csv"


def read_manifests(manifests: Path, edition: str) -> tuple[list[str], dict[str, dict[str, int]], list[str]]:
    """Class names, per split videoid -> idx (test from the ground truth, in public-list order)
    and the blocked videoids (edition 2022), cross-checked."""
    names = read_class_index(manifests / CLASS_INDEX)
    labels = {split: read_labelled(manifests / SPLIT_FILES[split], names, split) for split in ("train", "val")}
    public = read_public(manifests / SPLIT_FILES["test"])
    if not (manifests / TEST_GT).is_file():
        raise UserError(f"no {TEST_GT}: the test labels are not public; put the organisers' ground truth here", path=manifests)
    truth = read_labelled(manifests / TEST_GT, names, "test")
    if set(truth) != set(public):
        odd = sorted(set(truth) ^ set(public))
        raise UserError(f"{len(odd)} videoid(s) differ from {SPLIT_FILES['test']}, e.g. {odd[0]}", path=manifests / TEST_GT)
    labels["test"] = {videoid: truth[videoid] for videoid in public}
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = sorted(set(labels[first]) & set(labels[second]))
        if shared:
            raise UserError(f"videoid {shared[0]} is in both the {first} and the {second} list ({len(shared)} shared)", path=manifests)
    blocked = read_corrupted(manifests / CORRUPTED) if has_corrupted_list(edition) else []
    return names, labels, blocked


def plan(source: Path, manifests: Path, *, edition: str) -> SubsetPlan:
    for split in SPLITS:
        if not (source / split).is_dir():
            raise UserError(f"no {split}/ folder here: --source must hold train/, val/ and test/ of Kinetics400ViPriors", path=source)
    names, labels, blocked_list = read_manifests(manifests, edition)
    blocked = set(blocked_list)
    kept = {split: [(v, idx) for v, idx in rows.items() if v not in blocked] for split, rows in labels.items()}
    class_index = format_class_index(names)
    files = {
        "train": [written(f"annotations/{SPLIT_FILES['train']}", format_labelled(kept["train"], "train", names))],
        "val": [written(f"annotations/{SPLIT_FILES['val']}", format_labelled(kept["val"], "val", names))],
        "test": [written(f"annotations/{SPLIT_FILES['test']}", format_public([v for v, _ in kept["test"]]))],
    }
    files["train"].insert(0, written(f"annotations/{CLASS_INDEX}", class_index))
    hidden = [written(TEST_GT, (manifests / TEST_GT).read_text(encoding="utf-8")), written(CLASS_INDEX, class_index)]
    if has_corrupted_list(edition):
        listed = (manifests / CORRUPTED).read_text(encoding="utf-8")
        files["train"].insert(1, written(f"annotations/{CORRUPTED}", listed))
        hidden.append(written(CORRUPTED, listed))
    for split in SPLITS:
        files[split] += [linked(source / split / f"{v}.mp4", f"{split}/{v}.mp4") for v, _ in kept[split]]
    return SubsetPlan(
        splits=files,
        hidden=hidden,
        extra={
            "classes": len(names),
            "edition": edition,
            "toolkit_commit": EDITIONS[edition],
            "blocked": {split: sum(v in blocked for v in labels[split]) for split in SPLITS},
        },
        folders=(*SPLITS, "annotations"),
    )


def check(plan: SubsetPlan, *, verify: str, edition: str) -> None:
    """Refuse a missing video or one that does not open, naming the first on one line."""
    videos = [Path(p) for p in plan.sources()]
    missing = [p for p in videos if not p.is_file()]
    if missing:
        raise UserError(
            f"listed video missing, a broken link or not a regular file ({len(missing)} such video(s) in all)",
            path=missing[0],
        )
    if verify == "none":
        return
    broken = survey(videos, level=verify)[1]
    if broken:
        path, why = broken[0]
        hint = (
            "and not on the list of corrupted videos" if has_corrupted_list(edition) else "(edition 2021 has no list of corrupted videos)"
        )
        raise UserError(f"{why.rstrip('.')}: unreadable {hint}; {len(broken)} such video(s) in all", path=path)


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, edition: str, verify: str = "header") -> SubsetResult:
    return cut(
        "action_recognition_kinetics",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=partial(plan, edition=edition),
        check_files=partial(check, verify=verify, edition=edition),
        copied="videos",
    )


def write_val_ground_truth(subset_dir: Path, out: Path) -> Path:
    """The val ground truth in the test ground truth's format, the class index (and the
    corrupted list, whose val videos the public val list already leaves out) beside it."""
    annotations = Path(subset_dir) / "annotations"
    names = read_class_index(annotations / CLASS_INDEX)
    labels = read_labelled(annotations / SPLIT_FILES["val"], names, "val")
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        (staged / VAL_GT).write_text(format_labelled(list(labels.items()), "val", names), encoding="utf-8")
        (staged / CLASS_INDEX).write_text(format_class_index(names), encoding="utf-8")
        if (annotations / CORRUPTED).is_file():
            (staged / CORRUPTED).write_text((annotations / CORRUPTED).read_text(encoding="utf-8"), encoding="utf-8")
    return Path(out) / VAL_GT
