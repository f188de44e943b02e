"""Top-1 accuracy, as the official scorer computes it and as a strict reviewer would.

Official mode mirrors the challenge grader: both CSVs read with pandas (first row is the
header, columns by position), predictions looked up by id, so only ids present in both files
count, extra ids are ignored, a duplicated id keeps its last row, and a file without a
header silently loses its first row. Strict mode first refuses anything the validator
objects to, then scores every test image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from viprepro.errors import UserError, ValidationFailed
from viprepro.files.scores_io import write_scores
from viprepro.files.submission_io import check_file, encoding_problem
from viprepro.tasks.classification import submission as csv_format

SCORES_TXT = "scores.txt"


def _official_table(path: Path, max_mb: float) -> pd.DataFrame:
    check_file(path, max_mb=max_mb)
    with open(path, "rb") as fh:
        problem = encoding_problem(fh.read(4))
    if problem:
        raise UserError(f"the official scorer cannot read this file: {problem}", path=path)
    try:
        table = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise UserError(
            f"the official scorer cannot read this file ({type(exc).__name__}: {str(exc).splitlines()[0]})", path=path
        ) from None
    if table.shape[1] < 2:
        raise UserError("the official scorer needs two columns (image id, prediction)", path=path)
    table = table.iloc[:, :2]
    table.columns = ["id", "label"]
    return table.drop_duplicates("id", keep="last")


def official_matches(gt: Path, submission: Path, *, max_mb: float = csv_format.DEFAULT_MAX_MB) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, predicted labels) of the ids present in both files, official rules."""
    truth = _official_table(gt, max_mb=float("inf"))
    predicted = _official_table(submission, max_mb)
    merged = truth.merge(predicted, on="id", how="inner", suffixes=("_true", "_pred"))
    return merged["label_true"].to_numpy(), merged["label_pred"].to_numpy()


def strict_matches(
    gt: Path, submission: Path, num_classes: int, *, max_mb: float = csv_format.DEFAULT_MAX_MB
) -> tuple[np.ndarray, np.ndarray]:
    truth = csv_format.read_ground_truth(gt)
    problems = csv_format.validate(truth, submission, num_classes, max_mb=max_mb)
    if problems:
        raise ValidationFailed(submission, problems)
    table = pd.read_csv(submission, dtype={"Image IDs": str, "Predictions": np.int64})
    predicted = dict(zip(table["Image IDs"], table["Predictions"]))
    ids = list(truth)
    return np.array([truth[i] for i in ids]), np.array([predicted[i] for i in ids])


def per_class_accuracy(y_true: np.ndarray, hits: np.ndarray, num_classes: int) -> dict[str, float]:
    total = np.bincount(y_true, minlength=num_classes)
    correct = np.bincount(y_true, weights=hits, minlength=num_classes)
    return {str(c): float(correct[c] / total[c]) for c in np.flatnonzero(total)}


def infer_num_classes(gt: Path) -> int:
    """Classes in the ground truth: the test split holds every class (1000 for ImageNet)."""
    return max(csv_format.read_ground_truth(gt).values()) + 1


def score(
    gt: Path, submission: Path, out: Path, *, mode: str, num_classes: int | None = None, max_mb: float = csv_format.DEFAULT_MAX_MB
) -> dict:
    num_classes = num_classes or infer_num_classes(gt)
    if mode == "official":
        y_true, y_pred = official_matches(gt, submission, max_mb=max_mb)
        if len(y_true) == 0:
            raise UserError(
                "no image id of the submission is in the ground truth (the official scorer divides by zero here)", path=submission
            )
    elif mode == "strict":
        y_true, y_pred = strict_matches(gt, submission, num_classes, max_mb=max_mb)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    hits = np.asarray(y_true == y_pred, dtype=bool)
    top1 = float(hits.mean())
    scores = {
        "task": "classification",
        "mode": mode,
        "top1": top1,
        "n_scored": int(len(y_true)),
        "per_class_accuracy": per_class_accuracy(y_true.astype(np.int64), hits, num_classes),
    }
    write_scores(out, SCORES_TXT, f"Top1 accuracy: {top1:.8f}\n", scores)
    return scores
