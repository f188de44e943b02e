"""A synthetic UCF-101 in the original layout, with split 1 and a mod-UCF101 class permutation.

Every clip shows one shape moving over a static textured background. The class is the
motion only: a direction combined with a kind (slow drift, fast dash, or a slow drift with a
periodic sideways zigzag). Shape, size, colour, start position and a small speed jitter are
drawn per clip, the background per group number, all independently of the class, and
positions wrap around the frame, so a single frame says nothing about the class.

    source/UCF-101/<Class>/v_<Class>_g<GG>_c<CC>.avi      MPEG-4 (XVID) in AVI, like the original
    source/ucfTrainTestlist/classInd.txt                  `1 <Class>` (CRLF, like the original)
    source/ucfTrainTestlist/trainlist01.txt               `<Class>/v_..avi <index>`: groups after the test groups
    source/ucfTrainTestlist/testlist01.txt                `<Class>/v_..avi`: the first `test_groups` groups
    manifests/mod-ucf101-classInd.txt                     `<new index> <Class>`, a seeded permutation

As in UCF-101 split 1 (test groups 1-7, train groups 8-25), train and test never share a
group, i.e. a background.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.errors import UserError
from viprepro.files.fileio import atomic_path
from viprepro.tasks.action_recognition.annotations import CLASS_INDEX, format_class_index, format_clips
from viprepro.tasks.action_recognition.video_io import write_avi

KINDS = ("Drift", "Dash", "Zigzag")
#: pixels per frame, as a fraction of the frame side
SPEED = {"Drift": 0.04, "Dash": 0.10, "Zigzag": 0.04}
ZIGZAG_AMPLITUDE = 0.12
ZIGZAG_PERIOD = 8.0


def motion_classes(num_classes: int) -> list[tuple[str, str, float]]:
    """(class name, kind, direction in radians), directions spread evenly per kind."""
    directions = math.ceil(num_classes / len(KINDS))
    classes = []
    for c in range(num_classes):
        kind, d = KINDS[c // directions], c % directions
        degrees = 360 * d // directions
        classes.append((f"{kind}Deg{degrees:03d}", kind, math.radians(360 * d / directions)))
    return sorted(classes)


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour blobs plus fixed fine grain: a static texture, one per group number.

    Group g of every class shares its background, so the background cannot stand in for
    the class even on the training groups.
    """
    coarse = rng.uniform(50, 200, (max(2, size // 8), max(2, size // 8), 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    return np.clip(smooth + rng.normal(0, 10, (size, size, 3)).astype(np.float32), 0, 255)


def render(kind: str, direction: float, base: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    size = base.shape[0]
    t = np.arange(frames, dtype=np.float32)[:, None, None]
    along = np.array([math.cos(direction), math.sin(direction)], dtype=np.float32)
    across = np.array([-along[1], along[0]])
    speed = np.float32(SPEED[kind] * size * rng.uniform(0.85, 1.15))
    start = rng.uniform(0, size, 2).astype(np.float32)
    offset = speed * t
    sideways = np.zeros_like(t)
    if kind == "Zigzag":
        period = ZIGZAG_PERIOD * rng.uniform(0.9, 1.1)
        sideways = (ZIGZAG_AMPLITUDE * size * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))).astype(np.float32)
    cx = start[0] + offset * along[0] + sideways * across[0]
    cy = start[1] + offset * along[1] + sideways * across[1]

    pixels = np.arange(size, dtype=np.float32) + 0.5
    dx = (pixels[None, None, :] - cx + size / 2) % size - size / 2  # T x 1 x W, wrapped: the shape
    dy = (pixels[None, :, None] - cy + size / 2) % size - size / 2  # re-enters on the other side
    radius = size * rng.uniform(0.09, 0.15)
    distance = np.hypot(dx, dy) if rng.random() < 0.5 else np.maximum(np.abs(dx), np.abs(dy))
    alpha = np.clip(radius + 0.5 - distance, 0, 1, dtype=np.float32)
    colour = (rng.uniform(0, 40, 3) if rng.random() < 0.5 else rng.uniform(215, 255, 3)).astype(np.float32)
    video = np.repeat(base.astype(np.uint8)[None], frames, axis=0)
    t, y, x = np.nonzero(alpha)  # blend only where the shape is: a small part of each frame
    weight = alpha[t, y, x, None]
    video[t, y, x] = (base[y, x] + (colour - base[y, x]) * weight).astype(np.uint8)
    return video


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    """Write `out/source` (UCF-101 layout and split 1) and `out/manifests` (the permutation)."""
    num_classes, groups, test_groups = options["num_classes"], options["groups"], options["test_groups"]
    if not 0 < test_groups < groups:
        raise UserError(f"test_groups must be between 1 and groups - 1 = {groups - 1}", where="synthetic options")
    classes = motion_classes(num_classes)
    size, frames = options["size"], options["frames"]
    backgrounds = [background(size, np.random.default_rng([seed, group])) for group in range(1, groups + 1)]
    trainlist, testlist = [], []
    with atomic_path(out) as staged:
        videos = staged / "source" / "UCF-101"
        for index, (name, kind, direction) in enumerate(classes, start=1):
            (videos / name).mkdir(parents=True)
            for group, base in enumerate(backgrounds, start=1):
                for clip in range(1, options["clips_per_group"] + 1):
                    rng = np.random.default_rng([seed, index, group, clip])
                    relative = f"{name}/v_{name}_g{group:02d}_c{clip:02d}.avi"
                    write_avi(videos / relative, render(kind, direction, base, frames, rng), fps=options["fps"], quality=options["quality"])
                    if group <= test_groups:
                        testlist.append((relative,))
                    else:
                        trainlist.append((relative, index))
        lists = staged / "source" / "ucfTrainTestlist"
        lists.mkdir()
        class_index = [(i, name) for i, (name, _, _) in enumerate(classes, start=1)]
        (lists / "classInd.txt").write_bytes(format_class_index(class_index, newline="\r\n").encode())
        (lists / "trainlist01.txt").write_bytes(format_clips(trainlist, newline="\r\n").encode())
        (lists / "testlist01.txt").write_bytes(format_clips(testlist, newline="\r\n").encode())
        permutation = np.random.default_rng([seed, 1992]).permutation(num_classes) + 1  # 1992: the toolkit's shuffle seed
        manifests = staged / "manifests"
        manifests.mkdir()
        modified = [(int(new), name) for new, (_, name) in zip(permutation, class_index)]
        (manifests / CLASS_INDEX).write_text(format_class_index(modified), encoding="utf-8")
    return {"source": out / "source", "manifests": out / "manifests", "classes": [name for _, name in class_index]}
