"""The subset manifest: every file of a subset with its size and sha256, and one digest.

The digest identifies the data a model saw; it is recorded with every run and checkpoint so
that two reproductions can be told to have used the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest, read_json, sha256_bytes, sha256_file, write_text

MANIFEST_NAME = "subset_manifest.json"


def manifest_of(files: dict[str, list[dict]], *, task: str, extra: dict | None = None) -> dict:
    """Manifest of a subset: per split, the files (path relative to the subset, size, sha256)."""
    split_digests = {split: canonical_digest(entries) for split, entries in files.items()}
    return {"task": task, "splits": files, "split_digests": split_digests, "digest": canonical_digest(split_digests), **(extra or {})}


def write_manifest(root: Path, manifest: dict) -> str:
    """One line of JSON: json's C encoder writes 100,000 entries in a fraction of the time the
    indenting (pure-Python) encoder takes; the digest does not depend on the layout. Returns
    the sha256 of the bytes written."""
    text = json.dumps(manifest, sort_keys=True, allow_nan=False, check_circular=False) + "\n"
    write_text(Path(root) / MANIFEST_NAME, text)
    return sha256_bytes(text.encode("utf-8"))


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
