"""The ground truth prepared once for scoring: per frame, the runs of (label id, instance).

The ground truth is fixed per dataset and scored many times (every seed of every
submission), but decoding its two PNGs per frame (labelIds, 16-bit instanceIds) costs twice
what decoding the prediction does. `prepare_frame` decodes and checks them once and keeps
what scoring needs: the image scanned in row-major order as runs of constant (label id,
instance), each run by its first pixel, its label id and its instance slot (0: no instance
id above 1000). Label maps are smooth, so a 2-megapixel frame has some ten thousand runs.

A prepared copy holds the runs of every frame in four arrays (`*.npy`, memory-mapped by the
scoring workers) and `prepared.json`: the format, and per frame the relative paths and SHA-256
of its two ground-truth files, its size and its slices of the arrays; the digests of the
arrays too. It lives in a subfolder of the cache folder named by a digest of the ground
truth's files (`copy_folder`), so a changed, added or removed ground-truth file leads to
another subfolder, and `stale_reason` accepts a copy only if every ground-truth file still
has the digest it was prepared from and every array the digest it was written with; anything
else (an edited array, another format) makes it stale and the scorer prepares it again. The
cache folder holds test labels: it lives beside the hidden ground truth (the score rule's
`--prepared-gt`), never in the subset.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viprepro.errors import UserError
from viprepro.files.fileio import sha256_bytes, sha256_file
from viprepro.tasks.segmentation.labels import EVALUATED, HAS_INSTANCES, NUM_IDS
from viprepro.tasks.segmentation.measure import decode

FORMAT = 1
MANIFEST = "prepared.json"
ARRAYS = ("starts", "labels", "slots", "instance_ids")  # the first three per run, the last per instance


@dataclass(frozen=True)
class FrameTruth:
    """One frame's ground truth as runs; `slots[r] = k > 0` means instance_ids[k - 1]."""

    height: int
    width: int
    starts: np.ndarray  # uint32, first pixel of each run (flat, row-major); starts[0] == 0
    labels: np.ndarray  # uint8, label id of each run
    slots: np.ndarray  # uint16, instance slot of each run (0: no instance)
    instance_ids: np.ndarray  # int32, the frame's instance ids above 1000, ascending


def _decode_gt(data: bytes, path: Path) -> np.ndarray:
    try:
        _, _, _, array = decode(data)
    except Exception as exc:  # PIL and libspng raise many types for broken files
        raise UserError(f"cannot decode ground truth ({type(exc).__name__}: {exc})", path=path) from None
    if array.ndim != 2:
        raise UserError("ground truth must be a single-channel image", path=path)
    return array


