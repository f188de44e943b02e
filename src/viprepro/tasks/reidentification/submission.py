"""The SynergyReID submission: a CSV distance matrix, written and read as the toolkit writes it.

`reid/utils/serialization.py:write_mat_csv` writes (m+1) x (n+1) cells: the first row is
`0` and the n gallery ids, then one row per query, its id and its n distances
(`np.savetxt`, ids `%i`, distances `%10.5f`: five decimals, padded with spaces). Rows are
the queries and columns the gallery images in the order the toolkit lists them: test
images by number ("query ids have to be ordered"), val images by person id.

The file is read one line at a time (memory: the matrix of floats plus one line), after its
size is checked (`--max-submission-mb`, default 128: the 468 x 8703 test matrix is about
45 MB). `read_matrix` returns what it could read and every problem of the file itself;
`validate` adds the problems of its ids against the ground truth.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viprepro.files.fileio import atomic_path
from viprepro.files.submission_io import ProblemList, check_file, encoding_problem
from viprepro.tasks.reidentification.layout import Identities

DEFAULT_MAX_MB = 128.0
SHOWN_IDS = 5


@dataclass
class Matrix:
    query_ids: np.ndarray  # int64, one per row read
    gallery_ids: np.ndarray  # int64, one per column
    distances: np.ndarray  # float64 (rows read, columns)
    lines: list[int]  # line number of each row read
    dropped: int = 0  # rows left out for a problem of their own


def write_matrix(path: Path, distances: np.ndarray, query_ids: list[int], gallery_ids: list[int]) -> None:
    """The toolkit's `write_mat_csv` format."""
    with atomic_path(path) as staged, open(staged, "w", encoding="utf-8") as fh:
        fh.write(",".join(["0", *(str(int(g)) for g in gallery_ids)]) + "\n")
        for query, row in zip(query_ids, distances):
            fh.write(",".join([str(int(query)), *(f"{float(d):10.5f}" for d in row)]) + "\n")


def _integer(cell: bytes) -> int | None:
    text = cell.strip()
    if text[:1] in (b"-", b"+"):
        sign, text = text[:1], text[1:]
    else:
        sign = b""
    return int(sign + text) if text.isdigit() else None


def _distances(cells: list[bytes], line: int, problems: ProblemList) -> np.ndarray | None:
    """The floats of a row's cells; each unreadable, NaN or infinite cell is a problem."""
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = None
    if values is None:
        for column, cell in enumerate(cells, start=2):
            try:
                float(cell)
            except ValueError:
                problems.append(f"line {line}, column {column}: distance {cell.strip().decode('utf-8', 'replace')[:20]!r} is not a number")
        return None
    bad = np.flatnonzero(~np.isfinite(values))
    for index in bad:
        kind = "NaN" if math.isnan(values[index]) else "infinite"
        problems.append(f"line {line}, column {index + 2}: distance is {kind}")
    return None if bad.size else values


