"""A CPU-sized synthetic SynergyReID in the raw zip's layout and file naming.

Each identity is a player in the kit (shirt and shorts colours) of one of a few teams per
split, told apart from team-mates by skin colour, build and a shirt pattern (plain, hoop or
vertical stripe) of its own colour; one sequence of `frames` frames shows the player at slightly
different positions, sizes and brightness on a court-coloured background, so identity is
learnable from colour and shape and transfers to identities never seen in training, as
re-identification asks. As in the challenge, train, val and test identities are disjoint;
a val or test sequence gives one query (its first frame) and its other frames to the
gallery; test images are renamed to distinct random numbers per folder, and their identities
go to `manifests/test_identities.csv` (the organisers' file, never in the public subset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.files.fileio import atomic_path
from viprepro.tasks.reidentification.layout import DATA_ROOT, FOLDERS, TEST_IDENTITIES, TRAIN_DIR, person_name, table_text

DEFAULTS = {
    "train_ids": 24,
    "val_ids": 8,
    "test_ids": 12,
    "frames": 8,
    "image_height": 64,
    "image_width": 32,
    "test_number_max": 100_000,
    "quality": 90,
    "teams": 2,
}


def _teams(rng: np.random.Generator, count: int) -> list[dict]:
    """Team kits: players of a team share their shirt and shorts colours."""
    return [{"shirt": rng.integers(0, 256, 3), "shorts": rng.integers(0, 256, 3)} for _ in range(count)]


def _appearance(rng: np.random.Generator, teams: list[dict]) -> dict:
    """A player: the kit of one team, and what tells team-mates apart (skin, build, a shirt
    pattern and its colour)."""
    return {
        **teams[int(rng.integers(len(teams)))],
        "skin": np.array([rng.integers(90, 240), rng.integers(60, 190), rng.integers(40, 150)]),
        "pattern": int(rng.integers(0, 3)),
        "stripe": rng.integers(0, 256, 3),
        "build": rng.uniform(0.8, 1.2),
    }


def _frame(look: dict, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One crop of a player: head, shirt (with its pattern), shorts, legs, on a noisy court."""
    h = int(round(height * rng.uniform(0.9, 1.15)))
    w = int(round(width * rng.uniform(0.9, 1.15)))
    court = np.array([176, 132, 88]) + rng.integers(-20, 21, 3)
    image = np.clip(court + rng.normal(0, 10, (h, w, 3)), 0, 255)
    cx = w / 2 + rng.uniform(-0.08, 0.08) * w
    half = 0.33 * look["build"] * w
    top = rng.uniform(0.02, 0.08) * h
    body = h - top - rng.uniform(0.0, 0.05) * h

    def box(y0, y1, x0, x1, colour):
        ys, xs = slice(max(0, int(y0)), min(h, int(y1))), slice(max(0, int(x0)), min(w, int(x1)))
        image[ys, xs] = colour + rng.normal(0, 6, 3)

    head = 0.14 * body
    box(top, top + head, cx - 0.18 * w, cx + 0.18 * w, look["skin"])
    shirt_top, shirt_bottom = top + head, top + 0.55 * body
    box(shirt_top, shirt_bottom, cx - half, cx + half, look["shirt"])
    if look["pattern"] == 1:  # a hoop across the shirt
        mid = (shirt_top + shirt_bottom) / 2
        box(mid - 0.05 * body, mid + 0.05 * body, cx - half, cx + half, look["stripe"])
    elif look["pattern"] == 2:  # a vertical stripe
        box(shirt_top, shirt_bottom, cx - 0.08 * w, cx + 0.08 * w, look["stripe"])
    box(shirt_bottom, top + 0.75 * body, cx - 0.9 * half, cx + 0.9 * half, look["shorts"])
    box(top + 0.75 * body, top + body, cx - 0.22 * w, cx - 0.04 * w, look["skin"])
    box(top + 0.75 * body, top + body, cx + 0.04 * w, cx + 0.22 * w, look["skin"])
    image = image * rng.uniform(0.8, 1.2)
    return np.clip(image, 0, 255).astype(np.uint8)


def _save(array: np.ndarray, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="JPEG", quality=quality)


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    opts = {**DEFAULTS, **options}
    rng = np.random.default_rng(seed)
    teams = {split: _teams(rng, opts["teams"]) for split in ("train", "val", "test")}  # each split its own games
    size = (opts["image_height"], opts["image_width"])
    frames, quality = opts["frames"], opts["quality"]
    with atomic_path(out) as staged:
        root = staged / "source" / DATA_ROOT
        (staged / "manifests").mkdir(parents=True)
        pid = 0
        for _ in range(opts["train_ids"]):
            look = _appearance(rng, teams["train"])
            for frame in range(1, frames + 1):
                _save(_frame(look, rng, *size), root / TRAIN_DIR / person_name(pid, 1, frame), quality)
            pid += 1
        for _ in range(opts["val_ids"]):
            look = _appearance(rng, teams["val"])
            for frame in range(1, frames + 1):
                role = "query" if frame == 1 else "gallery"
                _save(_frame(look, rng, *size), root / FOLDERS[("val", role)] / person_name(pid, 1, frame), quality)
            pid += 1
        test_images = {"query": [], "gallery": []}  # (person id, frame array)
        for _ in range(opts["test_ids"]):
            look = _appearance(rng, teams["test"])
            for frame in range(1, frames + 1):
                test_images["query" if frame == 1 else "gallery"].append((pid, _frame(look, rng, *size)))
            pid += 1
        rows = []
        for role, images in test_images.items():
            numbers = rng.choice(opts["test_number_max"], size=len(images), replace=False)
            for (person, array), number in sorted(zip(images, numbers.tolist()), key=lambda item: item[1]):
                _save(array, root / FOLDERS[("test", role)] / f"{number}.jpeg", quality)
                rows.append((role, number, person, f"{number}.jpeg"))
        (staged / "manifests" / TEST_IDENTITIES).write_text(table_text(rows), encoding="utf-8")
    return {"source": Path(out) / "source", "manifests": Path(out) / "manifests"}
