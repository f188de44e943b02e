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
it beside the subset folder: `<parent>/.<subset name>.state.sqlite`). Its rows are loaded
only when a lookup is needed; it also keeps the record of each subset build
(`tasks.subset_record`), with which a rerun whose sources are unchanged needs no row at all.
Losing it costs only time; a corrupt one is set aside and rebuilt.

Every file is stated once (`stat_files`: an lstat per plain file, at C speed); misses are read
in worker processes on all cores (hashlib keeps the GIL for the small buffers of small files,
so threads would not scale), a contiguous chunk per task, each file with one open, its reads
and one fstat: the file read is the file stated, unchanged meanwhile, if that fstat shows the
stat taken before.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import operator
import os
import sqlite3
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

from viprepro.files.imagecheck import PNG_SIGNATURE, TAIL, problem_in

CHUNK = 1 << 20
FIRST_CHUNK = 1 << 16  # most images fit; a 1 MiB buffer per small file costs more than its read
RACY_NS = 2_000_000_000  # FAT keeps mtimes to 2 s; everything else finer
LEVELS = ("none", "header", "full")  # image checks, weakest first
MISSING = "missing or not a regular file"
PARALLEL_FROM = 2000  # fewer misses than this are read in this process (pool start-up costs more)
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, checked TEXT NOT NULL, PRIMARY KEY (dev, ino)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS builds (out TEXT PRIMARY KEY, record TEXT NOT NULL, digests BLOB NOT NULL);
DROP TABLE IF EXISTS outputs;
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


class Facts(NamedTuple):
    """What reading one file established (a tuple: a plan makes one per file)."""

    size: int
    sha256: str
    problem: str | None = None  # why the image check failed (None: passed or not asked)


_facts = tuple.__new__  # _facts(Facts, fields): a Facts made at C speed (a scan makes one per file)

#: (device, inode, size, mtime) of an `os.stat_result`: what identifies a file's bytes here.
stat_key = operator.attrgetter("st_dev", "st_ino", "st_size", "st_mtime_ns")


class FileState:
    """The state database; `FileState(None)` remembers nothing beyond this object.

    Its rows are loaded on the first lookup: a rerun whose inputs stamp matches its build
    record (`subsetting`) needs none of them. New rows are written by a thread while the
    caller goes on (SQLite works without the GIL), and waited for before the next use."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self.hits = self.misses = 0
        self.unsettled = 0  # files read that changed after they were stated (their stat vouches for nothing)
        self._loaded: dict[tuple[int, int], tuple[int, int, str, str]] | None = None if path is not None else {}
        self._writing: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._db = self._open() if self.path is not None else None

    def _open(self) -> sqlite3.Connection | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)  # one thread at a time (`_settled`)
            db.executescript(SCHEMA)
            db.execute("SELECT COUNT(*) FROM builds").fetchone()
            return db
        except sqlite3.DatabaseError:  # corrupt or not a database: a cache, so start afresh
            self.path.replace(self.path.with_name(self.path.name + ".corrupt"))
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            db.executescript(SCHEMA)
            return db

    def _settled(self) -> sqlite3.Connection | None:
        """The connection, once the rows being written (if any) are written."""
        if self._writing is not None:
            self._writing.join()
            self._writing = None
            if self._failed is not None:
                failed, self._failed = self._failed, None
                raise failed
        return self._db

    def _write(self, rows: list[tuple]) -> None:
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)
        except BaseException as exc:  # raised in the caller's thread by `_settled`
            self._failed = exc

    @property
    def _entries(self) -> dict[tuple[int, int], tuple[int, int, str, str]]:
        if self._loaded is None:
            self._settled()
            rows = self._db.execute("SELECT dev, ino, size, mtime_ns, sha256, checked FROM files") if self._db is not None else ()
            self._loaded = {(d, i): (s, m, h, c) for d, i, s, m, h, c in rows}
        return self._loaded

    def close(self) -> None:
        if self._db is not None:
            try:
                self._settled()
            finally:
                self._db.close()
                self._db = None

    def __enter__(self) -> FileState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def known(self, st: os.stat_result, level: str = "none") -> str | None:
        """The cached sha256 of the file `st` describes, if it is unchanged and passed `level`."""
        entry = self._entries.get((st.st_dev, st.st_ino))
        if entry is None or entry[0] != st.st_size or entry[1] != st.st_mtime_ns:
            return None
        if entry[3] != level and LEVELS.index(entry[3]) < LEVELS.index(level):
            return None
        return entry[2]

    def remember(self, rows: list[tuple[os.stat_result, str, str]], *, read_started_ns: int) -> None:
        """Store (stat before reading, sha256, level passed) rows, except racily recent ones."""
        fresh = [
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest, level)
            for st, digest, level in rows
            if st.st_mtime_ns < read_started_ns - RACY_NS
        ]
        if self._loaded is not None:
            for dev, ino, size, mtime, digest, level in fresh:
                self._loaded[(dev, ino)] = (size, mtime, digest, level)
        if self._db is not None and fresh:
            self._settled()
            self._writing = threading.Thread(target=self._write, args=(fresh,), name="filestate-writer")
            self._writing.start()

    def record(self, out: str | Path) -> tuple[str, bytes] | None:
        """What the last build of `out` recorded (see `subsetting`): its text and its digests."""
        if self._settled() is None:
            return None
        row = self._db.execute("SELECT record, digests FROM builds WHERE out = ?", (os.path.realpath(out),)).fetchone()
        return (row[0], row[1]) if row else None

    def set_record(self, out: str | Path, record: str, digests: bytes | None) -> None:
        """Store the record of `out`; `digests` None keeps those stored (a few MB at ImageNet scale)."""
        if self._settled() is not None:
            with self._db:
                if digests is None:
                    self._db.execute("UPDATE builds SET record = ? WHERE out = ?", (record, os.path.realpath(out)))
                else:
                    self._db.execute("INSERT OR REPLACE INTO builds VALUES (?, ?, ?)", (os.path.realpath(out), record, digests))


def _read(path: str, level: str) -> tuple[str, str | None, tuple[int, int, int, int]]:
    """sha256 of a file and, if asked, what is wrong with it as an image, in one read; with the
    stat key of the file that was read, taken after reading it (the caller compares it with its
    stat from before: equal, the file read is the one stated, unchanged meanwhile)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        digest = hashlib.sha256()
        head, tail, size = b"", b"", FIRST_CHUNK
        while True:
            chunk = os.read(fd, size)
            digest.update(chunk)
            head = head or chunk[: len(PNG_SIGNATURE)]
            tail = (tail + chunk)[-TAIL:]
            if len(chunk) < size:  # a regular file reads short only at its end: no extra read to see it
                break
            size = CHUNK
        after = stat_key(os.fstat(fd))
    finally:
        os.close(fd)
    problem = problem_in(path, head, tail, level) if level != "none" else None
    return digest.hexdigest(), problem, after


