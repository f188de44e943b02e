"""Inference on the test (or val) split: average the ensemble's probabilities, write the submission zip.

Each test image is predicted at the recipe's `test_size` and brought back to its own (the
ground truth's) resolution: `nearest` upsamples the train-id map as the official baseline
does (PIL NEAREST), `bilinear` upsamples the probabilities before the argmax. The zip holds
one 8-bit PNG of Cityscapes label ids per image, named like the input (`<int>.png` for a
test image, `<city>_<seq>_<frame>_leftImg8bit.png` for a val image, which the scorer pairs
with its ground truth by that prefix as cityscapesScripts does).
`tta_hflip` averages the probabilities with those of the mirrored image.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from viprepro.files.fileio import atomic_path
from viprepro.tasks.segmentation.data import normalize, read_png, split_files, test_files
from viprepro.tasks.segmentation.labels import TRAIN_TO_ID


@torch.no_grad()
def label_ids(models: list[torch.nn.Module], image: torch.Tensor, recipe: dict, device: torch.device) -> np.ndarray:
    """Label ids (uint8, full resolution) for one uint8 CxHxW image."""
    height, width = image.shape[1:]
    x = normalize(TF.resize(image, recipe["test_size"], antialias=True))[None].to(device)
    probs = sum(model(x).softmax(dim=1) for model in models) / len(models)
    if recipe.get("tta_hflip"):  # mean with the mirrored image's probabilities, mirrored back
        probs = (probs + sum(model(x.flip(-1)).softmax(dim=1) for model in models).flip(-1) / len(models)) / 2
    if recipe["upsample"] == "bilinear":
        probs = F.interpolate(probs, size=(height, width), mode="bilinear", align_corners=False)
        return TRAIN_TO_ID[probs.argmax(dim=1)[0].cpu().numpy()]
    small = TRAIN_TO_ID[probs.argmax(dim=1)[0].cpu().numpy()]
    return np.asarray(Image.fromarray(small).resize((width, height), resample=Image.NEAREST))


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# A zip stamps every member with the time it was written; a fixed stamp keeps two runs from
# the same weights byte-identical (the determinism record compares the files' digests).
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.external_attr = 0o644 << 16
    return info


def split_images(subset_dir: Path, split: str) -> list[Path]:
    if split == "test":
        return test_files(subset_dir)
    if split != "val":
        raise ValueError(f"no predictions for split {split!r}")
    return [image for image, _ in split_files(subset_dir, "val")]


def predict(models: list[torch.nn.Module], subset_dir: Path, recipe: dict, out: Path, *, device: torch.device, split: str = "test") -> dict:
    files = split_images(subset_dir, split)
    for model in models:
        model.eval()
    started = time.perf_counter()
    with atomic_path(out) as staged, zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in files:
            ids = label_ids(models, read_png(path, rgb=True), recipe, device)
            archive.writestr(_member(path.name), png_bytes(ids))
    seconds = time.perf_counter() - started
    return {
        "split": split,
        "images": len(files),
        "members": len(models),
        "seconds": seconds,
        "images_per_s": len(files) / seconds if seconds else None,
    }
