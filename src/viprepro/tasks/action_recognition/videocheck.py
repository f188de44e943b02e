"""Find unreadable, truncated or too short clips before training starts, naming each one.

`header` opens every clip and reads its header (RIFF size, video stream, frame count):
about a millisecond per clip. `full` also decodes every frame and compares the count with
the header, which catches damage inside the file. `none` (subsetting only) skips the check.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from viprepro.errors import UserError
from viprepro.tasks.action_recognition.video_io import decode, probe

LEVELS = ("header", "full", "none")
SHOWN = 20


def usable_frames(path: Path, level: str) -> int:
    """Frames a clip really has (from its header, or counted when `full` or unstated)."""
    frames = probe(path).frames
    if level == "full" or frames == 0:  # an AVI without an index may not state its length
        decoded = len(decode(path))
        if frames and decoded < frames:
            raise UserError(f"truncated: the header promises {frames} frames, only {decoded} decode", path=path)
        frames = decoded
    return frames


def survey(paths: list[Path], *, level: str = "header", min_frames: int = 1, threads: int = 4) -> tuple[list[int], list[tuple[Path, str]]]:
    """Frame count of every clip (0 for a bad one) and every problem, in `paths` order.

    PyAV releases the GIL while it demuxes and decodes, so threads run in parallel.
    """

    def one(path: Path) -> tuple[int, str | None]:
        try:
            frames = usable_frames(path, level)
        except UserError as exc:
            return 0, exc.problem
        if frames < min_frames:
            return frames, f"has {frames} frames, fewer than the {min_frames} the recipe samples per clip"
        return frames, None

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(one, paths))
    return [n for n, _ in results], [(p, why) for p, (_, why) in zip(paths, results) if why]


def raise_if_broken(broken: list[tuple[Path, str]], where: Path) -> None:
    if broken:
        shown = "\n  ".join(f"{p.name}: {why}" for p, why in broken[:SHOWN])
        raise UserError(f"{len(broken)} unreadable or unusable clip(s) (first {min(len(broken), SHOWN)}):\n  {shown}", path=where)
