"""What a reproduction ran on: code version, environment, hardware, data and config digests."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .fileio import canonical_digest


def _git(*args: str, cwd: Path) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None


@lru_cache(maxsize=None)
def code_version(root: str | None = None) -> dict:
    """Git commit of the workflow, whether the tree is dirty, and a digest of the diff."""
    cwd = Path(root) if root else Path(__file__).resolve().parent  # the checkout the package runs from
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit is None:
        from . import __version__

        return {"commit": "unknown", "dirty": None, "diff_sha256": None, "package_version": __version__}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd) or ""
    diff = _git("diff", "HEAD", cwd=cwd) or ""
    from . import __version__

    return {
        "commit": commit.strip(),
        "dirty": bool(status.strip()),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if status.strip() else None,
        "package_version": __version__,
    }


@lru_cache(maxsize=None)
def package_versions() -> dict[str, str]:
    """Every installed distribution and its version: a lock of the environment as it ran."""
    versions = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            versions[name.lower()] = dist.version
    return dict(sorted(versions.items()))


def environment() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "packages_sha256": canonical_digest(package_versions()),
        "packages": package_versions(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
