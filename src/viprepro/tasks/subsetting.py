"""The one way every task cuts its subset: plan -> check -> link -> stage -> manifest -> hidden.

A task says what its subset is (a `SubsetPlan`: per split, the files in manifest order; the
hidden ground truth; the manifest's extra fields) and how to check its sources; `cut` does the
rest identically for every task: it refuses folders that overlap, places every file (hard
link, symbolic link or copy of a source file, or a file written from text), stages the subset
and the hidden folder so that neither exists half-written, and writes the subset manifest
with the digest of every file.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path, canonical_digest, sha256_bytes
from viprepro.files.filestate import MISSING, Facts, FileState, scan, subset_state
from viprepro.files.linking import Linker
from viprepro.files.subset_manifest import build_manifest, record_build, reusable, write_manifest
from viprepro.tasks.base import SubsetResult


@dataclass(frozen=True)
class Placed:
    """One file of the subset or the hidden folder: `rel` inside it, made from a source file
    (`source`, placed by the link mode, or copied when `copy`) or from `text`. A source that
    is not a file of the dataset (an official manifest) is not among the files checked."""

    rel: str
    source: Path | None = None
    text: str | None = None
    copy: bool = False
    from_dataset: bool = True


def linked(source: Path | str, rel: str) -> Placed:
    # A Path is kept as it is: parsing it again costs more than the rest of a rerun's plan.
    return Placed(rel, source=source if isinstance(source, Path) else Path(source))


def written(rel: str, text: str) -> Placed:
    return Placed(rel, text=text)


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

    def sources(self) -> list[Path]:
        """Every dataset file the subset and the hidden folder take, in plan order."""
        return [p.source for placed in (*self.splits.values(), self.hidden) for p in placed if p.source is not None and p.from_dataset]


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


def _place(placed: Placed, root: Path, linker: Linker) -> None:
    target = root / placed.rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if placed.text is not None:
        target.write_text(placed.text, encoding="utf-8")
    elif placed.copy:
        shutil.copyfile(placed.source, target)
    else:
        linker.place(placed.source, target)


def refuse_unreadable(
    plan: SubsetPlan, facts: dict[str, Facts], source: Path, *, shown: int = 20, missing_as: str = "source file(s) missing or unreadable"
) -> None:
    """Refuse missing dataset files, then corrupt images, from the driver's one read of each
    (`read_sources`, at the task's `verify` level): one error naming the first `shown`."""

    sources = plan.sources()
    missing = [str(src) for src in sources if facts[str(src)].problem == MISSING]
    if missing:
        listed = "\n  ".join(missing[:shown])
        raise UserError(f"{len(missing)} {missing_as} (first {min(len(missing), shown)}):\n  {listed}", path=source)
    broken = [(src, facts[str(src)].problem) for src in sources if facts[str(src)].problem]
    if broken:
        listed = "\n  ".join(f"{p}: {why}" for p, why in broken[:shown])
        raise UserError(f"{len(broken)} corrupt or truncated image(s) (first {min(len(broken), shown)}):\n  {listed}", path=source)


def inputs_digest(task: str, link: str, decided: SubsetPlan, facts: dict[str, Facts]) -> str:
    """Everything a subset is made from: the plan, the options, and the size and sha256 of every
    source file (`facts`, from the driver's one scan)."""

    def entry(p: Placed) -> list:
        if p.source is None:
            return [p.rel, "text", sha256_bytes(p.text.encode("utf-8"))]
        fact = facts[str(p.source)]
        return [p.rel, str(p.source), p.copy, fact.size, fact.sha256]

    return canonical_digest(
        {
            "task": task,
            "link": link,
            "extra": decided.extra,
            "folders": list(decided.folders),
            "splits": {split: [entry(p) for p in files] for split, files in decided.splits.items()},
            "hidden": [entry(p) for p in decided.hidden],
        }
    )


def read_sources(decided: SubsetPlan, state: FileState, verify: str) -> dict[str, Facts]:
    """Size, sha256 and (for dataset files, at level `verify`) the image check of every source,
    each file read once on all cores, or not at all when the state knows it unchanged."""
    placed = [p for files in (*decided.splits.values(), decided.hidden) for p in files if p.source is not None]
    facts = {}
    for level, paths in (
        (verify, [str(p.source) for p in placed if p.from_dataset]),
        ("none", [str(p.source) for p in placed if not p.from_dataset]),
    ):
        facts.update(zip(paths, scan(paths, state=state, level=level)))
    return facts


def cut(
    task: str,
    source: Path,
    manifests: Path,
    out: Path,
    hidden: Path,
    *,
    link: str,
    plan: Callable[[Path, Path], SubsetPlan],
    check: Callable[[SubsetPlan, dict[str, Facts]], None],
    verify: str = "none",
    copied: str = "files",
) -> SubsetResult:
    """Cut a task's subset: `plan(source, manifests)` decides it, `check(plan, facts)` refuses
    broken or missing sources (before anything is written), then the subset and the hidden
    folder are staged and published together, the subset with its manifest.

    Every file is read once: digests are cached by (device, inode, size, mtime) in the
    subset's state file (`files.filestate`), so hard-linked subset files are not read again
    for the manifest, and a rerun whose inputs are unchanged returns the subset in place.
    `verify` is the image check (`none`, `header`, `full`) applied to dataset files in the
    same read; `check` gets every source's `Facts`."""
    source, manifests, out, hidden = Path(source), Path(manifests), Path(out), Path(hidden)
    refuse_overlap(source, out, hidden)
    decided = plan(source, manifests)
    with subset_state(out, source) as state:
        facts = read_sources(decided, state, verify)
        check(decided, facts)
        inputs = inputs_digest(task, link, decided, facts)
        manifest = reusable(out, hidden, state, inputs)
        if manifest is not None:
            return SubsetResult(
                subset_dir=out,
                hidden_dir=hidden,
                manifest=manifest,
                notes=["up to date: no source file changed since the last build, nothing was linked or hashed again"],
            )
        linker = Linker(link)
        with atomic_path(out) as staged, atomic_path(hidden) as hidden_staged:
            staged.mkdir(parents=True)
            hidden_staged.mkdir(parents=True)
            for folder in decided.folders:
                (staged / folder).mkdir(parents=True, exist_ok=True)
            for files in decided.splits.values():
                for placed in files:
                    _place(placed, staged, linker)
            for placed in decided.hidden:
                _place(placed, hidden_staged, linker)
            splits = {split: [p.rel for p in files] for split, files in decided.splits.items()}
            manifest = build_manifest(staged, splits, task=task, extra={**decided.extra, "link_mode": linker.mode}, state=state)
            write_manifest(staged, manifest)
        record_build(out, hidden, state, inputs, manifest)
    notes = [f"hard links were not possible here; {copied} were copied instead"] if linker.fell_back else []
    return SubsetResult(subset_dir=out, hidden_dir=hidden, manifest=manifest, notes=notes)
