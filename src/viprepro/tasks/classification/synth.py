"""A synthetic ImageNet in the original layout, with manifests in the official formats.

Each class is a combination of a shape, a hue and a texture; every image varies the
nuisances (position, scale, rotation, background, brightness, noise, JPEG size), so a
model must learn the class cues rather than memorise pixels. Layout and manifests follow
ILSVRC2012 and the challenge toolkit exactly:

    source/train/<wnid>/<wnid>_<n>.JPEG
    source/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG
    manifests/train.pickle, val.pickle   [[wnid, filename], ...] in class blocks, sorted by wnid
    manifests/test.pickle                ['wnid/ILSVRC2012_val_XXXXXXXX.JPEG', ...] shuffled
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from viprepro.files.fileio import atomic_path
from viprepro.files.safe_pickle import dump_plain_pickle

SHAPES = ("disc", "square", "triangle", "cross", "ring", "diamond", "bar", "star")
TEXTURES = ("flat", "stripes", "checker", "dots")
MANIFEST_PROTOCOL = 3


def wnids_for(classes: int, rng: np.random.Generator) -> list[str]:
    """Distinct WordNet-style ids (n + 8 digits), sorted as ImageNet's are."""
    numbers = rng.choice(np.arange(1_000_000, 15_000_000), size=classes, replace=False)
    return sorted(f"n{int(n):08d}" for n in numbers)


def class_style(index: int, classes: int) -> tuple[str, float, str]:
    """Shape, hue and texture of class `index`: neighbours differ in at least one cue."""
    shape = SHAPES[index % len(SHAPES)]
    texture = TEXTURES[(index // len(SHAPES)) % len(TEXTURES)]
    hue = (index * 0.61803398875) % 1.0
    return shape, hue, texture


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]] | None:
    def rotate(points):
        c, s = np.cos(angle), np.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]

    if shape == "square":
        return rotate([(-r, -r), (r, -r), (r, r), (-r, r)])
    if shape == "triangle":
        return rotate([(0, -r), (0.87 * r, 0.5 * r), (-0.87 * r, 0.5 * r)])
    if shape == "diamond":
        return rotate([(0, -r), (0.6 * r, 0), (0, r), (-0.6 * r, 0)])
    if shape == "bar":
        return rotate([(-r, -0.3 * r), (r, -0.3 * r), (r, 0.3 * r), (-r, 0.3 * r)])
    if shape == "cross":
        w = 0.33 * r
        return rotate([(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)])
    if shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else 0.45 * r
            a = k * np.pi / 5 - np.pi / 2
            pts.append((rad * np.cos(a), rad * np.sin(a)))
        return rotate(pts)
    return None


def _texture_mask(texture: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if texture == "flat":
        return np.ones((size, size), dtype=bool)
    yy, xx = np.mgrid[0:size, 0:size]
    period = max(3, size // int(rng.integers(5, 9)))
    if texture == "stripes":
        return ((xx + yy) // period) % 2 == 0
    if texture == "checker":
        return ((xx // period) + (yy // period)) % 2 == 0
    return ((xx % period) - period / 2) ** 2 + ((yy % period) - period / 2) ** 2 < (period / 3) ** 2


def render(style: tuple[str, float, str], size: int, rng: np.random.Generator) -> Image.Image:
    shape, hue, texture = style
    background = _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.25, 0.85))
    noise = rng.normal(0, 12, (size, size, 3))
    canvas = np.clip(np.array(background, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(canvas)

    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    radius = size * rng.uniform(0.22, 0.38)
    cx, cy = (size / 2 + rng.uniform(-0.2, 0.2) * size for _ in range(2))
    polygon = _shape_polygon(shape, cx, cy, radius, rng.uniform(0, 2 * np.pi))
    if polygon is not None:
        draw.polygon(polygon, fill=255)
    else:
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
        if shape == "ring":
            inner = radius * 0.55
            draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=0)

    colour = np.array(_hsv_to_rgb(hue + rng.normal(0, 0.02), rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0)), dtype=np.float64)
    pattern = _texture_mask(texture, size, rng)
    fill = np.where(pattern[..., None], colour, colour * 0.35)
    fill = np.clip(fill * rng.uniform(0.8, 1.2) + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    image.paste(Image.fromarray(fill), (0, 0), mask)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return image


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    """Write `out/source` (ImageNet layout) and `out/manifests` (official pickles)."""
    classes = options["classes"]
    per_class = options["subset_per_class"]
    extra = options["extra_train_per_class"]
    val_per_class = options["val_per_class"]
    base = options["image_size"]
    rng = np.random.default_rng(seed)
    wnids = wnids_for(classes, rng)

    with atomic_path(out) as staged:
        source = staged / "source"
        train_pairs, val_pairs, test_entries = [], [], []
        val_counter = 0
        val_files = []
        for index, wnid in enumerate(wnids):
            style = class_style(index, classes)
            train_dir = source / "train" / wnid
            train_dir.mkdir(parents=True)
            numbers = sorted(rng.choice(np.arange(1, 100_000), size=2 * per_class + extra, replace=False))
            names = [f"{wnid}_{n}.JPEG" for n in numbers]
            for name in names:
                _save(render(style, int(base * rng.uniform(0.85, 1.3)), rng), train_dir / name, rng)
            chosen = rng.permutation(len(names))
            train_pairs += [[wnid, names[i]] for i in sorted(chosen[:per_class])]
            val_pairs += [[wnid, names[i]] for i in sorted(chosen[per_class : 2 * per_class])]
            val_dir = source / "val" / wnid
            val_dir.mkdir(parents=True)
            for _ in range(val_per_class):
                val_files.append((wnid, style))
        order = rng.permutation(len(val_files))
        for position in order:  # ILSVRC val numbers run across classes
            val_counter += 1
            wnid, style = val_files[position]
            name = f"ILSVRC2012_val_{val_counter:08d}.JPEG"
            _save(render(style, int(base * rng.uniform(0.85, 1.3)), rng), source / "val" / wnid / name, rng)
            test_entries.append(f"{wnid}/{name}")
        test_entries = [test_entries[i] for i in rng.permutation(len(test_entries))]

        manifests = staged / "manifests"
        dump_plain_pickle(train_pairs, manifests / "train.pickle", protocol=MANIFEST_PROTOCOL)
        dump_plain_pickle(val_pairs, manifests / "val.pickle", protocol=MANIFEST_PROTOCOL)
        dump_plain_pickle(test_entries, manifests / "test.pickle", protocol=MANIFEST_PROTOCOL)
    return {"source": out / "source", "manifests": out / "manifests", "classes": wnids}


def _save(image: Image.Image, path: Path, rng: np.random.Generator) -> None:
    image.save(path, format="JPEG", quality=int(rng.integers(75, 96)))
