"""The mod-UCF101 submission file: writing it, and reading it the strict and the official way.

Format: one line per test clip, `video_test_0000001.avi c1 c2 c3 c4 c5`, single spaces,
labels ranked best first in the mod-UCF101 index space 1..K.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path

import numpy as np

from viprepro.errors import UserError
from viprepro.files.fileio import read_submission_text, write_text
from viprepro.files.submission_io import check_file, encoding_problem

MAX_LABELS = 5
DEFAULT_MAX_MB = 32.0  # the mod-UCF101 test split's file is about 0.2 MB


def write_submission(path: Path, clips: list[str], ranked: np.ndarray) -> None:
    """`ranked`: N x r array of labels (1..K), best first."""
    lines = [" ".join([clip, *map(str, row)]) for clip, row in zip(clips, ranked.tolist())]
    write_text(path, "\n".join(lines) + "\n")


def iter_official(path: Path, *, max_mb: float = DEFAULT_MAX_MB) -> Iterator[tuple[int, str | None, list[int]]]:
    """(line number, clip or None, labels) of each line as the official scorer reads it, one at a time.

    It splits each line on single spaces. A line with labels adds its clip and its labels; a
    line without (a bare clip name, a blank line, a tab-separated line) adds only the label
    list `[0]` (None for the clip), so the i-th clip gets the labels of line i+1 from then on.
    A label `int()` cannot read crashes the official script: refused here, naming the line.
    """
    check_file(path, max_mb=max_mb)
    with open(path, "rb") as fh:
        problem = encoding_problem(fh.read(4))
    if problem:
        raise UserError(f"the official scorer crashes on this file: {problem}", path=path)
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                parts = line.split(" ")
                if len(parts) < 2:
                    yield number, None, NO_LABELS
                    continue
                try:
                    labels = [int(label) for label in parts[1:]]
                except ValueError as exc:
                    raise UserError(
                        f"the official scorer crashes on this line ({str(exc)[:200]}); strict mode lists every problem",
                        path=path,
                        where=f"line {number}",
                    ) from None
                yield number, parts[0], labels
    except UnicodeDecodeError as exc:
        raise UserError(f"the official scorer crashes on this file: not UTF-8 text (byte {exc.start})", path=path) from None


NO_LABELS = [0]  # shared: what a line without labels adds (read only)


def read_official(path: Path, *, max_mb: float = DEFAULT_MAX_MB) -> tuple[list[str], list[list[int]]]:
    """The clip names and label lists exactly as the official scorer builds them (see `iter_official`)."""
    clips, labels = [], []
    for _, clip, ranking in iter_official(path, max_mb=max_mb):
        labels.append(ranking)
        if clip is not None:
            clips.append(clip)
    return clips, labels


def parse_strict(
    path: Path, truth: dict[str, int], num_classes: int, *, max_mb: float = DEFAULT_MAX_MB
) -> tuple[dict[str, list[int]], list[str]]:
    """Rankings by clip, and every problem (empty: valid), each with its line (the first
    problems of a long list, with their `total`)."""
    return parse_ranked_lines(
        path,
        truth,
        layout=layout_problem,
        labels=lambda labels, problems, number: checked_labels(labels, num_classes, problems, number),
        bom_note=", which becomes part of the first clip name; save as plain UTF-8",
        max_mb=max_mb,
    )


def parse_ranked_lines(
    path: Path,
    expected: Iterable[str],
    *,
    layout: Callable[[str], str | None],
    labels: Callable[[list[str], list[str], int], list[int] | None],
    noun: str = "clip",
    ignored: Container[str] = frozenset(),
    bom_note: str,
    max_mb: float,
) -> tuple[dict[str, list[int]], list[str]]:
    """Strict reading of `<name> <label> <label> ...` lines (this format and Kinetics400ViPriors's):
    rankings by name and every problem with its line. `layout` judges a line's spacing,
    `labels(fields, problems, line number)` checks the labels (appending problems) and returns
    the ranking or None; names in `ignored` are skipped after the layout check."""
    text, problems = read_submission_text(path, bom_note=bom_note, max_mb=max_mb)
    if text is None:
        return {}, problems
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        return {}, problems + ["the file is empty"]
    wanted = expected if isinstance(expected, (dict, set, frozenset)) else set(expected)
    rankings: dict[str, list[int]] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith("\r") else line
        problem = layout(line)
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        name, *fields = line.split(" ")
        if name in ignored:
            continue
        if name not in wanted:
            problems.append(f"line {number}: unknown {noun} {name!r}")
        elif name in first_line:
            problems.append(f"line {number}: duplicate {noun} {name!r} (first on line {first_line[name]})")
        else:
            first_line[name] = number
        ranked = labels(fields, problems, number)
        if ranked and name not in rankings:
            rankings[name] = ranked
    missing = [name for name in expected if name not in first_line]
    if missing:
        problems.append(f"{len(missing)} test {noun}(s) have no line, e.g. {', '.join(missing[:5])}")
    return rankings, problems


def layout_problem(line: str) -> str | None:
    if not line.strip():
        return "blank line (the official scorer shifts the labels of every later line)"
    if "\t" in line:
        return "contains a tab; separate the fields with single spaces"
    if "  " in line or line != line.strip(" "):
        return "fields must be separated by single spaces (found a double, leading or trailing space)"
    if any(ch.isspace() and ch != " " for ch in line):
        return "contains whitespace other than single spaces"
    if " " not in line:
        return f"clip {line!r} has no labels (the official scorer shifts the labels of every later line)"
    return None


def checked_labels(
    labels: list[str], num_classes: int, problems: list[str], number: int, *, most: int | None = MAX_LABELS
) -> list[int] | None:
    """The labels of line `number` as integers, or None when one is bad (each problem appended):
    integers in 1..K, none twice, at most `most` of them (None: any number)."""
    found = len(problems)
    if most is not None and len(labels) > most:
        problems.append(f"line {number}: {len(labels)} labels; give 1 to {most}")
    values = []
    for label in labels:
        if not (label.isascii() and label.lstrip("-").isdigit() and label.count("-") <= 1):
            problems.append(f"line {number}: label {label!r} is not an integer")
        elif not 1 <= int(label) <= num_classes:
            problems.append(f"line {number}: label {int(label)} is outside 1..{num_classes}")
        elif int(label) in values:
            problems.append(f"line {number}: label {int(label)} is ranked twice")
        else:
            values.append(int(label))
    return values if len(problems) == found else None
