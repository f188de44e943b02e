"""The submission: a zip holding one JSON list of `{image_id, category_id, segmentation, score}`.

`segmentation` is a compressed COCO RLE of the whole test image (`{"size": [h, w], "counts":
"<string>"}`), `category_id` 1 (human) or 2 (ball), as `baseline.py --predict` writes them;
the README asks for "a .zip file of the .json file". A bare JSON file (what `evaluate.py`
reads once the server has unzipped it) is read too. The JSON is read a batch of items at a
time within size, depth and item-length limits (detection's `json_items`), and checked item
by item: strict mode lists every problem (the first ones kept), official mode stops where
the official scorer crashes and refuses the two inputs on which pycocotools' C code reads
memory it does not own (see `official_hazard`).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files import submission_io
from viprepro.files.fileio import atomic_path
from viprepro.files.submission_io import ProblemList, SafeZip, ZipLimits
from viprepro.tasks.detection.submission import JsonLimits, Oversize, json_items
from viprepro.tasks.instance_segmentation.layout import rle_size_problem
from viprepro.tasks.instance_segmentation.rle import counts_problem, truncated

KEYS = ("image_id", "category_id", "segmentation", "score")
#: the JSON's name inside the zip (what `baseline.py --predict` writes).
MEMBER = "prediction.json"
DEFAULT_MAX_MB = 256.0


def write_submission(path: Path, instances: list[dict]) -> None:
    """The zip of the official JSON (one instance per line), as the README asks."""
    text = "[\n" + ",\n".join(json.dumps(row, allow_nan=False) for row in instances) + "\n]\n"
    with atomic_path(Path(path)) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MEMBER, text)


@dataclass(frozen=True)
class Limits:
    """What a submission may hold before it is refused (each a `viprepro score` option)."""

    json: JsonLimits = JsonLimits(max_mb=DEFAULT_MAX_MB)
    zip: ZipLimits = ZipLimits(member_mb=DEFAULT_MAX_MB, total_mb=DEFAULT_MAX_MB, members=1000, file_mb=DEFAULT_MAX_MB)

    @classmethod
    def from_options(cls, options: dict) -> Limits:
        defaults = cls()
        json_limits = JsonLimits.from_options({"max_submission_mb": DEFAULT_MAX_MB, **{k: v for k, v in options.items() if v}})
        max_mb = json_limits.max_mb
        return cls(json=json_limits, zip=ZipLimits(member_mb=max_mb, total_mb=max_mb, members=defaults.zip.members, file_mb=max_mb))


def json_bytes(path: Path, limits: Limits, problems: ProblemList | None) -> tuple[bytes, str | None]:
    """The JSON's bytes and, for a zip, the member they come from.

    A zip must hold exactly one `.json` file; strict mode (`problems` given) lists any other
    member, official mode reads the one JSON as the server's unzipped folder did."""
    path = Path(path)
    submission_io.check_file(path, max_mb=limits.json.max_mb)
    with open(path, "rb") as fh:
        zipped = fh.read(4) == b"PK\x03\x04"
    if not zipped:
        return submission_io.read_bytes(path, max_mb=limits.json.max_mb), None
    with SafeZip(path, limits.zip) as archive:
        names = [info.filename for info in archive.infos]
        jsons = [name for name in names if name.lower().endswith(".json") and not name.startswith("__MACOSX/")]
        if len(jsons) != 1:
            raise UserError(
                f"the zip must hold exactly one .json file, it holds {len(jsons)} ({', '.join(jsons[:5]) or 'none'})", path=path
            )
        if problems is not None:
            problems += (
                f"{name}: not the submission's JSON (the zip holds one .json file and nothing else)" for name in names if name != jsons[0]
            )
        return archive.read(jsons[0]), jsons[0]


def _member(where: str | None, member: str | None) -> str | None:
    return ", ".join(filter(None, (member, where))) or None


def items(path: Path, limits: Limits, problems: ProblemList | None, *, syntax_first: bool = False):
    """(member, iterator of (position, item)) of the submission's JSON list. Every error names
    the submission file itself (the pipeline records a refused submission only then) and the
    zip member in `where`."""
    data, member = json_bytes(path, limits, problems)

    def iterate():
        try:
            yield from json_items(data, Path(path), limits.json, syntax_first=syntax_first)
        except UserError as error:
            raise UserError(error.problem, path=path, where=_member(error.where, member)) from None

    return member, iterate()


