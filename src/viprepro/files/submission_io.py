"""Reading participants' files whatever they hold: bounded memory, one-line refusals.

Submission files come from participants, and a reviewer runs viprepro on whatever arrives.
Every reader of the four tasks goes through this module, so that an input no reader can use
(a folder, a pipe, a file beyond its size limit, a zip bomb, an encrypted or PPMd-compressed
zip member, UTF-16 text, JSON nested 100,000 deep) ends in a `UserError` naming the file, the
place and the problem, never in a traceback, and so that memory stays proportional to what a
valid file of that size needs:

- `check_file` refuses what is not a regular file of at most `max_mb` before it is opened.
- `ProblemList` counts every problem but stores only the first `keep` (the messages of ten
  million bad rows would need gigabytes; the command line shows 20).
- `SafeZip` checks the member count and the central directory's size in the zip's end
  record before the directory is parsed, and each member's declared size, compression method and encryption before it is
  read; members are read in chunks, never beyond their declared size (zipfile stops there,
  and a lying CRC or size then fails the read).
- `scan_json_array` finds the top-level items of a JSON array with vectorised passes over
  1 MB chunks (strings, escapes, nesting depth), so the file is parsed a batch of items at a
  time and an item nested deeper than `max_depth` or longer than `max_item_bytes` is refused
  by its position without ever being parsed.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viprepro.errors import UserError

MB = 1 << 20
CHUNK = 1 << 18  # bytes scanned at a time: its temporaries stay near 10 MB
KEEP_PROBLEMS = 100
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ITEM_BYTES = 1 << 20


class ProblemList(list):
    """A list of the first `keep` problems that still counts all of them (`total`).

    A plain list where a caller expects one (`Task.validate` returns it); `ValidationFailed`
    reads `total` to say how many there were.
    """

    def __init__(self, problems=(), *, keep: int = KEEP_PROBLEMS):
        super().__init__()
        self.keep = keep
        self.total = 0
        self.extend(problems)

    def append(self, problem: str) -> None:
        self.total += 1
        if len(self) < self.keep:
            super().append(problem)

    def extend(self, problems) -> None:
        for problem in problems:
            self.append(problem)

    def __iadd__(self, problems):
        self.extend(problems)
        return self

    def __bool__(self) -> bool:
        return self.total > 0


def check_file(path: str | Path, *, max_mb: float, option: str = "--max-submission-mb") -> int:
    """The size of `path`, refused (UserError) unless it is a regular file of at most `max_mb`."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except OSError as exc:
        raise UserError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError("is a folder; give the submission file itself", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise UserError("is not a regular file (a pipe, socket or device); give the submission file itself", path=path)
    if info.st_size > max_mb * MB:
        raise UserError(f"file is {info.st_size / MB:.0f} MB, above the {max_mb:g} MB limit; raise it with {option}", path=path)
    if not os.access(path, os.R_OK):
        raise UserError("is not readable (permission denied)", path=path)
    return info.st_size


def read_bytes(path: str | Path, *, max_mb: float, option: str = "--max-submission-mb") -> bytes:
    check_file(path, max_mb=max_mb, option=option)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot be read ({exc.strerror or exc})", path=path) from None


def position(data: bytes, offset: int) -> str:
    """'line L, column C' (1-based) of a byte offset."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def encoding_problem(data: bytes) -> str | None:
    """Why `data` is not UTF-8 text without a byte-order mark, or None (checks the first bytes only)."""
    head = data[:4]
    for bom, name in (
        (b"\x00\x00\xfe\xff", "UTF-32-BE"),
        (b"\xff\xfe\x00\x00", "UTF-32-LE"),
        (b"\xfe\xff", "UTF-16-BE"),
        (b"\xff\xfe", "UTF-16-LE"),
    ):
        if head.startswith(bom):
            return f"{name} text (it starts with a {name} byte-order mark, as some Windows tools write); save it as UTF-8"
    if b"\x00" in head:
        return "holds NUL bytes at its start: UTF-16 or UTF-32 text without a byte-order mark, or binary data; save it as UTF-8"
    return None


def decode_utf8(data: bytes, path: str | Path) -> str:
    """`data` as text, refused (UserError naming the byte's line and column) unless it is UTF-8."""
    problem = encoding_problem(data)
    if problem:
        raise UserError(problem, path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} ({exc.reason}); save it as UTF-8", path=path, where=position(data, exc.start)
        ) from None


# --- zip archives ---------------------------------------------------------------------------

# Methods zipfile reads; bzip2 and LZMA it decompresses without an output bound per call, so a
# few KB of either can expand to gigabytes before a size is checked: refused like the others.
MAX_DIRECTORY_MB = 64  # 100,000 members with 600-byte names

READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
METHOD_NAMES = {
    1: "shrink",
    6: "implode",
    9: "deflate64",
    12: "bzip2",
    14: "LZMA",
    93: "Zstandard",
    95: "xz",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
    99: "AES encryption",
}


@dataclass(frozen=True)
class ZipLimits:
    member_mb: float = 64.0
    total_mb: float = 8192.0
    members: int = 100_000
    file_mb: float = 8192.0

    @classmethod
    def from_options(cls, options: dict) -> ZipLimits:
        defaults = cls()
        return cls(
            **{name: options.get(f"max_{name}") or getattr(defaults, name) for name in ("member_mb", "total_mb", "members")},
            file_mb=options.get("max_submission_mb") or defaults.file_mb,
        )


def add_zip_arguments(parser) -> None:
    """The zip limits as options of `viprepro validate` and `viprepro score`."""
    defaults = ZipLimits()
    parser.add_argument(
        "--max-submission-mb",
        dest="max_submission_mb",
        type=float,
        default=defaults.file_mb,
        help=f"refuse larger zip files (default {defaults.file_mb:g})",
    )
    parser.add_argument(
        "--max-member-mb",
        dest="max_member_mb",
        type=float,
        default=defaults.member_mb,
        help=f"refuse members declaring more bytes uncompressed (default {defaults.member_mb:g}; a Cityscapes PNG is < 1)",
    )
    parser.add_argument(
        "--max-total-mb",
        dest="max_total_mb",
        type=float,
        default=defaults.total_mb,
        help=f"refuse zips whose members declare more bytes together (default {defaults.total_mb:g})",
    )
    parser.add_argument(
        "--max-members",
        dest="max_members",
        type=int,
        default=defaults.members,
        help=f"refuse zips declaring more members in their end record (default {defaults.members})",
    )


def add_json_arguments(parser, default_mb: float, *, size_note: str, item: str, item_size: str) -> None:
    """The JSON limits (size, nesting depth, item length) as options of `viprepro validate` and
    `viprepro score`, for a task whose submission is a JSON list of `item`s."""
    parser.add_argument(
        "--max-submission-mb",
        dest="max_submission_mb",
        type=float,
        default=default_mb,
        help=f"refuse larger submission files{size_note} (default {default_mb:g})",
    )
    parser.add_argument(
        "--max-json-depth",
        dest="max_json_depth",
        type=int,
        default=DEFAULT_MAX_DEPTH,
        help=f"refuse JSON nested deeper (default {DEFAULT_MAX_DEPTH}; {item} needs 3 levels)",
    )
    parser.add_argument(
        "--max-item-kb",
        dest="max_item_kb",
        type=float,
        default=DEFAULT_MAX_ITEM_BYTES / 1024,
        help=f"refuse, unparsed, list items longer than this (default {DEFAULT_MAX_ITEM_BYTES // 1024}; {item_size})",
    )


def add_text_arguments(parser, default_mb: float) -> None:
    parser.add_argument(
        "--max-submission-mb",
        dest="max_submission_mb",
        type=float,
        default=default_mb,
        help=f"refuse larger submission files (default {default_mb:g}; reading needs up to ten times the size in memory)",
    )


class SafeZip:
    """A zip file opened only after its declared member count, and read member by member
    only after each member's declared size, method and encryption have been checked."""

    def __init__(self, path: str | Path, limits: ZipLimits = ZipLimits()):
        self.path = Path(path)
        self.limits = limits
        check_file(self.path, max_mb=limits.file_mb)
        try:
            with open(self.path, "rb") as fh:
                end = zipfile._EndRecData(fh)  # the end record: member count, before the directory is parsed
            if end is None:
                raise zipfile.BadZipFile("File is not a zip file")
            if end[zipfile._ECD_SIZE] > MAX_DIRECTORY_MB * MB:  # zipfile reads the whole directory into memory
                raise UserError(
                    f"the zip's central directory is {end[zipfile._ECD_SIZE] / MB:.0f} MB, above the "
                    f"{MAX_DIRECTORY_MB} MB a zip of {limits.members} members needs",
                    path=self.path,
                )
            if end[zipfile._ECD_ENTRIES_TOTAL] > limits.members:
                raise UserError(
                    f"the zip declares {end[zipfile._ECD_ENTRIES_TOTAL]} members, above the limit of "
                    f"{limits.members}; raise it with --max-members",
                    path=self.path,
                )
            self.archive = zipfile.ZipFile(self.path)
        except UserError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise UserError(f"not a readable zip file ({exc})", path=self.path) from None
        self.infos = [info for info in self.archive.infolist() if not info.is_dir()]
        declared = sum(info.file_size for info in self.infos)
        if declared > limits.total_mb * MB:
            self.archive.close()
            raise UserError(
                f"the zip's members declare {declared / MB:.0f} MB together, above the {limits.total_mb:g} MB limit "
                "(a zip bomb, or raise it with --max-total-mb)",
                path=self.path,
            )

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.archive.close()

    def problem(self, info: zipfile.ZipInfo) -> str | None:
        """Why a member cannot be read, from its header alone, or None."""
        if info.flag_bits & 0x1:
            return "encrypted (password-protected) member; submit it unencrypted"
        if info.compress_type not in READABLE_METHODS:
            name = METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            return f"compressed with {name}, which viprepro does not read; use deflate or no compression"
        if info.file_size > self.limits.member_mb * MB:
            return (
                f"declares {info.file_size / MB:.0f} MB uncompressed, above the {self.limits.member_mb:g} MB limit per member "
                "(a zip bomb, or raise it with --max-member-mb)"
            )
        return None

    def read(self, name: str) -> bytes:
        """A member's bytes, read in chunks up to its declared size; UserError naming the member otherwise."""
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise UserError("no such member", path=self.path, where=name) from None
        problem = self.problem(info)
        if problem:
            raise UserError(problem, path=self.path, where=name)
        parts, size = [], 0
        try:
            with self.archive.open(info) as member:
                while chunk := member.read(CHUNK):
                    size += len(chunk)
                    if size > info.file_size:  # zipfile stops at the declared size; kept as a guard
                        raise UserError("holds more bytes than it declares", path=self.path, where=name)
                    parts.append(chunk)
        except UserError:
            raise
        except Exception as exc:  # zlib.error, BadZipFile (CRC), EOFError, RuntimeError, NotImplementedError, ...
            raise UserError(f"cannot be read from the zip ({type(exc).__name__}: {exc})", path=self.path, where=name) from None
        return b"".join(parts)


# --- JSON arrays ------------------------------------------------------------------------------

_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))
_WHITESPACE = b" \t\r\n"


