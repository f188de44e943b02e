"""Mean per-class top-1/3/5 accuracy of Kinetics400ViPriors: official and strict.

Official mode computes what `eval-kit/eval_kinetics400ViPriors.py` of the edition computes,
quirks included, with K the number of classes of clsIdx.csv (400 in the challenge, where
these are the script's constants):

- per test video and k, the pseudo-prediction is the true idx when it is among the first k
  labels, else the **k-th** label (not the first) if it lies in `range(1, K)`, else a random
  idx other than the truth (`random.randint(1, K)`, unseeded);
- the confusion matrix has `labels=range(1, K)`: **class K is dropped** (not averaged, and
  a pseudo-prediction K takes the video out of its class's count), as is any other label;
- the first line of a video counts, lines of unknown videos are ignored, a label `int()`
  cannot read (or a missing 2nd..5th label) is 1000;
- edition 2022 (`-corr`): videos of the corrupted list leave the ground truth and the
  predictions.

The two places the script draws unseeded random numbers are not left to chance: a test video
without a line is refused (as the mod-UCF101 scorer does: the script would invent its
labels), and the fallback draws are replayed with Python's `random` seeded with `draw_seed`
(so the number is the script's under `random.seed(draw_seed)`, reproducible), their count
and the range of scores any run of the script can give written into scores.json.

Strict mode refuses anything `parse_strict` objects to and reports the metric the eval-kit
README defines: per class, the share of its videos whose class is among the first k labels,
averaged over all K classes.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from viprepro.errors import UserError, ValidationFailed
from viprepro.files.scores_io import write_scores
from viprepro.tasks.action_recognition_kinetics import EDITIONS, TASK, has_corrupted_list
from viprepro.tasks.action_recognition_kinetics import submission as text_format
from viprepro.tasks.action_recognition_kinetics.annotations import CLASS_INDEX, CORRUPTED, read_class_index, read_corrupted, read_labelled

TOPK = (1, 3, 5)
SCORES_TXT = "scores.txt"
SHOWN = 5


def class_names(gt: Path, options: dict) -> list[str]:
    """From --class-index, else the clsIdx.csv beside the ground truth."""
    path = Path(options.get("class_index") or Path(gt).with_name(CLASS_INDEX))
    if not path.is_file():
        raise UserError(f"no class index: put {CLASS_INDEX} beside the ground truth or give --class-index", path=path)
    return read_class_index(path)


def blocked_videos(gt: Path, options: dict) -> set[str]:
    """Edition 2022: the corrupted list (--corrupted, else the one beside the ground truth)."""
    if not has_corrupted_list(TASK.edition_of(options)):
        if options.get("corrupted"):
            raise UserError("edition 2021 has no list of corrupted videos (its scorer has no -corr)", where="--corrupted")
        return set()
    return set(read_corrupted(Path(options.get("corrupted") or Path(gt).with_name(CORRUPTED))))


def ground_truth(gt: Path, options: dict) -> tuple[list[str], dict[str, int], set[str]]:
    names = class_names(gt, options)
    blocked = blocked_videos(gt, options)
    truth = {v: idx for v, idx in read_labelled(gt, names).items() if v not in blocked}
    if not truth:
        raise UserError("the ground truth lists no (unblocked) video", path=gt)
    return names, truth, blocked


def hits(truth: np.ndarray, ranked: np.ndarray, k: int) -> np.ndarray:
    return (ranked[:, :k] == truth[:, None]).any(axis=1)


def official_pseudo(truth: np.ndarray, ranked: np.ndarray, num_classes: int) -> np.ndarray:
    """len(TOPK) x N pseudo-predictions; 0 where the script draws a random idx."""
    rows = []
    for k in TOPK:
        fallback = ranked[:, k - 1]
        valid = (fallback >= 1) & (fallback < num_classes)  # range(1, K)
        rows.append(np.where(hits(truth, ranked, k), truth, np.where(valid, fallback, 0)))
    return np.stack(rows)


def replay_draws(truth: np.ndarray, pseudo: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Fill the draws in the script's order (video by video, k by k) from `random.Random(seed)`."""
    drawn = pseudo.copy()
    rng = random.Random(seed)
    for video, row in zip(*np.nonzero(pseudo.T == 0)):
        while True:
            label = rng.randint(1, num_classes)
            if label != truth[video]:
                drawn[row, video] = label
                break
    return drawn


