"""The test predictions the scoring step draws: example images and the confusion matrix's labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viprepro.report.examples import DEFAULT_COUNT, Example, Labels, name_of, pick, rgb


def _classification_pairs(gt: Path, submission: Path, subset: Path) -> tuple[list[str], list[int], list[int], list[str]]:
    import pandas as pd

    from viprepro.tasks.classification.submission import class_names, read_ground_truth

    truth = read_ground_truth(gt)
    table = pd.read_csv(submission, dtype=str).iloc[:, :2]  # by position, a repeated id keeps its last row
    predicted = {str(i).strip(): pd.to_numeric(p, errors="coerce") for i, p in zip(table.iloc[:, 0], table.iloc[:, 1])}
    ids = [i for i in truth if i in predicted and np.isfinite(predicted[i])]
    return ids, [truth[i] for i in ids], [int(predicted[i]) for i in ids], class_names(subset)


def labels(gt: Path, submission: Path, subset: Path) -> Labels:
    _, y_true, y_pred, names = _classification_pairs(gt, submission, subset)
    return Labels(np.array(y_true), np.array(y_pred), names)


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    ids, y_true, y_pred, names = _classification_pairs(gt, submission, subset)
    chosen = pick([t == p for t, p in zip(y_true, y_pred)], count)
    examples = [
        Example(
            [rgb(Path(subset) / "test" / "imgs" / ids[i])],
            f"{ids[i]}\npred {name_of(names, y_pred[i])}\ntrue {name_of(names, y_true[i])}",
            y_true[i] == y_pred[i],
        )
        for i in chosen
    ]
    return examples, "green: predicted class is right, red: wrong"