@dataclass
class _ScanState:
    in_string: bool = False
    backslashes: int = 0  # backslashes ending the previous chunk
    depth: int = 0


def _structure(a: np.ndarray, state: _ScanState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, depth after, depth change) of the brackets and commas of a chunk outside strings."""
    n = len(a)
    index = np.arange(n, dtype=np.int64)
    last_plain = np.maximum.accumulate(np.where(a == 92, -1, index))  # last non-backslash at or before i
    quotes = np.flatnonzero(a == 34)
    before = quotes - 1
    safe = np.maximum(before, 0)
    run = np.where(before < 0, state.backslashes, np.where(last_plain[safe] < 0, safe + 1 + state.backslashes, before - last_plain[safe]))
    real = quotes[run % 2 == 0]
    marks = np.flatnonzero((a == 91) | (a == 93) | (a == 123) | (a == 125) | (a == 44))
    outside = (np.searchsorted(real, marks) + state.in_string) % 2 == 0
    marks = marks[outside]
    kinds = a[marks]
    delta = np.isin(kinds, _OPEN).astype(np.int64) - np.isin(kinds, _CLOSE).astype(np.int64)
    depth = state.depth + np.cumsum(delta)
    state.in_string = bool((len(real) + state.in_string) % 2)
    state.backslashes = n - 1 - int(last_plain[-1]) + (state.backslashes if last_plain[-1] < 0 else 0) if n else state.backslashes
    state.depth = int(depth[-1]) if len(depth) else state.depth
    return marks, depth, delta


def scan_json_array(
    data: bytes, path: str | Path, *, max_depth: int = DEFAULT_MAX_DEPTH, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES
) -> Iterator[tuple[str, int, int]]:
    """The top-level items of the JSON array `data`, as batches to parse.

    Yields ("batch", start, end): bytes [start, end) hold whole items separated by commas, and
    ("oversize", start, end) for a single item longer than `max_item_bytes` (not parsed).
    Raises UserError for what cannot be a JSON array: another top-level type, nesting deeper
    than `max_depth`, unbalanced brackets, an unterminated string, text after the array.
    """
    start = len(data) - len(data.lstrip(_WHITESPACE))
    if start == len(data):
        raise UserError("not valid JSON: the file is empty", path=path)
    if data[start] != ord("["):
        kind = {ord("{"): "a JSON dict (object)", ord('"'): "a JSON str"}.get(data[start], "a value that is not a JSON list")
        raise UserError(f"expected a JSON list of items, found {kind}", path=path, where=position(data, start))
    state = _ScanState()
    view = np.frombuffer(data, dtype=np.uint8)
    item_start = start + 1
    batch_start = item_start
    for offset in range(start, len(data), CHUNK):
        marks, depth, delta = _structure(view[offset : offset + CHUNK], state)
        marks = marks + offset
        if len(depth) and depth.max() > max_depth:
            where = int(marks[np.argmax(depth > max_depth)])
            raise UserError(
                f"JSON nested deeper than {max_depth} levels; raise it with --max-json-depth", path=path, where=position(data, where)
            )
        closed = np.flatnonzero(depth <= 0)
        if len(closed):
            end = int(marks[closed[0]])
            if depth[closed[0]] < 0 or data[end] != ord("]"):
                raise UserError(f"not valid JSON: unbalanced '{chr(data[end])}'", path=path, where=position(data, end))
            marks, depth, delta = marks[: closed[0] + 1], depth[: closed[0] + 1], delta[: closed[0] + 1]
        separators = marks[(depth - delta == 1) & (delta <= 0)]  # commas at depth 1, and the closing bracket
        if len(separators):
            bounds = np.concatenate(([item_start - 1], separators))
            long = np.flatnonzero(np.diff(bounds) - 1 > max_item_bytes)
            for k in long:
                if bounds[k] + 1 > batch_start:
                    yield "batch", batch_start, int(bounds[k])
                yield "oversize", int(bounds[k]) + 1, int(bounds[k + 1])
                batch_start = int(bounds[k + 1]) + 1
            last = int(separators[-1])
            if last + 1 > batch_start and last > batch_start:
                yield "batch", batch_start, last
            batch_start = item_start = last + 1
        if len(closed):
            rest = data[end + 1 :].strip(_WHITESPACE)
            if rest:
                raise UserError(
                    "not valid JSON: extra data after the list",
                    path=path,
                    where=position(data, end + 1 + len(data[end + 1 :]) - len(data[end + 1 :].lstrip(_WHITESPACE))),
                )
            return
    what = "an unterminated string" if state.in_string else "an unclosed list or object"
    raise UserError(f"not valid JSON: the file ends inside {what} (truncated?)", path=path, where=position(data, len(data)))


def parse_batch(data: bytes, start: int, end: int, path: str | Path) -> list:
    """The items in bytes [start, end) (whole items separated by commas), parsed."""
    try:
        text = data[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"not UTF-8 text: byte 0x{data[start + exc.start]:02x} ({exc.reason}); save it as UTF-8",
            path=path,
            where=position(data, start + exc.start),
        ) from None
    try:
        return json.loads(f"[{text}]")
    except json.JSONDecodeError as exc:
        offset = start + len(text[: max(exc.pos - 1, 0)].encode("utf-8"))
        raise UserError(f"not valid JSON: {exc.msg}", path=path, where=position(data, offset)) from None
    except RecursionError:  # cannot happen below max_depth; kept so that no input ends in a traceback
        raise UserError("not valid JSON: nested too deeply", path=path, where=position(data, start)) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise UserError(f"not readable JSON: {exc}", path=path, where=position(data, start)) from None
