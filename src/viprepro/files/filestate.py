"""Per-file digests cached by (device, inode, size, mtime), as DVC's state database does.

Subsetting hashes every file it places (the manifest digest names the bytes a model saw) and
checks every image's header. Both cost a read of every file, on every rerun. The state keeps,
for each (device, inode), the size and mtime (in ns) at which it was read, its sha256 and the
check level it passed; a file whose stat still shows the same four numbers is not read again.
A hard link has the inode of its source, so hashing the source before linking also answers
for the linked subset file.

What it trusts: that a file whose size and mtime are unchanged has unchanged bytes (DVC, git
and make trust the same). Writing a file resets its mtime; only a deliberate `touch -d` back to
the old time after an edit of the same length escapes it. A file read while its mtime is
within `RACY_NS` of the read (it may still be being written within the file system's
timestamp granularity) is not remembered, as git treats "racily clean" entries.

The state is a small SQLite file that the caller places outside the dataset (subsetting puts
it beside the subset folder: `<parent>/.<subset name>.state.sqlite`). Losing it costs only
time; a corrupt one is set aside and rebuilt.

Misses are read in worker processes on all cores (hashlib keeps the GIL for the small buffers
of small files, so threads would not scale), a contiguous chunk per task.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import stat
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from viprepro.files.imagecheck import PNG_SIGNATURE, TAIL, problem_in

CHUNK = 1 << 20
RACY_NS = 2_000_000_000  # FAT keeps mtimes to 2 s; everything else finer
LEVELS = ("none", "header", "full")  # image checks, weakest first
MISSING = "missing or not a regular file"
PARALLEL_FROM = 2000  # fewer misses than this are read in this process (pool start-up costs more)
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, checked TEXT NOT NULL, PRIMARY KEY (dev, ino));
CREATE TABLE IF NOT EXISTS outputs (out TEXT PRIMARY KEY, stamp TEXT NOT NULL);
"""


def state_path_for(out: str | Path) -> Path:
    """Where subsetting keeps the state of the subset `out`: beside it, never inside it."""
    out = Path(out)
    return out.parent / f".{out.name}.state.sqlite"


def subset_state(out: str | Path, source: str | Path) -> FileState:
    """The state of the subset `out` of the dataset `source`; none (nothing cached) if its file
    would land inside the dataset, which is never written to."""
    path = state_path_for(out)
    inside = Path(os.path.realpath(path.parent)).is_relative_to(os.path.realpath(source))
    return FileState(None if inside else path)


@dataclass(frozen=True)
class Facts:
    """What reading one file established."""

    size: int
    sha256: str
    problem: str | None = None  # why the image check failed (None: passed or not asked)


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class FileState:
    """The state database; `FileState(None)` remembers nothing beyond this object."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self.hits = self.misses = 0
        self._entries: dict[tuple[int, int], tuple[int, int, str, str]] = {}
        self._db = self._open() if self.path is not None else None
        if self._db is not None:
            rows = self._db.execute("SELECT dev, ino, size, mtime_ns, sha256, checked FROM files")
            self._entries = {(d, i): (s, m, h, c) for d, i, s, m, h, c in rows}

    def _open(self) -> sqlite3.Connection | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=60)
            db.executescript(SCHEMA)
            db.execute("SELECT COUNT(*) FROM files").fetchone()
            return db
        except sqlite3.DatabaseError:  # corrupt or not a database: a cache, so start afresh
            self.path.replace(self.path.with_name(self.path.name + ".corrupt"))
            db = sqlite3.connect(self.path, timeout=60)
            db.executescript(SCHEMA)
            return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> FileState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def known(self, st: os.stat_result, level: str = "none") -> str | None:
        """The cached sha256 of the file `st` describes, if it is unchanged and passed `level`."""
        entry = self._entries.get((st.st_dev, st.st_ino))
        if entry is None or entry[:2] != (st.st_size, st.st_mtime_ns):
            return None
        if LEVELS.index(entry[3]) < LEVELS.index(level):
            return None
        return entry[2]

    def remember(self, rows: list[tuple[os.stat_result, str, str]], *, read_started_ns: int) -> None:
        """Store (stat before reading, sha256, level passed) rows, except racily recent ones."""
        fresh = [
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest, level)
            for st, digest, level in rows
            if st.st_mtime_ns < read_started_ns - RACY_NS
        ]
        for dev, ino, size, mtime, digest, level in fresh:
            self._entries[(dev, ino)] = (size, mtime, digest, level)
        if self._db is not None and fresh:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", fresh)

    def stamp(self, out: str | Path) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT stamp FROM outputs WHERE out = ?", (str(Path(out).resolve()),)).fetchone()
        return row[0] if row else None

    def set_stamp(self, out: str | Path, stamp: str) -> None:
        if self._db is not None:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?)", (str(Path(out).resolve()), stamp))


def _read(path: str, level: str) -> tuple[str, str | None]:
    """sha256 of a file and, if asked, what is wrong with it as an image, in one read."""
    digest = hashlib.sha256()
    head, tail = b"", b""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            head = head or chunk[: len(PNG_SIGNATURE)]
            tail = (tail + chunk)[-TAIL:]
    return digest.hexdigest(), problem_in(Path(path), head, tail, level) if level != "none" else None


def _read_chunk(job: tuple[list[str], str]) -> list[tuple[str, str | None]]:
    paths, level = job
    results = []
    for path in paths:
        try:
            results.append(_read(path, level))
        except OSError as exc:
            results.append(("", f"cannot be read ({exc.strerror})"))
    return results


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _read_all(paths: list[str], level: str, workers: int) -> list[tuple[str, str | None]]:
    if workers <= 1 or len(paths) < PARALLEL_FROM:
        return _read_chunk((paths, level))
    size = -(-len(paths) // (workers * 4))
    jobs = [(paths[i : i + size], level) for i in range(0, len(paths), size)]
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [item for part in pool.map(_read_chunk, jobs) for item in part]


def scan(paths: list[Path], *, state: FileState | None = None, level: str = "none", workers: int | None = None) -> list[Facts]:
    """Size, sha256 and (for `level` header/full) the image check of each file, in order.

    Files the state knows unchanged are not opened; the others are read once, in parallel,
    and remembered. A file that cannot be read has `problem` set and an empty digest.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    state = state if state is not None else FileState(None)
    started = time.time_ns()
    facts: list[Facts | None] = [None] * len(paths)
    stats: dict[int, os.stat_result] = {}
    for index, path in enumerate(paths):
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            facts[index] = Facts(0, "", MISSING)
            continue
        digest = state.known(st, level)
        if digest is None:
            stats[index] = st
        else:
            facts[index] = Facts(st.st_size, digest)
    state.hits += len(paths) - len(stats)
    state.misses += len(stats)
    todo = sorted(stats)
    results = _read_all([str(paths[i]) for i in todo], level, workers or default_workers())
    remembered = []
    for index, (digest, problem) in zip(todo, results):
        st = stats[index]
        facts[index] = Facts(st.st_size, digest, problem)
        if digest and problem is None and stat_key(os.stat(paths[index])) == stat_key(st):
            remembered.append((st, digest, level))  # unchanged while it was read
    state.remember(remembered, read_started_ns=started)
    return facts  # type: ignore[return-value]
