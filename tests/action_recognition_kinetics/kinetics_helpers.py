"""Helpers for the Kinetics400ViPriors tests: tiny dataset options, annotation and submission writers."""

from __future__ import annotations

import random
import string
from pathlib import Path

#: the smallest set with train, val and test videos in every class and one blocked video per split
TINY = {"num_classes": 3, "train_per_class": 3, "val_per_class": 2, "test_per_class": 2, "frames": 12, "size": 16}


def class_names(count: int) -> list[str]:
    """`count` distinct Kinetics-like lower-case names, in alphabetical order (clsIdx order)."""
    return sorted(f"action {i:03d} (synthetic)" for i in range(count))


def write_class_index(path: Path, names: list[str]) -> Path:
    path.write_text("label,idx\n" + "".join(f"{n},{i}\n" for i, n in enumerate(names, start=1)))
    return path


def video_ids(count: int, rng: random.Random) -> list[str]:
    ids: set[str] = set()
    while len(ids) < count:
        ids.add("".join(rng.choice(string.ascii_letters) for _ in range(10)))
    return sorted(ids)


def write_ground_truth(path: Path, truth: dict[str, int], names: list[str]) -> Path:
    path.write_text("label,videoid,split\n" + "".join(f"{names[i - 1]},{v},test\n" for v, i in truth.items()))
    return path


def write_lines(path: Path, lines: list[str], *, newline: str = "\n") -> Path:
    path.write_bytes("".join(line + newline for line in lines).encode())
    return path
