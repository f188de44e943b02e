"""The Kinetics400ViPriors submission file: read the strict way and the official way.

Format (eval-kit README): one line per test video, `videoid c1 c2 c3 c4 c5 ...`, single
spaces, classes ranked best first as idx of clsIdx.csv; the scorer reads the first five.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.submission_io import check_file, encoding_problem
from viprepro.tasks.action_recognition.submission import checked_labels as checked
from viprepro.tasks.action_recognition.submission import parse_ranked_lines

READ = 5  # the scorer reads cls1..cls5
MISSING_LABEL = 1000  # what the scorer puts where int() fails or the line has fewer labels
DEFAULT_MAX_MB = 32.0  # the 20,000-video test file is about 0.5 MB


def official_label(fields: list[str], position: int) -> int:
    """`int(clss[position])` as the scorer does it: 1000 where it fails; integers too large
    for int64 become -1 (out of range either way, as 1000 is)."""
    try:
        value = int(fields[position])
    except (ValueError, IndexError):
        return MISSING_LABEL
    return value if abs(value) < 2**62 else -1


def read_official(
    path: Path, wanted: set[str], blocked: set[str], *, max_mb: float = DEFAULT_MAX_MB
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The first five labels of each wanted video as the official scorer finds them (its first
    line; lines of blocked videos skipped, as the 2022 `-corr` does), and counts of the lines
    it ignores. A line with fewer than two space-separated fields makes the scorer crash
    (pandas refuses columns of different lengths): refused, naming the line."""
    check_file(path, max_mb=max_mb)
    with open(path, "rb") as fh:
        problem = encoding_problem(fh.read(4))
    if problem:
        raise UserError(f"the official scorer crashes on this file: {problem}", path=path)
    found: dict[str, list[int]] = {}
    counts = {"repeated": 0, "unknown": 0, "blocked": 0}
    try:
        with open(path, encoding="utf-8") as fh:  # universal newlines, as the scorer's readlines()
            for number, line in enumerate(fh, start=1):
                parts = line.split(" ")
                if len(parts) < 2:
                    raise UserError(
                        "the official scorer crashes on a line without a space-separated label (its columns get different lengths); "
                        "strict mode lists every problem",
                        path=path,
                        where=f"line {number}",
                    )
                clip, labels = parts[0], parts[1:]
                if clip in blocked:
                    counts["blocked"] += 1
                elif clip not in wanted:
                    counts["unknown"] += 1
                elif clip in found:
                    counts["repeated"] += 1
                else:
                    found[clip] = [official_label(labels, i) for i in range(READ)]
    except UnicodeDecodeError as exc:
        raise UserError(f"the official scorer crashes on this file: not UTF-8 text (byte {exc.start})", path=path) from None
    return found, counts


def layout_problem(line: str) -> str | None:
    if not line.strip():
        return "blank line (the official scorer crashes on it)"
    if any(ch.isspace() and ch != " " for ch in line):
        return "contains a tab or other whitespace; separate the fields with single spaces"
    if "  " in line or line != line.strip(" "):
        return "fields must be separated by single spaces (found a double, leading or trailing space)"
    if " " not in line:
        return f"video {line!r} has no labels (the official scorer crashes on it)"
    return None


def checked_labels(labels: list[str], problems: list[str], number: int, *, num_classes: int) -> list[int] | None:
    """The first five labels of a line, or None when a label is bad (each problem appended):
    the mod-UCF101 checks, any number of labels but at least five (K if fewer classes)."""
    wanted = min(READ, num_classes)
    if len(labels) < wanted:
        problems.append(
            f"line {number}: {len(labels)} label(s); give at least {wanted} "
            "(the official scorer draws an unseeded random label for a top-k miss without a k-th label)"
        )
        checked(labels, num_classes, problems, number, most=None)
        return None
    values = checked(labels, num_classes, problems, number, most=None)
    return None if values is None else values[:READ]


def parse_strict(
    path: Path, expected: list[str], blocked: set[str], num_classes: int, *, max_mb: float = DEFAULT_MAX_MB
) -> tuple[dict[str, list[int]], list[str]]:
    """Rankings by video and every problem (empty: valid): exactly one line per expected video,
    at least five (or K, if fewer) distinct labels in 1..K each. A line for a blocked video is
    allowed and ignored."""
    return parse_ranked_lines(
        path,
        expected,
        layout=layout_problem,
        labels=partial(checked_labels, num_classes=num_classes),
        noun="video",
        ignored=blocked,
        bom_note=", which becomes part of the first videoid; save as plain UTF-8",
        max_mb=max_mb,
    )
