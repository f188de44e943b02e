"""Official and strict scoring of Kinetics400ViPriors, against the official procedure of each edition.

`reference_scores` follows eval-kit/eval_kinetics400ViPriors.py of the named edition step by
step (read at the toolkit commits of `EDITIONS`), written here with pandas and sklearn as the
script uses them; the script's constant 400 is the class count `num_classes`, and its
unseeded `random` is seeded with the draw seed so that its draws can be compared.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from kinetics_helpers import class_names, video_ids, write_class_index, write_ground_truth, write_lines

from viprepro.errors import UserError, ValidationFailed

pd = pytest.importorskip("pandas", reason="the reference procedure reads the files with pandas, as the official script does")
sklearn_metrics = pytest.importorskip(
    "sklearn.metrics", reason="the reference uses sklearn's confusion matrix, as the official script does"
)


def reference_scores(
    pred: Path, gt: Path, class_index: Path, num_classes: int, *, edition: str, corrupted: Path | None, seed: int
) -> list[float]:
    random.seed(seed)
    blocked = [Path(line).name.split(".")[0] for line in corrupted.read_text().splitlines()] if edition == "2022" else []
    clips, columns = [], [[] for _ in range(5)]
    with open(pred) as fh:
        for line in fh.readlines():
            fields = line.split(" ")
            if len(fields) < 2:
                for column in columns:
                    column.append(1000)
                continue
            if fields[0] in blocked:
                continue
            clips.append(fields[0])
            for j, column in enumerate(columns):
                try:
                    column.append(int(fields[1:][j]))
                except (ValueError, IndexError):
                    column.append(1000)
    predictions = pd.DataFrame({"videoid": clips, **{f"cls{j + 1}": c for j, c in enumerate(columns)}})  # unequal lengths: ValueError
    truth_df = pd.read_csv(gt)
    if edition == "2022":
        truth_df = truth_df[~truth_df["videoid"].isin(blocked)].reset_index()
    classes = pd.read_csv(class_index)
    truth = np.zeros(len(truth_df))
    pseudo = np.zeros((3, len(truth_df)))
    for row_number, row in truth_df.iterrows():
        idx = classes.loc[classes["label"] == row.label]["idx"].values[0]
        truth[row_number] = idx
        mine = predictions.loc[predictions["videoid"] == row.videoid]
        assert not mine.empty, "a missing video: the script draws its labels (refused by viprepro)"
        ranking = mine.drop(["videoid"], axis=1).values[0].tolist()
        for i, k in enumerate((1, 3, 5)):
            if idx in ranking[:k]:
                pseudo[i, row_number] = idx
            elif ranking[k - 1] in range(1, num_classes):
                pseudo[i, row_number] = ranking[k - 1]
            else:
                while (drawn := random.randint(1, num_classes)) == idx:
                    pass
                pseudo[i, row_number] = drawn
    scores = []
    for i in range(3):
        matrix = sklearn_metrics.confusion_matrix(truth, pseudo[i], labels=list(range(1, num_classes))).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores.append(float(np.mean(np.diag(matrix) / matrix.sum(axis=1))))
    return scores


def generated_case(folder: Path, num_classes: int, videos: int, seed: int) -> dict:
    """A ground truth over every class (class K included), its class index, a corrupted list
    (some ground-truth videos and one unknown) and a submission with every quirk the scorer
    meets: k-th labels K and outside 1..K, unreadable labels, 1 to 7 labels, duplicates,
    unknown videos, lines of blocked videos, CRLF, `+3`, a label beyond int64."""
    rng = random.Random(seed)
    names = class_names(num_classes)
    ids = video_ids(videos, rng)
    truth = {v: (i % num_classes) + 1 for i, v in enumerate(ids)}
    write_class_index(folder / "clsIdx.csv", names)
    write_ground_truth(folder / "gt.csv", truth, names)
    blocked = rng.sample(ids, 3)
    (folder / "corrupted.txt").write_text(
        "".join(f"/elsewhere/data/test/{v}.mp4\n" for v in blocked) + "/elsewhere/data/train/zzzzzzzzzz.mp4\n"
    )
    lines = []
    for v, label in truth.items():
        ranking = [str(rng.randint(1, num_classes)) for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.4:
            ranking[rng.randrange(len(ranking))] = str(label)
        if rng.random() < 0.3:
            ranking[rng.randrange(len(ranking))] = str(num_classes)  # class K: in no confusion row, not a valid fallback
        if rng.random() < 0.15:
            ranking[rng.randrange(len(ranking))] = rng.choice(
                ["0", "-3", str(num_classes + 1), "1000", "x", "2.5", "", "+2", "99999999999999999999"]
            )
        lines.append(" ".join([v, *ranking]))
    lines += [lines[3].split(" ")[0] + " 1 1 1 1 1", "unknownvid 1 2 3 4 5", f"{blocked[0]} 1 2 3 4 5"]
    order = list(range(len(lines) - 3))
    rng.shuffle(order)
    lines = [lines[i] for i in order] + lines[-3:]
    lines[0] += "\r"  # a CRLF line
    write_lines(folder / "s.txt", lines)
    return {"gt": folder / "gt.csv", "s": folder / "s.txt", "cls": folder / "clsIdx.csv", "corr": folder / "corrupted.txt", "names": names}


@pytest.mark.parametrize("edition", ["2021", "2022"])
@pytest.mark.parametrize(("num_classes", "videos", "seed"), [(6, 60, 1), (6, 45, 2), (400, 800, 3)])
def test_official_equals_the_reference_procedure_of_each_edition(task, tmp_path, edition, num_classes, videos, seed):
    case = generated_case(tmp_path, num_classes, videos, seed)
    options = {"edition": edition, "draw_seed": seed, **({"corrupted": case["corr"]} if edition == "2022" else {})}
    scores = task.score(case["gt"], case["s"], tmp_path / "out", mode="official", options=options)
    expected = reference_scores(case["s"], case["gt"], case["cls"], num_classes, edition=edition, corrupted=case["corr"], seed=seed)
    assert [scores["top1"], scores["top3"], scores["top5"]] == expected
    assert scores["official_draws"]["count"] > 0  # the cases do exercise the random fallbacks
    for k in ("top1", "top3", "top5"):
        low, high = scores["official_draws"]["range"][k]
        assert low <= scores[k] and (high is None or scores[k] <= high)
    assert scores["n_scored"] == videos - (3 if edition == "2022" else 0)
    assert (tmp_path / "out" / "scores.txt").read_text() == "".join(f"Top-{k} accuracy: {v}\n" for k, v in zip((1, 3, 5), expected))


def test_another_draw_seed_is_another_run_of_the_script_inside_the_stated_range(task, tmp_path):
    case = generated_case(tmp_path, 6, 60, 1)
    runs = []
    for seed in range(6):
        scores = task.score(
            case["gt"], case["s"], tmp_path / f"out{seed}", mode="official", options={"draw_seed": seed, "corrupted": case["corr"]}
        )
        runs.append(scores["top5"])
        assert runs[-1] == reference_scores(case["s"], case["gt"], case["cls"], 6, edition="2022", corrupted=case["corr"], seed=seed)[2]
        low, high = scores["official_draws"]["range"]["top5"]
        assert low <= runs[-1] and (high is None or runs[-1] <= high)


def small_case(tmp_path, num_classes=6):
    names = class_names(num_classes)
    write_class_index(tmp_path / "clsIdx.csv", names)
    truth = {f"video{c}{i}xxxx"[:10]: c for c in range(1, num_classes + 1) for i in range(2)}
    write_ground_truth(tmp_path / "gt.csv", truth, names)
    (tmp_path / "kinetics400ViPriors_corrupted_videos.txt").write_text("")  # 2022: the list beside the ground truth
    return tmp_path / "gt.csv", truth


def test_class_k_is_dropped_in_official_mode_only(task, tmp_path):
    """Every video of class K (the last of clsIdx) wrong: official 1.0 (labels=range(1, K)), strict 5/6."""
    gt, truth = small_case(tmp_path)
    lines = [f"{v} {' '.join(str(x) for x in ([c] + [o for o in range(1, 7) if o != c])[:5])}" for v, c in truth.items() if c != 6]
    lines += [f"{v} 1 2 3 4 5" for v, c in truth.items() if c == 6]
    sub = write_lines(tmp_path / "s.txt", lines)
    official = task.score(gt, sub, tmp_path / "o", mode="official", options={"edition": "2021"})
    strict = task.score(gt, sub, tmp_path / "s", mode="strict", options={"edition": "2021"})
    assert official["top1"] == official["top5"] == 1.0 and class_names(6)[-1] not in official["per_class_accuracy"]
    assert strict["top1"] == strict["top5"] == 5 / 6 and strict["per_class_accuracy"][class_names(6)[-1]] == 0.0


def test_fallback_is_the_kth_label_not_the_first(task, tmp_path):
    """Truth 1, ranking `6 2 3 4 5`: for top-3 the script's pseudo-prediction is 3 (the 3rd label),
    a miss counted in class 1; the first label, 6 = K, would have left the video out (class 1 at 1.0)."""
    gt, truth = small_case(tmp_path)
    lines = [f"{v} {c} {' '.join(str(o) for o in range(1, 7) if o != c)}" for v, c in truth.items()]
    first = next(v for v, c in truth.items() if c == 1)
    lines[0] = f"{first} 6 2 3 4 5"
    scores = task.score(gt, write_lines(tmp_path / "s.txt", lines), tmp_path / "o", mode="official", options={"edition": "2021"})
    assert scores["per_class_accuracy"][class_names(6)[0]] == 0.5
    assert scores["top3"] == np.mean([0.5, 1, 1, 1, 1])


def test_a_missing_video_is_refused_not_drawn(task, tmp_path):
    gt, truth = small_case(tmp_path)
    lines = [f"{v} 1 2 3 4 5" for v in list(truth)[1:]]
    with pytest.raises(UserError, match=r"1 test video\(s\) have no line.*unseeded random label") as error:
        task.score(gt, write_lines(tmp_path / "s.txt", lines), tmp_path / "o", mode="official", options={})
    assert "\n" not in str(error.value) and str(tmp_path / "s.txt") in str(error.value)
    assert not (tmp_path / "o").exists()


def test_a_line_without_labels_is_where_the_official_script_crashes(task, tmp_path):
    gt, truth = small_case(tmp_path)
    lines = [f"{v} 1 2 3 4 5" for v in truth]
    lines[4] = list(truth)[4]
    sub = write_lines(tmp_path / "s.txt", lines)
    with pytest.raises(ValueError):  # the reference (the script's pandas) crashes on it too
        reference_scores(sub, gt, tmp_path / "clsIdx.csv", 6, edition="2021", corrupted=None, seed=0)
    with pytest.raises(UserError, match=r"\(line 5\): the official scorer crashes"):
        task.score(gt, sub, tmp_path / "o", mode="official", options={"edition": "2021"})


def test_the_2022_corrupted_list_removes_videos_from_truth_and_predictions(task, tmp_path):
    """Without lines for the blocked videos and with cheating lines for them: 2022 scores
    (they are left out), 2021 refuses the missing ones; the cheating lines change nothing."""
    gt, truth = small_case(tmp_path)
    blocked = list(truth)[0:4:2]  # one video of class 1, one of class 2
    (tmp_path / "kinetics400ViPriors_corrupted_videos.txt").write_text("".join(f"data/test/{v}.mp4\n" for v in blocked))
    honest = [f"{v} {c} {' '.join(str(o) for o in range(1, 7) if o != c)}" for v, c in truth.items() if v not in blocked]
    sub = write_lines(tmp_path / "s.txt", honest)
    scores = task.score(gt, sub, tmp_path / "o", mode="official", options={"edition": "2022"})
    assert scores["n_scored"] == len(truth) - 2 and scores["top1"] == 1.0
    with pytest.raises(UserError, match="have no line"):
        task.score(gt, sub, tmp_path / "o21", mode="official", options={"edition": "2021"})
    cheating = write_lines(tmp_path / "c.txt", [f"{v} 6 5 4 3 2" for v in blocked] + honest)
    assert task.score(gt, cheating, tmp_path / "c", mode="official", options={"edition": "2022"})["top1"] == 1.0
    assert task.score(gt, cheating, tmp_path / "cs", mode="strict", options={"edition": "2022"})["top1"] == 1.0
    assert task.validate(gt, sub, {"edition": "2022"}) == []


def test_strict_mode_lists_every_problem(task, tmp_path):
    gt, truth = small_case(tmp_path)
    ids = list(truth)
    lines = [
        f"{ids[0]} 1 2 3 4 5",
        f"{ids[0]} 1 2 3 4 5",  # duplicate
        "unknownvid 1 2 3 4 5",
        f"{ids[1]} 1 2 3",  # too few
        f"{ids[2]} 1 2 3 4 7",  # out of range
        f"{ids[3]} 1 x 3 4 5",  # not an integer
        f"{ids[4]}\t1 2 3 4 5",  # tab
        "",  # blank
        f"{ids[5]} 1 1 3 4 5",  # ranked twice
        f"{ids[6]}",  # no labels
    ]
    problems = task.validate(gt, write_lines(tmp_path / "s.txt", lines), {"edition": "2021"})
    expected = [
        "line 2: duplicate video",
        "line 3: unknown video 'unknownvid'",
        "line 4: 3 label(s); give at least 5",
        "line 5: label 7 is outside 1..6",
        "line 6: label 'x' is not an integer",
        "line 7: contains a tab",
        "line 8: blank line",
        "line 9: label 1 is ranked twice",
        "line 10: video",
        "test video(s) have no line",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected):
        assert start in problem, (problem, start)
    with pytest.raises(ValidationFailed, match="10 problem"):
        task.score(gt, tmp_path / "s.txt", tmp_path / "o", mode="strict", options={"edition": "2021"})
    assert not (tmp_path / "o").exists()


def test_more_than_five_labels_are_fine_and_scores_json_names_the_edition(task, tmp_path):
    gt, truth = small_case(tmp_path)
    lines = [f"{v} {c} {' '.join(str(o) for o in range(1, 7) if o != c)}" for v, c in truth.items()]
    assert task.validate(gt, write_lines(tmp_path / "s.txt", lines), {"edition": "2021"}) == []
    task.score(gt, tmp_path / "s.txt", tmp_path / "o", mode="strict", options={"edition": "2021"})
    written = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert written["edition"] == "2021" and written["toolkit_commit"].startswith("1d8b237") and written["top1"] == 1.0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\xff\xfev\x00", "official scorer crashes on this file"),  # UTF-16
        (b"abcdefghij 1 2 3 4 \xe9\n", "not UTF-8"),
    ],
)
def test_unreadable_submissions_are_one_line_errors(task, tmp_path, content, match):
    gt, _ = small_case(tmp_path)
    (tmp_path / "s.txt").write_bytes(content)
    with pytest.raises(UserError, match=match) as error:
        task.score(gt, tmp_path / "s.txt", tmp_path / "o", mode="official", options={})
    assert "\n" not in str(error.value) and "s.txt" in str(error.value)


def test_an_unknown_edition_and_a_list_for_2021_are_refused(task, tmp_path):
    gt, _ = small_case(tmp_path)
    with pytest.raises(UserError, match="edition 2021 has no list of corrupted videos"):
        task.score(gt, tmp_path / "s.txt", tmp_path / "o", mode="official", options={"edition": "2021", "corrupted": gt})
    with pytest.raises(UserError, match="unknown edition '2020'"):
        task.score(gt, tmp_path / "s.txt", tmp_path / "o", mode="official", options={"edition": "2020"})
