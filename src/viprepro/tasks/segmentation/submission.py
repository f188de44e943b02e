"""Reading a submission zip and pairing its PNGs with the ground truth.

Nothing is extracted: members are read from the zip by name, through `submission_io.SafeZip`
(member count, declared sizes, method and encryption checked before anything is read). A prediction is paired with a
ground-truth file as cityscapesScripts pairs them: the ground truth
`<city>_<seq>_<frame>_gtFine_labelIds.png` takes every PNG whose base name matches
`<city>_<seq>_<frame>*.png` (fnmatch, case-sensitive), in any folder. A member named
`<int>.png` stands for the Cityscapes image that test.p gave that int.

`strict` lists every departure from the official format (one message each); `official`
keeps the official scorer's tolerance (other files and folders are ignored) and its fatal
errors (a ground truth with no or several predictions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from viprepro.errors import UserError
from viprepro.files.submission_io import ProblemList, SafeZip, ZipLimits

INT_NAME = re.compile(r"^\d+\.png$")
GT_SUFFIX = "_gtFine_labelIds.png"


@dataclass(frozen=True)
class Prediction:
    member: str  # name inside the zip
    key: str  # base name the official matching sees


def gt_prefix(gt_path: Path) -> str:
    """'<city>_<seq>_<frame>' of a ground-truth file (cityscapesScripts' getCsFileInfo)."""
    parts = gt_path.name.split("_")
    if len(parts) != 5 or not gt_path.name.endswith(GT_SUFFIX):
        raise UserError("not a Cityscapes ground-truth name '<city>_<seq>_<frame>_gtFine_labelIds.png'", path=gt_path)
    return "_".join(parts[:3])


DEFAULT_LIMITS = ZipLimits()  # frozen: one shared default is safe


def open_zip(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> SafeZip:
    """The submission zip, refused (UserError) when it is no zip or a zip bomb by its headers."""
    return SafeZip(path, limits)


def _unsafe(name: str) -> bool:
    return name.startswith("/") or "\\" in name or ".." in PurePosixPath(name).parts or re.match(r"^[A-Za-z]:", name) is not None


def list_predictions(
    path: Path, test_names: dict[str, tuple[str, str]] | None, *, strict: bool, limits: ZipLimits = DEFAULT_LIMITS
) -> tuple[list[Prediction], ProblemList]:
    """The zip's PNG predictions and (strict) the problems of its listing.

    Unsafe names (absolute, '..', backslashes) are refused in both modes, and so are PNG
    members that cannot be read (encrypted, an unknown compression, above the size limit).
    """
    with open_zip(path, limits) as archive:
        names = [info.filename for info in archive.infos]
        unreadable = {info.filename: archive.problem(info) for info in archive.infos if archive.problem(info)}
    problems = ProblemList()
    predictions: list[Prediction] = []
    if not names:
        if strict:
            problems.append("the zip holds no files")
        return predictions, problems
    for name in names:
        if _unsafe(name):
            if not strict:
                raise UserError(f"unsafe member name {name!r} (absolute or '..' path)", path=path)
            problems.append(f"{name}: unsafe member name (absolute or '..' path)")
            continue
        base = PurePosixPath(name).name
        if not base.endswith(".png"):
            if strict:
                problems.append(f"{name}: not a .png file")
            continue
        if "/" in name and strict:
            problems.append(f"{name}: inside a folder; PNGs must be at the top level of the zip")
            continue
        if name in unreadable:
            if not strict:
                raise UserError(unreadable[name], path=path, where=name)
            problems.append(f"{name}: {unreadable[name]}")
            continue
        key = base
        if INT_NAME.match(base):
            if test_names is None:
                if strict:
                    problems.append(f"{name}: named by a test int but no test names (test.p) were given")
                    continue
            elif base[:-4] in test_names:
                key = f"{test_names[base[:-4]][1]}_leftImg8bit.png"
            elif strict:
                problems.append(f"{name}: {base[:-4]} is not a test image id of test.p")
                continue
        predictions.append(Prediction(name, key))
    return predictions, problems


def pair(gt_files: list[Path], predictions: list[Prediction]) -> tuple[dict[Path, list[Prediction]], list[Prediction]]:
    """Predictions matched to each ground truth, and those that match none.

    `<prefix>*.png` matching without a quadratic scan: a name can only match the prefixes
    it starts with, so each name is looked up once per distinct prefix length.
    """
    by_prefix = {gt_prefix(gt): gt for gt in gt_files}
    lengths = sorted({len(prefix) for prefix in by_prefix})
    matched: dict[Path, list[Prediction]] = {gt: [] for gt in gt_files}
    unmatched = []
    for prediction in predictions:
        hits = [by_prefix[prediction.key[:n]] for n in lengths if len(prediction.key) >= n + 4 and prediction.key[:n] in by_prefix]
        for gt in hits:
            matched[gt].append(prediction)
        if not hits:
            unmatched.append(prediction)
    return matched, unmatched
