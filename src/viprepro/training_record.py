"""What a training job leaves beside its checkpoint: its history and its record.

The record (train_record.json) is what the verdict and the reports read about a training
chain: digests, determinism, the file-access audit, timings, environment, code version.
"""

from __future__ import annotations

import os
from pathlib import Path

from .audit import opened_outside_allowed
from .fileio import write_json
from .subset_manifest import MANIFEST_NAME

SHOWN = 20


def audit_opened_files(opened: set[str], subset_dir: Path, manifest: dict, train_splits: list[str], *, forbidden: list[Path]) -> dict:
    """Compare what the job opened with the splits it may read (train splits, and val for validation)."""
    readable = set(train_splits) | {"val"}
    allowed = {entry["path"] for split in readable for entry in manifest["splits"].get(split, [])} | {MANIFEST_NAME}
    outside = opened_outside_allowed(opened, subset_dir, allowed, forbidden)
    root = os.path.abspath(subset_dir) + os.sep
    inside = sum(1 for p in opened if os.path.abspath(p).startswith(root) and os.path.isfile(p))
    return {"passed": not outside, "files_opened_in_subset": inside, "violations": outside[:SHOWN], "violation_count": len(outside)}


def write_training_record(history_path: Path, history: list[dict], record_path: Path, record: dict) -> None:
    write_json(history_path, history)
    write_json(record_path, record)
