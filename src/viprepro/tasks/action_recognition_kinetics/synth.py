"""A synthetic Kinetics400ViPriors in the challenge's layout, CPU-sized.

The clips are the synthetic UCF-101's (`action_recognition.synth`): one shape moving over a
textured background, the class given by the motion only (a direction and a kind: drift, dash,
zigzag), everything else drawn independently of it. Here each clip gets its own background,
is encoded as MPEG-4 in MP4 and named by a random 10-letter id as in the challenge:

    source/{train,val,test}/<videoid>.mp4
    manifests/clsIdx.csv                             `label,idx`, classes in alphabetical order
    manifests/kinetics400ViPriors-{train,val}.csv    `label,videoid,split` (rows shuffled, as in the toolkit)
    manifests/kinetics400ViPriors-test-public.csv    `videoid,split`
    manifests/kinetics400ViPriors-test.csv           the organisers' test ground truth (`label,videoid,split`)
    manifests/kinetics400ViPriors_corrupted_videos.txt   edition 2022: `data/<split>/<videoid>.mp4`,
                                                      and those videos really are unreadable (truncated)
"""

from __future__ import annotations

import math
import string
from pathlib import Path

import numpy as np

from viprepro.files.fileio import atomic_path
from viprepro.tasks.action_recognition.synth import background, motion_classes, render
from viprepro.tasks.action_recognition.video_io import write_video
from viprepro.tasks.action_recognition_kinetics import TASK, has_corrupted_list
from viprepro.tasks.action_recognition_kinetics.annotations import (
    CLASS_INDEX,
    CORRUPTED,
    SPLIT_FILES,
    TEST_GT,
    format_class_index,
    format_labelled,
    format_public,
)

LETTERS = np.array(list(string.ascii_letters))
KEPT_FRACTION = 0.6  # a corrupt video keeps the first 60 % of its bytes: the MP4 index (moov) is lost


def class_list(num_classes: int) -> list[tuple[str, str, float]]:
    """(Kinetics-style lower-case name, kind, direction), in alphabetical order of the name."""
    named = [
        (f"{kind.lower()} at {round(math.degrees(direction)):03d} degrees", kind, direction)
        for _, kind, direction in motion_classes(num_classes)
    ]
    return sorted(named)


def video_ids(count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct random 10-letter ids (upper and lower case, as the challenge's)."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        for row in rng.integers(0, len(LETTERS), (count - len(ids), 10)):
            candidate = "".join(LETTERS[row])
            if candidate not in seen:
                seen.add(candidate)
                ids.append(candidate)
    return ids


def synthesize(out: Path, *, seed: int, options: dict) -> dict:
    """Write `out/source` (the videos) and `out/manifests` (the toolkit's annotations and the test ground truth)."""
    from viprepro.files.schemas_io import validate

    edition = TASK.edition_of(options)
    options = {key: value for key, value in options.items() if key != "edition"}
    validate(options, "synthetic.action_recognition_kinetics.schema.yaml", where="synthetic options")  # fills the defaults
    classes = class_list(options["num_classes"])
    names = [name for name, _, _ in classes]
    per_class = {"train": options["train_per_class"], "val": options["val_per_class"], "test": options["test_per_class"]}
    rng = np.random.default_rng([seed, 400])
    ids = iter(video_ids(sum(per_class.values()) * len(classes), rng))
    rows = {split: [(next(ids), idx) for idx in range(1, len(classes) + 1) for _ in range(count)] for split, count in per_class.items()}
    for split_rows in rows.values():
        rng.shuffle(split_rows)
    corrupted = []
    if has_corrupted_list(edition):
        for split, split_rows in rows.items():
            picked = rng.choice(len(split_rows), size=min(options["corrupted_per_split"], len(split_rows)), replace=False)
            corrupted += [(split, split_rows[i][0]) for i in sorted(picked)]
    broken = {videoid for _, videoid in corrupted}
    size, frames = options["size"], options["frames"]
    with atomic_path(out) as staged:
        for number, (split, split_rows) in enumerate(rows.items()):
            folder = staged / "source" / split
            folder.mkdir(parents=True)
            for position, (videoid, idx) in enumerate(split_rows):
                clip_rng = np.random.default_rng([seed, number, position])
                _, kind, direction = classes[idx - 1]
                path = folder / f"{videoid}.mp4"
                video = render(kind, direction, background(size, clip_rng), frames, clip_rng)
                write_video(path, video, fps=options["fps"], quality=options["quality"], container_format="mp4")
                if videoid in broken:
                    data = path.read_bytes()
                    path.write_bytes(data[: int(len(data) * KEPT_FRACTION)])
        manifests = staged / "manifests"
        manifests.mkdir()
        (manifests / CLASS_INDEX).write_text(format_class_index(names), encoding="utf-8")
        for split in ("train", "val"):
            (manifests / SPLIT_FILES[split]).write_text(format_labelled(rows[split], split, names), encoding="utf-8")
        (manifests / SPLIT_FILES["test"]).write_text(format_public([videoid for videoid, _ in rows["test"]]), encoding="utf-8")
        (manifests / TEST_GT).write_text(format_labelled(rows["test"], "test", names), encoding="utf-8")
        if has_corrupted_list(edition):
            listed = "".join(f"data/{split}/{videoid}.mp4\n" for split, videoid in corrupted)
            (manifests / CORRUPTED).write_text(listed, encoding="utf-8")
    return {"source": out / "source", "manifests": out / "manifests", "classes": names, "edition": edition, "corrupted": sorted(broken)}
