"""Decode one prediction and its ground truth, check the prediction, count it.

Per image: bincounts of gt*34+pred for the confusion matrix and one bincount keyed by
instance id for the instances (size, hits, category hits); no Python loop over pixels or
instances, and nothing kept but the counts, so memory stays at one image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.errors import UserError
from viprepro.tasks.segmentation.labels import CATEGORY_OF, EVALUATED, HAS_INSTANCES, NUM_IDS

try:  # optional: libspng decodes grayscale PNGs about twice as fast as Pillow
    import pyspng
except ImportError:
    pyspng = None

SINGLE_CHANNEL_MODES = ("L", "P")
# A PNG declares its size in its header: a few KB can declare gigapixels (a decompression
# bomb). Cityscapes images have 2 megapixels; anything above this is refused undecoded.
MAX_PIXELS = 1 << 26
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


@dataclass
class ImageResult:
    """Counts of one image, or why it cannot be counted."""

    conf: np.ndarray | None = None
    instances: np.ndarray | None = None
    problems: list[str] = field(default_factory=list)  # strict: every departure
    fatal: str | None = None  # official: where the official script would stop


def decode(data: bytes) -> tuple[str, str, tuple[int, int], np.ndarray]:
    """(format, mode, (width, height), pixels) of an image file's bytes.

    Plain 8- and 16-bit grayscale PNGs (label maps, instance maps, valid predictions) go
    through libspng when pyspng is installed, about twice as fast as Pillow; Pillow reads the
    header and decodes everything else.
    """
    with warnings.catch_warnings():  # Pillow's own bomb warning: MAX_PIXELS below decides
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
    with image:
        kind, mode, size = image.format, image.mode, image.size
        if size[0] * size[1] > MAX_PIXELS:
            raise ValueError(f"{size[0]}x{size[1]} pixels declared, above the {MAX_PIXELS >> 20} megapixel limit (a decompression bomb)")
        if pyspng is not None and _plain_gray(image):
            array = pyspng.load(data)
            if array.ndim == 3 and array.dtype == np.uint16:
                array = array[..., 0]  # libspng has no 16-bit gray output: it adds an opaque alpha
            if array.shape == (size[1], size[0]):
                return kind, mode, size, array
        return kind, mode, size, np.asarray(image)


def _plain_gray(image: Image.Image) -> bool:
    """An 8- or 16-bit grayscale PNG without transparency: libspng returns Pillow's pixels."""
    rawmode = image.tile[0][3] if len(image.tile) == 1 else None
    return image.format == "PNG" and (image.mode, rawmode) in (("L", "L"), ("I;16", "I;16B")) and "transparency" not in image.info


def _decode_gt(path: Path, *, instances: bool = False) -> np.ndarray:
    try:
        _, _, _, array = decode(path.read_bytes())
    except Exception as exc:  # PIL and libspng raise many types for broken files
        raise UserError(f"cannot decode ground truth ({type(exc).__name__}: {exc})", path=path) from None
    if array.ndim != 2:
        raise UserError("ground truth must be a single-channel image", path=path)
    if not instances and array.max(initial=0) >= NUM_IDS:
        raise UserError(f"unknown label id {int(array.max())} in the ground truth", path=path)
    return array


def confusion(gt: np.ndarray, pred: np.ndarray, *, chunk: int = 1 << 16) -> np.ndarray:
    """Counts of gt*34+pred, flat (34*34). In chunks: bincount casts its input to intp, and a
    64k-pixel chunk keeps that copy in cache (a third faster than one pass over 2M pixels)."""
    gt, pred = gt.ravel(), pred.ravel()
    counts = np.zeros(NUM_IDS * NUM_IDS, dtype=np.int64)
    code = np.empty(chunk, dtype=np.uint16)
    for start in range(0, gt.size, chunk):
        part = code[: min(chunk, gt.size - start)]
        np.multiply(gt[start : start + chunk], NUM_IDS, out=part, dtype=np.uint16)
        part += pred[start : start + chunk]
        counts += np.bincount(part, minlength=NUM_IDS * NUM_IDS)
    return counts


