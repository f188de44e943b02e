"""The UCF-101 and mod-UCF101 text files: class indices and clip lists.

Original (`ucfTrainTestlist/`, CRLF line endings): `classInd.txt` lines `1 ApplyEyeMakeup`,
`trainlist01.txt` lines `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1`, `testlist01.txt`
lines `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`. Challenge (`mod-ucf101-*.txt`):
`mod-ucf101-classInd.txt` lines `<new index> <ClassName>` in classInd order, train and
validation lists `video_train_0000001.avi 100`, the test list names only. Every reader names
the file and line of the first problem; a trailing CR per line and a final newline are fine.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.errors import UserError

CLASS_INDEX = "mod-ucf101-classInd.txt"
SPLIT_FILES = {"train": "mod-ucf101-train.txt", "val": "mod-ucf101-validation.txt", "test": "mod-ucf101-test.txt"}
TEST_GT = "mod-ucf101-test-gt.txt"


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line; CRLF tolerated, a UTF-8 BOM or a blank line is not."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raise UserError("starts with a UTF-8 byte-order mark (BOM)", path=path, where="line 1")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    numbered = []
    for number, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            raise UserError("blank line", path=path, where=f"line {number}")
        numbered.append((number, line))
    return numbered


def _fields(path: Path, number: int, line: str, count: int, form: str) -> list[str]:
    fields = line.split(" ")
    if len(fields) != count or any(not f or f != f.strip() for f in fields):
        raise UserError(f"expected '{form}' (fields separated by single spaces), found {line!r}", path=path, where=f"line {number}")
    return fields


def _index(path: Path, number: int, text: str, what: str = "class index") -> int:
    if not text.isascii() or not text.isdigit():
        raise UserError(f"{what} {text!r} is not a positive integer", path=path, where=f"line {number}")
    return int(text)


def read_class_index(path: Path) -> list[tuple[int, str]]:
    """classInd.txt or mod-ucf101-classInd.txt: (index, class name) in line order.

    The indices must be a permutation of 1..N (the identity for the original file is not
    required by the format, only by `check_original_order`) and the names distinct.
    """
    entries = []
    for number, line in read_lines(path):
        index, name = _fields(path, number, line, 2, "<index> <ClassName>")
        entries.append((_index(path, number, index), name))
    if not entries:
        raise UserError("no classes", path=path)
    indices = sorted(i for i, _ in entries)
    if indices != list(range(1, len(entries) + 1)):
        raise UserError(f"class indices must be a permutation of 1..{len(entries)}", path=path)
    names = [n for _, n in entries]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise UserError(f"class {duplicate!r} is listed twice", path=path)
    return entries


def read_split_list(path: Path, *, labelled: bool) -> list[tuple[int, str, int | None]]:
    """trainlist01/testlist01 or a mod-ucf101 list: (line number, clip, label or None)."""
    entries = []
    for number, line in read_lines(path):
        if labelled:
            clip, label = _fields(path, number, line, 2, "<clip> <label>")
            entries.append((number, clip, _index(path, number, label, "label")))
        else:
            (clip,) = _fields(path, number, line, 1, "<clip>")
            entries.append((number, clip, None))
    return entries


def read_labelled_clips(path: Path, num_classes: int) -> dict[str, int]:
    """A mod-ucf101 train/validation list or the test ground truth: clip -> label (1..K)."""
    labels: dict[str, int] = {}
    for number, clip, label in read_split_list(path, labelled=True):
        if clip in labels:
            raise UserError(f"clip {clip!r} is listed twice", path=path, where=f"line {number}")
        if not 1 <= label <= num_classes:
            raise UserError(f"label {label} is outside 1..{num_classes}", path=path, where=f"line {number}")
        labels[clip] = label
    return labels


def read_clip_names(path: Path) -> list[str]:
    """mod-ucf101-test.txt: the test clips in order."""
    names = [clip for _, clip, _ in read_split_list(path, labelled=False)]
    if len(set(names)) != len(names):
        raise UserError("a clip is listed twice", path=path)
    return names


def format_class_index(entries: list[tuple[int, str]], *, newline: str = "\n") -> str:
    return "".join(f"{index} {name}{newline}" for index, name in entries)


def format_clips(rows: list[tuple], *, newline: str = "\n") -> str:
    return "".join(" ".join(str(x) for x in row) + newline for row in rows)


def class_names(subset_dir: Path) -> list[str]:
    """Class names by model output: output i is mod-UCF101 label i + 1."""
    entries = read_class_index(Path(subset_dir) / "annotations" / CLASS_INDEX)
    return [name for _, name in sorted(entries)]
