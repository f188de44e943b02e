"""A synthetic basketball set in the challenge's layout, CPU-sized.

    source/train.json, source/val.json      COCO instances, masks as polygons or RLE
    source/test_nolabels.json               test images and categories, no annotations
    source/{train,val,test}/<id:06d>.png    the images
    manifests/test.json                     the test labels (the organisers'; hidden ground truth only)

Each image is a court: a wooden floor in perspective-free shading, painted lines, noise.
Humans (category 1) are players: a head and a body with legs in a team colour, standing
apart; balls (category 2) are small orange discs, often near a player. Some humans are
annotated with an RLE instead of polygons (both occur in COCO files), and a few images hold
no instance. Areas and boxes are pycocotools' own for the mask, as COCO files carry them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from viprepro.files.fileio import atomic_path
from viprepro.tasks.instance_segmentation.layout import CATEGORIES, IMAGE_FOLDERS, SPLIT_FILES, TEST_LABELS

TEAM_COLOURS = [(200, 30, 40), (30, 60, 200), (240, 240, 240), (20, 150, 70), (250, 200, 20)]
SKIN = [(240, 200, 170), (200, 150, 110), (140, 95, 60), (90, 60, 40)]
BALL = (235, 110, 25)
PLACEMENT_TRIES = 30


def human_polygons(x: float, y: float, h: float, rng: np.random.Generator) -> list[list[float]]:
    """A standing player of height `h` whose box starts at (x, y): head (a 12-gon) and body."""
    w = 0.42 * h
    r = 0.11 * h
    cx = x + w / 2
    head = [(cx + r * math.cos(a), y + r + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 12, endpoint=False)]
    stride = rng.uniform(0.05, 0.2) * w
    top, hip, foot = y + 2 * r + 0.02 * h, y + 0.58 * h, y + h
    body = [
        (x + 0.1 * w, top),
        (x + 0.9 * w, top),
        (x + w, top + 0.25 * h),  # arms out
        (x + 0.8 * w, hip),
        (x + 0.65 * w + stride, foot),
        (x + 0.52 * w, foot),
        (cx, hip + 0.1 * h),
        (x + 0.48 * w, foot),
        (x + 0.35 * w - stride, foot),
        (x + 0.2 * w, hip),
        (x, top + 0.25 * h),
    ]
    return [[round(c, 2) for p in part for c in p] for part in (head, body)]


def ball_polygon(cx: float, cy: float, r: float) -> list[list[float]]:
    return [[round(c, 2) for a in np.linspace(0, 2 * math.pi, 16, endpoint=False) for c in (cx + r * math.cos(a), cy + r * math.sin(a))]]


class Court:
    """One image and its instances."""

    def __init__(self, rng: np.random.Generator, width: int, height: int):
        self.rng, self.width, self.height = rng, width, height
        base = np.array([196, 146, 92]) * rng.uniform(0.75, 1.1)
        yy = np.mgrid[0:height, 0:width][0]
        shade = 0.8 + 0.35 * yy / height
        planks = 1 + 0.05 * np.sin(np.mgrid[0:height, 0:width][1] / rng.uniform(2, 5))
        self.image = Image.fromarray(np.clip(base * (shade * planks)[..., None], 0, 255).astype(np.uint8), "RGB")
        self.draw = ImageDraw.Draw(self.image)
        line = (235, 235, 225)
        y0 = rng.uniform(0.2, 0.5) * height
        self.draw.line([(0, y0), (width, y0 + rng.uniform(-8, 8))], fill=line, width=1)
        self.draw.arc([rng.uniform(-width / 2, width / 2), y0, width, height * 1.6], 180, 360, fill=line, width=1)
        self.taken: list[tuple[float, float, float, float]] = []

    def free(self, x: float, y: float, w: float, h: float) -> bool:
        return all(x + w + 2 <= a or a + c + 2 <= x or y + h + 2 <= b or b + d + 2 <= y for a, b, c, d in self.taken)

    def place(self, w: float, h: float) -> tuple[float, float] | None:
        if w > self.width - 2 or h > self.height - 2:
            return None
        for _ in range(PLACEMENT_TRIES):
            x, y = self.rng.uniform(1, self.width - w - 1), self.rng.uniform(1, self.height - h - 1)
            if self.free(x, y, w, h):
                self.taken.append((x, y, w, h))
                return x, y
        return None

    def paint(self, polygons: list[list[float]], colours: list[tuple]) -> None:
        for polygon, colour in zip(polygons, colours):
            shade = self.rng.uniform(0.85, 1.1)
            self.draw.polygon(list(zip(polygon[0::2], polygon[1::2])), fill=tuple(int(min(255, c * shade)) for c in colour))

    def add_human(self, min_h: float, max_h: float) -> list[list[float]] | None:
        h = self.rng.uniform(min_h, max_h)
        spot = self.place(0.42 * h, h)
        if spot is None:
            return None
        polygons = human_polygons(*spot, h, self.rng)
        team = TEAM_COLOURS[self.rng.integers(len(TEAM_COLOURS))]
        self.paint(polygons, [SKIN[self.rng.integers(len(SKIN))], team])
        return polygons

    def add_ball(self, min_d: float, max_d: float) -> list[list[float]] | None:
        d = self.rng.uniform(min_d, max_d)
        spot = self.place(d, d)
        if spot is None:
            return None
        polygons = ball_polygon(spot[0] + d / 2, spot[1] + d / 2, d / 2)
        self.paint(polygons, [BALL])
        return polygons

    def finish(self) -> Image.Image:
        noisy = np.asarray(self.image, dtype=np.float32) + self.rng.normal(0, 5, size=(self.height, self.width, 3))
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def annotation(polygons: list[list[float]], category_id: int, height: int, width: int, as_rle: bool) -> dict:
    """A COCO annotation with pycocotools' area and box of the mask (RLE counts as a string)."""
    from pycocotools import mask as mask_util

    rle = mask_util.merge(mask_util.frPyObjects(polygons, height, width))
    segmentation: list | dict = polygons
    if as_rle:
        segmentation = {"size": [height, width], "counts": rle["counts"].decode("utf-8")}
    box = [round(float(v), 2) for v in mask_util.toBbox(rle)]
    return {"segmentation": segmentation, "area": float(mask_util.area(rle)), "bbox": box, "iscrowd": 0, "category_id": category_id}