def frame_runs(labels: np.ndarray, instances: np.ndarray, inst_path: Path) -> FrameTruth:
    """The runs of a decoded labelIds / instanceIds pair (checked as the official script needs)."""
    flat_labels, flat_instances = labels.reshape(-1), instances.reshape(-1)
    change = np.empty(flat_labels.size, dtype=bool)
    change[0] = True
    np.not_equal(flat_labels[1:], flat_labels[:-1], out=change[1:])
    change[1:] |= flat_instances[1:] != flat_instances[:-1]
    starts = np.flatnonzero(change)
    values = flat_instances[starts].astype(np.int64)
    instance_ids = np.unique(values[values > 1000])
    if instance_ids.size and instance_ids[-1] >= NUM_IDS * 1000:
        raise UserError(f"instance id {int(instance_ids[-1])} names no label id", path=inst_path)
    bad = instance_ids[EVALUATED[instance_ids // 1000] & ~HAS_INSTANCES[instance_ids // 1000]]  # the official script fails on these
    if bad.size:
        raise UserError(f"instance id {int(bad[0])} belongs to a class without instances", path=inst_path)
    slots = np.where(values > 1000, np.searchsorted(instance_ids, values) + 1, 0)
    return FrameTruth(
        labels.shape[0],
        labels.shape[1],
        starts.astype(np.uint32),
        flat_labels[starts].astype(np.uint8),
        slots.astype(np.uint16),
        instance_ids.astype(np.int32),
    )


def prepare_frame(pair: tuple[Path, Path]) -> tuple[FrameTruth, str, str]:
    """Decode and check one frame's labelIds and instanceIds; its runs and the two files' SHA-256
    (of the very bytes decoded)."""
    label_path, inst_path = pair
    label_bytes, inst_bytes = label_path.read_bytes(), inst_path.read_bytes()
    labels = _decode_gt(label_bytes, label_path)
    if labels.max(initial=0) >= NUM_IDS:
        raise UserError(f"unknown label id {int(labels.max())} in the ground truth", path=label_path)
    instances = _decode_gt(inst_bytes, inst_path)
    if instances.shape != labels.shape:
        raise UserError(
            f"instanceIds is {instances.shape[1]}x{instances.shape[0]}, labelIds {labels.shape[1]}x{labels.shape[0]}", path=inst_path
        )
    runs = frame_runs(labels, instances, inst_path)
    return runs, sha256_bytes(label_bytes), sha256_bytes(inst_bytes)


def ground_truth_files(gt: Path, pairs: list[tuple[Path, Path]]) -> list[list[list[str]]]:
    """Per frame [[labelIds path, SHA-256], [instanceIds path, SHA-256]], paths relative to `gt`."""
    return [[[path.relative_to(gt).as_posix(), sha256_file(path)] for path in pair] for pair in pairs]


def copy_folder(root: Path, files: list) -> Path:
    """The subfolder of `root` that holds (or will hold) the prepared copy of exactly these files:
    one per version of the ground truth, named by a digest of its files, never rewritten in place,
    so that scorers running at once never see one half-replaced."""
    return Path(root) / hashlib.sha256(json.dumps([FORMAT, files]).encode()).hexdigest()[:24]


def stale_reason(folder: Path, files: list) -> str | None:
    """Why `folder` does not hold the prepared copy of exactly `files` (see `ground_truth_files`),
    or None if it does; every array is hashed too (a few MB: milliseconds)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"no readable {MANIFEST} ({type(exc).__name__})"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return f"format {manifest.get('format') if isinstance(manifest, dict) else '?'}, not {FORMAT}"
    frames = manifest.get("frames")
    if not isinstance(frames, list) or len(frames) != len(files):
        return f"{len(frames) if isinstance(frames, list) else '?'} frames prepared, the ground truth has {len(files)}"
    for frame, pair in zip(frames, files):
        for key, (path, digest) in zip(("labelIds", "instanceIds"), pair):
            if not isinstance(frame, dict) or frame.get(key) != [path, digest]:
                return f"{path} is not the file it was prepared from"
    digests = manifest.get("arrays") or {}
    for name in ARRAYS:
        path = folder / f"{name}.npy"
        if not path.is_file() or digests.get(name) != sha256_file(path):
            return f"{name}.npy is not the array written with {MANIFEST}"
    return None


def write_prepared(folder: Path, files: list, prepared: list[tuple[FrameTruth, str, str]]) -> None:
    """Write the prepared copy into `folder` (staged beside it, then renamed into place).

    The digests recorded are those of the bytes `prepare_frame` decoded. If another scorer
    put a good copy there first, it is kept; a bad one (see `stale_reason`) is swapped out.
    """
    folder = Path(folder)
    frames, offsets = [], {"runs": 0, "instances": 0}
    for pair, (runs, label_sha, inst_sha) in zip(files, prepared):
        frames.append(
            {
                "labelIds": [pair[0][0], label_sha],
                "instanceIds": [pair[1][0], inst_sha],
                "size": [runs.width, runs.height],
                "runs": [offsets["runs"], len(runs.starts)],
                "instances": [offsets["instances"], len(runs.instance_ids)],
            }
        )
        offsets["runs"] += len(runs.starts)
        offsets["instances"] += len(runs.instance_ids)
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        staged = scratch / "new"
        staged.mkdir()
        digests = {}
        for name in ARRAYS:
            np.save(staged / f"{name}.npy", np.concatenate([getattr(runs, name) for runs, _, _ in prepared]))
            digests[name] = sha256_file(staged / f"{name}.npy")
        manifest = {"format": FORMAT, "frames": frames, "arrays": digests}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        try:
            os.rename(staged, folder)  # refused if the folder exists (and is not empty)
        except OSError:
            if stale_reason(folder, [[frame["labelIds"], frame["instanceIds"]] for frame in frames]) is not None:
                os.rename(folder, scratch / "old")
                os.rename(staged, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class PreparedTruth:
    """A checked prepared folder, its arrays memory-mapped; `frame(i)` is the i-th frame's runs."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        self.frames = manifest["frames"]
        self.arrays = {name: np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}

    def frame(self, index: int) -> FrameTruth:
        frame = self.frames[index]
        (run_start, runs), (inst_start, instances) = frame["runs"], frame["instances"]
        per_run = {name: self.arrays[name][run_start : run_start + runs] for name in ("starts", "labels", "slots")}
        return FrameTruth(
            frame["size"][1], frame["size"][0], **per_run, instance_ids=self.arrays["instance_ids"][inst_start : inst_start + instances]
        )
