"""Decode one prediction, check it against its prepared ground truth, count it.

Per image: the confusion counts (gt*34+pred) and per instance (size, hits, category hits),
from the ground truth's runs (`prepared.py`) and the prediction's; no Python loop over pixels
or instances, and nothing kept but the counts, so memory stays at one image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from viprepro.tasks.segmentation.labels import CATEGORY_OF, NUM_IDS

if TYPE_CHECKING:
    from viprepro.tasks.segmentation.prepared import FrameTruth

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
                array = np.ascontiguousarray(array[..., 0])  # libspng has no 16-bit gray output: it adds an opaque alpha
            if array.shape == (size[1], size[0]):
                return kind, mode, size, array
        return kind, mode, size, np.asarray(image)


def _plain_gray(image: Image.Image) -> bool:
    """An 8- or 16-bit grayscale PNG without transparency: libspng returns Pillow's pixels."""
    rawmode = image.tile[0][3] if len(image.tile) == 1 else None
    return image.format == "PNG" and (image.mode, rawmode) in (("L", "L"), ("I;16", "I;16B")) and "transparency" not in image.info


def count(truth: FrameTruth, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flat 34x34 confusion counts (gt*34+pred) and the instance rows of one prediction.

    The prediction is cut at every pixel where it or the ground truth changes (in row-major
    order); each piece has one ground-truth label, one instance and one predicted id, so the
    counts are bincounts over pieces weighted by their lengths: a pass over the pixels to find
    where the prediction changes, then work in proportion to the pieces, not the pixels.
    Instance rows: (instance id, size, tp, category tp) for every instance id > 1000, ascending.
    """
    flat = pred.reshape(-1)
    cuts = np.empty(flat.size, dtype=bool)  # where a piece starts: the prediction or the ground truth changes
    cuts[0] = True
    np.not_equal(flat[1:], flat[:-1], out=cuts[1:])
    cuts[truth.starts] = True
    starts = np.flatnonzero(cuts)
    lengths = np.diff(starts, append=flat.size)
    run = np.searchsorted(truth.starts, starts, side="right") - 1  # the ground-truth run each piece lies in
    predicted = flat[starts].astype(np.intp)
    conf = np.bincount(truth.labels[run].astype(np.intp) * NUM_IDS + predicted, weights=lengths, minlength=NUM_IDS * NUM_IDS)

    slots = truth.slots[run].astype(np.intp)
    inside = np.flatnonzero(slots)
    slots, predicted, label = slots[inside], predicted[inside], truth.instance_ids.astype(np.intp) // 1000
    label = np.concatenate([[0], label])[slots]
    key = slots * 4 + (predicted == label) * 2 + (CATEGORY_OF[predicted] == CATEGORY_OF[label])
    counts = np.bincount(key, weights=lengths[inside], minlength=4 * (len(truth.instance_ids) + 1)).reshape(-1, 4)[1:]
    counts = counts.astype(np.int64)  # sums of at most MAX_PIXELS: exact in float64
    rows = np.column_stack([truth.instance_ids, counts.sum(axis=1), counts[:, 2] + counts[:, 3], counts[:, 1] + counts[:, 3]])
    return conf.astype(np.int64), rows.astype(np.int64)


def measure(data: bytes, member: str, truth: FrameTruth, gt_name: str) -> ImageResult:
    """Check one prediction against its (prepared) ground truth and, if usable, count it."""
    result = ImageResult()
    try:
        kind, mode, size, pred = decode(data)
    except Exception as exc:  # PIL and libspng raise many types for broken files
        result.problems.append(f"{member}: not a readable PNG ({type(exc).__name__}: {exc})")
        result.fatal = f"Unable to load {member} ({type(exc).__name__}: {exc})"
        return result
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
    if size != (truth.width, truth.height):
        result.problems.append(f"{member}: {size[0]}x{size[1]} pixels, the ground truth is {truth.width}x{truth.height}")
    top = int(pred.max(initial=0)) if pred.ndim == 2 else 0
    if top >= NUM_IDS:
        result.problems.append(f"{member}: values up to {top}; label ids are 0..{NUM_IDS - 1}")

    if size[0] != truth.width:
        result.fatal = f"Image widths of {member} and {gt_name} are not equal."
    elif size[1] != truth.height:
        result.fatal = f"Image heights of {member} and {gt_name} are not equal."
    elif pred.ndim != 2:
        result.fatal = "Predicted image has multiple channels."
    elif top >= NUM_IDS:
        result.fatal = f"{member} holds the value {top}: the official script crashes on values above {NUM_IDS - 1} (IndexError)"
    if not result.fatal:
        result.conf, result.instances = count(truth, pred)
    return result
