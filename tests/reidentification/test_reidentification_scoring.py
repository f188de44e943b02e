"""Official mode equals Open-ReID's ranking.py; strict mode lists every problem; both refuse
what they cannot score with one line naming the file and the place."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reidentification_helpers import reference_cmc, reference_mean_ap

from viprepro.errors import UserError, ValidationFailed
from viprepro.tasks.reidentification import ranking
from viprepro.tasks.reidentification.layout import read_identities
from viprepro.tasks.reidentification.submission import write_matrix


def random_case(seed: int):
    """Small integer distances (many ties), repeated ids, both cameras, queries without a match."""
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 12)), int(rng.integers(1, 40))
    distances = rng.integers(0, 6, (m, n)).astype(np.float64) + (rng.random((m, n)) if seed % 2 else 0)
    return (
        distances,
        rng.integers(0, 5, m),
        rng.integers(0, 6, n),
        rng.integers(0, 2, m),
        rng.integers(0, 2, n),
    )


@pytest.mark.parametrize("seed", range(60))
def test_ranking_equals_open_reid_on_generated_cases(seed):
    distances, qids, gids, qcams, gcams = random_case(seed)
    try:
        expected_map = reference_mean_ap(distances, qids, gids, qcams, gcams)
    except RuntimeError:
        with pytest.raises(ValueError, match="No valid query"):
            ranking.mean_ap(distances, qids, gids, qcams, gcams)
        return
    got_map, counted = ranking.mean_ap(distances, qids, gids, qcams, gcams)
    assert got_map == pytest.approx(expected_map, abs=1e-12)
    for first_match_break in (True, False):
        expected = reference_cmc(distances, qids, gids, qcams, gcams, first_match_break=first_match_break)
        got = ranking.cmc(distances, qids, gids, qcams, gcams, first_match_break=first_match_break)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_average_precision_counts_a_tied_group_at_once():
    """A match tied with a non-match: scikit-learn's AP gives both the group's precision (1/2),
    wherever the sort put them; the CMC goes by the sort's order."""
    assert ranking.average_precision(np.array([True, False]), np.array([1.0, 1.0])) == 0.5
    assert ranking.average_precision(np.array([False, True]), np.array([1.0, 1.0])) == 0.5
    assert ranking.average_precision(np.array([True, False]), np.array([2.0, 1.0])) == 1.0


def perfect_matrix(gt_path, rng=None):
    truth = read_identities(gt_path)
    q, g = np.array(truth.person_ids["query"]), np.array(truth.person_ids["gallery"])
    noise = np.zeros((len(q), len(g))) if rng is None else rng.random((len(q), len(g))) * 1.5
    return truth, (q[:, None] != g[None, :]).astype(float) + noise


def test_official_score_equals_the_reference_on_the_file_as_written(task, reid, tmp_path):
    """The matrix goes through the toolkit's 5-decimal format (ties included) and the ids
    through the hidden identities; official mode gives the reference's numbers."""
    truth, distances = perfect_matrix(reid["gt"], np.random.default_rng(3))
    distances = np.round(distances * 4) / 4  # ties across identities
    path = tmp_path / "submission.csv"
    write_matrix(path, distances, truth.ids["query"], truth.ids["gallery"])
    scores = task.score(reid["gt"], path, tmp_path / "official", mode="official", options={})
    values = np.loadtxt(path, delimiter=",")[1:, 1:]
    q, g = truth.person_ids["query"], truth.person_ids["gallery"]
    cams = (np.zeros(len(q)), np.ones(len(g)))
    assert scores["map"] == pytest.approx(reference_mean_ap(values, q, g, *cams), abs=1e-12)
    for k in (1, 5, 10):
        assert scores[f"cmc{k}"] == pytest.approx(reference_cmc(values, q, g, *cams, first_match_break=True)[k - 1], abs=1e-12)
        assert scores[f"cmc_allshots{k}"] == pytest.approx(reference_cmc(values, q, g, *cams)[k - 1], abs=1e-12)
    strict = task.score(reid["gt"], path, tmp_path / "strict", mode="strict", options={})
    assert {k: strict[k] for k in ("map", "cmc1", "cmc5", "cmc10")} == {k: scores[k] for k in ("map", "cmc1", "cmc5", "cmc10")}
    assert json.loads((tmp_path / "strict" / "scores.json").read_text())["edition"] == "2021"
    assert (tmp_path / "official" / "scores.txt").read_text().startswith("Mean AP: ")


