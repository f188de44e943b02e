"""The weights audit of external submissions: weight files where none may be.

Training from scratch means no pretrained weights may reach the training: none in the
participant's repository, none in the packages its requirements installed, and the predict
step writes only the submission file. A file with a weight-file extension above a size is
one problem each (its path and size); the training output is listed too, where weights are
expected, but does not fail the audit.
"""

from __future__ import annotations

import os
from pathlib import Path

WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".h5", ".npz", ".onnx", ".pkl", ".tar")
DEFAULT_MIN_MB = 1.0
MB = 1 << 20


def scan_weight_files(folder: Path, *, min_mb: float = DEFAULT_MIN_MB) -> list[tuple[str, int]]:
    """(path relative to `folder`, size) of every weight file of at least `min_mb`, in path order."""
    found = []
    folder = Path(folder)
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if name.lower().endswith(WEIGHT_SUFFIXES) and not path.is_symlink():
                size = path.stat().st_size
                if size >= min_mb * MB:
                    found.append((path.relative_to(folder).as_posix(), size))
    return found


def weight_files_audit(where: dict[str, Path], *, min_mb: float = DEFAULT_MIN_MB) -> dict:
    """The `weight_files` audit over named folders (e.g. repository, environment, predict output)."""
    problems = [f"{label}: {rel} ({size / MB:.1f} MB)" for label, folder in where.items() if folder and Path(folder).is_dir()
                for rel, size in scan_weight_files(folder, min_mb=min_mb)]
    scanned = ", ".join(label for label, folder in where.items() if folder)
    detail = (f"no weight file ({', '.join(WEIGHT_SUFFIXES)}) of {min_mb:g} MB or more in: {scanned}" if not problems
              else f"{len(problems)} weight file(s) of {min_mb:g} MB or more where none may be")
    return {"passed": not problems, "detail": detail, "problems": problems}
