"""SynergyReID on disk: folder names, file names, and the identity tables scoring reads.

The raw zip of the 2021 toolkit (`baseline/data/synergyreid/raw/synergyreid_data.zip`)
extracts to `data_reid/` (`reid/datasets/synergyreid.py`, `exdir = raw/data_reid`):

    data_reid/reid_training/<pid>_<seq>_<frame>.jpeg     train: person id, sequence, frame
    data_reid/reid_val/query/<pid>_<seq>_<frame>.jpeg    val queries (the first frame of a sequence)
    data_reid/reid_val/gallery/<pid>_<seq>_<frame>.jpeg  val gallery (the other frames)
    data_reid/reid_test/query/<n>.jpeg                   test queries, numbered, identity hidden
    data_reid/reid_test/gallery/<n>.jpeg                 test gallery, numbered ("gallery ids are just random")

The identity tables (`role,id,person_id,image`, one row per image in the order of the
submission's header: queries, then gallery) are the ground truth scoring reads: for test the
organisers' hidden identities of the numbered images, for val the person ids the file names
carry (the official `distance_matrix_val.csv` names rows and columns by person id).
This module imports no torch: scoring reads it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from viprepro.errors import UserError

DATA_ROOT = "data_reid"
TRAIN_DIR = "reid_training"
FOLDERS = {
    ("val", "query"): "reid_val/query",
    ("val", "gallery"): "reid_val/gallery",
    ("test", "query"): "reid_test/query",
    ("test", "gallery"): "reid_test/gallery",
}
SUFFIX = ".jpeg"
ROLES = ("query", "gallery")
TABLE_HEADER = ("role", "id", "person_id", "image")
TEST_IDENTITIES = "test_identities.csv"  # in the manifests folder (the organisers' file) and in the hidden folder
VAL_IDENTITIES = "val_identities.csv"

_PERSON_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)\.jpeg$")
_NUMBER_NAME = re.compile(r"^(\d+)\.jpeg$")


def person_name(pid: int, sequence: int, frame: int) -> str:
    return f"{pid}_{sequence}_{frame}{SUFFIX}"


def parse_person_name(name: str, *, path: Path | None = None) -> tuple[int, int, int]:
    """(person id, sequence, frame) of a train/val file name."""
    match = _PERSON_NAME.match(name)
    if not match:
        raise UserError(f"file name {name!r} is not <person id>_<sequence>_<frame>.jpeg", path=path)
    return tuple(int(g) for g in match.groups())


def parse_number_name(name: str, *, path: Path | None = None) -> int:
    """The number of a test file name `<n>.jpeg`."""
    match = _NUMBER_NAME.match(name)
    if not match:
        raise UserError(f"file name {name!r} is not <number>.jpeg", path=path)
    return int(match.group(1))


def data_root(source: Path) -> Path:
    """The folder holding `reid_training/`: `source` itself or its `data_reid/`."""
    source = Path(source)
    for candidate in (source, source / DATA_ROOT):
        if (candidate / TRAIN_DIR).is_dir():
            return candidate
    raise UserError(f"no {TRAIN_DIR}/ folder here or in {DATA_ROOT}/ (the extracted synergyreid_data.zip)", path=source)


def listing(folder: Path, suffix: str = SUFFIX) -> list[str]:
    """File names of a folder in the toolkit's `sorted(glob('*.jpeg'))` order (string order)."""
    if not folder.is_dir():
        raise UserError("folder missing", path=folder)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix))


def val_order(names: list[str], folder: Path) -> list[str]:
    """Val images in the official order: by person id, then the string order of the file
    names within a person (`_pluck_val` over the sorted ids of `register`ed names)."""
    return sorted(names, key=lambda n: (parse_person_name(n, path=folder)[0], n))


def test_order(names: list[str], folder: Path) -> list[str]:
    """Test images by their number, as the submission's header lists them ("query ids have to be ordered")."""
    return sorted(names, key=lambda n: parse_number_name(n, path=folder))


@dataclass(frozen=True)
class Identities:
    """One split's identity table: per role, the header ids in order, their person ids, their image names."""

    ids: dict[str, list[int]]
    person_ids: dict[str, list[int]]
    images: dict[str, list[str]]

    def person_of(self, role: str) -> dict[int, int]:
        """Header id -> person id (for val a person id maps to itself)."""
        return dict(zip(self.ids[role], self.person_ids[role]))


def table_text(rows: list[tuple[str, int, int, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TABLE_HEADER)
    writer.writerows(rows)
    return out.getvalue()


def read_identities(path: Path) -> Identities:
    """An identity table, refused with its line when malformed."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError("ground truth not found", path=path) from None
    except IsADirectoryError:
        raise UserError(f"is a folder; give the {TEST_IDENTITIES} file", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != TABLE_HEADER:
        raise UserError(f"expected the header {','.join(TABLE_HEADER)}", path=path, where="line 1")
    ids: dict[str, list[int]] = {role: [] for role in ROLES}
    persons: dict[str, list[int]] = {role: [] for role in ROLES}
    images: dict[str, list[str]] = {role: [] for role in ROLES}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 4 or row[0] not in ROLES:
            raise UserError("expected role (query or gallery),id,person_id,image", path=path, where=f"line {line}")
        try:
            header_id, person = int(row[1]), int(row[2])
        except ValueError:
            raise UserError("id and person_id must be integers", path=path, where=f"line {line}") from None
        ids[row[0]].append(header_id)
        persons[row[0]].append(person)
        images[row[0]].append(row[3])
    for role in ROLES:
        if not ids[role]:
            raise UserError(f"no {role} rows", path=path)
    return Identities(ids, persons, images)
