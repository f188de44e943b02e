"""From claimed and reproduced scores to a verdict a reviewer can act on.

Score rule for one claimed metric (metric direction taken into account;
tol = max(absolute, relative * |claim|); `reproduced` is the score at the claimed seed; the
seed band is every seed that was run, summarised by its mean m, sample standard deviation s
and the 95 % prediction interval for one more seed, m +- t(0.975, n-1) * s * sqrt(1 + 1/n)):

  1. |reproduced - claim| <= tol                         -> `reproduced`
  2. reproduced better than the claim by more than tol   -> `exceeds_claim` (flagged for a look)
  3. n >= min_seeds (default 5) and the claim lies inside
     the prediction interval, and still does with any
     one seed left out                                   -> `within_noise` (the claim is a
     result this recipe gives at some seeds; the claimed seed was unlucky or the claim lucky)
  4. otherwise                                           -> `not_reproduced`

Rule 3 rests on the band's mean and spread, and must hold without each seed in turn, so one
lucky seed cannot pardon a claim; a band of fewer than `min_seeds` seeds never decides it.

Before the score rule, in this order: a submission file refused by validation is
`invalid_submission`, a participant step stopped by a resource limit is `resource_limit`, a
missing or non-finite score at the claimed seed is `no_score`; after it, a failed audit turns
any score verdict into `audit_failed` (the score verdict is kept beside it).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

SCORE_VERDICTS = ("reproduced", "exceeds_claim", "within_noise", "not_reproduced")
VERDICTS = (*SCORE_VERDICTS, "audit_failed", "invalid_submission", "resource_limit", "no_score")
MIN_SEEDS = 5
CONFIDENCE = 0.95

# What a reviewer should conclude from each verdict (README, certificate and verdict.json).
MEANING = {
    "reproduced": "the claimed score was obtained again at the claimed seed, within the claim's tolerance",
    "exceeds_claim": "the rerun scored better than claimed by more than the tolerance: check the claim, "
    "the data and the scorer before accepting it",
    "within_noise": "the claimed seed fell outside the tolerance, but the claim lies inside the 95 % prediction "
    "interval of one more seed: the claim is a score this recipe gives, not a dependable one",
    "not_reproduced": "the claim lies outside both the tolerance and the seed band's prediction interval "
    "(or the band is too small to decide): the claim is not supported by this rerun",
    "audit_failed": "a rule-compliance audit failed: whatever the score, the submission broke a challenge rule "
    "or its evidence does not hold",
    "invalid_submission": "the submission file was refused by strict validation: there is no score to compare",
    "resource_limit": "a participant step was stopped by a time or memory limit: no comparable score",
    "no_score": "the score at the claimed seed is missing or not a number (NaN): nothing to compare",
}

# Two-sided 95 % quantiles of Student's t, df = 1..30 (beyond: Cornish-Fisher expansion).
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)


def t_quantile_975(df: int) -> float:
    if df < 1:
        return math.inf
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963985
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass
class Band:
    """The seed band: n seeds with a finite score, their spread, and where one more seed falls."""

    n: int
    mean: float
    std: float
    min: float
    max: float
    interval_low: float
    interval_high: float
    robust_low: float
    robust_high: float
    confidence: float = CONFIDENCE

    @classmethod
    def of(cls, values: list[float]) -> Band:
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return cls(0, *[math.nan] * 8)
        low, high = _interval(values)
        # The same interval with each seed left out in turn, intersected: what no single seed decides.
        robust = [_interval(values[:i] + values[i + 1 :]) for i in range(len(values))] if len(values) > 2 else []
        robust_low = max([low, *(r[0] for r in robust)]) if robust else math.nan
        robust_high = min([high, *(r[1] for r in robust)]) if robust else math.nan
        return cls(
            len(values),
            statistics.fmean(values),
            statistics.stdev(values) if len(values) > 1 else math.nan,
            min(values),
            max(values),
            low,
            high,
            robust_low,
            robust_high,
        )

    @property
    def half_width(self) -> float:
        return (self.interval_high - self.interval_low) / 2


def _interval(values: list[float]) -> tuple[float, float]:
    """95 % prediction interval for one more seed: mean +- t(0.975, n-1) * sd * sqrt(1 + 1/n)."""
    n, mean = len(values), statistics.fmean(values)
    if n < 2:
        return -math.inf, math.inf
    half = t_quantile_975(n - 1) * statistics.stdev(values) * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


def tolerance(claim: float, spec: dict) -> float:
    return max(spec.get("absolute", 0.0), spec.get("relative", 0.0) * abs(claim))


def decide(
    claim: float, reproduced: float | None, band: Band | None, tol: float, *, higher_is_better: bool = True, min_seeds: int = MIN_SEEDS
) -> str:
    """The score verdict (rules 1-4, `no_score` when there is no finite score)."""
    if reproduced is None or not math.isfinite(reproduced):
        return "no_score"
    gain = (reproduced - claim) if higher_is_better else (claim - reproduced)
    if abs(reproduced - claim) <= tol:
        return "reproduced"
    if gain > tol:
        return "exceeds_claim"
    if band is not None and band.n >= max(3, min_seeds) and band.robust_low <= claim <= band.robust_high:
        return "within_noise"
    return "not_reproduced"


def reason(verdict: str, claim: float, reproduced: float | None, band: Band, tol: float, min_seeds: int) -> str:
    """One sentence with the numbers behind a score verdict."""
    if verdict == "no_score":
        return "no finite score at the claimed seed"
    text = f"claim {claim:.4g}, claimed seed {reproduced:.4g} (tolerance {tol:.4g})"
    if verdict in ("reproduced", "exceeds_claim"):
        return text
    if band.n < max(3, min_seeds):
        return f"{text}; a band of {band.n} seed(s) is too small to decide within_noise (needs {max(3, min_seeds)})"
    where = "inside" if verdict == "within_noise" else "outside"
    return (
        f"{text}; claim {where} the {band.confidence:.0%} prediction interval for one more seed, with any one seed "
        f"left out, [{band.robust_low:.4g}, {band.robust_high:.4g}] ({band.n} seeds, mean {band.mean:.4g}, "
        f"sd {band.std:.4g}, full interval [{band.interval_low:.4g}, {band.interval_high:.4g}])"
    )


def score_value(scores: dict | None, metric: str) -> float | None:
    """A metric from a scores record; None when the record has no score (refused, missing)."""
    if not scores or scores.get("status", "scored") != "scored":
        return None
    value = scores.get(metric)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def judge(
    metric: str,
    claimed: dict,
    scores_by_seed: dict[int, dict],
    claimed_seed: int,
    *,
    higher_is_better: bool = True,
    min_seeds: int = MIN_SEEDS,
) -> dict:
    """The verdict record of one metric; `scores_by_seed` maps seed -> scores.json content."""
    values = {seed: score_value(scores, metric) for seed, scores in scores_by_seed.items()}
    band = Band.of([v for v in values.values() if v is not None])
    tol = tolerance(claimed["value"], claimed.get("tolerance", {}))
    reproduced = values.get(claimed_seed)
    verdict = decide(claimed["value"], reproduced, band, tol, higher_is_better=higher_is_better, min_seeds=min_seeds)
    finite = reproduced is not None and math.isfinite(reproduced)
    return {
        "metric": metric,
        "claimed": claimed["value"],
        "claimed_split": claimed.get("split", "test"),
        "tolerance": tol,
        "reproduced": reproduced if finite else None,
        "difference": reproduced - claimed["value"] if finite else None,
        "band": {**{k: _finite_or_none(v) for k, v in asdict(band).items()}, "min_seeds": min_seeds},
        "scores_by_seed": {str(k): v for k, v in sorted(values.items())},
        "seeds_without_score": [str(k) for k, v in sorted(values.items()) if v is None or not math.isfinite(v)],
        "higher_is_better": higher_is_better,
        "verdict": verdict,
        "reason": reason(verdict, claimed["value"], reproduced, band, tol, min_seeds),
    }


def _finite_or_none(value):
    """JSON has no NaN or infinity: an undefined band figure (too few seeds) is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def overall(judgements: list[dict], *, audits: dict, problems: list[str], resource_limits: list[dict]) -> tuple[str, str]:
    """The submission's verdict and one sentence why, from its first metric and its evidence."""
    main = judgements[0]
    if problems:
        return "invalid_submission", f"the submission file was refused: {problems[0]}" + (
            f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        )
    if resource_limits:
        first = resource_limits[0]
        return "resource_limit", f"stopped by the {first.get('limit', '?')} limit: {first.get('detail', '')}".rstrip(": ")
    failed = [name for name, audit in audits.items() if audit.get("passed") is False]
    if failed:
        return "audit_failed", f"failed audit(s): {', '.join(failed)} (score verdict: {main['verdict']})"
    return main["verdict"], main["reason"]
