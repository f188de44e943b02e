"""A synthetic Cityscapes in the original layout, with manifests in the official formats.

Every scene is a street seen from a car: sky above a horizon, buildings and trees along it,
road in perspective with sidewalks either side, poles carrying signs and lights, cars on the
road and persons on the sidewalks (one instance id each), the ego vehicle's bonnet and a
rectification border as void. Colours, sizes and positions vary per image and pixel noise is
added, so a model has to learn the layout and the colours together. Layout as Cityscapes:

    source/leftImg8bit/{train,val}/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png
    source/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png    (uint8 ids)
    source/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png (16 bit)
    manifests/train.p, val.p  ['<city>/<name>_leftImg8bit.png', ...]   drawn from train
    manifests/test.p          {'<city>/<name>_leftImg8bit.png': <random 64-bit int>}  from val

Image i of a split is drawn from its own generator seeded with (seed, split, i).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from viprepro.files.fileio import atomic_path
from viprepro.files.safe_pickle import dump_plain_pickle
from viprepro.tasks.segmentation.labels import HAS_INSTANCES, ID

MANIFEST_PROTOCOL = 4
TRAIN_CITIES = ("aachen", "bochum", "bremen", "cologne", "darmstadt")
VAL_CITIES = ("frankfurt", "lindau", "munster")

#: typical colour of each label (before per-image jitter and noise)
COLOURS = {
    "road": (112, 100, 118),
    "sidewalk": (178, 152, 166),
    "building": (118, 112, 104),
    "vegetation": (64, 112, 38),
    "terrain": (150, 172, 96),
    "sky": (132, 176, 226),
    "pole": (158, 158, 150),
    "traffic sign": (226, 204, 28),
    "traffic light": (36, 36, 30),
    "person": (186, 52, 66),
    "car": (30, 40, 120),
    "ego vehicle": (24, 24, 28),
    "rectification border": (0, 0, 0),
    "static": (96, 78, 58),
}


def draw_scene(rng: np.random.Generator, width: int, height: int, *, max_objects: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Label ids (uint8) and instance ids (uint16, id*1000+k on instances) of one scene.

    1..max_objects persons and as many cars (Cityscapes averages about 15 instances a frame).
    """
    labels = Image.new("L", (width, height), ID["sky"])
    instances = Image.new("I", (width, height), 0)
    draw, draw_inst = ImageDraw.Draw(labels), ImageDraw.Draw(instances)
    W, H = width, height
    horizon = H * rng.uniform(0.38, 0.5)

    x = -W * rng.uniform(0, 0.1)
    while x < W:
        w = W * rng.uniform(0.08, 0.25)
        if rng.random() < 0.8:
            draw.rectangle([x, horizon - H * rng.uniform(0.1, 0.38), x + w, horizon + 1], fill=ID["building"])
        x += w
    for _ in range(rng.integers(1, 5)):
        cx, r = W * rng.uniform(0, 1), H * rng.uniform(0.06, 0.16)
        cy = horizon - r * rng.uniform(0.3, 1.2)
        draw.ellipse([cx - r * 1.3, cy - r, cx + r * 1.3, cy + r], fill=ID["vegetation"])

    draw.rectangle([0, horizon, W, H], fill=ID["sidewalk"])
    vanish = W * rng.uniform(0.4, 0.6)
    left, right = W * rng.uniform(-0.15, 0.2), W * rng.uniform(0.8, 1.15)
    if rng.random() < 0.5:
        side = rng.choice([-1, 1])
        edge = 0 if side < 0 else W
        draw.polygon([(edge, horizon), (edge, H * rng.uniform(0.6, 0.8)), (edge - side * W * 0.15, horizon)], fill=ID["terrain"])
    draw.polygon([(vanish - W * 0.03, horizon), (vanish + W * 0.03, horizon), (right, H), (left, H)], fill=ID["road"])

    def road_x(y: float, t: float) -> float:
        """x at height y, fraction t across the road (0 left edge, 1 right edge)."""
        f = (y - horizon) / (H - horizon)
        lo = vanish - W * 0.03 + (left - vanish + W * 0.03) * f
        hi = vanish + W * 0.03 + (right - vanish - W * 0.03) * f
        return lo + t * (hi - lo)

    for _ in range(rng.integers(1, 4)):
        base = horizon + (H - horizon) * rng.uniform(0.05, 0.5)
        scale = (base - horizon) / (H - horizon) + 0.1
        px = road_x(base, rng.choice([rng.uniform(-0.6, -0.1), rng.uniform(1.1, 1.6)]))
        pw, top = max(1.0, W * 0.02 * scale), base - H * rng.uniform(0.3, 0.5) * scale * 2
        draw.rectangle([px - pw, top, px + pw, base], fill=ID["pole"])
        if rng.random() < 0.5:
            s = W * 0.04 * scale
            draw.rectangle([px - s, top - s, px + s, top + s], fill=ID["traffic sign"])
        else:
            draw.rectangle([px - pw * 2.5, top, px + pw * 2.5, top + W * 0.06 * scale], fill=ID["traffic light"])

    objects = []
    for k in range(rng.integers(1, max_objects + 1)):
        base = horizon + (H - horizon) * rng.uniform(0.05, 0.75)
        objects.append((base, "person", k, road_x(base, rng.choice([rng.uniform(-0.5, -0.05), rng.uniform(1.05, 1.5)]))))
    for k in range(rng.integers(1, max_objects + 1)):
        base = horizon + (H - horizon) * rng.uniform(0.1, 0.9)
        objects.append((base, "car", k, road_x(base, rng.uniform(0.15, 0.85))))
    for base, kind, k, cx in sorted(objects):  # far ones first: near ones occlude them
        scale = (base - horizon) / (H - horizon) + 0.1
        value = ID[kind] * 1000 + k
        if kind == "person":
            w, h = W * 0.03 * scale, H * 0.36 * scale
            box = [cx - w, base - h, cx + w, base]
            draw.ellipse(box, fill=ID[kind])
            draw_inst.ellipse(box, fill=value)
        else:
            w, h = W * 0.11 * scale * rng.uniform(0.8, 1.2), H * 0.16 * scale
            body = [cx - w, base - h * 0.6, cx + w, base]
            roof = [cx - w * 0.6, base - h, cx + w * 0.6, base - h * 0.5]
            for box in (body, roof):
                draw.rectangle(box, fill=ID[kind])
                draw_inst.rectangle(box, fill=value)

    if rng.random() < 0.5:
        cx, r = W * rng.uniform(0, 1), H * 0.04
        draw.rectangle([cx - r, horizon + r, cx + r, horizon + 2.5 * r], fill=ID["static"])
    bonnet = H * rng.uniform(0.9, 0.96)
    draw.ellipse([-W * 0.2, bonnet, W * 1.2, bonnet + H * 0.3], fill=ID["ego vehicle"])
    border = max(1, round(W * 0.006))
    draw.rectangle([0, 0, W - 1, H - 1], outline=ID["rectification border"], width=border)

    label_ids = np.asarray(labels, dtype=np.uint8)
    drawn = np.asarray(instances, dtype=np.int64)
    keep = HAS_INSTANCES[label_ids] & (drawn // 1000 == label_ids)
    instance_ids = np.where(keep, drawn, label_ids).astype(np.uint16)
    return label_ids, instance_ids


def render(rng: np.random.Generator, label_ids: np.ndarray, instance_ids: np.ndarray) -> np.ndarray:
    """An RGB image for a label map: jittered class colours, one colour per car, noise."""
    palette = np.zeros((256, 3), dtype=np.float64)
    for name, colour in COLOURS.items():
        palette[ID[name]] = np.clip(np.array(colour) * rng.uniform(0.85, 1.15, 3), 0, 255)
    image = palette[label_ids]
    cars = np.unique(instance_ids[instance_ids // 1000 == ID["car"]])
    for car in cars:
        hue = rng.uniform(20, 200, 3) * rng.uniform(0.3, 1.0)
        image[instance_ids == car] = hue
    h, w = label_ids.shape
    rows = np.linspace(1.15, 0.9, h)[:, None, None]  # light falls from above
    image = image * rows * rng.uniform(0.8, 1.2) + rng.normal(0, 7, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _unique_names(rng: np.random.Generator, cities: tuple[str, ...], count: int) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    while len(names) < count:
        city = cities[len(names) % len(cities)]
        name = f"{city}_{int(rng.integers(0, 1_000_000)):06d}_{int(rng.integers(0, 1_000_000)):06d}"
        names.setdefault(name, city)
    return [(city, name) for name, city in names.items()]


def _write_image(source: Path, split: str, city: str, name: str, seed: int, index: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, index])
    label_ids, instance_ids = draw_scene(rng, *size)
    image_dir, gt_dir = source / "leftImg8bit" / split / city, source / "gtFine" / split / city
    image_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render(rng, label_ids, instance_ids)).save(image_dir / f"{name}_leftImg8bit.png")
    Image.fromarray(label_ids).save(gt_dir / f"{name}_gtFine_labelIds.png")
    Image.fromarray(instance_ids).save(gt_dir / f"{name}_gtFine_instanceIds.png")


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    """Write `out/source` (Cityscapes layout) and `out/manifests` (official pickles)."""
    size = (options["width"], options["height"])
    n_train, n_val, n_test, unused = options["train_images"], options["val_images"], options["test_images"], options["unused_images"]
    rng = np.random.default_rng(seed)
    train_names = _unique_names(rng, TRAIN_CITIES, n_train + n_val + unused)
    val_names = _unique_names(rng, VAL_CITIES, n_test + unused)

    with atomic_path(out) as staged:
        source = staged / "source"
        for split, names in (("train", train_names), ("val", val_names)):
            for index, (city, name) in enumerate(names):
                _write_image(source, split, city, name, seed, index, size)
        paths = [f"{city}/{name}_leftImg8bit.png" for city, name in train_names]
        order = rng.permutation(len(paths))
        train_list = [paths[i] for i in order[:n_train]]
        val_list = [paths[i] for i in order[n_train : n_train + n_val]]
        test_paths = [f"{city}/{name}_leftImg8bit.png" for city, name in val_names]
        chosen = rng.permutation(len(test_paths))[:n_test]
        ids = set()
        while len(ids) < n_test:
            ids.add(int(rng.integers(1, 2**63, dtype=np.int64)))
        test_map = {test_paths[i]: number for i, number in zip(chosen, rng.permutation(sorted(ids)).tolist())}

        manifests = staged / "manifests"
        dump_plain_pickle(train_list, manifests / "train.p", protocol=MANIFEST_PROTOCOL)
        dump_plain_pickle(val_list, manifests / "val.p", protocol=MANIFEST_PROTOCOL)
        dump_plain_pickle(test_map, manifests / "test.p", protocol=MANIFEST_PROTOCOL)
    return {"source": out / "source", "manifests": out / "manifests"}
