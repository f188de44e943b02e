"""Find corrupt or truncated images before training starts, naming each file.

`header` (the default) checks what can be checked without decoding, from the first and last
bytes of each file: a JPEG starts with its start-of-image marker and ends with its
end-of-image marker, a PNG starts with its signature and ends with its IEND chunk (a
truncated download does neither); any other file must open as an image. `full` decodes
every image; `none` skips the check. Files are read in chunks on several threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

JPEG_SOI, JPEG_EOI = b"\xff\xd8\xff", b"\xff\xd9"
PNG_SIGNATURE, PNG_IEND = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
TAIL = 64


def _decode_problem(path: str | Path, level: str) -> str | None:
    try:
        with Image.open(path) as image:
            if level == "full":
                image.load()
    except Exception as exc:  # PIL raises many types for broken files
        return f"cannot be decoded ({type(exc).__name__}: {exc})"
    return None


def problem_with(path: Path, level: str = "header") -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(PNG_SIGNATURE))
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - TAIL))
            tail = fh.read()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return problem_in(path, head, tail, level)


def problem_in(path: str | Path, head: bytes, tail: bytes, level: str = "header") -> str | None:
    """`problem_with`, given the file's first 8 and last 64 bytes (read by the caller)."""
    if head.startswith(JPEG_SOI):
        if JPEG_EOI not in tail:
            return "truncated JPEG (no end-of-image marker)"
    elif head.startswith(PNG_SIGNATURE):
        if PNG_IEND not in tail:
            return "truncated PNG (no IEND chunk)"
    elif level != "full":
        return _decode_problem(path, "header")
    return _decode_problem(path, "full") if level == "full" else None


def find_broken_images(paths: list[Path], *, level: str = "header", threads: int = 8) -> list[tuple[Path, str]]:
    if level == "none" or not paths:
        return []
    chunks = [paths[i::threads] for i in range(threads)]

    def check(chunk: list[Path]) -> list[tuple[Path, str]]:
        found = []
        for path in chunk:
            why = problem_with(path, level)
            if why:
                found.append((path, why))
        return found

    with ThreadPoolExecutor(max_workers=threads) as pool:
        found = [item for part in pool.map(check, chunks) for item in part]
    order = {path: i for i, path in enumerate(paths)}
    return sorted(found, key=lambda item: order[item[0]])