def instance_rows(pred: np.ndarray, inst: np.ndarray, inst_path: Path) -> np.ndarray:
    """(instance id, size, tp, category tp) for every instance id > 1000, ascending."""
    selected = inst > 1000
    ids = inst[selected].astype(np.int64)
    if ids.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    if ids.max() >= NUM_IDS * 1000:
        raise UserError(f"instance id {int(ids.max())} names no label id", path=inst_path)
    labels, predicted = ids // 1000, pred[selected]
    key = ids * 4 + (predicted == labels) * 2 + (CATEGORY_OF[predicted] == CATEGORY_OF[labels])
    counts = np.bincount(key, minlength=4 * (int(ids.max()) + 1)).reshape(-1, 4)
    present = np.flatnonzero(counts.any(axis=1))
    bad = present[EVALUATED[present // 1000] & ~HAS_INSTANCES[present // 1000]]  # the official script fails on these
    if bad.size:
        raise UserError(f"instance id {int(bad[0])} belongs to a class without instances", path=inst_path)
    counts = counts[present]
    return np.column_stack([present, counts.sum(axis=1), counts[:, 2] + counts[:, 3], counts[:, 1] + counts[:, 3]])


def measure(data: bytes, member: str, gt_path: Path, inst_path: Path) -> ImageResult:
    """Check one prediction against its ground truth and, if usable, count it."""
    result = ImageResult()
    try:
        kind, mode, size, pred = decode(data)
    except Exception as exc:  # PIL and libspng raise many types for broken files
        result.problems.append(f"{member}: not a readable PNG ({type(exc).__name__}: {exc})")
        result.fatal = f"Unable to load {member} ({type(exc).__name__}: {exc})"
        return result
    gt = _decode_gt(gt_path)
    if kind != "PNG":
        result.problems.append(f"{member}: {kind} data, not a PNG")
    if pred.ndim != 2:
        result.problems.append(
            f"{member}: {pred.shape[2] if pred.ndim == 3 else '?'} channels (mode {mode}); expected one channel of label ids"
        )
    elif mode in WIDE_MODES:
        result.problems.append(f"{member}: 16-bit PNG (mode {mode}); expected 8-bit label ids")
    elif mode not in SINGLE_CHANNEL_MODES:
        result.problems.append(f"{member}: mode {mode}; expected an 8-bit single-channel PNG")
    if size != (gt.shape[1], gt.shape[0]):
        result.problems.append(f"{member}: {size[0]}x{size[1]} pixels, the ground truth is {gt.shape[1]}x{gt.shape[0]}")
    top = int(pred.max(initial=0)) if pred.ndim == 2 else 0
    if top >= NUM_IDS:
        result.problems.append(f"{member}: values up to {top}; label ids are 0..{NUM_IDS - 1}")

    if size[0] != gt.shape[1]:
        result.fatal = f"Image widths of {member} and {gt_path.name} are not equal."
    elif size[1] != gt.shape[0]:
        result.fatal = f"Image heights of {member} and {gt_path.name} are not equal."
    elif pred.ndim != 2:
        result.fatal = "Predicted image has multiple channels."
    elif top >= NUM_IDS:
        result.fatal = f"{member} holds the value {top}: the official script crashes on values above {NUM_IDS - 1} (IndexError)"
    if result.fatal:
        return result

    result.conf = confusion(gt, pred)
    inst = _decode_gt(inst_path, instances=True)
    if inst.shape != gt.shape:
        raise UserError(f"instanceIds is {inst.shape[1]}x{inst.shape[0]}, labelIds {gt.shape[1]}x{gt.shape[0]}", path=inst_path)
    result.instances = instance_rows(pred, inst, inst_path)
    return result
