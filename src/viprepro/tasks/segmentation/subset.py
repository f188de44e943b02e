"""Cut the official `minicity` subset out of a Cityscapes copy.

Reads the toolkit's manifests (plain-data pickles only) and, as the toolkit's
`arrange_images.py` does, places

    leftImg8bit/{train,val}/<name>_leftImg8bit.png        from Cityscapes train
    gtFine/{train,val}/<name>_gtFine_{labelIds,instanceIds}.png
    leftImg8bit/test/<int>.png                            from Cityscapes val, int from test.p

The hidden folder, which only scoring reads, keeps the test ground truth under its original
Cityscapes names (`gtFine/val/<city>/<name>_gtFine_*.png`) together with a copy of `test.p`:
`score --gt HIDDEN` finds the copy and maps `<int>.png` predictions back through it, so the
pipeline needs no extra option. The source is only read; files are linked or copied.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.files.linking import Linker
from viprepro.files.safe_pickle import load_plain_pickle
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.subsetting import Placed, SubsetPlan, cut, linked, taken

ENTRY = re.compile(r"^(?P<city>[^/\\]+)/(?P<name>(?P=city)_\d{6}_\d{6})_leftImg8bit\.png$")
GT_KINDS = ("labelIds", "instanceIds")
TEST_NAMES = "test.p"
SHOWN = 20


def parse_entry(path: Path, where: str, entry) -> tuple[str, str]:
    """'<city>/<city>_<seq>_<frame>_leftImg8bit.png' -> (city, '<city>_<seq>_<frame>')."""
    match = ENTRY.match(entry) if isinstance(entry, str) else None
    if not match:
        raise UserError(f"expected '<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png', found {entry!r}", path=path, where=where)
    return match["city"], match["name"]


def read_list_manifest(path: Path) -> list[tuple[str, str]]:
    """train.p / val.p: a list of relative image paths."""
    data = load_plain_pickle(path)
    if not isinstance(data, (list, tuple)):
        raise UserError(f"expected a list of image paths, found {type(data).__name__}", path=path)
    return [parse_entry(path, f"entry {i}", entry) for i, entry in enumerate(data)]


def read_test_names(path: Path) -> dict[str, tuple[str, str]]:
    """test.p: {relative image path: unique int} -> {'<int>': (city, name)}."""
    data = load_plain_pickle(path)
    if not isinstance(data, dict):
        raise UserError(f"expected a dict of image path -> int, found {type(data).__name__}", path=path)
    names: dict[str, tuple[str, str]] = {}
    for entry, number in data.items():
        city, name = parse_entry(path, f"key {entry!r}", entry)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise UserError(f"expected a non-negative int, found {number!r}", path=path, where=f"key {entry!r}")
        if str(number) in names:
            raise UserError(f"int {number} is given to two images", path=path, where=f"key {entry!r}")
        names[str(number)] = (city, name)
    return names


def _unreadable(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums, without decoding the pixels
    except FileNotFoundError:
        return "missing"
    except Exception as exc:  # PIL raises many types for broken files
        return f"corrupt ({type(exc).__name__}: {exc})"
    return None


def _check_sources(paths: list[str], source: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [(p, why) for p, why in zip(paths, pool.map(_unreadable, paths)) if why]
    if problems:
        shown = "\n  ".join(f"{p}: {why}" for p, why in problems[:SHOWN])
        raise UserError(
            f"{len(problems)} source file(s) missing or unreadable (first {min(len(problems), SHOWN)}):\n  {shown}", path=source
        )


def plan(source: Path, manifests: Path) -> SubsetPlan:
    train = read_list_manifest(manifests / "train.p")
    val = read_list_manifest(manifests / "val.p")
    test = read_test_names(manifests / TEST_NAMES)
    overlap = sorted(set(train) & set(val))
    if overlap:
        raise UserError(f"{len(overlap)} image(s) in both train.p and val.p, e.g. {overlap[0][1]}", path=manifests)
    splits: dict[str, list[Placed]] = {"train": [], "val": [], "test": []}
    for split, entries in (("train", train), ("val", val)):
        for city, name in entries:
            splits[split].append(
                linked(source / "leftImg8bit/train" / city / f"{name}_leftImg8bit.png", f"leftImg8bit/{split}/{name}_leftImg8bit.png")
            )
            for kind in GT_KINDS:
                splits[split].append(
                    linked(source / "gtFine/train" / city / f"{name}_gtFine_{kind}.png", f"gtFine/{split}/{name}_gtFine_{kind}.png")
                )
    hidden = []
    for number, (city, name) in test.items():
        splits["test"].append(linked(source / "leftImg8bit/val" / city / f"{name}_leftImg8bit.png", f"leftImg8bit/test/{number}.png"))
        for kind in GT_KINDS:
            rel = f"gtFine/val/{city}/{name}_gtFine_{kind}.png"
            hidden.append(linked(source / rel, rel))
    hidden.append(taken(TEST_NAMES, manifests / TEST_NAMES, copy=True))
    return SubsetPlan(splits=splits, hidden=hidden)


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str) -> SubsetResult:
    return cut(
        "segmentation",
        source,
        manifests,
        out,
        hidden,
        link=link,
        plan=plan,
        check_files=lambda made: _check_sources(made.sources(), Path(source)),
    )


def write_val_ground_truth(subset_dir: Path, out: Path) -> Path:
    """The val ground truth as `score --gt` reads a ground-truth folder: every val image's
    `gtFine/val/<name>_gtFine_{labelIds,instanceIds}.png`, linked (or copied) from the subset."""
    folder = subset_dir / "gtFine" / "val"
    labels = sorted(folder.glob("*_gtFine_labelIds.png"))
    if not labels:
        raise UserError("no val ground truth (*_gtFine_labelIds.png)", path=folder)
    linker = Linker("hardlink")
    with atomic_path(out) as staged:
        (staged / "gtFine" / "val").mkdir(parents=True)
        for label in labels:
            for kind in GT_KINDS:
                name = label.name.replace("labelIds", kind)
                linker.place(folder / name, staged / "gtFine" / "val" / name)
    return out
