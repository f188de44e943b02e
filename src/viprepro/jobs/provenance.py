"""What a reproduction ran on: code version, environment, hardware, data and config digests."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from viprepro.files.fileio import canonical_digest


def _git(*args: str, cwd: Path) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None


@cache
def code_version(root: str | None = None) -> dict:
    """Git commit of the workflow, whether the tree is dirty, and a digest of the diff."""
    cwd = Path(root) if root else Path(__file__).resolve().parent  # the checkout the package runs from
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit is None:
        from viprepro import __version__

        return {"commit": "unknown", "dirty": None, "diff_sha256": None, "package_version": __version__}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd) or ""
    diff = _git("diff", "HEAD", cwd=cwd) or ""
    from viprepro import __version__

    return {
        "commit": commit.strip(),
        "dirty": bool(status.strip()),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if status.strip() else None,
        "package_version": __version__,
    }


@cache
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
        "machine": platform.machine(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else cpu_model(),
        "device_type": "cuda" if cuda else "cpu",
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch dispatches to
        "cpu_capability_override": os.environ.get("ATEN_CPU_CAPABILITY"),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
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


# What must be equal for a rerun to give bit-identical numbers: the same device, the same
# kernels (CPU capability torch dispatches to), the same library build, deterministic algorithms.
BIT_IDENTITY_KEYS = (
    ("device_type", "device type"),
    ("cpu_model", "CPU model"),
    ("cpu_capability", "CPU capability (torch kernel dispatch)"),
    ("gpu", "GPU"),
    ("torch", "torch build"),
    ("cuda", "CUDA version"),
    ("cudnn", "cuDNN version"),
    ("determinism", "determinism level"),
)


def compare_environments(claimed: dict | None, reproduced: dict | None, *, determinism: str) -> dict:
    """The claim's environment beside the rerun's, and whether bit-identical numbers were to be expected.

    Bit-identical results hold only on the same hardware and library build with deterministic
    algorithms; anywhere else a reviewer can expect a score within the tolerance, no more.
    """
    rerun = {**{key: (reproduced or {}).get(key) for key, _ in BIT_IDENTITY_KEYS}, "determinism": determinism}
    if reproduced and rerun["cpu_model"] is None:
        rerun["cpu_model"] = reproduced.get("device")
    if not claimed:
        return {
            "claimed": None,
            "reproduced": rerun,
            "differences": [],
            "bit_identical_expected": None,
            "sentence": "Bit-identical equality was not to be expected: the claim does not state the environment it "
            "was measured in, so only agreement within the tolerance or the seed band can be checked.",
        }
    stated = {key: claimed[key] for key, _ in BIT_IDENTITY_KEYS if key in claimed}
    differences = [
        f"{label} ({stated[key]} claimed, {rerun[key]} here)"
        for key, label in BIT_IDENTITY_KEYS
        if key in stated and stated[key] != rerun[key]
    ]
    unstated = [label for key, label in BIT_IDENTITY_KEYS if key not in stated]
    if differences:
        expected, sentence = (
            False,
            (
                "Bit-identical equality was not to be expected: the "
                + "; the ".join(differences)
                + " differ, so floating-point results differ; agreement within the tolerance is the test."
            ),
        )
    elif unstated:
        expected, sentence = (
            None,
            (
                "Bit-identical equality could not be promised: the claim does not state its "
                + ", ".join(unstated)
                + "; agreement within the tolerance is the test."
            ),
        )
    elif determinism != "strict":
        expected, sentence = (
            False,
            (
                "Bit-identical equality was not to be expected: deterministic algorithms were not "
                "enforced (determinism " + determinism + ")."
            ),
        )
    else:
        expected, sentence = (
            True,
            (
                "Bit-identical equality with the claim's own runs was to be expected: same hardware, same "
                "CPU capability and the same library build as the claim, with deterministic algorithms; "
                "a score that differs from the claim's run at the same seed is a reproducibility defect."
            ),
        )
    return {
        "claimed": stated,
        "reproduced": rerun,
        "differences": differences,
        "bit_identical_expected": expected,
        "sentence": sentence,
        "measured": claimed.get("measured"),
    }
