"""The classification submission CSV: writing it, and reading it as the strict validator does.

Format: header `Image IDs,Predictions`, one row per test image, `img_<i>.JPEG,<class index>`.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path, read_submission_text

HEADER = ("Image IDs", "Predictions")


def class_names(subset_dir: Path) -> list[str]:
    """The sorted wnids of the train split: the torchvision ImageFolder order the CSV uses."""
    train = Path(subset_dir) / "train"
    names = sorted(p.name for p in train.iterdir() if p.is_dir())
    if not names:
        raise UserError("no class folders", path=train)
    return names


def write_submission(path: Path, ids: list[str], predictions: list[int]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(zip(ids, predictions))


def read_ground_truth(path: Path) -> dict[str, int]:
    """The hidden labels: a CSV with a header row, then image id and label by position."""
    rows = _read_rows(path)
    if not rows:
        raise UserError("ground truth is empty", path=path)
    truth = {}
    for line, row in rows[1:]:
        if len(row) < 2:
            raise UserError("expected 'image id,label'", path=path, where=f"line {line}")
        try:
            truth[row[0]] = int(row[1])
        except ValueError:
            raise UserError(f"label {row[1]!r} is not an integer", path=path, where=f"line {line}") from None
    return truth


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    return [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1) if row]


DEFAULT_MAX_MB = 32.0  # the ImageNet test split's file is about 1.3 MB


def validate(truth: dict[str, int], submission: Path, num_classes: int, *, max_mb: float = DEFAULT_MAX_MB) -> list[str]:
    """Every problem of a submission, each with its line; an empty list means valid (the
    first problems of a long list, with their `total`)."""
    text, problems = read_submission_text(submission, max_mb=max_mb)
    if text is None:
        return problems
    if not text.strip():
        return problems + ["the file is empty"]
    lines = text.splitlines()
    header = lines[0].strip()
    if "," not in header and any(sep in header for sep in (";", "\t", "|")):
        return problems + [f"line 1: the delimiter must be a comma, found {header!r}"]
    if tuple(cell.strip() for cell in header.split(",")) != HEADER:
        problems.append(f"line 1: header must be 'Image IDs,Predictions', found {header!r}")
        body_start = 0 if header.split(",")[0].strip() in truth else 1
    else:
        body_start = 1
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[body_start:], start=body_start + 1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != 2:
            problems.append(f"line {number}: expected 2 comma-separated fields, found {len(cells)}")
            continue
        image_id, label = cells[0].strip(), cells[1].strip()
        if image_id not in truth:
            problems.append(f"line {number}: unknown image id {image_id!r}")
        elif image_id in seen:
            problems.append(f"line {number}: duplicate image id {image_id!r} (first on line {seen[image_id]})")
        else:
            seen[image_id] = number
        problems += [f"line {number}: {p}" for p in _label_problems(label, num_classes)]
    missing = [image_id for image_id in truth if image_id not in seen]
    if missing:
        shown = ", ".join(missing[:5])
        problems.append(f"{len(missing)} test image(s) have no prediction, e.g. {shown}")
    return problems


def _label_problems(label: str, num_classes: int) -> list[str]:
    try:
        value = float(label)
    except ValueError:
        return [f"prediction {label!r} is not an integer"]
    if math.isnan(value):
        return ["prediction is NaN"]
    if not label.lstrip("-").isdigit():
        return [f"prediction {label!r} is not an integer"]
    if not 0 <= int(label) < num_classes:
        return [f"prediction {label} is outside 0..{num_classes - 1}"]
    return []
