"""The test predictions the scoring step draws: example videos and the confusion matrix's labels
(top-1 of the first line of each scored video; blocked videos left out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viprepro.report.examples import DEFAULT_COUNT, Example, Labels
from viprepro.tasks.action_recognition.examples import video_examples


def _pairs(gt: Path, submission: Path) -> tuple[list[str], list[int], list[int], list[str]]:
    from viprepro.tasks.action_recognition_kinetics import scoring
    from viprepro.tasks.action_recognition_kinetics.annotations import CORRUPTED
    from viprepro.tasks.action_recognition_kinetics.submission import read_official

    listed = gt.with_name(CORRUPTED).is_file()  # the scoring step passes no edition: the hidden folder says it
    names, truth, blocked = scoring.ground_truth(gt, {"edition": "2022" if listed else "2021"})
    found, _ = read_official(submission, set(truth), blocked)
    top1 = {v: labels[0] for v, labels in found.items() if 1 <= labels[0] <= len(names)}
    kept = [v for v in truth if v in top1]
    return kept, [truth[v] - 1 for v in kept], [top1[v] - 1 for v in kept], names


def labels(gt: Path, submission: Path, subset: Path) -> Labels:
    _, y_true, y_pred, names = _pairs(gt, submission)
    return Labels(np.array(y_true), np.array(y_pred), names)


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    videos, y_true, y_pred, names = _pairs(gt, submission)
    return video_examples([Path(subset) / "test" / f"{v}.mp4" for v in videos], videos, y_true, y_pred, names, count)
