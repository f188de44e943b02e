"""Mean per-class top-1/3/5 accuracy, as the official mod-UCF101 scorer computes it.

For each k the official script builds a pseudo-prediction per clip (the true label if it is
among the first k labels, else the first label), then a confusion matrix over labels 1..K
(101 in the challenge) and averages its row-normalised diagonal. Here the same numbers come
from two bincounts per k, in the same float64 operations, so they match to the last bit.

Official mode keeps the script's deterministic quirks (labels outside 1..K are dropped from
numerator and denominator, duplicate clips use their first line, unknown clips are ignored,
a line without labels shifts the labels of later lines) and refuses where the script would
draw an unseeded random label (a clip without a line, or a ranking that starts with 0):
the number would change from run to run. Strict mode refuses every problem `validate` finds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viprepro.errors import UserError, ValidationFailed
from viprepro.files.scores_io import write_scores
from viprepro.tasks.action_recognition import submission as text_format
from viprepro.tasks.action_recognition.annotations import CLASS_INDEX, read_class_index, read_labelled_clips

TOPK = (1, 3, 5)
SCORES_TXT = "scores.txt"
UCF101_CLASSES = 101
SHOWN = 5


def class_names(gt: Path, options: dict) -> list[str]:
    """Class names by label (index 0 is label 1): from --class-index, or the classInd file
    beside the ground truth, else the 101 unnamed classes of the challenge."""
    explicit = options.get("class_index")
    path = Path(explicit) if explicit else Path(gt).with_name(CLASS_INDEX)
    if explicit or path.is_file():
        return [name for _, name in sorted(read_class_index(path))]
    return [str(label) for label in range(1, UCF101_CLASSES + 1)]


def pseudo_predictions(truth: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """len(TOPK) x N: the true label where it is in the first k labels, else the first label.

    `ranked` is N x 5, padded with 0 (never a true label) where a line has fewer labels.
    """
    return np.stack([np.where((ranked[:, :k] == truth[:, None]).any(axis=1), truth, ranked[:, 0]) for k in TOPK])


def mean_class_accuracy(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> tuple[float, np.ndarray]:
    """(mean over classes, per-class accuracy); predictions outside 1..K are left out."""
    kept = (predicted >= 1) & (predicted <= num_classes)
    clips = np.bincount(truth[kept] - 1, minlength=num_classes).astype(np.float64)
    hits = np.bincount(truth[kept & (predicted == truth)] - 1, minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore"):
        per_class = hits / clips
    return float(np.mean(per_class)), per_class


def padded(rankings: list[list[int]]) -> np.ndarray:
    """The first 5 labels of each ranking, padded with 0; labels beyond int64 become -1
    (out of range either way, and neither 0 nor a true label)."""
    table = np.zeros((len(rankings), max(TOPK)), dtype=np.int64)
    for row, labels in enumerate(rankings):
        head = [label if abs(label) < 2**62 else -1 for label in labels[: max(TOPK)]]
        table[row, : len(head)] = head
    return table


def official_rankings(
    truth: dict[str, int], submission: Path, *, max_mb: float = text_format.DEFAULT_MAX_MB
) -> tuple[np.ndarray, list[str]]:
    """Each ground-truth clip's ranking as the official script finds it, and notes on quirks.

    Two passes over the file, so that memory holds the test clips' rankings only, whatever
    the file holds: the first finds where each test clip is, the second takes the label
    lists at those positions (they differ once a line without labels shifts them).
    """
    first: dict[str, int] = {}
    clips = lines = repeated = unknown = 0
    for _, clip, _ in text_format.iter_official(submission, max_mb=max_mb):
        lines += 1
        if clip is None:
            continue
        if clip not in truth:
            unknown += 1
        elif clip in first:
            repeated += 1
        else:
            first[clip] = clips
        clips += 1
    missing = [clip for clip in truth if clip not in first]
    if missing:
        raise UserError(
            f"{len(missing)} test clip(s) have no line the official scorer can read (e.g. {', '.join(missing[:SHOWN])}); it gives "
            "each an unseeded random label, so its score is not reproducible. Refusing to invent one; --mode strict lists every problem.",
            path=submission,
        )
    wanted = set(first.values())
    found = {
        position: labels
        for position, (_, _, labels) in enumerate(text_format.iter_official(submission, max_mb=max_mb))
        if position in wanted
    }
    ranked = padded([found[first[clip]] for clip in truth])
    notes = []
    if lines > clips:
        notes.append(f"{lines - clips} line(s) without labels shift the labels of every later line, as in the official scorer")
    if repeated:
        notes.append(f"{repeated} repeated clip line(s) ignored (the first line of a clip counts)")
    if unknown:
        notes.append(f"{unknown} line(s) of clips not in the ground truth ignored")
    return ranked, notes


def refuse_random_draws(names: list[str], truth: np.ndarray, ranked: np.ndarray, submission: Path) -> None:
    """The official script draws a random label where the truth is not in the first k labels
    and the ranking starts with 0 (a shifted label-less line, or a literal 0)."""
    hit = np.stack([(ranked[:, :k] == truth[:, None]).any(axis=1) for k in TOPK])
    drawn = np.flatnonzero((~hit).any(axis=0) & (ranked[:, 0] == 0))
    if len(drawn):
        shown = ", ".join(names[i] for i in drawn[:SHOWN])
        raise UserError(
            f"the official scorer draws an unseeded random label for {len(drawn)} clip(s) whose ranking starts with 0 "
            f"(e.g. {shown}; a line without labels shifts later lines onto them), so its score is not reproducible. "
            "Refusing to invent one; --mode strict lists every problem.",
            path=submission,
        )


def score(gt: Path, submission: Path, out: Path, *, mode: str, options: dict) -> dict:
    names = class_names(gt, options)
    max_mb = options.get("max_submission_mb") or text_format.DEFAULT_MAX_MB
    truth_by_clip = read_labelled_clips(gt, len(names))
    if not truth_by_clip:
        raise UserError("the ground truth lists no clip", path=gt)
    truth = np.fromiter(truth_by_clip.values(), dtype=np.int64, count=len(truth_by_clip))
    if mode == "official":
        ranked, notes = official_rankings(truth_by_clip, submission, max_mb=max_mb)
        refuse_random_draws(list(truth_by_clip), truth, ranked, submission)
    elif mode == "strict":
        rankings, problems = text_format.parse_strict(submission, truth_by_clip, len(names), max_mb=max_mb)
        if problems:
            raise ValidationFailed(submission, problems)
        ranked, notes = padded([rankings[clip] for clip in truth_by_clip]), []
    else:
        raise ValueError(f"unknown mode {mode!r}")

    predicted = pseudo_predictions(truth, ranked)
    results = [mean_class_accuracy(truth, row, len(names)) for row in predicted]
    per_class = results[0][1]
    empty = [names[c] for c in np.flatnonzero(np.isnan(per_class))]
    if empty:
        raise UserError(
            f"class(es) {', '.join(empty[:SHOWN])} have no clip left (no test clip, or every prediction outside 1..{len(names)}): "
            "the official scorer reports nan here",
            path=submission,
        )
    dropped = [int(((row < 1) | (row > len(names))).sum()) for row in predicted]
    if any(dropped):
        notes.append(
            f"pseudo-predictions outside 1..{len(names)} dropped from numerator and denominator (top-1/3/5: {'/'.join(map(str, dropped))})"
        )
    scores = {
        "task": "action_recognition",
        "mode": mode,
        **{f"top{k}": mean for k, (mean, _) in zip(TOPK, results)},
        "n_scored": int(len(truth)),
        "per_class_accuracy": {name: float(acc) for name, acc in zip(names, per_class)},
        "notes": notes,
    }
    text = "".join(f"Top-{k} accuracy: {mean}\n" for k, (mean, _) in zip(TOPK, results))
    write_scores(out, SCORES_TXT, text, scores)
    return scores
