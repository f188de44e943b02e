"""Decoys where the forbidden data would be, and a record of every attempt to open them.

A folder that is simply not mounted makes an attempt to read it fail, but leaves no trace:
the audit could not tell an honest submission from one that tried. So each forbidden folder
(the hidden ground truth, the source dataset, and during training the test images) is
replaced inside the sandbox by a decoy: the same file and folder names, every file empty,
nothing of the real content. The decoy lives in a host folder watched with inotify
(IN_OPEN, IN_ACCESS: the kernel reports opens through bind mounts too), so every file the
participant's code opens in it, and every decoy folder it lists (a folder's listing is an
IN_ACCESS on it; bwrap only opens a mount's source), is logged by name.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

IN_ACCESS, IN_OPEN, IN_ISDIR = 0x1, 0x20, 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
MAX_ENTRIES = 20_000  # decoy entries per forbidden folder (names only; enough to look real)
_EVENT = struct.Struct("iIII")


@dataclass
class Decoy:
    """A forbidden folder: where it appears in the sandbox and the host folder standing in for it."""

    name: str  # audit-facing label, e.g. "hidden ground truth"
    target: str  # path inside the sandbox
    folder: Path  # the decoy on the host
    watches: dict[int, str] = field(default_factory=dict)  # inotify watch -> path inside the sandbox


def make_decoy(name: str, real: Path | None, target: str, root: Path) -> Decoy:
    """A decoy of `real` (names only, files empty) in a fresh folder under `root`."""
    folder = Path(tempfile.mkdtemp(prefix="decoy-", dir=root))
    count = 0
    if real is not None and Path(real).is_dir():
        for current, _dirs, files in os.walk(real):
            rel = Path(current).relative_to(real)
            (folder / rel).mkdir(parents=True, exist_ok=True)
            for file_name in files:
                if count >= MAX_ENTRIES:
                    break
                (folder / rel / file_name).touch()
                count += 1
    return Decoy(name=name, target=target, folder=folder)


class Watcher:
    """Logs opens and reads in decoy folders while a sandbox runs (a background thread)."""

    def __init__(self, decoys: list[Decoy]):
        self.decoys = decoys
        self.attempts: dict[str, list[str]] = {decoy.name: [] for decoy in decoys}
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.owner: dict[int, tuple[Decoy, str]] = {}
        for decoy in decoys:
            for current in [current for current, _, _ in os.walk(decoy.folder)]:  # listed before any watch exists
                rel = Path(current).relative_to(decoy.folder).as_posix()
                inside = decoy.target if rel == "." else f"{decoy.target}/{rel}"
                wd = libc.inotify_add_watch(self.fd, os.fsencode(current), IN_OPEN | IN_ACCESS)
                if wd >= 0:
                    self.owner[wd] = (decoy, inside)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()
        os.close(self.fd)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                self._drain()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode(errors="replace")
                offset += _EVENT.size + length
                if wd not in self.owner:
                    continue
                if not name and not mask & IN_ACCESS:
                    continue  # a watched folder opened but not read: bwrap opens each bind mount's source
                decoy, inside = self.owner[wd]
                what = f"{'listed' if mask & IN_ISDIR or not name else 'opened'} {inside}/{name}".rstrip("/")
                if what not in self.attempts[decoy.name]:
                    self.attempts[decoy.name].append(what)
