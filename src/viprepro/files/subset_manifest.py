"""The subset manifest: every file of a subset with its size and sha256, and one digest.

The digest identifies the data a model saw; it is recorded with every run and checkpoint so
that two reproductions can be told to have used the same bytes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest, read_json, sha256_file, write_json

MANIFEST_NAME = "subset_manifest.json"


def describe_files(root: Path, relative_paths: list[str], *, threads: int | None = None) -> list[dict]:
    """Size and sha256 of each file, in the given order.

    Hashing releases the GIL, so a few threads, each given a contiguous chunk (one task per
    file would cost more in scheduling than small files cost to hash), keep the disks busy.
    """
    root = Path(root)
    threads = threads or min(8, os.cpu_count() or 1)
    size = max(1, -(-len(relative_paths) // threads))
    chunks = [relative_paths[i : i + size] for i in range(0, len(relative_paths), size)]

    def describe(chunk: list[str]) -> list[dict]:
        return [{"path": rel, "size": (root / rel).stat().st_size, "sha256": sha256_file(root / rel)} for rel in chunk]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [entry for part in pool.map(describe, chunks) for entry in part]


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
