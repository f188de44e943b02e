"""What a training job leaves beside its checkpoint: its history and its record.

The record (train_record.json) is what the verdict and the reports read about a training
chain: digests, determinism, the file-access audit, the digest of the data actually read,
timings, environment, code version.

`audited_training` is the one place a training chain runs under the recorders, so the
pipeline's job and the tests that make the audits fail run the same code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from viprepro.files.fileio import canonical_digest, write_json
from viprepro.files.subset_manifest import MANIFEST_NAME, training_data_digest
from viprepro.training.guards import FileAccessRecorder, opened_outside_allowed

SHOWN = 20


def audited_training(
    run,
    out: Path,
    state_dir: Path,
    *,
    manifest: dict,
    forbidden: list[Path],
    on_epoch_end: Callable[[int, dict], None] | None = None,
    access_log: Path | None = None,
    label_files: list[Path] | None = None,
) -> tuple[dict, dict]:
    """Train one member with every process it starts recorded; returns (checkpoint, audit evidence).

    `access_log`: a folder shared by the processes of a distributed member (each rank records
    into it, rank 0's audit reads them all); None: a private temporary folder.
    `label_files`: files (or folders, with everything under them) holding labels that this run
    must not open (a pretext stage: `Task.label_files`); opening one fails the data-access audit.
    A stage that reads a split without labels gets its path-opaque image view built here, before
    recording starts (viprepro.training.image_view); the audits map the view's files back to the
    subset files they link, except the label check, which sees the paths as opened.
    """
    from viprepro.jobs.determinism import NondeterminismRecorder
    from viprepro.training import engine, image_view, stages

    train_splits = list(run.recipe.get("train_splits", ["train"]))
    views = stages.prepare_views(run.stage, run.task, run.subset_dir, state_dir, manifest=manifest) if run.stage else []
    recorder = FileAccessRecorder(access_log, digest_root=[run.subset_dir, *(view.folder for view in views)])
    try:
        with recorder, NondeterminismRecorder() as nondeterminism:
            final = engine.train(run, out, state_dir, on_epoch_end=on_epoch_end)
        opened = recorder.opened()
        processes = recorder.processes
    finally:
        recorder.cleanup()
    as_read = image_view.translate(opened, views)
    audit = audit_opened_files(as_read, run.subset_dir, manifest, train_splits, forbidden=forbidden)
    if label_files is not None:
        audit.update(labels_withheld_audit(opened, label_files))
        audit["problems"] += audit.pop("label_problems")
        audit["passed"] = not audit["problems"]
    return final, {
        "nondeterministic_operations": nondeterminism.operations,
        "file_audit": {**audit, "processes": processes},
        "data_read": data_read(as_read, run.subset_dir, manifest, train_splits),
    }


def _relative_in(subset_dir: Path, opened) -> dict[str, str]:
    """Opened absolute path -> path relative to the subset, for the files inside it."""
    root = os.path.abspath(subset_dir) + os.sep
    return {path: path[len(root) :] for path in opened if os.path.abspath(path).startswith(root)}


def audit_opened_files(opened, subset_dir: Path, manifest: dict, train_splits: list[str], *, forbidden: list[Path]) -> dict:
    """Compare what the job opened with the splits it may read (train splits, and val for validation).

    A job that opened no file of its training splits fails too: a recorder that saw nothing
    proves nothing (the data were read somewhere it did not look).
    """
    readable = set(train_splits) | {"val"}
    allowed = {entry["path"] for split in readable for entry in manifest["splits"].get(split, [])} | {MANIFEST_NAME}
    outside = opened_outside_allowed(set(opened), subset_dir, allowed, forbidden)
    training_files = {entry["path"] for split in train_splits for entry in manifest["splits"].get(split, [])}
    inside = _relative_in(subset_dir, opened)
    read_training = sum(1 for rel in inside.values() if rel in training_files)
    problems = [f"opened {len(outside)} file(s) outside its splits: {', '.join(outside[:5])}"] if outside else []
    if not read_training:
        problems.append(f"no file of its training split(s) {'+'.join(train_splits)} was recorded as opened")
    return {
        "passed": not problems,
        "problems": problems,
        "files_opened_in_subset": len(inside),
        "training_files_opened": read_training,
        "violations": outside[:SHOWN],
        "violation_count": len(outside),
    }


def labels_withheld_audit(opened, label_files: list[Path]) -> dict:
    """Labels withheld (a pretext stage): any path opened or listed that is a label file, or lies
    under a label folder (classification: `train/<wnid>/x.JPEG` names its class), is a problem.
    Its images reach it through a path-opaque view, whose paths are none of these."""
    withheld = tuple(os.path.abspath(p) for p in label_files)
    under = tuple(p + os.sep for p in withheld)
    opened_labels = sorted(path for path in opened if os.path.abspath(path) in withheld or os.path.abspath(path).startswith(under))
    problems = (
        [f"opened {len(opened_labels)} label file(s) while labels were withheld: {', '.join(opened_labels[:5])}"] if opened_labels else []
    )
    return {
        "labels_withheld": True,
        "label_files_opened": opened_labels[:SHOWN],
        "label_files_opened_count": len(opened_labels),
        "label_problems": problems,
    }


def data_read(opened: dict, subset_dir: Path, manifest: dict, train_splits: list[str]) -> dict:
    """The training data as read: every subset file's digest at the time it was opened, checked.

    `digest` is computed like the manifest's training-data digest, but from the bytes read, so
    it equals `training_data_digest(manifest, train_splits)` only when every training file was
    read unmodified. `modified` lists files whose bytes differ from the manifest.
    """
    by_path = {entry["path"]: entry for split in manifest["splits"].values() for entry in split}
    split_of = {entry["path"]: name for name, split in manifest["splits"].items() for entry in split}
    read = {rel: opened[path] for path, rel in _relative_in(subset_dir, opened).items() if "sha256" in opened[path]}
    readable = set(train_splits) | {"val"}
    outside = sorted(rel for rel in read if rel in split_of and split_of[rel] not in readable)
    modified = sorted(
        rel for rel, entry in read.items() if rel in by_path and (entry["sha256"] != by_path[rel]["sha256"] or entry.get("changed"))
    )
    split_digests, missing = {}, {}
    for split in sorted(train_splits):
        entries, absent = [], 0
        for entry in manifest["splits"].get(split, []):
            seen = read.get(entry["path"])
            if seen is None:
                absent += 1
                continue
            entries.append({"path": entry["path"], "size": seen["size"], "sha256": seen["sha256"]})
        split_digests[split] = canonical_digest(entries)
        missing[split] = absent
    return {
        "digest": canonical_digest(split_digests),
        "expected_digest": training_data_digest(manifest, train_splits),
        "files_read": len(read),
        "modified": modified[:SHOWN],
        "modified_count": len(modified),
        "outside_splits": outside[:SHOWN],
        "outside_splits_count": len(outside),
        "never_read": missing,
    }


def write_training_record(history_path: Path, history: list[dict], record_path: Path, record: dict) -> None:
    write_json(history_path, history)
    write_json(record_path, record)
