"""The weights audit of external submissions: weight files where none may be.

Training from scratch means no pretrained weights may reach the training: none in the
participant's repository, none in the packages its requirements installed, and the predict
step writes only the submission file. A file with a weight-file extension above a size is
one problem each (its path and size); the training output is listed too, where weights are
expected, but does not fail the audit.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.training.guards import WEIGHT_SUFFIXES, scan_weight_files

DEFAULT_MIN_MB = 1.0
MB = 1 << 20


def weight_files_audit(where: dict[str, Path], *, min_mb: float = DEFAULT_MIN_MB) -> dict:
    """The `weight_files` audit over named folders (e.g. repository, environment, predict output)."""
    problems = [
        f"{label}: {found['path']} ({found['size'] / MB:.1f} MB)"
        for label, folder in where.items()
        if folder and Path(folder).is_dir()
        for found in scan_weight_files(folder, int(min_mb * MB))
    ]
    scanned = ", ".join(label for label, folder in where.items() if folder)
    detail = (
        f"no weight file ({', '.join(WEIGHT_SUFFIXES)}) of {min_mb:g} MB or more in: {scanned}"
        if not problems
        else f"{len(problems)} weight file(s) of {min_mb:g} MB or more where none may be"
    )
    return {"passed": not problems, "detail": detail, "problems": problems}
