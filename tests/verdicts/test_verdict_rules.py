"""The verdict rule on constructed numbers: every verdict is reachable, direction respected."""

from __future__ import annotations

import math

import pytest

from viprepro.judging.verdict import MEANING, VERDICTS, Band, decide, judge, overall, t_quantile_975, tolerance

BAND = Band.of([0.60, 0.62, 0.64, 0.66, 0.70])  # mean 0.644, sd 0.0385, 95 % interval for one more seed ~[0.527, 0.761]


@pytest.mark.parametrize(
    "claim, reproduced, band, expected",
    [
        (0.65, 0.655, BAND, "reproduced"),  # within tolerance
        (0.65, 0.70, BAND, "exceeds_claim"),  # better than claimed by more than tol
        (0.68, 0.62, BAND, "within_noise"),  # outside tol, claim inside the prediction interval
        (0.80, 0.62, BAND, "not_reproduced"),  # claim above the prediction interval
        (0.68, 0.62, None, "not_reproduced"),  # no band: no benefit of the doubt
        (0.68, 0.62, Band.of([0.62]), "not_reproduced"),  # a band of one seed is no band
        (0.68, 0.62, Band.of([0.62, 0.70, 0.64]), "not_reproduced"),  # three seeds < min_seeds: undecided
        (0.65, math.nan, BAND, "no_score"),
        (0.65, None, BAND, "no_score"),
    ],
)
def test_each_verdict_is_reachable(claim, reproduced, band, expected):
    assert decide(claim, reproduced, band, 0.01) == expected


def test_one_lucky_seed_does_not_pardon_a_claim():
    """The old rule (claim inside [min, max]) let one lucky seed pardon any claim below it."""
    lucky = Band.of([0.600, 0.601, 0.602, 0.603, 0.604, 0.750])
    assert lucky.min <= 0.74 <= lucky.max  # the old rule said within_noise
    assert decide(0.74, 0.600, lucky, 0.01) == "not_reproduced"
    tight = Band.of([0.600, 0.601, 0.602, 0.603, 0.604])
    assert decide(0.62, 0.600, tight, 0.01) == "not_reproduced"  # far outside a tight band's interval


def test_prediction_interval_matches_student_t():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 29, 30, 31, 50, 200):
        assert t_quantile_975(df) == pytest.approx(float(scipy_stats.t.ppf(0.975, df)), rel=2e-3)
    values = [0.60, 0.62, 0.64, 0.66, 0.70]
    band = Band.of(values)
    half = float(scipy_stats.t.ppf(0.975, 4)) * band.std * math.sqrt(1 + 1 / 5)
    assert band.interval_low == pytest.approx(band.mean - half, rel=1e-4)
    assert band.interval_high == pytest.approx(band.mean + half, rel=1e-4)


def test_non_finite_scores_stay_out_of_the_band():
    band = Band.of([0.5, math.nan, 0.6, math.inf])
    assert band.n == 2 and band.mean == pytest.approx(0.55)
    assert Band.of([]).n == 0


def test_lower_is_better_metrics_flip_the_direction():
    assert decide(0.30, 0.20, None, 0.01, higher_is_better=False) == "exceeds_claim"
    assert decide(0.30, 0.40, None, 0.01, higher_is_better=False) == "not_reproduced"


def test_tolerance_takes_the_larger_of_absolute_and_relative():
    assert tolerance(0.5, {"absolute": 0.01, "relative": 0.1}) == pytest.approx(0.05)
    assert tolerance(0.5, {"absolute": 0.02, "relative": 0.01}) == pytest.approx(0.02)


def test_judge_uses_the_claimed_seed_and_reports_the_band():
    scores = {0: {"top1": 0.62}, 1: {"top1": 0.70}, 2: {"top1": 0.64}, 3: {"top1": 0.66}, 4: {"top1": 0.60}}
    record = judge("top1", {"value": 0.68, "tolerance": {"absolute": 0.01}}, scores, claimed_seed=0)
    assert record["reproduced"] == 0.62
    assert record["band"]["n"] == 5 and record["band"]["min"] == 0.60 and record["band"]["max"] == 0.70
    assert record["band"]["mean"] == pytest.approx(0.644)
    assert record["band"]["robust_low"] < 0.68 < record["band"]["robust_high"]
    assert record["verdict"] == "within_noise" and "prediction interval" in record["reason"]


def test_readme_worked_example(repo):
    """The README's worked example, number for number."""
    scores = {0: {"top1": 0.62}, 1: {"top1": 0.70}, 2: {"top1": 0.64}, 3: {"top1": 0.66}, 4: {"top1": 0.60}}
    claimed = {"value": 0.68, "tolerance": {"absolute": 0.01}}
    record = judge("top1", claimed, scores, claimed_seed=0)
    band = record["band"]
    assert (round(band["mean"], 3), round(band["std"], 3)) == (0.644, 0.038)
    assert (round(band["interval_low"], 3), round(band["interval_high"], 3)) == (0.527, 0.761)
    assert (round(band["robust_low"], 3), round(band["robust_high"], 3)) == (0.538, 0.722)
    assert record["verdict"] == "within_noise"
    assert judge("top1", {**claimed, "value": 0.80}, scores, claimed_seed=0)["verdict"] == "not_reproduced"
    readme = (repo / "README.md").read_text()
    assert "[0.527, 0.761]" in readme and "[0.538, 0.722]" in readme and "mean 0.644" in readme
    lucky = Band.of([0.600, 0.601, 0.602, 0.603, 0.604, 0.750])
    assert (round(lucky.robust_low, 3), round(lucky.robust_high, 3)) == (0.597, 0.607) and "[0.597, 0.607]" in readme


def test_missing_and_nan_scores_give_no_score_not_a_crash():
    scores = {0: {"top1": None}, 1: {"status": "missing", "problems": ["file not found"]}, 2: {"top1": float("nan")}}
    record = judge("top1", {"value": 0.5}, scores, claimed_seed=0)
    assert record["verdict"] == "no_score" and record["reproduced"] is None and record["difference"] is None
    assert record["seeds_without_score"] == ["0", "1", "2"] and record["band"]["n"] == 0


def test_evidence_decides_before_the_score():
    judgement = judge("top1", {"value": 0.5, "tolerance": {"absolute": 0.1}}, {0: {"top1": 0.5}}, claimed_seed=0)
    assert overall([judgement], audits={}, problems=[], resource_limits=[])[0] == "reproduced"
    failed = {"data_access": {"passed": False, "problems": ["x"]}}
    verdict, why = overall([judgement], audits=failed, problems=[], resource_limits=[])
    assert verdict == "audit_failed" and "data_access" in why and "reproduced" in why
    assert overall([judgement], audits=failed, problems=["seed 0: line 3: duplicate id"], resource_limits=[])[0] == "invalid_submission"
    limited = overall([judgement], audits={}, problems=[], resource_limits=[{"limit": "time", "detail": "train step ran 3600 s"}])
    assert limited[0] == "resource_limit" and "time" in limited[1]


def test_every_verdict_has_a_meaning():
    assert set(MEANING) == set(VERDICTS)
