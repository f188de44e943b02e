"""The one way every task cuts its subset: plan -> check -> link -> stage -> manifest -> hidden.

A task says what its subset is (a `SubsetPlan`: per split, the files in manifest order; the
hidden ground truth; the manifest's extra fields) and how to check its sources; `cut` does the
rest identically for every task: it refuses folders that overlap, places every file (hard
link, symbolic link or copy of a source file, or a file written from text), stages the subset
and the hidden folder so that neither exists half-written, and writes the subset manifest
with the digest of every file.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path, sha256_bytes
from viprepro.files.filestate import MISSING, Facts, FileState, scan, stat_files, subset_state
from viprepro.files.filestate import stat_key as _key
from viprepro.files.linking import Linker
from viprepro.files.subset_manifest import MANIFEST_NAME, folder_digest, manifest_of, write_manifest
from viprepro.tasks.base import SubsetResult
from viprepro.tasks.subset_record import SHARED, Record, digests_of, folders_of, inputs_stamp, output_key, outputs_record, reusable


class Placed(NamedTuple):
    """One file of the subset or the hidden folder: `rel` inside it, made from a source file
    (`source`, placed by the link mode, or copied when `copy`) or from `text`. A source that
    is not a file of the dataset (an official manifest) is not among the files checked.
    A tuple of strings: a plan holds one per file, hundreds of thousands of them."""

    rel: str
    source: str | None = None
    text: str | None = None
    copy: bool = False
    from_dataset: bool = True


def linked(source: Path | str, rel: str) -> Placed:
    return Placed(rel, os.fspath(source))


def linked_all(sources: Iterable[str], rels: Iterable[str]) -> list[Placed]:
    """`linked` for many files at once, made at C speed: an ImageNet plan holds 100,000."""
    return list(map(tuple.__new__, repeat(Placed), zip(rels, sources, repeat(None), repeat(False), repeat(True))))


def written(rel: str, text: str) -> Placed:
    return Placed(rel, None, text)


def taken(rel: str, source: Path | str, *, copy: bool = False) -> Placed:
    """A file that is not part of the dataset (an official annotation or manifest file)."""
    return Placed(rel, os.fspath(source), None, copy, False)


@dataclass
class SubsetPlan:
    """Everything a subset is made of, decided before anything is written."""

    #: split -> its files in the order the manifest lists them.
    splits: dict[str, list[Placed]]
    #: the hidden folder's files (test ground truth and what scoring needs beside it).
    hidden: list[Placed] = field(default_factory=list)
    #: fields of the subset manifest besides the files (link_mode is added by `cut`).
    extra: dict = field(default_factory=dict)
    #: folders created in the subset even before a file lands in them.
    folders: tuple[str, ...] = ()

    def with_sources(self) -> list[Placed]:
        """Every file placed from a source file, the splits' then the hidden folder's, in plan order."""
        return [p for placed in (*self.splits.values(), self.hidden) for p in placed if p.source is not None]

    def sources(self) -> list[str]:
        """Every dataset file the subset and the hidden folder take, in plan order."""
        return [p.source for p in self.with_sources() if p.from_dataset]


def refuse_overlap(source: Path, out: Path, hidden: Path) -> None:
    """The subset and the hidden folder are apart, and neither is inside the (read-only) source."""
    resolved = {"source": Path(source).resolve(), "out": Path(out).resolve(), "hidden": Path(hidden).resolve()}

    def inside(a: str, b: str) -> bool:
        return resolved[a] == resolved[b] or resolved[b] in resolved[a].parents

    if inside("hidden", "out") or inside("out", "hidden"):
        raise UserError(
            "the hidden ground truth must not be inside the subset folder: it lives outside the subset (and the subset outside it)",
            path=hidden,
        )
    for name in ("out", "hidden"):
        if inside(name, "source"):
            raise UserError(f"the {name} folder must not be inside the source dataset, which is never modified", path=resolved[name])


class _Placer:
    """Places files one after another, making each folder once (not a mkdir per file)."""

    def __init__(self, linker: Linker):
        self.linker = linker
        self.made: set[str] = set()

    def place(self, placed: Placed, root: str, *, regular: bool) -> None:
        target = f"{root}/{placed.rel}"
        folder = target.rpartition("/")[0]
        if folder not in self.made:
            os.makedirs(folder, exist_ok=True)
            self.made.add(folder)
        if regular and self.linker.mode == "hardlink":  # the common case, without the linker's checks
            try:
                os.link(placed.source, target, follow_symlinks=False)
                return
            except OSError:
                regular = False  # the linker looks again and tells why, or copies instead
        if placed.text is not None:
            with open(target, "wb") as fh:
                fh.write(placed.text.encode("utf-8"))
        elif placed.copy:
            shutil.copyfile(placed.source, target)
        else:
            self.linker.place(placed.source, target, regular=regular)


def refuse_unreadable(
    plan: SubsetPlan, facts: dict[str, Facts], source: Path, *, shown: int = 20, missing_as: str = "source file(s) missing or unreadable"
) -> None:
    """Refuse missing dataset files, then corrupt images, from the driver's one read of each
    (`read_sources`, at the task's `verify` level): one error naming the first `shown`."""

    sources = plan.sources()
    missing = [src for src in sources if facts[src].problem == MISSING]
    if missing:
        listed = "\n  ".join(missing[:shown])
        raise UserError(f"{len(missing)} {missing_as} (first {min(len(missing), shown)}):\n  {listed}", path=source)
    broken = [(src, facts[src].problem) for src in sources if facts[src].problem]
    if broken:
        listed = "\n  ".join(f"{p}: {why}" for p, why in broken[:shown])
        raise UserError(f"{len(broken)} corrupt or truncated image(s) (first {min(len(broken), shown)}):\n  {listed}", path=source)


def read_sources(placed: list[Placed], state: FileState, verify: str, stats: list[os.stat_result | None]) -> dict[str, Facts]:
    """Size, sha256 and (for dataset files, at level `verify`) the image check of every source
    (`placed`, with their `stats`), each file read once on all cores, or not at all when the
    state knows it unchanged."""
    facts = {}
    for level, wanted in ((verify, True), ("none", False)):
        chosen = [i for i, p in enumerate(placed) if p.from_dataset is wanted]
        paths = [placed[i].source for i in chosen]
        facts.update(zip(paths, scan(paths, state=state, level=level, stats=[stats[i] for i in chosen])))
    return facts


def _inodes(root: str, folders: set[str]) -> tuple[dict[str, int], int]:
    """The inode of every entry of the staged `folders` (absolute paths under `root`), by path
    relative to `root`, from one listing per folder; and the device they are on."""
    found: dict[str, int] = {}
    for folder in folders:
        prefix = folder[len(root) + 1 :] + "/" if folder != root else ""
        with os.scandir(folder) as entries:
            for entry in entries:
                found[prefix + entry.name] = entry.inode()
    return found, os.stat(root).st_dev


def _describe(
    root: str, plan: SubsetPlan, facts: dict[str, Facts], stats: list[os.stat_result | None], state: FileState, folders: set[str]
) -> tuple[dict[str, list[dict]], list[str], list[os.stat_result | None], int]:
    """The manifest's entries of every placed subset file (size, sha256), their keys for the
    build record (`subset_record.output_key`) and the stats of those that are not their source.

    A file that is its source's inode (a hard link: the folder's listing tells, without a stat
    per file) has the digest read from that inode, which was unchanged from its stat to the end
    of its read (any later change shows in its stat at the next run); one written from text,
    the digest of that text; any other (a copy, a symbolic link) is stated, and hashed through
    the state unless it is its source's inode."""
    stated = time.time_ns()
    inodes, device = _inodes(root, folders)
    entries: dict[str, list[dict]] = {}
    keys: list[str] = []
    others: list[tuple[dict, int, str, os.stat_result]] = []  # entry, key position, path, stat
    index = 0
    for split, files in plan.splits.items():
        listed = entries[split] = []
        for p in files:
            if p.text is not None:
                data = p.text.encode("utf-8")
                listed.append({"path": p.rel, "sha256": sha256_bytes(data), "size": len(data)})
                keys.append("text:" + listed[-1]["sha256"])
                continue
            source = stats[index]
            index += 1
            if inodes.get(p.rel) == source.st_ino and device == source.st_dev:
                keys.append(SHARED)
                listed.append({"path": p.rel, "sha256": facts[p.source].sha256, "size": source.st_size})
                continue
            path = f"{root}/{p.rel}"
            try:
                st = os.stat(path)
            except OSError:  # a link to a source that was replaced by a broken symbolic link meanwhile
                st = None
            key = SHARED if st is not None and _key(st) == _key(source) else output_key(st, source)
            keys.append(key)
            if key == SHARED:
                listed.append({"path": p.rel, "sha256": facts[p.source].sha256, "size": st.st_size})
            else:
                listed.append({"path": p.rel, "sha256": "", "size": 0})
                others.append((listed[-1], len(keys) - 1, path, st))
    if others:
        read = scan([path for _, _, path, _ in others], state=state, stats=[st for *_, st in others])
        unreadable = [(entry["path"], f.problem) for (entry, *_), f in zip(others, read) if f.problem]
        if unreadable:
            raise UserError(f"{len(unreadable)} subset file(s) cannot be read, e.g. {unreadable[0][0]}: {unreadable[0][1]}", path=root)
        for (entry, _, _, _), f in zip(others, read):
            entry.update(sha256=f.sha256, size=f.size)
    return entries, keys, [st for *_, st in others], stated


def cut(
    task: str,
    source: Path,
    manifests: Path,
    out: Path,
    hidden: Path,
    *,
    link: str,
    plan: Callable[[Path, Path], SubsetPlan],
    check: Callable[[SubsetPlan, dict[str, Facts]], None] | None = None,
    check_files: Callable[[SubsetPlan], None] | None = None,
    verify: str = "none",
    copied: str = "files",
) -> SubsetResult:
    """Cut a task's subset: `plan(source, manifests)` decides it, `check(plan, facts)` refuses
    broken or missing sources (before anything is written), then the subset and the hidden
    folder are staged and published together, the subset with its manifest.

    Every file is read once: digests are cached by (device, inode, size, mtime) in the
    subset's state file (`files.filestate`), so hard-linked subset files are not read again
    for the manifest, and a rerun whose inputs and outputs are unchanged returns the subset in
    place after one stat per source (`subset_record`). `verify` is the image check (`none`,
    `header`, `full`) applied to dataset files in the same read. `check` must depend on the
    plan and the facts only: a rerun whose sources are unchanged does not call it again.
    `check_files(plan)`, a check that reads the files itself (decoding videos), runs on every call."""
    source, manifests, out, hidden = Path(source), Path(manifests), Path(out), Path(hidden)
    refuse_overlap(source, out, hidden)
    with _collector_paused():
        return _cut(
            task, source, manifests, out, hidden, link=link, plan=plan, check=check, check_files=check_files, verify=verify, copied=copied
        )


@contextlib.contextmanager
def _collector_paused():
    """A plan makes a few tuples per file (hundreds of thousands) that all live until the end;
    the cyclic garbage collector would walk them again and again (a third of a rerun's time)
    and find no cycle among them. Reference counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cut(task, source, manifests, out, hidden, *, link, plan, check, check_files, verify, copied) -> SubsetResult:
    decided = plan(source, manifests)
    if check_files is not None:
        check_files(decided)
    placed = decided.with_sources()
    started = time.time_ns()
    stats, links = stat_files([p.source for p in placed])
    stamp = inputs_stamp(task, link, verify, decided, stats, started)
    with subset_state(out, source) as state:
        record = Record.load(state, out)
        facts = None
        if record is not None and stamp is not None and record.inputs == stamp:
            manifest = reusable(out, hidden, decided, stats, record)
            if manifest is not None:
                if record.refreshed:
                    record.save(state, out, digests=False)
                return SubsetResult(
                    subset_dir=out,
                    hidden_dir=hidden,
                    manifest=manifest,
                    notes=["up to date: no source file changed since the last build, nothing was linked or hashed again"],
                )
            facts = record.facts([p.source for p in placed], stats)  # what the last build read of these very files
        if facts is None:
            facts = read_sources(placed, state, verify, stats)
            if check is not None:
                check(decided, facts)
        linker = Linker(link)
        with atomic_path(out) as staged, atomic_path(hidden) as hidden_staged:
            staged.mkdir(parents=True)
            hidden_staged.mkdir(parents=True)
            for folder in decided.folders:
                (staged / folder).mkdir(parents=True, exist_ok=True)
            placer, index = _Placer(linker), 0
            for root, files in [*((str(staged), f) for f in decided.splits.values()), (str(hidden_staged), decided.hidden)]:
                for p in files:
                    if p.source is None:
                        placer.place(p, root, regular=False)
                        continue
                    placer.place(p, root, regular=not p.copy and stats[index] is not None and index not in links)
                    index += 1
            holding = {str(staged), *(f for f in placer.made if f.startswith(f"{staged}/"))}  # the folders holding files
            entries, keys, own_stats, stated = _describe(str(staged), decided, facts, stats, state, holding)
            manifest = manifest_of(entries, task=task, extra={**decided.extra, "link_mode": linker.mode})
            written_sha = write_manifest(staged, manifest)
            hidden_digest = folder_digest(hidden_staged)
            folders = folders_of(str(staged), placer.made | {f"{staged}/{folder}" for folder in decided.folders})
            outputs = outputs_record(str(staged), folders, keys, own_stats, stated, probe=f"{staged}/{MANIFEST_NAME}")
            outputs = outputs if not state.unsettled else None
        digests = digests_of([p.source for p in placed], facts)
        settled = stamp is not None and digests is not None and not state.unsettled
        Record(stamp if settled else None, outputs, written_sha, hidden_digest, digests or b"").save(state, out)
    notes = [f"hard links were not possible here; {copied} were copied instead"] if linker.fell_back else []
    return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest, notes=notes)
