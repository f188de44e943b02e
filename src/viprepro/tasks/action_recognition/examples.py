"""The test predictions the scoring step draws: frames of example clips and the confusion matrix's labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viprepro.report.examples import DEFAULT_COUNT, Example, Labels, name_of, pick, thumbnail

CLIP_FRAMES = 4


def _action_pairs(gt: Path, submission: Path, subset: Path) -> tuple[list[str], list[int], list[int], list[str]]:
    from viprepro.tasks.action_recognition import scoring
    from viprepro.tasks.action_recognition.annotations import read_labelled_clips
    from viprepro.tasks.action_recognition.submission import read_official

    names = scoring.class_names(Path(gt), {})
    truth = read_labelled_clips(Path(gt), len(names))
    clips, rankings = read_official(Path(submission))
    top1 = {clip: ranking[0] for clip, ranking in zip(clips, rankings) if ranking}
    kept = [clip for clip in truth if clip in top1]
    return kept, [truth[c] - 1 for c in kept], [top1[c] - 1 for c in kept], names


def labels(gt: Path, submission: Path, subset: Path) -> Labels:
    _, y_true, y_pred, names = _action_pairs(gt, submission, subset)
    return Labels(np.array(y_true), np.array(y_pred), names)


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    clips, y_true, y_pred, names = _action_pairs(gt, submission, subset)
    return video_examples([Path(subset) / "videos" / c for c in clips], clips, y_true, y_pred, names, count)


def video_examples(
    paths: list[Path], clips: list[str], y_true: list[int], y_pred: list[int], names: list[str], count: int = DEFAULT_COUNT
) -> tuple[list[Example], str]:
    """Frames of `count` picked videos (right and wrong top-1 predictions, labels 0-based)."""
    from viprepro.tasks.action_recognition import video_io

    examples = []
    for i in pick([t == p for t, p in zip(y_true, y_pred)], count):
        path = paths[i]
        total = video_io.probe(path).frames or CLIP_FRAMES
        wanted = sorted({int(f) for f in np.linspace(0, max(0, total - 1), CLIP_FRAMES).round()})
        frames = [thumbnail(frame) for frame in video_io.decode(path, wanted)]
        examples.append(
            Example(
                frames,
                f"{clips[i]}: pred {name_of(names, y_pred[i])}, true {name_of(names, y_true[i])}",
                y_true[i] == y_pred[i],
                [f"frame {f}" for f in wanted],
            )
        )
    return examples, f"{CLIP_FRAMES} frames spread over each clip; green: top-1 prediction right, red: wrong"
