"""The figures the scoring step draws from the hidden test ground truth, and their helpers.

Which figures a task has, and what is in them, is the task's business (`Task.figure_kinds`,
`Task.figure_data`, usually in `tasks/<task>/examples.py`): each reader uses the task's own
parsers (the same files the scorer read), picks a fixed, reproducible set of samples with
`pick` (half wrong, half right when there are both, in test order) and returns
`figures.Example`s or the `Labels` of a confusion matrix. Only the scoring step calls this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from viprepro.report.figures import Example

__all__ = ["DEFAULT_COUNT", "Example", "Labels", "name_of", "pick", "rgb", "spread", "thumbnail", "render"]

DEFAULT_COUNT = 8


@dataclass
class Labels:
    """Top-1 labels of the test samples both files have, for the confusion matrix."""

    y_true: np.ndarray
    y_pred: np.ndarray
    names: list[str]


def pick(correct: list[bool], count: int) -> list[int]:
    """Indices to show: up to half wrong ones, the rest right ones, each in test order."""
    wrong = [i for i, ok in enumerate(correct) if not ok]
    right = [i for i, ok in enumerate(correct) if ok]
    n_wrong = min(len(wrong), max(count // 2, count - len(right)))
    chosen = spread(wrong, n_wrong) + spread(right, count - n_wrong)
    return sorted(chosen)


def spread(items: list[int], count: int) -> list[int]:
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def rgb(path: Path, max_side: int = 256) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        return np.asarray(image)


def name_of(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else f"#{index}"


def thumbnail(frame: np.ndarray, max_side: int = 200) -> np.ndarray:
    image = Image.fromarray(frame)
    image.thumbnail((max_side, max_side))
    return np.asarray(image)


def render(task, gt: Path, submission: Path, subset: Path, folder: Path, *, title: str = "") -> dict:
    """Write the figures that need the ground truth into `folder`; returns what was written.

    A figure that cannot be drawn (an unusual but scorable submission, say) does not fail the
    score: the reason is returned (and kept in figures.json) so the certificate can say so.
    """
    folder = Path(folder)
    from viprepro.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    draws = {"examples": _draw_examples, "confusion_matrix": _draw_confusion}
    jobs = {kind: draws[kind] for kind in task.figure_kinds}
    made: dict[str, dict] = {}
    for name, draw in jobs.items():
        out = folder / f"{name}.png"
        try:
            draw(task, Path(gt), Path(submission), Path(subset), out, title)
            made[name] = {"file": out.name}
        except Exception as exc:  # noqa: BLE001 - reported in figures.json and the certificate
            made[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return made


def _draw_examples(task, gt: Path, submission: Path, subset: Path, out: Path, title: str) -> None:
    from viprepro.report.figures import example_grid

    examples, note = task.figure_data("examples", gt, submission, subset)
    if not examples:
        raise ValueError("no test sample has both a prediction and a ground truth to show")
    example_grid(examples, out, title=f"Example test predictions{title}", note=note)


def _draw_confusion(task, gt: Path, submission: Path, subset: Path, out: Path, title: str) -> None:
    from viprepro.report.figures import confusion_counts, confusion_matrix

    labels = task.figure_data("confusion_matrix", gt, submission, subset)
    k = max(len(labels.names), int(labels.y_true.max(initial=-1)) + 1)
    names = labels.names + [f"#{i}" for i in range(len(labels.names), k)]
    accuracy = float((labels.y_true == labels.y_pred).mean()) if len(labels.y_true) else float("nan")
    confusion_matrix(
        confusion_counts(labels.y_true, labels.y_pred, k),
        names,
        out,
        title=f"Confusion matrix{title}\ntop-1 {accuracy:.3f} over {len(labels.y_true)} test samples",
    )
