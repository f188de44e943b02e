"""Helpers for the action recognition tests: tiny dataset options, clip and text writers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np

from viprepro.tasks.action_recognition.video_io import write_avi

#: the smallest dataset that still has train, val and test clips in every class
TINY = {"num_classes": 4, "groups": 3, "test_groups": 1, "clips_per_group": 2, "frames": 12, "size": 16, "fps": 25, "quality": 3}


def files_digest(root: Path) -> str:
    """Digest of every path, its bytes and its mtime under root: proves nothing changed."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).rglob("*")):
        digest.update(str(path.relative_to(root)).encode() + str(path.lstat().st_mtime_ns).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def clip(path: Path, frames: int = 12, size: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    write_avi(path, rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8), fps=25, quality=3)
    return path


def truncated_clip(path: Path, fraction: float = 0.6) -> Path:
    data = clip(path, frames=24, size=32).read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def audio_only_clip(path: Path) -> Path:
    """A valid AVI holding one PCM audio stream and no video."""
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_lines(path: Path, lines: list[str], *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("".join(line + "\n" for line in lines)).encode())
    return path


def ground_truth(path: Path, labels: list[int]) -> dict[str, int]:
    """A test ground truth `video_test_<i>.avi label`, clip i (1-based) with labels[i-1]."""
    truth = {f"video_test_{i:07}.avi": label for i, label in enumerate(labels, start=1)}
    write_lines(path, [f"{c} {label}" for c, label in truth.items()])
    return truth
