"""The Kinetics400ViPriors annotation files: reading them strictly, writing them as the toolkit does.

Toolkit `action-recognition/data/annotations/` (both editions):
`clsIdx.csv` (`label,idx`, the 400 Kinetics classes in alphabetical order, idx 1..400),
`kinetics400ViPriors-{train,val}.csv` (`label,videoid,split`),
`kinetics400ViPriors-test-public.csv` (`videoid,split`); 2022 adds
`kinetics400ViPriors_corrupted_videos.txt` (one path per line, `.../<split>/<videoid>.mp4`;
the scorer and the data check use only the file name). The test ground truth is the
organisers' (`kinetics400ViPriors-test.csv`, `label,videoid,split`, not public); videos are
`<split>/<videoid>.mp4` with 10-character ids. Every reader names the file and line of the
first problem.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path, PurePath

from viprepro.errors import UserError

CLASS_INDEX = "clsIdx.csv"
SPLIT_FILES = {
    "train": "kinetics400ViPriors-train.csv",
    "val": "kinetics400ViPriors-val.csv",
    "test": "kinetics400ViPriors-test-public.csv",
}
TEST_GT = "kinetics400ViPriors-test.csv"
CORRUPTED = "kinetics400ViPriors_corrupted_videos.txt"
LABELLED_HEADER = ["label", "videoid", "split"]
PUBLIC_HEADER = ["videoid", "split"]
ID_LENGTH = 10


def _rows(path: Path, header: list[str]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every data row of a CSV with exactly `header`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except IsADirectoryError:
        raise UserError("is a folder, not a CSV file", path=path) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raise UserError(
            "starts with a UTF-8 byte-order mark (BOM); pandas would read it into the first column name", path=path, where="line 1"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise UserError(f"not a CSV file ({exc})", path=path, where=f"line {reader.line_num}") from None
    if not rows or rows[0][1] != header:
        raise UserError(f"the first line must be the header {','.join(header)}", path=path, where="line 1")
    for number, row in rows[1:]:
        if len(row) != len(header) or any(not field or field != field.strip() for field in row):
            raise UserError(f"expected {len(header)} non-empty fields {','.join(header)}, found {row!r}", path=path, where=f"line {number}")
    return rows[1:]


def read_class_index(path: Path) -> list[str]:
    """clsIdx.csv: class names by index (element 0 is idx 1); idx must run 1..K in line order."""
    names = []
    for position, (number, (label, index)) in enumerate(_rows(path, ["label", "idx"]), start=1):
        if index != str(position):
            raise UserError(
                f"class {label!r} has idx {index!r}; the classes must be numbered 1..K in line order", path=path, where=f"line {number}"
            )
        if label in names:
            raise UserError(f"class {label!r} is listed twice", path=path, where=f"line {number}")
        names.append(label)
    if len(names) < 2:
        raise UserError("lists fewer than two classes", path=path)
    return names


def _check_id(path: Path, number: int, videoid: str, seen: dict[str, int]) -> None:
    if len(videoid) != ID_LENGTH or not videoid.isascii() or not videoid.isalnum():
        raise UserError(f"videoid {videoid!r} is not {ID_LENGTH} ASCII letters or digits", path=path, where=f"line {number}")
    if videoid in seen:
        raise UserError(f"videoid {videoid!r} is listed twice (first on line {seen[videoid]})", path=path, where=f"line {number}")
    seen[videoid] = number


def read_labelled(path: Path, names: list[str], split: str | None = None) -> dict[str, int]:
    """A `label,videoid,split` file (train, val, test ground truth): videoid -> idx (1..K)."""
    index = {name: i for i, name in enumerate(names, start=1)}
    labels: dict[str, int] = {}
    seen: dict[str, int] = {}
    for number, (label, videoid, row_split) in _rows(path, LABELLED_HEADER):
        _check_id(path, number, videoid, seen)
        if label not in index:
            raise UserError(f"label {label!r} is not a class of {CLASS_INDEX}", path=path, where=f"line {number}")
        if split is not None and row_split != split:
            raise UserError(f"split {row_split!r} in the {split} file", path=path, where=f"line {number}")
        labels[videoid] = index[label]
    return labels


def read_public(path: Path) -> list[str]:
    """kinetics400ViPriors-test-public.csv: the test videoids in file order."""
    seen: dict[str, int] = {}
    for number, (videoid, row_split) in _rows(path, PUBLIC_HEADER):
        _check_id(path, number, videoid, seen)
        if row_split != "test":
            raise UserError(f"split {row_split!r} in the public test file", path=path, where=f"line {number}")
    return list(seen)


def read_corrupted(path: Path) -> list[str]:
    """The 2022 list of blocked videos: the videoid of each line, as the scorer takes it
    (`Path(line).name.split(".")[0]`); blank lines are refused, paths may be anything."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError("file not found (edition 2022 needs the list of corrupted videos)", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    ids = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise UserError("blank line", path=path, where=f"line {number}")
        ids.append(PurePath(line).name.split(".")[0])
    return ids


def format_class_index(names: list[str]) -> str:
    return "label,idx\n" + "".join(f"{name},{i}\n" for i, name in enumerate(names, start=1))


def format_labelled(rows: list[tuple[str, str]], split: str, names: list[str]) -> str:
    """(videoid, idx) rows as `label,videoid,split` lines."""
    return "label,videoid,split\n" + "".join(f"{names[idx - 1]},{videoid},{split}\n" for videoid, idx in rows)


def format_public(videoids: list[str]) -> str:
    return "videoid,split\n" + "".join(f"{videoid},test\n" for videoid in videoids)


def class_names(subset_dir: Path) -> list[str]:
    """Class names by model output: output i is idx i + 1."""
    return read_class_index(Path(subset_dir) / "annotations" / CLASS_INDEX)
