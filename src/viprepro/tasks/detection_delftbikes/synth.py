"""A synthetic DelftBikes in the original layout, CPU-sized.

    source/train/<n>.jpg, source/test/<n>.jpg      side views of bikes, 22 coloured parts each
    source/train_annotations.json                  labels of every train image (DelftBikes format)
    source/fake_test_annotations.json              the test images with placeholder labels, as shipped
    manifests/test_annotations.json                the organisers' true test labels (for the hidden ground truth)
    manifests/valset_generate.json                 the arrangement's argument: {"valset_size": N} (1,000 officially)

Every part has its own colour and a place on the bike (jittered per image, the bike scaled
and shifted), so its class is learnable from appearance and context, as on real bikes. A part
is `absent` (not drawn, its box annotated all the same, as DelftBikes does), `occluded`
(half covered by a grey patch), `damaged` (darkened, with a scratch) or `intact`; every
image keeps at least one present part (the official code crashes on an image without one).
Files are named by a number, so the sorted listing (`10.jpg` < `2.jpg`) differs from the
numeric order, as DelftBikes' does.
"""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from viprepro.files.fileio import atomic_path
from viprepro.tasks.detection_delftbikes.annotations import PART_NAMES

#: each part's place on a bike facing right: centre x, centre y, width, height (fractions of the bike's box).
LAYOUT = {
    "back_hand_break": (0.66, 0.22, 0.08, 0.07),
    "back_handle": (0.70, 0.14, 0.08, 0.07),
    "back_light": (0.08, 0.50, 0.07, 0.07),
    "back_mudguard": (0.26, 0.44, 0.30, 0.08),
    "back_pedal": (0.44, 0.82, 0.08, 0.06),
    "back_reflector": (0.13, 0.40, 0.06, 0.06),
    "back_wheel": (0.25, 0.68, 0.40, 0.54),
    "bell": (0.60, 0.12, 0.06, 0.06),
    "chain": (0.38, 0.72, 0.24, 0.08),
    "dress_guard": (0.22, 0.58, 0.18, 0.16),
    "dynamo": (0.84, 0.54, 0.06, 0.08),
    "front_handbreak": (0.75, 0.24, 0.08, 0.06),
    "front_handle": (0.80, 0.14, 0.08, 0.07),
    "front_light": (0.88, 0.36, 0.07, 0.07),
    "front_mudguard": (0.76, 0.44, 0.30, 0.08),
    "front_pedal": (0.52, 0.88, 0.08, 0.06),
    "front_wheel": (0.76, 0.68, 0.40, 0.54),
    "gear_case": (0.46, 0.74, 0.13, 0.11),
    "kickstand": (0.36, 0.90, 0.05, 0.12),
    "lock": (0.33, 0.56, 0.08, 0.07),
    "saddle": (0.34, 0.22, 0.14, 0.07),
    "steer": (0.70, 0.30, 0.05, 0.30),
}
#: evenly spaced hues, alternately light and dark, so neighbouring classes differ.
COLOURS = {
    name: tuple(int(255 * c) for c in colorsys.hsv_to_rgb(index / len(PART_NAMES), 0.85, 0.95 if index % 2 else 0.6))
    for index, name in enumerate(PART_NAMES)
}
#: big parts are drawn first, small ones on top.
DRAW_ORDER = sorted(PART_NAMES, key=lambda name: -LAYOUT[name][2] * LAYOUT[name][3])


def _states(rng: np.random.Generator, options: dict) -> dict[str, str]:
    p = [options["absent_fraction"], options["occluded_fraction"], options["damaged_fraction"]]
    draws = rng.choice(4, size=len(PART_NAMES), p=[*p, 1 - sum(p)])
    states = {name: ("absent", "occluded", "damaged", "intact")[d] for name, d in zip(PART_NAMES, draws)}
    if all(s == "absent" for s in states.values()):
        states[PART_NAMES[int(rng.integers(len(PART_NAMES)))]] = "intact"
    return states


def _bike(rng: np.random.Generator, width: int, height: int, options: dict) -> tuple[Image.Image, dict]:
    """One image and its DelftBikes entry."""
    base = rng.integers(150, 230)
    pixels = np.clip(base + rng.normal(0, 12, size=(height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    scale = rng.uniform(0.75, 0.95)
    bw, bh = scale * width, scale * height
    ox, oy = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
    states = _states(rng, options)
    parts = {}
    for name in PART_NAMES:
        cx, cy, w, h = LAYOUT[name]
        jitter = rng.normal(0, 0.015, size=2)
        w, h = w * bw * rng.uniform(0.9, 1.1), h * bh * rng.uniform(0.9, 1.1)
        left = int(round(np.clip(ox + (cx + jitter[0]) * bw - w / 2, 0, width - 2)))
        top = int(round(np.clip(oy + (cy + jitter[1]) * bh - h / 2, 0, height - 2)))
        box = {
            "left": left,
            "top": top,
            "width": int(max(2, min(round(w), width - left))),
            "height": int(max(2, min(round(h), height - top))),
        }
        parts[name] = {"object_state": states[name], "absolute_bounding_box": box}
    for name in DRAW_ORDER:
        state, box = states[name], parts[name]["absolute_bounding_box"]
        if state == "absent":
            continue
        x0, y0, x1, y1 = box["left"], box["top"], box["left"] + box["width"] - 1, box["top"] + box["height"] - 1
        colour = COLOURS[name] if state != "damaged" else tuple(c // 2 for c in COLOURS[name])
        if name.endswith("_wheel"):
            draw.ellipse([x0, y0, x1, y1], outline=colour, width=max(2, box["width"] // 8))
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        if state == "damaged":
            draw.line([x0, y0, x1, y1], fill=(20, 20, 20), width=1)
        if state == "occluded":
            grey = int(rng.integers(90, 140))
            draw.rectangle([x0, y0, x0 + box["width"] // 2, y1], fill=(grey, grey, grey))
    return image, {"parts": parts}


def _write_json(path: Path, document) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=1), encoding="utf-8")


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    rng = np.random.default_rng(seed)
    n_train, n_test = options["train_images"], options["test_images"]
    numbers = rng.permutation(np.arange(1, n_train + n_test + 1))  # names interleave between the folders
    names = {"train": [f"{n}.jpg" for n in numbers[:n_train]], "test": [f"{n}.jpg" for n in numbers[n_train:]]}
    width, height = options["image_width"], options["image_height"]
    with atomic_path(out) as staged:
        source, manifests = staged / "source", staged / "manifests"
        labels = {}
        for split in ("train", "test"):
            (source / split).mkdir(parents=True)
            labels[split] = {}
            for name in names[split]:
                image, entry = _bike(rng, width, height, options)
                image.save(source / split / name, quality=options["jpeg_quality"])
                labels[split][name] = entry
        manifests.mkdir()
        _write_json(source / "train_annotations.json", labels["train"])
        placeholder = {"object_state": "intact", "absolute_bounding_box": {"left": 0, "top": 0, "width": 1, "height": 1}}
        _write_json(
            source / "fake_test_annotations.json", {name: {"parts": dict.fromkeys(PART_NAMES, placeholder)} for name in names["test"]}
        )
        _write_json(manifests / "test_annotations.json", labels["test"])
        _write_json(manifests / "valset_generate.json", {"valset_size": options["valset_size"]})
    return {"source": Path(out) / "source", "manifests": Path(out) / "manifests"}
