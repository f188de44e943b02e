"""From claimed and reproduced scores to a verdict a reviewer can act on.

Decision rule (metric direction taken into account; tol = max(absolute, relative * |claim|)):
  1. |reproduced - claim| <= tol                    -> `reproduced`
  2. reproduced better than claim by more than tol  -> `exceeds_claim` (flagged for a look)
  3. claim inside the seed band [min, max]          -> `within_noise` (the claimed seed was
     unlucky or lucky; other seeds reach the claim)
  4. otherwise                                      -> `not_reproduced`
`reproduced` is the score at the claimed seed; the band is over every seed that was run
(the claimed one and the extra ones).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

VERDICTS = ("reproduced", "within_noise", "not_reproduced", "exceeds_claim")


@dataclass
class Band:
    n: int
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> "Band":
        return cls(len(values), statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, min(values), max(values))


def tolerance(claim: float, spec: dict) -> float:
    return max(spec.get("absolute", 0.0), spec.get("relative", 0.0) * abs(claim))


def decide(claim: float, reproduced: float, band: Band | None, tol: float, *, higher_is_better: bool = True) -> str:
    if math.isnan(reproduced):
        return "not_reproduced"
    gain = (reproduced - claim) if higher_is_better else (claim - reproduced)
    if abs(reproduced - claim) <= tol:
        return "reproduced"
    if gain > tol:
        return "exceeds_claim"
    if band is not None and band.n > 1 and band.min <= claim <= band.max:
        return "within_noise"
    return "not_reproduced"


def judge(metric: str, claimed: dict, scores_by_seed: dict[int, dict], claimed_seed: int, *, higher_is_better: bool = True) -> dict:
    """The verdict record of one metric; `scores_by_seed` maps seed -> scores.json content."""
    values = {seed: float(scores[metric]) for seed, scores in scores_by_seed.items()}
    band = Band.of(list(values.values()))
    tol = tolerance(claimed["value"], claimed.get("tolerance", {}))
    reproduced = values[claimed_seed]
    return {
        "metric": metric,
        "claimed": claimed["value"],
        "claimed_split": claimed.get("split", "test"),
        "tolerance": tol,
        "reproduced": reproduced,
        "difference": reproduced - claimed["value"],
        "band": asdict(band),
        "scores_by_seed": {str(k): v for k, v in sorted(values.items())},
        "higher_is_better": higher_is_better,
        "verdict": decide(claimed["value"], reproduced, band, tol, higher_is_better=higher_is_better),
    }
