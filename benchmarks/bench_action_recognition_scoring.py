"""Benchmark the mod-UCF101 scorer at the official scale against the official algorithm.

    .venv/bin/python benchmarks/bench_action_recognition_scoring.py [--clips 3783] [--repeat 3]

Writes a test ground truth of 3,783 clips over 101 classes and plausible submissions (five
ranked labels per clip, about 60 % right at top-1, in shuffled order; a copy with 1 % of the
top-1 labels out of range for the official mode), then times viprepro's scorer in official
and strict mode against a plain implementation of the official script's algorithm (a
`list.index` look-up per clip and sklearn's confusion matrix per k) on the same files, and
checks that they give the same numbers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def make_files(work: Path, clips: int) -> tuple[Path, Path, Path]:
    """The ground truth, a valid submission, and the same with 1 % top-1 labels out of range."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.resize(np.arange(1, 102), clips))
    names = [f"video_test_{i:07}.avi" for i in range(1, clips + 1)]
    valid, quirky = [], []
    for name, label in zip(names, labels):
        others = rng.choice(np.setdiff1d(np.arange(1, 102), [label]), 5, replace=False)
        ranking = others.copy()
        if rng.random() < 0.6:
            ranking[0] = label
        elif rng.random() < 0.5:
            ranking[rng.integers(1, 5)] = label
        valid.append(" ".join([name, *map(str, ranking)]))
        if rng.random() < 0.01:
            ranking[0] = 102
        quirky.append(" ".join([name, *map(str, ranking)]))
    order = rng.permutation(clips)
    (work / "gt.txt").write_text("".join(f"{n} {label}\n" for n, label in zip(names, labels)))
    (work / "valid.txt").write_text("".join(valid[i] + "\n" for i in order))
    (work / "quirky.txt").write_text("".join(quirky[i] + "\n" for i in order))
    return work / "gt.txt", work / "valid.txt", work / "quirky.txt"


def official_algorithm(gt: Path, submission: Path) -> list[float]:
    """The official script's steps, for files where every line has a clip and labels."""
    from sklearn.metrics import confusion_matrix

    clips, rankings = [], []
    for line in submission.read_text().splitlines(keepends=True):
        parts = line.split(" ")
        clips.append(parts[0])
        rankings.append([int(x) for x in parts[1:]])
    truth = [(line.split(" ")[0], int(line.split(" ")[1])) for line in gt.read_text().splitlines(keepends=True)]
    scores = []
    for k in (1, 3, 5):
        y_true, y_pred = [], []
        for clip, label in truth:
            ranked = rankings[clips.index(clip)]
            y_true.append(label)
            y_pred.append(label if label in ranked[:k] else ranked[0])
        matrix = confusion_matrix(y_true, y_pred, labels=list(range(1, 102))).astype(float)
        scores.append(float(np.mean(np.diag(matrix) / matrix.sum(axis=1))))
    return scores


def best_of(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3783)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from benchlog import record

    from viprepro.tasks.action_recognition import scoring

    with tempfile.TemporaryDirectory() as tmp:
        gt, valid, quirky = make_files(Path(tmp), args.clips)
        print(f"clips: {args.clips}, classes: 101, best of {args.repeat}")
        for mode, submission in (("official", quirky), ("strict", valid)):
            baseline, reference = best_of(args.repeat, lambda: official_algorithm(gt, submission))
            seconds, scores = best_of(args.repeat, lambda: scoring.score(gt, submission, Path(tmp) / mode, mode=mode, options={}))
            ours = [scores["top1"], scores["top3"], scores["top5"]]
            same = "identical" if ours == reference else f"DIFFERENT {ours}"
            print(
                f"{submission.name:10s} official algorithm (list.index + sklearn) {baseline * 1000:7.1f} ms; "
                f"viprepro {mode:8s} mode {seconds * 1000:6.1f} ms: {baseline / seconds:5.1f}x faster; top-1/3/5 {same}: "
                + ", ".join(f"{x:.6f}" for x in reference)
            )
            record(
                f"action-recognition scoring, {args.clips:,} clips, {mode} mode, vs the official algorithm",
                ours=seconds,
                baseline=baseline,
                unit="s",
                ratio=baseline / seconds,
                note="identical top-1/3/5" if ours == reference else "SCORES DIFFER",
            )


if __name__ == "__main__":
    main()
