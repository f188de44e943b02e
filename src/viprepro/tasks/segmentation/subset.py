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
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from ...errors import UserError
from ...fileio import atomic_path
from ...linking import Linker
from ...safe_pickle import load_plain_pickle
from ...filestate import subset_state
from ...subset_manifest import build_manifest, write_manifest
from ..base import SubsetResult

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


def _unreadable(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums, without decoding the pixels
    except FileNotFoundError:
        return "missing"
    except Exception as exc:  # PIL raises many types for broken files
        return f"corrupt ({type(exc).__name__}: {exc})"
    return None


def _check_sources(paths: list[Path], source: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [(p, why) for p, why in zip(paths, pool.map(_unreadable, paths)) if why]
    if problems:
        shown = "\n  ".join(f"{p}: {why}" for p, why in problems[:SHOWN])
        raise UserError(f"{len(problems)} source file(s) missing or unreadable (first {min(len(problems), SHOWN)}):\n  {shown}", path=source)


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str) -> SubsetResult:
    source, manifests, out, hidden = Path(source), Path(manifests), Path(out), Path(hidden)
    if hidden.resolve().is_relative_to(out.resolve()):
        raise UserError("the hidden ground truth must not be inside the subset folder", path=hidden)
    train = read_list_manifest(manifests / "train.p")
    val = read_list_manifest(manifests / "val.p")
    test = read_test_names(manifests / TEST_NAMES)
    overlap = sorted(set(train) & set(val))
    if overlap:
        raise UserError(f"{len(overlap)} image(s) in both train.p and val.p, e.g. {overlap[0][1]}", path=manifests)

    plan: dict[str, list[tuple[Path, str]]] = {"train": [], "val": [], "test": []}
    for split, entries in (("train", train), ("val", val)):
        for city, name in entries:
            plan[split].append((source / "leftImg8bit/train" / city / f"{name}_leftImg8bit.png", f"leftImg8bit/{split}/{name}_leftImg8bit.png"))
            for kind in GT_KINDS:
                plan[split].append((source / "gtFine/train" / city / f"{name}_gtFine_{kind}.png", f"gtFine/{split}/{name}_gtFine_{kind}.png"))
    hidden_plan = []
    for number, (city, name) in test.items():
        plan["test"].append((source / "leftImg8bit/val" / city / f"{name}_leftImg8bit.png", f"leftImg8bit/test/{number}.png"))
        for kind in GT_KINDS:
            rel = f"gtFine/val/{city}/{name}_gtFine_{kind}.png"
            hidden_plan.append((source / rel, rel))
    _check_sources([src for files in plan.values() for src, _ in files] + [src for src, _ in hidden_plan], source)

    linker = Linker(link)
    with atomic_path(out) as staged, atomic_path(hidden) as hidden_staged:
        for root, files in ((staged, [f for files in plan.values() for f in files]), (hidden_staged, hidden_plan)):
            for src, rel in files:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                linker.place(src, root / rel)
        shutil.copyfile(manifests / TEST_NAMES, hidden_staged / TEST_NAMES)
        splits = {split: [rel for _, rel in files] for split, files in plan.items()}
        manifest = build_manifest(staged, splits, task="segmentation", extra={"link_mode": linker.mode}, state=subset_state(out, source))
        write_manifest(staged, manifest)
    notes = ["hard links were not possible here; files were copied instead"] if linker.fell_back else []
    return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest, notes=notes)
