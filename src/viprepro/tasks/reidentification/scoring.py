"""mAP and CMC of a distance matrix, as the toolkit's `evaluate_all` computes them.

The 2021 toolkit ships no scoring script for the server; what it ships is Open-ReID's
`evaluators.evaluate_all`, which the baseline runs on the val matrix it writes: mAP, and
the CMC under three conventions. The metrics here:

- `map` (ranked first): Open-ReID's `mean_ap`.
- `cmc1`, `cmc5`, `cmc10`: the `market1501` CMC (`first_match_break=True`): the share of
  queries whose first true match is within the top k, the usual rank-k accuracy.
- `cmc_allshots1/5/10` (in scores.json, not claimable): the `allshots` CMC, whose top-1 the
  baseline uses as its validation criterion.
- the `cuhk03` CMC samples the gallery with NumPy's unseeded generator: not computed.

Query rows are cameras 0 and gallery columns camera 1 (`synergyreid.py`), so Open-ReID's
same-identity-same-camera filter removes nothing. The header ids are mapped to person ids
through the ground truth's identity table.

`official` scores the matrix as read: rows and columns in the file's order, a duplicated
query counted twice, a missing query or gallery image simply absent (the mean runs over the
queries present, so leaving hard queries out raises the score), a query whose identity has
no gallery image skipped. What the toolkit could not evaluate is refused with one line: a
cell that is not a number, a ragged row, NaN or infinite distances (scikit-learn refuses
them), an id the ground truth does not know (it has no identity). `strict` first refuses
any submission `validate` objects to, so every query and gallery image counts exactly once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viprepro.errors import UserError, ValidationFailed
from viprepro.files.scores_io import write_scores
from viprepro.tasks.reidentification import ranking
from viprepro.tasks.reidentification.layout import read_identities
from viprepro.tasks.reidentification.submission import DEFAULT_MAX_MB, read_checked, read_matrix

SCORES_TXT = "scores.txt"
TOPK = (1, 5, 10)


def _person_ids(ids: np.ndarray, mapping: dict[int, int], kind: str, positions: list[str], path: Path) -> np.ndarray:
    unknown = [k for k, i in enumerate(ids.tolist()) if i not in mapping]
    if unknown:
        raise UserError(
            f"{kind} id {ids[unknown[0]]} is not in the ground truth ({len(unknown)} unknown): it has no identity to score",
            path=path,
            where=positions[unknown[0]],
        )
    return np.array([mapping[i] for i in ids.tolist()], dtype=np.int64)


def evaluate(distances: np.ndarray, query_persons: np.ndarray, gallery_persons: np.ndarray) -> dict:
    """Open-ReID's evaluate_all on person ids (queries camera 0, gallery camera 1)."""
    cams = {"query_cams": np.zeros(len(query_persons), dtype=np.int32), "gallery_cams": np.ones(len(gallery_persons), dtype=np.int32)}
    mean_ap, counted = ranking.mean_ap(distances, query_persons, gallery_persons, **cams)
    market = ranking.cmc(distances, query_persons, gallery_persons, **cams, first_match_break=True)
    allshots = ranking.cmc(distances, query_persons, gallery_persons, **cams, first_match_break=False)
    return {
        "map": mean_ap,
        **{f"cmc{k}": float(market[k - 1]) for k in TOPK},
        **{f"cmc_allshots{k}": float(allshots[k - 1]) for k in TOPK},
        "queries_counted": counted,
    }


def report(scores: dict) -> str:
    """The lines evaluate_all prints (its cuhk03 column left out)."""
    lines = [f"Mean AP: {scores['map']:4.1%}", "CMC Scores{:>12}{:>12}".format("allshots", "market1501")]
    lines += [f"  top-{k:<4}{scores[f'cmc_allshots{k}']:12.1%}{scores[f'cmc{k}']:12.1%}" for k in TOPK]
    lines.append(f"mAP: {scores['map']:.8f}")
    return "\n".join(lines) + "\n"


def score(gt: Path, submission: Path, out: Path, *, mode: str, max_mb: float = DEFAULT_MAX_MB, edition: str | None = None) -> dict:
    if mode not in ("official", "strict"):
        raise ValueError(f"unknown mode {mode!r}")
    truth = read_identities(gt)
    if mode == "strict":
        matrix, problems = read_checked(truth, submission, max_mb=max_mb)
        if problems:
            raise ValidationFailed(submission, problems)
    else:
        matrix, problems = read_matrix(submission, max_mb=max_mb)
    if matrix is None or problems:
        more = f" ({problems.total} problems)" if problems.total > 1 else ""
        raise UserError(f"the toolkit's evaluation cannot read this matrix: {problems[0]}{more}", path=submission)
    if len(matrix.query_ids) == 0:
        raise UserError("no query rows: Open-ReID raises 'No valid query'", path=submission)
    gallery = _person_ids(
        matrix.gallery_ids,
        truth.person_of("gallery"),
        "gallery",
        [f"line 1, column {c + 2}" for c in range(len(matrix.gallery_ids))],
        submission,
    )
    queries = _person_ids(matrix.query_ids, truth.person_of("query"), "query", [f"line {n}, column 1" for n in matrix.lines], submission)
    try:
        metrics = evaluate(matrix.distances, queries, gallery)
    except ValueError:
        raise UserError("no query has a true match among the gallery columns: Open-ReID raises 'No valid query'", path=submission) from None
    scores = {
        "task": "reidentification",
        "mode": mode,
        "edition": edition,
        **metrics,
        "queries": int(len(queries)),
        "gallery": int(len(gallery)),
    }
    write_scores(out, SCORES_TXT, report(scores), scores)
    return scores