def draw_split(folder: Path, ids: list[int], rng: np.random.Generator, options: dict, next_ann_id: int):
    """The images of one split; returns (images, annotations, next annotation id)."""
    folder.mkdir(parents=True)
    width, height = options["image_width"], options["image_height"]
    images, annotations = [], []
    for image_id in ids:
        court = Court(rng, width, height)
        drawn: list[tuple[list, int]] = []
        if rng.uniform() >= options["empty_fraction"]:
            for _ in range(rng.integers(1, options["max_humans"] + 1)):
                drawn.append((court.add_human(options["human_min_height"], options["human_max_height"]), 1))
            if rng.uniform() < options["ball_fraction"]:
                drawn.append((court.add_ball(options["ball_min_diameter"], options["ball_max_diameter"]), 2))
        file_name = f"{image_id:06d}.png"
        court.finish().save(folder / file_name)
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for polygons, category_id in drawn:
            if polygons is None:
                continue
            as_rle = category_id == 1 and rng.uniform() < options["rle_fraction"]
            annotations.append({**annotation(polygons, category_id, height, width, as_rle), "image_id": image_id, "id": next_ann_id})
            next_ann_id += 1
    return images, annotations, next_ann_id


def coco_document(images: list[dict], annotations: list[dict] | None, description: str) -> dict:
    document = {"info": {"description": description, "contributor": "viprepro synthetic data"}, "images": images, "categories": CATEGORIES}
    if annotations is not None:
        document["annotations"] = annotations
    return document


def write_json(path: Path, document) -> None:
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    rng = np.random.default_rng(seed)
    sizes = {split: options[f"{split}_images"] for split in SPLIT_FILES}
    ids = [int(i) for i in rng.choice(np.arange(1, 1_000_000), size=sum(sizes.values()), replace=False)]
    counts, next_id, start = {}, 1, 0
    with atomic_path(out) as staged:
        source, manifests = staged / "source", staged / "manifests"
        source.mkdir(parents=True)
        manifests.mkdir()
        for split, size in sizes.items():
            images, annotations, next_id = draw_split(source / IMAGE_FOLDERS[split], ids[start : start + size], rng, options, next_id)
            start += size
            if split == "test":
                write_json(source / SPLIT_FILES[split], coco_document(images, None, "basketball instance segmentation test (synthetic)"))
                write_json(manifests / TEST_LABELS, coco_document(images, annotations, "basketball test labels (synthetic)"))
            else:
                write_json(source / SPLIT_FILES[split], coco_document(images, annotations, f"basketball {split} (synthetic)"))
            counts[split] = len(images)
            counts[f"{split}_instances"] = len(annotations)
    return {"source": out / "source", "manifests": out / "manifests", "counts": counts}