def read_instances(gt: dict, path: Path, *, mode: str, limits: Limits = Limits()) -> tuple[list[dict], ProblemList]:
    """The instances of a submission and (strict) every problem, item by item in bounded memory.

    `strict`: instances are kept only while there is no problem. `official`: stops
    (UserError) where the official scorer would, and keeps every item whole (pycocotools'
    `loadRes` reads more than the four keys: a `bbox` on the first item changes the areas).
    """
    problems = ProblemList()
    member, listed = items(path, limits, problems if mode == "strict" else None, syntax_first=mode == "official")
    images = {image["id"]: image for image in gt["images"]}
    category_ids = {category["id"] for category in gt["categories"]}
    instances: list[dict] = []
    count = 0
    for index, item in listed:
        count += 1
        if mode == "official":
            failure = official_failure(index, item, images)
            if failure:
                raise UserError(failure, path=path, where=member)
            instances.append(item)
            continue
        found = item_problems(item, images, category_ids)
        if found:
            problems += (f"instance {index}: {problem}" for problem in found)
            instances = []
        elif not problems:
            instances.append(item)
    if not count:
        if mode == "official":
            raise UserError(
                "the submission is empty: the official scorer crashes on an empty list (COCO() has no annotations)", path=path, where=member
            )
        problems.append("the list is empty: no instances to score")
    return instances, problems


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def item_problems(item, images: dict, category_ids: set) -> list[str]:
    """Every reason strict mode refuses one item."""
    if isinstance(item, Oversize):
        return [f"{item.size} bytes long ({item.where}), far longer than an instance; not parsed (raise --max-item-kb)"]
    if not isinstance(item, dict):
        return [f"expected an object, found {type(item).__name__}"]
    found = [f"missing key '{k}'" for k in KEYS if k not in item]
    found += [
        f"unknown key {k!r:.60}" + (" (the official scorer takes areas from it)" if k == "bbox" else "") for k in item if k not in KEYS
    ]
    image_id, category_id, segmentation, score = (item.get(k) for k in KEYS)
    image = None
    if "image_id" in item:
        if not _is_int(image_id):
            found.append(f"image_id {image_id!r:.80} is not an integer")
        elif image_id not in images:
            found.append(f"image_id {image_id} is not a test image")
        else:
            image = images[image_id]
    if "category_id" in item:
        if not _is_int(category_id):
            found.append(f"category_id {category_id!r:.80} is not an integer")
        elif category_id not in category_ids:
            found.append(f"category_id {category_id} is not a category of the ground truth ({', '.join(map(str, sorted(category_ids)))})")
    if "segmentation" in item:
        found += [f"segmentation: {p}" for p in _segmentation_problems(segmentation, image)]
    if "score" in item:
        if not _is_number(score):
            found.append(f"score {score!r:.80} is not a number")
        elif not 0 <= score <= 1:  # also false for NaN
            found.append(f"score {score!r:.80} is not in [0, 1]")
    return found


def _segmentation_problems(segmentation, image: dict | None) -> list[str]:
    if not isinstance(segmentation, dict):
        kind = "a polygon list" if isinstance(segmentation, list) else type(segmentation).__name__
        return [f"expected a compressed RLE object {{size, counts}}, found {kind}"]
    found = [f"unknown key {k!r:.60}" for k in segmentation if k not in ("size", "counts")]
    found += [f"missing key '{k}'" for k in ("size", "counts") if k not in segmentation]
    counts = segmentation.get("counts")
    if "counts" in segmentation and not isinstance(counts, str):
        found.append("'counts' must be a compressed RLE string (uncompressed run lists crash the official scorer)")
    if image is None or "size" not in segmentation:
        return found
    problem = rle_size_problem(segmentation, image["height"], image["width"])
    if problem:
        return [*found, problem + " (the official scorer matches it to nothing)"]
    if isinstance(counts, str):
        problem = counts_problem(counts, image["height"] * image["width"])
        if problem:
            found.append(problem)
    return found


def official_failure(index: int, item, images: dict) -> str | None:
    """Why the official scorer (pycocotools `loadRes`, `COCOeval` segm) stops on this item, or
    why viprepro will not hand it to pycocotools' C code, or None.

    It accepts unknown categories (ignored), scores outside [0, 1], extra keys, and masks of
    another size (IoU -1: matched to nothing); it stops on a non-object, a missing
    `image_id`, an image id not in the ground truth (an assertion). Other crashes (a missing
    key, an uncompressed RLE) surface from pycocotools itself, see `scoring.official_stats`.
    """
    if isinstance(item, Oversize):
        return f"instance {index} is {item.size} bytes long ({item.where}), far longer than an instance; not parsed (raise --max-item-kb)"
    if not isinstance(item, dict) or "image_id" not in item:
        return f"instance {index} is not an object with an 'image_id': the official scorer crashes"
    if not isinstance(item["image_id"], (int, float)) or isinstance(item["image_id"], bool) or item["image_id"] not in images:
        return (
            f"instance {index}: image_id {item['image_id']!r:.80} is not in the ground truth: the official scorer stops "
            "('Results do not correspond to current coco set')"
        )
    return official_hazard(index, item.get("segmentation"))


def official_hazard(index: int, segmentation) -> str | None:
    """An RLE on which pycocotools' C code leaves defined behaviour: a height or width of 0
    (it divides by them: the process dies), or a string cut inside a number (it reads past
    the string). The official scorer's result on these is not a number anyone can reproduce."""
    if not isinstance(segmentation, dict):
        return None
    size = segmentation.get("size")
    if isinstance(size, list) and len(size) == 2 and any(v == 0 for v in size if _is_number(v)):
        return f"instance {index}: RLE size {size} has a zero side: pycocotools divides by it (the official scorer's process dies)"
    counts = segmentation.get("counts")
    if isinstance(counts, str) and truncated(counts):
        return f"instance {index}: RLE counts end inside a number: pycocotools reads past the string, its result is undefined"
    return None


def read_rows(path: Path, limits: Limits = Limits()) -> list:
    """Every item of the submission's JSON (any type: the callers judge it), within the limits."""
    return [item for _, item in items(path, limits, None)[1]]


def zip_of(rows: list, member: str = MEMBER) -> bytes:
    """A submission zip's bytes (for tests and tools)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, json.dumps(rows))
    return buffer.getvalue()