def lines_of(task, reid, tmp_path):
    truth, distances = perfect_matrix(reid["gt"], np.random.default_rng(0))
    path = tmp_path / "valid.csv"
    write_matrix(path, distances, truth.ids["query"], truth.ids["gallery"])
    assert task.validate(reid["gt"], path, {}) == []
    return path.read_text().splitlines()


def _cells(line):
    return line.split(",")


def _swap_header(lines):
    cells = _cells(lines[0])
    cells[1], cells[2] = cells[2], cells[1]
    return [",".join(cells), *lines[1:]]


def _set_cell(row, column, value):
    def mutate(lines):
        cells = _cells(lines[row])
        cells[column] = value
        return [*lines[:row], ",".join(cells), *lines[row + 1 :]]

    return mutate


MUTATIONS = {
    "missing query row (hard query left out)": (lambda lines: lines[:-1], "query id(s) missing"),
    "duplicated query row": (lambda lines: [*lines, lines[-1]], "query id(s) duplicated"),
    "unknown query id": (_set_cell(1, 0, "999999999"), "line 2, column 1: unknown query id 999999999"),
    "unknown gallery id": (_set_cell(0, 1, "999999999"), "line 1, column 2: unknown gallery id 999999999"),
    "duplicated gallery id": (lambda lines: _set_cell(0, 2, _cells(lines[0])[1])(lines), "gallery id(s) duplicated"),
    "gallery ids out of order": (_swap_header, "line 1, column 2: gallery ids are not in the official order"),
    "query rows out of order": (
        lambda lines: [lines[0], lines[2], lines[1], *lines[3:]],
        "line 2, column 1: query ids are not in the official order",
    ),
    "short row (not (m+1)x(n+1))": (lambda lines: [lines[0], lines[1].rsplit(",", 1)[0], *lines[2:]], "line 2: expected"),
    "missing gallery column": (lambda lines: [line.rsplit(",", 1)[0] for line in lines], "gallery id(s) missing"),
    "NaN distance": (_set_cell(2, 3, "nan"), "line 3, column 4: distance is NaN"),
    "infinite distance": (_set_cell(1, 2, "inf"), "line 2, column 3: distance is infinite"),
    "non-numeric distance": (_set_cell(1, 2, "close"), "line 2, column 3: distance 'close' is not a number"),
    "non-integer query id": (_set_cell(1, 0, "1.5"), "line 2, column 1: query id '1.5' is not an integer"),
    "non-integer gallery id": (_set_cell(0, 3, "x"), "line 1, column 4: gallery id 'x' is not an integer"),
    "corner not an integer": (_set_cell(0, 0, "query"), "line 1, column 1: the corner cell must be an integer"),
    "semicolons": (lambda lines: [line.replace(",", ";") for line in lines], "line 1: the delimiter must be a comma"),
    "header only": (lambda lines: lines[:1], "no query rows"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_check_fails_on_its_bad_input(task, reid, tmp_path, name):
    mutate, expected = MUTATIONS[name]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(mutate(lines_of(task, reid, tmp_path))) + "\n")
    problems = task.validate(reid["gt"], path, {})
    assert any(expected in p for p in problems), problems
    with pytest.raises(ValidationFailed) as refused:
        task.score(reid["gt"], path, tmp_path / "scores", mode="strict", options={})
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
    assert not (tmp_path / "scores").exists()


def test_every_problem_is_listed_at_once(task, reid, tmp_path):
    lines = lines_of(task, reid, tmp_path)
    lines = _set_cell(1, 2, "nan")(_set_cell(0, 1, "999999999")(lines))
    path = tmp_path / "two.csv"
    path.write_text("\n".join(lines) + "\n")
    problems = task.validate(reid["gt"], path, {})
    assert any("distance is NaN" in p for p in problems) and any("unknown gallery id" in p for p in problems)


def test_official_mode_scores_what_strict_refuses(task, reid, tmp_path):
    """Official: the mean runs over the rows present, so dropping the worst query raises mAP,
    and a duplicated row counts twice; strict refuses both files."""
    truth, distances = perfect_matrix(reid["gt"], np.random.default_rng(1))
    distances[0] = 1.0 - (distances[0] > 0.5)  # the first query ranks every false match first
    full = tmp_path / "full.csv"
    write_matrix(full, distances, truth.ids["query"], truth.ids["gallery"])
    dropped = tmp_path / "dropped.csv"
    write_matrix(dropped, distances[1:], truth.ids["query"][1:], truth.ids["gallery"])
    honest = task.score(reid["gt"], full, tmp_path / "a", mode="official", options={})
    cheat = task.score(reid["gt"], dropped, tmp_path / "b", mode="official", options={})
    assert cheat["map"] > honest["map"] and cheat["queries"] == len(truth.ids["query"]) - 1
    with pytest.raises(ValidationFailed, match="query id\\(s\\) missing"):
        task.score(reid["gt"], dropped, tmp_path / "c", mode="strict", options={})
    doubled = tmp_path / "doubled.csv"
    write_matrix(doubled, np.vstack([distances[:1], distances]), truth.ids["query"][:1] + truth.ids["query"], truth.ids["gallery"])
    twice = task.score(reid["gt"], doubled, tmp_path / "d", mode="official", options={})
    assert twice["queries"] == len(truth.ids["query"]) + 1 and twice["map"] < honest["map"]  # the bad query counts twice
    with pytest.raises(ValidationFailed, match="query id\\(s\\) duplicated"):
        task.score(reid["gt"], doubled, tmp_path / "e", mode="strict", options={})


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (_set_cell(2, 3, "nan"), "line 3, column 4: distance is NaN"),
        (_set_cell(0, 1, "999999999"), "(line 1, column 2): gallery id 999999999 is not in the ground truth"),
        (_set_cell(1, 0, "424242424"), "(line 2, column 1): query id 424242424 is not in the ground truth"),
        (_set_cell(1, 2, "close"), "line 2, column 3: distance 'close' is not a number"),
    ],
)
def test_official_mode_refuses_what_it_cannot_score_in_one_line(task, reid, tmp_path, mutation, expected):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(mutation(lines_of(task, reid, tmp_path))) + "\n")
    with pytest.raises(UserError) as refused:
        task.score(reid["gt"], path, tmp_path / "scores", mode="official", options={})
    message = str(refused.value)
    assert expected in message and message.startswith(str(path)) and "\n" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0,1,2\n".encode("utf-16"), "UTF-16"),
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf0,1\n", "byte-order mark"),
    ],
)
def test_hostile_files_are_problems_not_tracebacks(task, reid, tmp_path, content, expected):
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)
    assert any(expected in p for p in task.validate(reid["gt"], path, {}))


def test_a_folder_or_an_oversized_file_is_refused_before_reading(task, reid, tmp_path):
    with pytest.raises(UserError, match="is a folder"):
        task.validate(reid["gt"], tmp_path, {})
    big = tmp_path / "big.csv"
    big.write_bytes(b"0" * (2 << 20))
    with pytest.raises(UserError, match="above the 1 MB limit; raise it with --max-submission-mb"):
        task.score(reid["gt"], big, tmp_path / "s", mode="official", options={"max_submission_mb": 1})


def test_an_unknown_edition_is_refused(task, reid, tmp_path):
    with pytest.raises(UserError, match="only in the 2021 edition, not 2022"):
        task.validate(reid["gt"], tmp_path / "x.csv", {"edition": "2022"})
