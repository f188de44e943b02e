"""The verdict rule on constructed numbers: every verdict is reachable, direction respected."""

from __future__ import annotations

import math

import pytest

from viprepro.verdict import Band, decide, judge, tolerance

BAND = Band.of([0.60, 0.64, 0.70])


@pytest.mark.parametrize("claim, reproduced, band, expected", [
    (0.65, 0.655, BAND, "reproduced"),          # within tolerance
    (0.65, 0.70, BAND, "exceeds_claim"),        # better than claimed by more than tol
    (0.68, 0.62, BAND, "within_noise"),         # outside tol, claim inside the seed band
    (0.80, 0.62, BAND, "not_reproduced"),       # claim above every seed
    (0.68, 0.62, None, "not_reproduced"),       # no band: no benefit of the doubt
    (0.68, 0.62, Band.of([0.62]), "not_reproduced"),  # a band of one seed is no band
    (0.65, math.nan, BAND, "not_reproduced"),
])
def test_each_verdict_is_reachable(claim, reproduced, band, expected):
    assert decide(claim, reproduced, band, 0.01) == expected


def test_lower_is_better_metrics_flip_the_direction():
    assert decide(0.30, 0.20, None, 0.01, higher_is_better=False) == "exceeds_claim"
    assert decide(0.30, 0.40, None, 0.01, higher_is_better=False) == "not_reproduced"


def test_tolerance_takes_the_larger_of_absolute_and_relative():
    assert tolerance(0.5, {"absolute": 0.01, "relative": 0.1}) == pytest.approx(0.05)
    assert tolerance(0.5, {"absolute": 0.02, "relative": 0.01}) == pytest.approx(0.02)


def test_judge_uses_the_claimed_seed_and_reports_the_band():
    scores = {0: {"top1": 0.62}, 1: {"top1": 0.70}, 2: {"top1": 0.64}}
    record = judge("top1", {"value": 0.68, "tolerance": {"absolute": 0.01}}, scores, claimed_seed=0)
    assert record["reproduced"] == 0.62
    assert record["band"]["n"] == 3 and record["band"]["min"] == 0.62 and record["band"]["max"] == 0.70
    assert record["band"]["mean"] == pytest.approx(0.6533333333)
    assert record["verdict"] == "within_noise"
