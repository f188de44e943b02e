"""Helpers of the hostile-input tests: valid submissions of every task, and ways to break them."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.files.safe_pickle import load_plain_pickle

TINY = {
    "classification": {"classes": 4, "subset_per_class": 6, "extra_train_per_class": 1, "val_per_class": 4, "image_size": 32},
    "detection": {
        "train_images": 24,
        "val_images": 8,
        "unused_train2017_images": 4,
        "val2017_images": 16,
        "categories": 4,
        "image_size": 64,
        "max_objects": 3,
        "empty_fraction": 0.1,
        "crowd_fraction": 0.2,
        "jpeg_quality": 90,
    },
    "segmentation": {"width": 96, "height": 48, "train_images": 8, "val_images": 3, "test_images": 4, "unused_images": 1},
    "action_recognition": {
        "num_classes": 4,
        "groups": 3,
        "test_groups": 1,
        "clips_per_group": 2,
        "frames": 12,
        "size": 16,
        "fps": 25,
        "quality": 3,
    },
}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def valid_submission(task_name: str, dataset: dict, folder: Path) -> Path:
    """A valid submission of `task_name` built from its hidden ground truth."""
    hidden, gt = Path(dataset["hidden"]), Path(dataset["gt"])
    if task_name == "classification":
        rows = gt.read_text().splitlines()[1:]
        path = folder / "submission.csv"
        path.write_text(
            "Image IDs,Predictions\n" + "".join(f"{r.split(',')[0]},{(int(r.split(',')[1]) + i % 2) % 4}\n" for i, r in enumerate(rows))
        )
    elif task_name == "action_recognition":
        lines = [line.split() for line in gt.read_text().splitlines() if line.strip()]
        path = folder / "submission.txt"
        path.write_text("".join(f"{clip} {label} {int(label) % 4 + 1}\n" for clip, label in lines))
    elif task_name == "detection":
        doc = json.loads(gt.read_text())
        detections = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": [round(v + 0.5, 2) for v in a["bbox"]], "score": 0.9}
            for a in doc["annotations"]
        ]
        path = folder / "submission.json"
        path.write_text("[\n" + ",\n".join(json.dumps(d) for d in detections) + "\n]\n")
    else:
        names = load_plain_pickle(hidden / "test.p")
        members = {}
        for rel, number in names.items():
            city, image = rel.split("/")
            label = hidden / "gtFine" / "val" / city / image.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
            members[f"{number}.png"] = png(np.roll(np.asarray(Image.open(label)), 1, axis=1).astype(np.uint8))
        path = folder / "submission.zip"
        path.write_bytes(zip_bytes(members))
    return path


def patch_zip(
    data: bytes, *, flag: int | None = None, method: int | None = None, size: int | None = None, only: str | None = None
) -> bytes:
    """The zip with every member's flag bits, compression method or declared size rewritten in
    both its local header and its central directory entry (what 7-Zip or a forger writes)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        central = archive.start_dir
    for info in infos:
        local = info.header_offset
        assert out[local : local + 4] == b"PK\x03\x04"
        central = out.index(b"PK\x01\x02", central)
        if only is not None and info.filename != only:
            central += 4
            continue
        for base, flag_at, method_at, size_at in ((local, 6, 8, 22), (central, 8, 10, 24)):
            if flag is not None:
                struct.pack_into("<H", out, base + flag_at, struct.unpack_from("<H", out, base + flag_at)[0] | flag)
            if method is not None:
                struct.pack_into("<H", out, base + method_at, method)
            if size is not None:
                struct.pack_into("<I", out, base + size_at, size)
        central += 4
    return bytes(out)


def zip_bomb(path: Path, *, name: str = "0.png", megabytes: int = 200) -> Path:
    """A zip whose one member inflates to `megabytes` of zeros (about 1000:1), written in chunks."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(megabytes):
                member.write(block)
    return path