def read_matrix(path: Path, *, max_mb: float = DEFAULT_MAX_MB) -> tuple[Matrix | None, ProblemList]:
    """The matrix and every problem of the file's own form (encoding, delimiter, ragged rows,
    ids that are not integers, distances that are not finite numbers). Rows with a problem
    are left out of the matrix; the matrix is None when the header is unusable."""
    check_file(path, max_mb=max_mb)
    problems = ProblemList()
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if encoding_problem(head):
            return None, ProblemList([encoding_problem(head)])
        if head.startswith(b"\xef\xbb\xbf"):
            problems.append("line 1: starts with a UTF-8 byte-order mark (BOM); save the file as plain UTF-8")
            fh.read(3)
        header = fh.readline()
        if not header.strip():
            problems.append("the file is empty")
            return None, problems
        if b"," not in header and any(sep in header for sep in (b";", b"\t", b"|")):
            problems.append("line 1: the delimiter must be a comma")
            return None, problems
        cells = header.rstrip(b"\r\n").split(b",")
        if _integer(cells[0]) is None:
            problems.append(f"line 1, column 1: the corner cell must be an integer (the toolkit writes 0), found {cells[0].strip()[:20]!r}")
        gallery = [_integer(cell) for cell in cells[1:]]
        for column, (cell, value) in enumerate(zip(cells[1:], gallery), start=2):
            if value is None:
                problems.append(f"line 1, column {column}: gallery id {cell.strip().decode('utf-8', 'replace')[:20]!r} is not an integer")
        if not gallery:
            problems.append("line 1: no gallery ids")
        width = len(cells)
        queries, rows, lines = [], [], []
        dropped = 0
        for line, raw in enumerate(fh, start=2):
            text = raw.rstrip(b"\r\n")
            if not text.strip():
                continue
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(f"line {line}: not UTF-8 text (byte {exc.start} of the line)")
                dropped += 1
                continue
            cells = text.split(b",")
            if len(cells) != width:
                problems.append(
                    f"line {line}: expected {width} comma-separated cells (a query id and {width - 1} distances), found {len(cells)}"
                )
                dropped += 1
                continue
            query = _integer(cells[0])
            if query is None:
                problems.append(f"line {line}, column 1: query id {cells[0].strip().decode('utf-8', 'replace')[:20]!r} is not an integer")
            values = _distances(cells[1:], line, problems)
            if query is None or values is None:
                dropped += 1
                continue
            queries.append(query)
            rows.append(values)
            lines.append(line)
    if not rows and not problems:
        problems.append("no query rows after the header")
    if any(g is None for g in gallery):
        return None, problems
    distances = np.empty((len(rows), len(gallery)))
    for index in range(len(rows)):  # row by row, releasing each: the matrix is never held twice
        distances[index], rows[index] = rows[index], None
    return Matrix(np.asarray(queries, dtype=np.int64), np.asarray(gallery, dtype=np.int64), distances, lines, dropped), problems


def _id_problems(where: str, kind: str, found: list[int], expected: list[int], positions: list[str]) -> list[str]:
    """Unknown, missing and duplicated ids against the ground truth's, then their order."""
    problems = []
    have, want = Counter(found), Counter(expected)
    unknown = [(pos, i) for pos, i in zip(positions, found) if i not in want]
    for pos, i in unknown[:SHOWN_IDS]:
        problems.append(f"{pos}: unknown {kind} id {i}")
    if len(unknown) > SHOWN_IDS:
        problems.append(f"{where}: {len(unknown) - SHOWN_IDS} more unknown {kind} ids")
    missing = sorted(i for i in want if have[i] < want[i])
    if missing:
        problems.append(f"{where}: {len(missing)} {kind} id(s) missing, e.g. {', '.join(map(str, missing[:SHOWN_IDS]))}")
    duplicated = sorted(i for i in have if i in want and have[i] > want[i])
    if duplicated:
        problems.append(f"{where}: {len(duplicated)} {kind} id(s) duplicated, e.g. {', '.join(map(str, duplicated[:SHOWN_IDS]))}")
    if not problems and found != expected:
        first = next(k for k, (a, b) in enumerate(zip(found, expected)) if a != b)
        problems.append(f"{positions[first]}: {kind} ids are not in the official order (found {found[first]}, expected {expected[first]})")
    return problems


def validate(truth: Identities, submission: Path, *, max_mb: float = DEFAULT_MAX_MB) -> ProblemList:
    """Every problem of a submission against the ground truth; empty: valid."""
    return read_checked(truth, submission, max_mb=max_mb)[1]


def read_checked(truth: Identities, submission: Path, *, max_mb: float = DEFAULT_MAX_MB) -> tuple[Matrix | None, ProblemList]:
    """The matrix (read once) and every problem of the file and of its ids against the ground truth."""
    if not Path(submission).exists() and not Path(submission).is_symlink():
        return None, ProblemList(["file not found"])
    matrix, problems = read_matrix(submission, max_mb=max_mb)
    if matrix is None:
        return None, problems
    gallery = matrix.gallery_ids.tolist()
    problems += _id_problems(
        "line 1", "gallery", gallery, truth.ids["gallery"], [f"line 1, column {c}" for c in range(2, len(gallery) + 2)]
    )
    if not matrix.dropped:  # with rows left out, the query ids cannot be compared
        problems += _id_problems(
            "rows", "query", matrix.query_ids.tolist(), truth.ids["query"], [f"line {n}, column 1" for n in matrix.lines]
        )
    return matrix, problems
