"""Helpers shared by the segmentation tests: PNG bytes, zips, plausible predictions."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.files.safe_pickle import load_plain_pickle


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def ground_truth_by_int(hidden: Path) -> dict[str, np.ndarray]:
    """'<int>' -> label-id array of that test image."""
    names = load_plain_pickle(hidden / "test.p")
    out = {}
    for rel, number in names.items():
        city, image = rel.split("/")
        gt = hidden / "gtFine" / "val" / city / image.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        out[str(number)] = np.asarray(Image.open(gt))
    return out


def perturbed(gt: np.ndarray, rng: np.random.Generator, noise: float = 0.2) -> np.ndarray:
    """A plausible prediction: the ground truth shifted, with some random label ids."""
    prediction = np.roll(gt, 2, axis=1).copy()
    flip = rng.random(gt.shape) < noise
    prediction[flip] = rng.integers(0, 34, int(flip.sum()))
    return prediction.astype(np.uint8)
