"""Cut the official `imagenet_50` subset out of an ImageNet copy.

Reads the toolkit's manifests (plain-data pickles only), places train/val files under their
own names and the test images as `test/imgs/img_<i>.JPEG` (i = position in test.pickle), and
writes the hidden test labels, in the CSV the official grader reads, to a separate folder.
One pass over the manifests: O(n), no directory scans of the source.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import UserError
from ...fileio import atomic_path, canonical_digest
from ...filestate import MISSING, scan, subset_state
from ...linking import Linker
from ...safe_pickle import load_plain_pickle
from ...subset_manifest import build_manifest, record_build, reusable, write_manifest
from ..base import SubsetResult

GT_NAME = "test_gt.csv"
GT_HEADER = "Image IDs,Labels"
MISSING_SHOWN = 20


def read_pair_manifest(path: Path) -> list[tuple[str, str]]:
    """train.pickle / val.pickle: a list of [wnid, filename] pairs."""
    data = load_plain_pickle(path)
    if not isinstance(data, (list, tuple)):
        raise UserError(f"expected a list of [wnid, filename] pairs, found {type(data).__name__}", path=path)
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


def _check_name(path: Path, index: int, wnid: str, filename: str) -> None:
    for part in (wnid, filename):
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise UserError(f"unsafe path component {part!r}", path=path, where=f"entry {index}")


def _val_source(source: str, wnid: str, filename: str, flat: bool) -> str:
    return f"{source}/val/{filename}" if flat else f"{source}/val/{wnid}/{filename}"


def subset(source: Path, manifests: Path, out: Path, hidden: Path, *, link: str, verify: str = "header") -> SubsetResult:
    source, manifests, out, hidden = Path(source), Path(manifests), Path(out), Path(hidden)
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
    root = str(source)  # strings, not Paths: a Path costs microseconds, and there are 100,000 files
    plan: list[tuple[str, str]] = []
    plan += [(f"{root}/train/{wnid}/{name}", f"train/{wnid}/{name}") for wnid, name in train]
    plan += [(f"{root}/train/{wnid}/{name}", f"val/{wnid}/{name}") for wnid, name in val]
    plan += [(_val_source(root, wnid, name, flat_val), f"test/imgs/img_{i}.JPEG") for i, (wnid, name) in enumerate(test)]

    with subset_state(out, source) as state:
        facts = scan([src for src, _ in plan], state=state, level=verify)
        missing = [str(src) for (src, _), fact in zip(plan, facts) if fact.problem == MISSING]
        if missing:
            shown = "\n  ".join(missing[:MISSING_SHOWN])
            raise UserError(f"{len(missing)} source file(s) missing or unreadable (first {min(len(missing), MISSING_SHOWN)}):\n  {shown}", path=source)
        broken = [(src, fact.problem) for (src, _), fact in zip(plan, facts) if fact.problem]
        if broken:
            shown = "\n  ".join(f"{p}: {why}" for p, why in broken[:MISSING_SHOWN])
            raise UserError(f"{len(broken)} corrupt or truncated image(s) (first {min(len(broken), MISSING_SHOWN)}):\n  {shown}", path=source)
        inputs = canonical_digest({"task": "classification", "link": link, "verify": verify, "test": test,
                                   "plan": [(str(src), rel, fact.size, fact.sha256) for (src, rel), fact in zip(plan, facts)]})
        manifest = reusable(out, hidden, state, inputs)
        if manifest is not None:
            return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest,
                                notes=["up to date: no source file changed since the last build, nothing was linked or hashed again"])

        linker = Linker(link)
        with atomic_path(out) as staged:
            for directory in {rel.rpartition("/")[0] for _, rel in plan}:
                (staged / directory).mkdir(parents=True, exist_ok=True)
            target = str(staged)
            for src, rel in plan:
                linker.place(src, f"{target}/{rel}")
            splits = {
                "train": [rel for _, rel in plan[: len(train)]],
                "val": [rel for _, rel in plan[len(train) : len(train) + len(val)]],
                "test": [rel for _, rel in plan[len(train) + len(val) :]],
            }
            manifest = build_manifest(staged, splits, task="classification", extra={"classes": classes, "link_mode": linker.mode}, state=state)
            write_manifest(staged, manifest)
            with atomic_path(hidden) as hidden_staged:
                hidden_staged.mkdir(parents=True)
                rows = [f"img_{i}.JPEG,{class_index[wnid]}" for i, (wnid, _) in enumerate(test)]
                (hidden_staged / GT_NAME).write_text(GT_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
        record_build(out, hidden, state, inputs, manifest)
    notes = []
    if linker.fell_back:
        notes.append("hard links were not possible here; files were copied instead")
    return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest, notes=notes)
