"""Reading a DelftBikes submission: `submission.zip` holding `submission.json`, or the JSON itself.

The JSON is the detection task's format (a list of `{image_id, category_id, bbox, score}`)
and is read by its bounded reader (`detection.submission.read_detections`): here only the
zip is opened, through `SafeZip` (member count, sizes, methods and encryption checked before
a byte is inflated). The official instructions ask for a zip with the JSON and nothing else;
anything else in it is refused in both modes (what the server made of it is not known).
Note that the toolkit README's example shows `"image_id": "0.jpg"`, but the official code
writes and scores integer ids (the index in the sorted test listing): a file name as an id
fails the official scorer's check ('Results do not correspond to current coco set').
"""

from __future__ import annotations

from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.submission_io import SafeZip, ZipLimits
from viprepro.tasks.detection.submission import MB, JsonLimits


def json_bytes(path: Path, limits: JsonLimits) -> bytes | None:
    """The JSON member's bytes of a zip submission; None for a plain JSON file (read by the detection reader)."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        return None
    # The one member's size is checked here, against --max-submission-mb, before SafeZip's own
    # limits (set wider, so that their messages, which name options of other tasks, do not show).
    wide = ZipLimits(member_mb=16 * limits.max_mb, total_mb=16 * limits.max_mb, members=16, file_mb=limits.max_mb)
    with SafeZip(path, wide) as archive:
        entries = archive.archive.infolist()
        names = [info.filename for info in entries]
        if len(entries) != 1 or entries[0].is_dir() or "/" in names[0] or not names[0].lower().endswith(".json"):
            raise UserError(
                f"the zip must hold exactly one JSON file at its top level (submission.json) and nothing else; it holds {names[:5]!r:.200}",
                path=path,
            )
        if entries[0].file_size > limits.max_mb * MB:
            raise UserError(
                f"declares {entries[0].file_size / MB:.1f} MB uncompressed, above the {limits.max_mb:g} MB limit "
                "(a zip bomb, or raise it with --max-submission-mb)",
                path=path,
                where=names[0],
            )
        return archive.read(names[0])