def official_mean(
    truth: np.ndarray, predicted: np.ndarray, num_classes: int, kept_miss: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """sklearn's confusion_matrix with labels=range(1, K), its row-normalised diagonal and
    np.mean over it, in the same float64 operations. `kept_miss` marks misses counted in
    their class whatever their label (the range of the random draws)."""
    counted = (predicted >= 1) & (predicted < num_classes)
    if kept_miss is not None:
        counted |= kept_miss
    kept = (truth < num_classes) & counted
    clips = np.bincount(truth[kept] - 1, minlength=num_classes - 1)[: num_classes - 1].astype(np.float64)
    right = np.bincount(truth[kept & (predicted == truth)] - 1, minlength=num_classes - 1)[: num_classes - 1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = right / clips
    return float(np.mean(per_class)), per_class


def official(truth: np.ndarray, ranked: np.ndarray, num_classes: int, seed: int) -> tuple[list[tuple[float, np.ndarray]], dict]:
    pseudo = official_pseudo(truth, ranked, num_classes)
    draws = pseudo == 0
    results = [official_mean(truth, row, num_classes) for row in replay_draws(truth, pseudo, num_classes, seed)]
    low = [official_mean(truth, np.where(d, -1, row), num_classes, kept_miss=d)[0] for row, d in zip(pseudo, draws)]
    high = [official_mean(truth, np.where(d, -1, row), num_classes)[0] for row, d in zip(pseudo, draws)]
    info = {
        "count": int(draws.sum()),
        "seed": seed,
        "range": {f"top{k}": [lo, None if np.isnan(hi) else hi] for k, lo, hi in zip(TOPK, low, high)},
    }
    return results, info


def strict_means(truth: np.ndarray, ranked: np.ndarray, num_classes: int) -> list[tuple[float, np.ndarray]]:
    clips = np.bincount(truth - 1, minlength=num_classes).astype(np.float64)
    results = []
    for k in TOPK:
        right = np.bincount(truth[hits(truth, ranked, k)] - 1, minlength=num_classes).astype(np.float64)
        with np.errstate(invalid="ignore"):
            per_class = right / clips
        results.append((float(np.mean(per_class)), per_class))
    return results


def rankings_table(truth_ids: list[str], rankings: dict[str, list[int]]) -> np.ndarray:
    table = np.full((len(truth_ids), text_format.READ), text_format.MISSING_LABEL, dtype=np.int64)
    for row, videoid in enumerate(truth_ids):
        labels = rankings[videoid][: text_format.READ]
        table[row, : len(labels)] = labels
    return table


def score(gt: Path, submission: Path, out: Path, *, mode: str, options: dict) -> dict:
    edition = TASK.edition_of(options)
    names, truth_by_id, blocked = ground_truth(Path(gt), options)
    max_mb = options.get("max_submission_mb") or text_format.DEFAULT_MAX_MB
    truth = np.fromiter(truth_by_id.values(), dtype=np.int64, count=len(truth_by_id))
    ids, num_classes = list(truth_by_id), len(names)
    notes, extra = [], {}
    if mode == "official":
        found, counts = text_format.read_official(Path(submission), set(ids), blocked, max_mb=max_mb)
        missing = [v for v in ids if v not in found]
        if missing:
            raise UserError(
                f"{len(missing)} test video(s) have no line (e.g. {', '.join(missing[:SHOWN])}); the official scorer gives each an "
                "unseeded random label, so its score is not reproducible. Refusing to invent one; --mode strict lists every problem.",
                path=submission,
            )
        results, draws = official(truth, rankings_table(ids, found), num_classes, int(options.get("draw_seed") or 0))
        extra["official_draws"] = draws
        notes.append(f"class {num_classes} ({names[-1]!r}) is not scored: the official confusion matrix has labels=range(1, {num_classes})")
        if draws["count"]:
            notes.append(
                f"{draws['count']} fallback(s) drawn at random by the official scorer (k-th label outside 1..{num_classes - 1} on a miss), "
                f"replayed with random.seed({draws['seed']}); any run of the script lies in official_draws.range"
            )
        notes += [f"{n} {what} line(s) ignored" for what, n in counts.items() if n]
        per_class_names = names[:-1]
    elif mode == "strict":
        rankings, problems = text_format.parse_strict(Path(submission), ids, blocked, num_classes, max_mb=max_mb)
        if problems:
            raise ValidationFailed(submission, problems)
        results, per_class_names = strict_means(truth, rankings_table(ids, rankings), num_classes), names
    else:
        raise ValueError(f"unknown mode {mode!r}")
    per_class = results[0][1]
    empty = [per_class_names[c] for c in np.flatnonzero(np.isnan(per_class))]
    if empty:
        raise UserError(
            f"class(es) {', '.join(empty[:SHOWN])} have no video left (no test video, or every pseudo-prediction dropped): "
            "the official scorer reports nan here",
            path=submission,
        )
    if blocked:
        notes.append(f"{len(blocked)} video(s) of the corrupted list left out of the ground truth and the predictions")
    scores = {
        "task": "action_recognition_kinetics",
        "mode": mode,
        "edition": edition,
        "toolkit_commit": EDITIONS[edition],
        **{f"top{k}": mean for k, (mean, _) in zip(TOPK, results)},
        "n_scored": len(ids),
        "per_class_accuracy": {name: float(acc) for name, acc in zip(per_class_names, per_class)},
        **extra,
        "notes": notes,
    }
    text = "".join(f"Top-{k} accuracy: {mean}\n" for k, (mean, _) in zip(TOPK, results))
    write_scores(out, SCORES_TXT, text, scores)
    return scores
