"""Find corrupt or truncated JPEGs before training starts, naming each file.

`header` (the default) checks what can be checked without decoding: the file opens as an
image and a JPEG ends with its end-of-image marker (a truncated download does not).
`full` decodes every image; `none` skips the check.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

JPEG_EOI = b"\xff\xd9"
TAIL = 64


def problem_with(path: Path, level: str) -> str | None:
    try:
        with Image.open(path) as image:
            kind = image.format
            if level == "full":
                image.load()
    except Exception as exc:  # PIL raises many types for broken files
        return f"cannot be decoded ({type(exc).__name__}: {exc})"
    if kind == "JPEG":
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - TAIL))
            if JPEG_EOI not in fh.read():
                return "truncated JPEG (no end-of-image marker)"
    return None


def find_broken_images(paths: list[Path], *, level: str = "header", threads: int = 8) -> list[tuple[Path, str]]:
    if level == "none":
        return []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        problems = pool.map(lambda p: problem_with(p, level), paths)
        return [(p, why) for p, why in zip(paths, problems) if why]