def _read_chunk(job: tuple[list[str], str]) -> list[tuple[str, str | None, tuple | None]]:
    paths, level = job
    results = []
    for path in paths:
        try:
            results.append(_read(path, level))
        except OSError as exc:
            results.append(("", f"cannot be read ({exc.strerror})", None))
    return results


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _read_all(paths: list[str], level: str, workers: int) -> list[tuple[str, str | None, tuple | None]]:
    if workers <= 1 or len(paths) < PARALLEL_FROM:
        return _read_chunk((paths, level))
    size = -(-len(paths) // (workers * 4))
    jobs = [(paths[i : i + size], level) for i in range(0, len(paths), size)]
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [item for part in pool.map(_read_chunk, jobs) for item in part]


_mode = operator.attrgetter("st_mode")


def stat_files(paths: list[str]) -> tuple[list[os.stat_result | None], set[int]]:
    """The stat of each regular file (symbolic links followed; None if missing, broken or not a
    regular file), and the positions of the paths that are symbolic links. One system call
    per plain file: an lstat, followed by a stat only for a link."""
    try:  # the common case at C speed: every path a regular file
        stats = list(map(os.lstat, paths))
        if all(map(stat.S_ISREG, map(_mode, stats))):
            return stats, set()
    except OSError:
        pass
    stats = []
    links = set()
    lstat, is_reg, is_lnk = os.lstat, stat.S_ISREG, stat.S_ISLNK
    for index, path in enumerate(paths):
        try:
            st = lstat(path)
            if is_lnk(st.st_mode):
                links.add(index)
                st = os.stat(path)
        except OSError:
            st = None
        stats.append(st if st is not None and is_reg(st.st_mode) else None)
    return stats, links


def scan(
    paths: list[str | Path],
    *,
    state: FileState | None = None,
    level: str = "none",
    workers: int | None = None,
    stats: list[os.stat_result | None] | None = None,
) -> list[Facts]:
    """Size, sha256 and (for `level` header/full) the image check of each file, in order.

    Files the state knows unchanged are not opened; the others are read once, in parallel,
    and remembered unless they changed while being read. A file that cannot be read has
    `problem` set and an empty digest. `stats` (from `stat_files`) saves stating them again.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    state = state if state is not None else FileState(None)
    started = time.time_ns()
    if stats is None:
        stats = stat_files([os.fspath(p) for p in paths])[0]
    facts: list[Facts | None] = [None] * len(paths)
    todo = []
    known = state.known if state._entries else None  # nothing to look up on a first run
    for index, st in enumerate(stats):
        if st is None:
            facts[index] = Facts(0, "", MISSING)
            continue
        digest = known(st, level) if known is not None else None
        if digest is None:
            todo.append(index)
        else:
            facts[index] = _facts(Facts, (st.st_size, digest, None))
    state.hits += len(paths) - len(todo)
    state.misses += len(todo)
    if todo:
        state._settled()  # no fork while the writer thread runs
    results = _read_all([os.fspath(paths[i]) for i in todo], level, workers or default_workers())
    remembered = []
    for index, (digest, problem, opened) in zip(todo, results):
        st = stats[index]
        facts[index] = _facts(Facts, (opened[2] if opened is not None else st.st_size, digest, problem))
        if opened == stat_key(st):  # the file stated is the file read, unchanged while it was read
            if digest and problem is None:
                remembered.append((st, digest, level))
        else:
            state.unsettled += 1
    state.remember(remembered, read_started_ns=started)
    return facts  # type: ignore[return-value]
