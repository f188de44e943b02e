"""Rule-compliance guards and checks: no pre-trained weights, only the provided data.

- `forbid_weight_downloads` points every weight cache (torch hub, Hugging Face, XDG) at an
  empty folder and makes torch hub's downloader raise, so a model that asks for pre-trained
  weights fails the job with a message that says why.
- `FileAccessRecorder` records, through a Python audit hook, every file the job opens;
  `opened_outside_allowed` then lists what a training job read beyond its own splits
  (test inputs, hidden ground truth, the source dataset).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

WEIGHT_CACHE_VARIABLES = ("TORCH_HOME", "HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")


class PretrainedWeightsRefused(RuntimeError):
    """A model asked for weights from the network or a cache: not allowed by the challenge."""


def forbid_weight_downloads() -> Path:
    """Empty weight caches and a downloader that refuses; returns the empty cache folder."""
    empty = Path(tempfile.mkdtemp(prefix="viprepro-empty-cache-"))
    for name in WEIGHT_CACHE_VARIABLES:
        os.environ[name] = str(empty)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch.hub

    def refuse(url, *args, **kwargs):
        raise PretrainedWeightsRefused(
            f"the model tried to fetch weights from {url}: VIPriors submissions are trained from scratch "
            "(build every model with weights=None, weights_backbone=None)")

    torch.hub.download_url_to_file = refuse
    torch.hub.set_dir(str(empty))
    return empty


class FileAccessRecorder:
    """Collect the paths of every file opened while active (Python audit hook)."""

    _active: "FileAccessRecorder | None" = None
    _installed = False

    def __init__(self):
        self.paths: set[str] = set()

    @classmethod
    def _hook(cls, event: str, args) -> None:
        recorder = cls._active
        if recorder is None:
            return
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            recorder.paths.add(os.fsdecode(args[0]))
        elif event in ("os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
            recorder.paths.add(os.fsdecode(args[0]))

    def __enter__(self) -> "FileAccessRecorder":
        if not FileAccessRecorder._installed:
            sys.addaudithook(FileAccessRecorder._hook)
            FileAccessRecorder._installed = True
        FileAccessRecorder._active = self
        return self

    def __exit__(self, *exc) -> None:
        FileAccessRecorder._active = None


def opened_outside_allowed(opened: set[str], subset_dir: Path, allowed: set[str], forbidden_roots: list[Path]) -> list[str]:
    """Paths a job opened that it had no business opening.

    Inside the subset, only `allowed` (paths relative to the subset, plus the folders that
    hold them) may be opened; anything under a forbidden root (hidden ground truth, source
    dataset) is a violation wherever it is.
    """
    subset_dir = Path(os.path.abspath(subset_dir))
    forbidden = [Path(os.path.abspath(p)) for p in forbidden_roots]
    allowed_dirs = {str(Path(a).parent) for a in allowed} | {"."}
    for a in list(allowed_dirs):
        parts = Path(a).parts
        allowed_dirs |= {str(Path(*parts[:i])) for i in range(1, len(parts))}
    violations = []
    for raw in sorted(opened):
        path = Path(os.path.abspath(raw))  # not resolve(): a symlinked subset file is still the subset's
        if any(path == root or root in path.parents for root in forbidden):
            violations.append(raw)
            continue
        if path == subset_dir or subset_dir in path.parents:
            relative = str(path.relative_to(subset_dir)) if path != subset_dir else "."
            if relative not in allowed and relative not in allowed_dirs:
                violations.append(raw)
    return violations
