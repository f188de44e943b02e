"""Official and strict scoring of mod-UCF101 submissions, and every bad line the issue lists."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from action_recognition_helpers import ground_truth, write_lines

from viprepro.errors import UserError, ValidationFailed
from viprepro.tasks.action_recognition.annotations import CLASS_INDEX


def reference_scores(truth: dict[str, int], lines: list[str], num_classes: int) -> list[float]:
    """The reference card's procedure written plainly (loops and sklearn's confusion matrix,
    as the official script uses), for files whose every line has a clip and labels."""
    from sklearn.metrics import confusion_matrix

    ranked: dict[str, list[int]] = {}
    for line in lines:
        clip, *labels = line.split(" ")
        ranked.setdefault(clip, [int(x) for x in labels])
    scores = []
    for k in (1, 3, 5):
        y_true = list(truth.values())
        y_pred = [label if label in ranked[clip][:k] else ranked[clip][0] for clip, label in truth.items()]
        matrix = confusion_matrix(y_true, y_pred, labels=list(range(1, num_classes + 1))).astype(float)
        scores.append(float(np.mean(np.diag(matrix) / matrix.sum(axis=1))))
    return scores


@pytest.fixture
def three(tmp_path):
    """A 3-class ground truth (labels 1,1,2,2,3,3) with its class index beside it."""
    write_lines(tmp_path / CLASS_INDEX, ["2 Alpha", "3 Beta", "1 Gamma"])
    truth = ground_truth(tmp_path / "gt.txt", [1, 1, 2, 2, 3, 3])
    return tmp_path / "gt.txt", list(truth)


GOOD = ["1 2 3", "2 1 3", "2 3 1", "3 1 2", "3", "1 2"]


def submission(path, clips, rankings, extra=()):
    return write_lines(path, [f"{c} {r}" for c, r in zip(clips, rankings)] + list(extra))


@pytest.mark.parametrize("mode", ["official", "strict"])
def test_hand_computed_scores_and_official_text(task, three, tmp_path, mode):
    gt, clips = three
    scores = task.score(gt, submission(tmp_path / "s.txt", clips, GOOD), tmp_path / "out", mode=mode, options={})
    assert (scores["top1"], scores["top3"], scores["top5"]) == (0.5, 2.5 / 3, 2.5 / 3)
    assert (
        tmp_path / "out" / "scores.txt"
    ).read_text() == "Top-1 accuracy: 0.5\nTop-3 accuracy: 0.8333333333333334\nTop-5 accuracy: 0.8333333333333334\n"
    written = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert written["mode"] == mode and written["top1"] == 0.5
    assert written["per_class_accuracy"] == {"Gamma": 0.5, "Alpha": 0.5, "Beta": 0.5}


def test_official_matches_the_reference_procedure_bit_for_bit(task, tmp_path):
    pytest.importorskip("sklearn", reason="the reference uses sklearn's confusion matrix, as the official script does")
    rng = np.random.default_rng(3)
    labels = rng.permutation(np.repeat(np.arange(1, 102), 3))
    truth = ground_truth(tmp_path / "gt.txt", labels.tolist())
    lines = []
    for clip, label in truth.items():
        ranking = rng.choice(np.arange(1, 102), 5, replace=False)
        if rng.random() < 0.4:
            ranking[rng.integers(5)] = label
        if rng.random() < 0.1:
            ranking[rng.integers(5)] = rng.choice([102, 150, -3])  # out of range: dropped when it is the top-1 fallback
        lines.append(" ".join([clip, *map(str, ranking[: rng.integers(1, 6)])]))
    lines += [lines[7].split(" ")[0] + " 1 2 3", "video_test_9999999.avi 4"]  # a duplicate (first counts), an unknown clip
    order = rng.permutation(len(lines) - 2).tolist() + [len(lines) - 2, len(lines) - 1]
    lines = [lines[i] for i in order]
    write_lines(tmp_path / "s.txt", lines)
    scores = task.score(tmp_path / "gt.txt", tmp_path / "s.txt", tmp_path / "out", mode="official", options={})
    assert [scores["top1"], scores["top3"], scores["top5"]] == reference_scores(truth, lines, 101)
    assert any("outside 1..101 dropped" in note for note in scores["notes"])
    assert any("repeated clip" in note for note in scores["notes"]) and any("not in the ground truth" in note for note in scores["notes"])


def test_official_drops_out_of_range_labels_strict_refuses_them(task, three, tmp_path):
    gt, clips = three
    path = submission(tmp_path / "s.txt", clips, GOOD[:5] + ["7 1 2"])
    scores = task.score(gt, path, tmp_path / "out", mode="official", options={})
    assert scores["top1"] == (0.5 + 0.5 + 1.0) / 3  # clip 6 leaves numerator and denominator
    with pytest.raises(ValidationFailed, match="line 6: label 7 is outside 1..3"):
        task.score(gt, path, tmp_path / "strict", mode="strict", options={})
    assert not (tmp_path / "strict" / "scores.json").exists()


def test_official_reproduces_the_line_shift_of_a_label_less_line(task, three, tmp_path):
    gt, clips = three
    perfect = [f"{c} {label}" for c, label in zip(clips, [1, 1, 2, 2, 3, 3])]
    path = write_lines(tmp_path / "s.txt", perfect[:1] + ["", "video_test_0000099.avi 1"] + perfect[1:])
    scores = task.score(gt, path, tmp_path / "out", mode="official", options={})
    # after the blank line each clip reads the previous line's labels: clips 2..6 get 1, 1, 2, 2, 3
    assert scores["top1"] == np.mean([1.0, 0.5, 0.5])
    assert any("shift" in note for note in scores["notes"])
    with pytest.raises(ValidationFailed, match="line 2: blank line"):
        task.score(gt, path, tmp_path / "strict", mode="strict", options={})


def test_official_refuses_where_it_would_draw_a_random_label(task, three, tmp_path):
    gt, clips = three
    missing = submission(tmp_path / "missing.txt", clips[:5], GOOD[:5])
    with pytest.raises(UserError, match="1 test clip.*no line.*unseeded random label"):
        task.score(gt, missing, tmp_path / "out", mode="official", options={})
    shifted = write_lines(tmp_path / "shifted.txt", [f"{clips[0]} 1", ""] + [f"{c} {r}" for c, r in zip(clips[1:], GOOD[1:])])
    with pytest.raises(UserError, match="unseeded random label for 1 clip.*starts with 0"):
        task.score(gt, shifted, tmp_path / "out", mode="official", options={})
    assert not (tmp_path / "out").exists()


def test_a_literal_zero_is_random_only_where_the_truth_is_not_ranked(task, three, tmp_path):
    gt, clips = three
    ok = submission(tmp_path / "ok.txt", clips, GOOD[:5] + ["0 3"])  # truth 3 in top-3, but not top-1: random at k=1
    with pytest.raises(UserError, match="random"):
        task.score(gt, ok, tmp_path / "out", mode="official", options={})
    fine = submission(tmp_path / "fine.txt", clips, GOOD[:5] + ["3 0"])
    assert task.score(gt, fine, tmp_path / "out", mode="official", options={})["top1"] == (0.5 + 0.5 + 1.0) / 3


BAD_LINES = [
    ("only a clip name", lambda c: [c[0]], "line 1: clip 'video_test_0000001.avi' has no labels"),
    ("tabs", lambda c: [f"{c[0]}\t1\t2"], "line 1: contains a tab"),
    ("double spaces", lambda c: [f"{c[0]}  1 2"], "line 1: fields must be separated by single spaces"),
    ("trailing space", lambda c: [f"{c[0]} 1 2 "], "line 1: fields must be separated by single spaces"),
    ("duplicate clip", lambda c: [f"{c[0]} 1", f"{c[0]} 2"], "line 2: duplicate clip 'video_test_0000001.avi' \\(first on line 1\\)"),
    ("label 0", lambda c: [f"{c[0]} 0 1"], "line 1: label 0 is outside 1..101"),
    ("label 102", lambda c: [f"{c[0]} 1 102"], "line 1: label 102 is outside 1..101"),
    ("non-integer", lambda c: [f"{c[0]} 1.0"], "line 1: label '1.0' is not an integer"),
    ("six labels", lambda c: [f"{c[0]} 1 2 3 4 5 6"], "line 1: 6 labels; give 1 to 5"),
    ("ranked twice", lambda c: [f"{c[0]} 4 4"], "line 1: label 4 is ranked twice"),
    ("unknown clip", lambda c: ["video_test_0000999.avi 1"], "line 1: unknown clip 'video_test_0000999.avi'"),
]


@pytest.mark.parametrize("name, bad, message", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_strict_refuses_each_bad_line(task, tmp_path, name, bad, message):
    truth = ground_truth(tmp_path / "gt.txt", list(range(1, 102)))
    clips = list(truth)
    lines = bad(clips) + [f"{c} {truth[c]}" for c in clips[1:]]
    path = write_lines(tmp_path / "s.txt", lines)
    problems = task.validate(tmp_path / "gt.txt", path, {})
    assert any(re.search(message, p) for p in problems), problems
    with pytest.raises(ValidationFailed, match=message):
        task.score(tmp_path / "gt.txt", path, tmp_path / "out", mode="strict", options={})


def test_strict_refuses_a_bom_and_lists_missing_clips(task, tmp_path):
    truth = ground_truth(tmp_path / "gt.txt", list(range(1, 102)))
    lines = [f"{c} {label}" for c, label in truth.items()]
    problems = task.validate(tmp_path / "gt.txt", write_lines(tmp_path / "bom.txt", lines, bom=True), {})
    assert problems == ["line 1: starts with a UTF-8 byte-order mark (BOM), which becomes part of the first clip name; save as plain UTF-8"]
    problems = task.validate(tmp_path / "gt.txt", write_lines(tmp_path / "short.txt", lines[:-2]), {})
    assert problems == ["2 test clip(s) have no line, e.g. video_test_0000100.avi, video_test_0000101.avi"]
    assert task.validate(tmp_path / "gt.txt", write_lines(tmp_path / "ok.txt", lines), {}) == []


@pytest.mark.parametrize(
    "lines, message",
    [
        (lambda c: [f"\ufeff{c[0]} 1"] + [f"{x} 1" for x in c[1:]], "no line the official scorer can read"),  # the BOM glues onto the name
        (lambda c: [f"{c[0]}  1"] + [f"{x} 1" for x in c[1:]], "crashes on this line"),
        (lambda c: [f"{c[0]} 1.0"] + [f"{x} 1" for x in c[1:]], "crashes on this line"),
        (lambda c: [f"{c[0]}\t1"] + [f"{x} 1" for x in c[1:]], "unseeded random"),
    ],
)
def test_official_mode_refuses_what_the_official_script_cannot_score(task, tmp_path, lines, message):
    truth = ground_truth(tmp_path / "gt.txt", list(range(1, 102)))
    path = write_lines(tmp_path / "s.txt", lines(list(truth)))
    with pytest.raises(UserError, match=message):
        task.score(tmp_path / "gt.txt", path, tmp_path / "out", mode="official", options={})


def test_a_class_without_clips_is_refused_not_reported_as_nan(task, tmp_path):
    truth = ground_truth(tmp_path / "gt.txt", [1, 2, 3])  # 101 classes by default, 98 without clips
    path = write_lines(tmp_path / "s.txt", [f"{c} {label}" for c, label in truth.items()])
    with pytest.raises(UserError, match="no clip left.*nan"):
        task.score(tmp_path / "gt.txt", path, tmp_path / "out", mode="official", options={})
