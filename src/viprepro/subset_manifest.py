"""The subset manifest: every file of a subset with its size and sha256, and one digest.

The digest identifies the data a model saw; it is recorded with every run and checkpoint so
that two reproductions can be told to have used the same bytes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import UserError
from .fileio import canonical_digest, read_json, sha256_file, write_json

MANIFEST_NAME = "subset_manifest.json"


def describe_files(root: Path, relative_paths: list[str], *, threads: int | None = None) -> list[dict]:
    """Size and sha256 of each file, in the given order (hashing runs on several threads)."""
    root = Path(root)
    threads = threads or min(8, os.cpu_count() or 1)

    def entry(rel: str) -> dict:
        path = root / rel
        return {"path": rel, "size": path.stat().st_size, "sha256": sha256_file(path)}

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(entry, relative_paths))


def build_manifest(root: Path, splits: dict[str, list[str]], *, task: str, extra: dict | None = None) -> dict:
    """Manifest of a subset: per split, the files (relative to `root`) with sizes and digests."""
    files = {split: describe_files(root, paths) for split, paths in splits.items()}
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
    path = Path(root) / MANIFEST_NAME
    write_json(path, manifest)
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
