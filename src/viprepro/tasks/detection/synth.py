"""A synthetic MS COCO 2017 in the original layout, with the challenge's manifests.

    source/train2017/<id:012d>.jpg, source/val2017/<id:012d>.jpg
    source/annotations/instances_{train,val}2017.json   COCO instances format, all 80 categories
    manifests/vipriors-object-detection-{train,val}.json  images + annotations drawn from train2017
    manifests/vipriors-object-detection-test.json         val2017 images with annotations, new ids
    manifests/test_image_mappings.txt                     `old_id,new_id`, one per test image

Each category is a shape in a colour of its own, so it can be learnt; every object varies in
size (COCO's small, medium and large area ranges all occur), position, brightness and noise.
Some images hold no object (they drop out of the test set, as COCO's 48 did), and a few
hold a crowd: a cluster of tiny objects annotated once with `iscrowd: 1` and an RLE mask.
Annotation ids start at 1 (COCOeval reads id 0 as "unmatched").
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from viprepro.files.fileio import atomic_path
from viprepro.tasks.detection.categories import COCO_CATEGORIES
from viprepro.tasks.detection.manifests import MANIFEST_NAMES, MAPPING_NAME

#: (category id, shape, colour): the drawable categories, in the order `categories` takes them.
STYLES = [
    (1, "ellipse", (215, 50, 40)),
    (3, "rectangle", (40, 90, 220)),
    (18, "triangle", (40, 175, 60)),
    (44, "diamond", (230, 200, 40)),
    (62, "plus", (185, 60, 200)),
    (90, "hexagon", (40, 200, 210)),
    (52, "parallelogram", (240, 135, 30)),
    (77, "ell", (230, 230, 230)),
]
#: width:height of each shape's box; the others are square.
ASPECT = {"ellipse": (0.8, 1.0), "rectangle": (1.0, 0.75), "diamond": (0.8, 1.0)}
#: object side ranges in pixels for COCO's small and medium area classes (large objects fill
#: most of the image), and how often each class is drawn.
SIDES = {"small": (6, 28), "medium": (34, 80)}
SIZE_ODDS = {"small": 0.35, "medium": 0.4, "large": 0.25}
#: COCO's "large" starts at 96**2 pixels; aim a little above it so drawn masks land there.
LARGE_AREA = 1.05 * 96**2
PLACEMENT_TRIES = 30


def unit_polygon(shape: str) -> list[tuple[float, float]]:
    """Vertices of a shape inside the unit square."""
    if shape == "ellipse":
        return [(0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    if shape == "hexagon":
        return [(0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 6, endpoint=False)]
    return {
        "rectangle": [(0, 0), (1, 0), (1, 1), (0, 1)],
        "triangle": [(0.5, 0), (1, 1), (0, 1)],
        "diamond": [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)],
        "plus": [
            (0.35, 0),
            (0.65, 0),
            (0.65, 0.35),
            (1, 0.35),
            (1, 0.65),
            (0.65, 0.65),
            (0.65, 1),
            (0.35, 1),
            (0.35, 0.65),
            (0, 0.65),
            (0, 0.35),
            (0.35, 0.35),
        ],
        "parallelogram": [(0.3, 0), (1, 0), (0.7, 1), (0, 1)],
        "ell": [(0, 0), (0.4, 0), (0.4, 0.6), (1, 0.6), (1, 1), (0, 1)],
    }[shape]


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Shoelace formula."""
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))) / 2


def place(shape: str, x: float, y: float, w: float, h: float) -> list[tuple[float, float]]:
    return [(round(x + u * w, 2), round(y + v * h, 2)) for u, v in unit_polygon(shape)]


