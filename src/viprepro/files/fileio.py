"""Writing outputs so that a failed step never leaves a partial file or folder behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only if the block succeeds.

    Works for files and for directories: whatever the block creates at the yielded path
    replaces `target` in one rename.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if not staged.exists():
            raise RuntimeError(f"{target}: the step finished without writing its output")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | Path, obj, *, indent: int = 2) -> None:
    write_text(target, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | Path):
    from viprepro.errors import UserError

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON: {exc.msg}", path=path, where=f"line {exc.lineno}, column {exc.colno}") from None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_digest(obj) -> str:
    """Digest of a JSON-serialisable object, independent of key order and formatting."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":"), check_circular=False).encode())


def read_submission_text(
    path: str | Path, *, bom_note: str = "; save the file as plain UTF-8", max_mb: float = 32.0
) -> tuple[str | None, list[str]]:
    """A text submission as strict validation reads it: (text or None, problems so far).

    A UTF-8 byte-order mark is reported (with `bom_note`, what it does in this format) and
    dropped so the rest can still be checked; a missing or non-UTF-8 file gives no text. A
    folder, a pipe or a file above `max_mb` is refused (UserError) before it is read.
    """
    from viprepro.files.submission_io import ProblemList, check_file, encoding_problem

    if not Path(path).exists() and not Path(path).is_symlink():
        return None, ["file not found"]
    check_file(path, max_mb=max_mb)
    raw = Path(path).read_bytes()
    problems = ProblemList()
    if encoding_problem(raw):
        return None, problems + [encoding_problem(raw)]
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(f"line 1: starts with a UTF-8 byte-order mark (BOM){bom_note}")
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), problems
    except UnicodeDecodeError as exc:
        return None, problems + [f"not UTF-8 text (byte {exc.start})"]
