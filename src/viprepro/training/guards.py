"""Rule-compliance guards and checks: no pre-trained weights, only the provided data.

- `forbid_weight_downloads` points every weight cache (torch hub, Hugging Face, XDG) at an
  empty folder and makes torch hub's downloader raise, so a model that asks for pre-trained
  weights fails the job with a message that says why.
- `FileAccessRecorder` records, through a Python audit hook installed in the job and in
  every DataLoader worker, every file the job opens and the digest of the subset files it
  read; `opened_outside_allowed` then lists what a training job read beyond its own splits
  (test inputs, hidden ground truth, the source dataset).
- `scan_weight_files` lists weight files (checkpoints) above a size in a folder: a
  participant's repository or outputs must not ship pre-trained weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from viprepro.files.fileio import sha256_file

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
            "(build every model with weights=None, weights_backbone=None)"
        )

    torch.hub.download_url_to_file = refuse
    torch.hub.set_dir(str(empty))
    return empty


ACCESS_LOG_VARIABLE = "VIPREPRO_ACCESS_LOG"
DIGEST_ROOT_VARIABLE = "VIPREPRO_ACCESS_DIGEST_ROOT"
HASHED = "hashed"  # markers of the file versions a process of the job has hashed already
_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


class _ProcessLog:
    """The recording state of one process: where it writes, what it has already written.

    A forked child inherits the parent's state; the pid check gives it its own log file and
    its own memory of what it saw, so nothing it opens is lost when it exits without cleanup
    (DataLoader workers end with os._exit).
    """

    def __init__(self, folder: str, digest_root: str | None):
        self.folder = folder
        # several roots (the subset, a stage's path-opaque image view) are joined by os.pathsep
        roots = [root for root in (digest_root or "").split(os.pathsep) if root]
        self.digest_root = tuple(os.path.abspath(root) + os.sep for root in roots) or None
        self.pid = os.getpid()
        self.seen: set[str] = set()
        self.local = threading.local()  # per thread: a loader may open files from several threads at once

    def record(self, raw) -> None:
        if getattr(self.local, "busy", False):
            return  # this thread's own reads and writes
        if os.getpid() != self.pid:
            self.pid, self.seen = os.getpid(), set()
        path = os.path.abspath(os.fsdecode(raw))
        if path in self.seen:
            return
        self.seen.add(path)
        self.local.busy = True
        try:
            entry = {"path": path}
            if self.digest_root and path.startswith(self.digest_root) and os.path.isfile(path):
                entry.update(self._digest_once(path))
            line = (json.dumps(entry) + "\n").encode()
            fd = os.open(os.path.join(self.folder, f"{self.pid}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        finally:
            self.local.busy = False

    def _digest_once(self, path: str) -> dict:
        """{"size", "sha256"} for the first process of the job to open this version of the file.

        DataLoader workers are new processes every epoch: hashing in each of them would read
        every training file twice per epoch. A marker per (path, size, mtime, inode) in the
        job's log folder lets the first reader hash it; a file changed during the job is a new
        version, hashed again, so a process that read other bytes is still caught.
        """
        info = os.stat(path)
        version = hashlib.sha1(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}".encode()).hexdigest()
        try:
            os.close(os.open(os.path.join(self.folder, HASHED, version), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return {}
        except OSError:
            pass  # no marker folder: hash here rather than lose the digest
        return {"size": info.st_size, "sha256": sha256_file(path)}


_state: _ProcessLog | None = None
_installed = False


def _hook(event: str, args) -> None:
    if event not in _EVENTS or _state is None:
        return
    if args and isinstance(args[0], (str, bytes, os.PathLike)):
        _state.record(args[0])


def activate_from_environment() -> None:
    """Start recording in this process if the job asked for it (DataLoader worker_init_fn).

    Forked workers inherit the hook already; spawned ones (and any Python process the job
    starts with this call) install it here from the variables the recorder exported.
    """
    global _state, _installed
    folder = os.environ.get(ACCESS_LOG_VARIABLE)
    if not folder:
        return
    if _state is None or _state.folder != folder or _state.pid != os.getpid():
        _state = _ProcessLog(folder, os.environ.get(DIGEST_ROOT_VARIABLE))
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


class FileAccessRecorder:
    """Record every file opened by the job and by every process it starts, with digests.

    A Python audit hook sees each `open` (and directory listing) in this process; the
    folder and digest root are exported so that DataLoader workers (forked or spawned,
    through `activate_from_environment`) record theirs into the same folder, one file per
    process. Files under `digest_root` (the subset) are hashed when they are opened: the
    bytes the job read, not the bytes the manifest promised. `opened()` merges every process.
    """

    def __init__(self, folder: str | Path | None = None, *, digest_root: str | Path | list | None = None):
        self._owned = folder is None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="viprepro-access-"))
        (self.folder / HASHED).mkdir(parents=True, exist_ok=True)
        roots = digest_root if isinstance(digest_root, (list, tuple)) else [digest_root] if digest_root else []
        self.digest_root = os.pathsep.join(str(root) for root in roots)
        self._saved: dict[str, str | None] = {}
        self._merged: dict[str, dict] | None = None
        self._processes = 0

    def __enter__(self) -> FileAccessRecorder:
        for name, value in ((ACCESS_LOG_VARIABLE, str(self.folder)), (DIGEST_ROOT_VARIABLE, str(self.digest_root or ""))):
            self._saved[name] = os.environ.get(name)
            os.environ[name] = value
        activate_from_environment()
        return self

    def __exit__(self, *exc) -> None:
        global _state
        _state = None
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # The job's processes have ended: merge their logs once and drop a folder we made.
        self._merged, self._processes = self._read(), len(list(self.folder.glob("*.jsonl")))
        self.cleanup()

    def opened(self) -> dict[str, dict]:
        """Every path opened by any process of the job -> {"sha256", "size", "pids"} (digests for subset files)."""
        return self._merged if self._merged is not None else self._read()

    def _read(self) -> dict[str, dict]:
        merged: dict[str, dict] = {}
        for log in sorted(self.folder.glob("*.jsonl")):
            pid = int(log.stem)
            for line in log.read_text().splitlines():
                if not line.strip():
                    continue  # a worker killed mid-write leaves at most one partial line
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                seen = merged.setdefault(entry["path"], {"pids": []})
                seen["pids"].append(pid)
                if "sha256" in entry:
                    if "sha256" in seen and seen["sha256"] != entry["sha256"]:
                        seen["changed"] = True  # two processes read different bytes under one name
                    seen.update(sha256=entry["sha256"], size=entry["size"])
        return merged

    @property
    def paths(self) -> set[str]:
        return set(self.opened())

    @property
    def processes(self) -> int:
        return self._processes if self._merged is not None else len(list(self.folder.glob("*.jsonl")))

    def cleanup(self) -> None:
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)


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


WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".h5", ".npz", ".onnx", ".pkl", ".tar")
WEIGHT_FILE_MIN_BYTES = 100_000


def scan_weight_files(folder: str | Path, min_bytes: int = WEIGHT_FILE_MIN_BYTES, *, exclude: list[str | Path] = ()) -> list[dict]:
    """Weight files (by suffix) of at least `min_bytes` under `folder`, symlinks followed to their target.

    For a participant's repository and its outputs: a file that could hold pre-trained
    weights is listed with its size, whatever it is called inside. `exclude` skips folders
    (e.g. the outputs our own pipeline wrote there). Sorted by path.
    """
    root = Path(folder)
    skipped = [Path(os.path.abspath(p)) for p in exclude]
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(os.path.abspath(dirpath))
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and here / d not in skipped)
        for name in sorted(filenames):
            if not name.lower().endswith(WEIGHT_SUFFIXES):
                continue
            path = Path(dirpath) / name
            try:
                size = path.stat().st_size  # follows a symlink: an annexed weight file counts
            except OSError:
                continue
            if size >= min_bytes:
                found.append({"path": str(path.relative_to(root)), "size": size})
    return sorted(found, key=lambda f: f["path"])