def rle_of(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE (column-major run lengths, starting with a run of zeros)."""
    flat = mask.flatten(order="F").astype(np.uint8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


class Painter:
    """Draws one image and its annotations."""

    def __init__(self, rng: np.random.Generator, styles: list, width: int, height: int):
        self.rng, self.styles, self.width, self.height = rng, styles, width, height
        self.image = self.background()
        self.draw = ImageDraw.Draw(self.image)
        self.taken: list[tuple[float, float, float, float]] = []

    def background(self) -> Image.Image:
        low, high = self.rng.uniform(20, 150, size=(2, 3))
        angle = self.rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0 : self.height, 0 : self.width]
        t = (np.cos(angle) * xx / self.width + np.sin(angle) * yy / self.height + 1) / 2
        pixels = low + (high - low) * t[..., None]
        return Image.fromarray(pixels.astype(np.uint8), "RGB")

    def free(self, x: float, y: float, w: float, h: float) -> bool:
        return all(x + w + 2 <= a or a + c + 2 <= x or y + h + 2 <= b or b + d + 2 <= y for a, b, c, d in self.taken)

    def colour(self, rgb) -> tuple[int, int, int]:
        return tuple(int(np.clip(c * self.rng.uniform(0.75, 1.05), 0, 255)) for c in rgb)

    def fill(self, polygon, rgb, mask: Image.Image | None = None) -> Image.Image:
        mask = Image.new("L", (self.width, self.height), 0) if mask is None else mask
        self.draw.polygon(polygon, fill=rgb)
        ImageDraw.Draw(mask).polygon(polygon, fill=1)
        return mask

    def sample(self) -> tuple:
        """(category id, shape, colour, width, height) of an object of a random COCO area class."""
        cat_id, shape, rgb = self.styles[self.rng.integers(len(self.styles))]
        aw, ah = ASPECT.get(shape, (1.0, 1.0))
        size_class = self.rng.choice(list(SIZE_ODDS), p=list(SIZE_ODDS.values()))
        if size_class == "large":
            fits = min((self.width - 2) / aw, (self.height - 2) / ah)
            needed = math.sqrt(LARGE_AREA / (polygon_area(unit_polygon(shape)) * aw * ah))
            # A thin shape cannot be large in a small image: it becomes a medium one.
            side = self.rng.uniform(needed, fits) if needed < fits else self.rng.uniform(*SIDES["medium"])
            return cat_id, shape, rgb, side * aw, side * ah
        side = self.rng.uniform(*SIDES[size_class])
        return cat_id, shape, rgb, side * aw * self.rng.uniform(0.85, 1.0), side * ah * self.rng.uniform(0.85, 1.0)

    def add_object(self, cat_id: int, shape: str, rgb, w: float, h: float) -> dict | None:
        if w > self.width - 2 or h > self.height - 2:
            return None
        for _ in range(PLACEMENT_TRIES):
            x, y = self.rng.uniform(0, self.width - w), self.rng.uniform(0, self.height - h)
            if self.free(x, y, w, h):
                break
        else:
            return None
        self.taken.append((x, y, w, h))
        polygon = place(shape, x, y, w, h)
        mask = self.fill(polygon, self.colour(rgb))
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        bbox = [min(xs), min(ys), round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2)]
        return {
            "segmentation": [[c for p in polygon for c in p]],
            "area": float(np.asarray(mask).sum()),
            "iscrowd": 0,
            "bbox": bbox,
            "category_id": cat_id,
        }

    def add_crowd(self) -> dict | None:
        """A cluster of tiny objects of one category, annotated once as a crowd."""
        cat_id, shape, rgb = self.styles[self.rng.integers(len(self.styles))]
        side = self.rng.uniform(26, 40)
        x, y = self.rng.uniform(0, self.width - side), self.rng.uniform(0, self.height - side)
        if not self.free(x, y, side, side):
            return None
        self.taken.append((x, y, side, side))
        mask = None
        for _ in range(self.rng.integers(5, 9)):
            s = self.rng.uniform(4, 7)
            mask = self.fill(
                place(shape, x + self.rng.uniform(0, side - s), y + self.rng.uniform(0, side - s), s, s), self.colour(rgb), mask
            )
        pixels = np.asarray(mask, dtype=np.uint8)
        rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
        bbox = [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]
        return {"segmentation": rle_of(pixels), "area": float(pixels.sum()), "iscrowd": 1, "bbox": bbox, "category_id": cat_id}

    def finish(self) -> Image.Image:
        noisy = np.asarray(self.image, dtype=np.float32) + self.rng.normal(0, 6, size=(self.height, self.width, 3))
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def draw_split(folder: Path, ids: list[int], rng: np.random.Generator, styles: list, options: dict, next_ann_id: int):
    """Draw the images of one COCO split; returns (images, annotations, next annotation id)."""
    folder.mkdir(parents=True)
    size = options["image_size"]
    images, annotations = [], []
    for image_id in ids:
        width, height = size, int(rng.integers(size * 7 // 8, size + 1))
        painter = Painter(rng, styles, width, height)
        objects = []
        if rng.uniform() >= options["empty_fraction"]:
            if rng.uniform() < options["crowd_fraction"]:
                objects.append(painter.add_crowd())
            # Largest first: a large object placed late rarely finds room.
            specs = sorted((painter.sample() for _ in range(rng.integers(1, options["max_objects"] + 1))), key=lambda s: -s[3] * s[4])
            objects += [painter.add_object(*spec) for spec in specs]
        file_name = f"{image_id:012d}.jpg"
        painter.finish().save(folder / file_name, quality=options["jpeg_quality"])
        images.append({"license": 1, "file_name": file_name, "height": height, "width": width, "id": image_id})
        for ann in filter(None, objects):
            annotations.append({**ann, "image_id": image_id, "id": next_ann_id})
            next_ann_id += 1
    return images, annotations, next_ann_id


def coco_document(images: list[dict], annotations: list[dict], description: str) -> dict:
    return {
        "info": {"description": description, "version": "1.0", "year": 2017, "contributor": "viprepro synthetic data"},
        "licenses": [{"id": 1, "name": "synthetic, no rights reserved", "url": ""}],
        "images": images,
        "annotations": annotations,
        "categories": COCO_CATEGORIES,
    }


def write_json(path: Path, document) -> None:
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    rng = np.random.default_rng(seed)
    styles = STYLES[: options["categories"]]
    n_subset = options["train_images"] + options["val_images"]
    n_train2017 = n_subset + options["unused_train2017_images"]
    ids = [int(i) for i in rng.choice(np.arange(1, 600_000), size=n_train2017 + options["val2017_images"], replace=False)]
    with atomic_path(out) as staged:
        source, manifests = staged / "source", staged / "manifests"
        (source / "annotations").mkdir(parents=True)
        manifests.mkdir()
        train_images, train_anns, next_id = draw_split(source / "train2017", ids[:n_train2017], rng, styles, options, 1)
        val_images, val_anns, _ = draw_split(source / "val2017", ids[n_train2017:], rng, styles, options, next_id)
        write_json(
            source / "annotations" / "instances_train2017.json", coco_document(train_images, train_anns, "COCO 2017 train (synthetic)")
        )
        write_json(source / "annotations" / "instances_val2017.json", coco_document(val_images, val_anns, "COCO 2017 val (synthetic)"))

        chosen = rng.permutation(len(train_images))
        for split, picks in (("train", chosen[: options["train_images"]]), ("val", chosen[options["train_images"] : n_subset])):
            keep = {train_images[i]["id"] for i in picks}
            document = coco_document(
                [train_images[i] for i in sorted(picks)],
                [a for a in train_anns if a["image_id"] in keep],
                f"VIPriors object detection {split} (synthetic)",
            )
            write_json(manifests / MANIFEST_NAMES[split], document)

        annotated = {a["image_id"] for a in val_anns}
        test = [val_images[i] for i in rng.permutation(len(val_images)) if val_images[i]["id"] in annotated]
        new_ids = [int(i) for i in rng.choice(np.arange(1, 1_000_000), size=len(test), replace=False)]
        test_images = [{**image, "id": new, "file_name": f"{new:012d}.jpg"} for image, new in zip(test, new_ids)]
        write_json(manifests / MANIFEST_NAMES["test"], coco_document(test_images, [], "VIPriors object detection test (synthetic)"))
        # No newline after the last line: the official arrange script splits on "\n" and fails on an empty line.
        mapping = "\n".join(f"{image['id']},{new}" for image, new in zip(test, new_ids))
        (manifests / MAPPING_NAME).write_text(mapping, encoding="utf-8")
    counts = {
        "train2017": len(train_images),
        "val2017": len(val_images),
        "train": options["train_images"],
        "val": options["val_images"],
        "test": len(test_images),
        "annotations": len(train_anns) + len(val_anns),
    }
    return {"source": out / "source", "manifests": out / "manifests", "counts": counts}
