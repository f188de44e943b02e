"""The subset manifest: every file of a subset with its size and sha256, and one digest.

The digest identifies the data a model saw; it is recorded with every run and checkpoint so
that two reproductions can be told to have used the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest, read_json, sha256_file, write_json
from viprepro.files.filestate import FileState, scan

MANIFEST_NAME = "subset_manifest.json"


def describe_files(root: Path, relative_paths: list[str], *, state: FileState | None = None) -> list[dict]:
    """Size and sha256 of each file, in the given order.

    Files are read on all cores; with a `state`, files it knows unchanged are not read at
    all (see `filestate`).
    """
    root = Path(root)
    facts = scan([f"{root}/{rel}" for rel in relative_paths], state=state)
    unreadable = [(rel, f.problem) for rel, f in zip(relative_paths, facts) if f.problem]
    if unreadable:
        raise UserError(f"{len(unreadable)} subset file(s) cannot be read, e.g. {unreadable[0][0]}: {unreadable[0][1]}", path=root)
    return [{"path": rel, "size": f.size, "sha256": f.sha256} for rel, f in zip(relative_paths, facts)]


def build_manifest(
    root: Path, splits: dict[str, list[str]], *, task: str, extra: dict | None = None, state: FileState | None = None
) -> dict:
    """Manifest of a subset: per split, the files (relative to `root`) with sizes and digests."""
    files = {split: describe_files(root, paths, state=state) for split, paths in splits.items()}
    split_digests = {split: canonical_digest(entries) for split, entries in files.items()}
    manifest = {
        "task": task,
        "splits": files,
        "split_digests": split_digests,
        "digest": canonical_digest(split_digests),
        **(extra or {}),
    }
    return manifest


def write_manifest(root: Path, manifest: dict) -> Path:
    """One line of JSON: json's C encoder writes 100,000 entries in a fraction of the time the
    indenting (pure-Python) encoder takes; the digest does not depend on the layout."""
    path = Path(root) / MANIFEST_NAME
    write_json(path, manifest, indent=None)
    return path


def read_manifest(subset_root: str | Path) -> dict:
    path = Path(subset_root) / MANIFEST_NAME
    manifest = read_json(path)
    for key in ("task", "splits", "split_digests", "digest"):
        if key not in manifest:
            raise UserError(f"missing key '{key}'", path=path)
    return manifest


def training_data_digest(manifest: dict, splits: list[str]) -> str:
    """Digest of exactly the splits a model was trained on (recorded in its checkpoint)."""
    return canonical_digest({split: manifest["split_digests"][split] for split in sorted(splits)})


def folder_digest(folder: Path) -> str:
    """Digest of every file under a small folder (the hidden ground truth), names included."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    return canonical_digest({p.relative_to(folder).as_posix(): sha256_file(p) for p in files})


def _file_count(root: Path) -> int:
    count, stack = 0, [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += 1
    return count


def reusable(out: Path, hidden: Path, state: FileState, inputs: str) -> dict | None:
    """The manifest of the existing subset `out`, if a rebuild from `inputs` would write it again.

    `inputs` is a digest of everything the subset is made from (manifest entries, the stat
    and digest of every source file, the options). After a build the state records it with
    the digests of the subset and the hidden folder; the subset is reused only if the record
    matches, every listed file is present with the stat the state knows for its digest, and
    nothing else is in either folder. Costs a stat per file: no file is read or linked.
    """
    out, hidden = Path(out), Path(hidden)
    record = state.stamp(out)
    if record is None or not record.startswith(inputs + " ") or not (out / MANIFEST_NAME).is_file() or not hidden.is_dir():
        return None
    try:
        manifest = read_manifest(out)
        if record != f"{inputs} {manifest['digest']} {folder_digest(hidden)}":
            return None
        listed = 0
        for entries in manifest["splits"].values():
            for entry in entries:
                if state.known(os.stat(f"{out}/{entry['path']}")) != entry["sha256"]:
                    return None
                listed += 1
        return manifest if _file_count(out) == listed + 1 else None
    except (OSError, UserError, KeyError, TypeError):
        return None


def record_build(out: Path, hidden: Path, state: FileState, inputs: str, manifest: dict) -> None:
    """Remember that `out` (and `hidden`) were built from `inputs` (see `reusable`)."""
    state.set_stamp(out, f"{inputs} {manifest['digest']} {folder_digest(hidden)}")
