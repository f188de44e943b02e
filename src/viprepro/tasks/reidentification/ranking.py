"""mAP and CMC as Open-ReID computes them (`reid/evaluation_metrics/ranking.py`, 2021 toolkit).

Per query, the gallery is ranked by `np.argsort(distmat, axis=1)` (NumPy's default sort:
ties keep whatever order it leaves them in, as the toolkit's does); gallery images of the
query's identity *and* camera are dropped (`valid`); a query without a true match among the
rest is skipped, neither counted nor averaged.

- `mean_ap`: the mean over the counted queries of scikit-learn's `average_precision_score`
  of (matches, -distance). That AP is the step-wise area under the precision-recall curve
  with one point per distinct score: tied distances form one threshold, so a tie between a
  match and a non-match counts both at once, whatever their order (unlike the CMC).
- `cmc`: with `first_match_break` (Market-1501's convention) the share of counted queries
  whose first match is within the top k. Without it (Open-ReID's `allshots`) every match j
  (0-based, at valid rank k) adds 1/len(matches) at rank k - j, i.e. ranks are counted
  among the non-matches. `single_gallery_shot` (CUHK03) samples the gallery with NumPy's
  unseeded global generator: not reproducible, not offered.

SynergyReID puts every query in camera 0 and every gallery image in camera 1, so the camera
filter removes nothing; it is kept so that the functions are Open-ReID's for any input.
Written with vectorised NumPy per query (no scikit-learn call); tests compare both against a
reference that follows the toolkit's code line by line and calls scikit-learn.
"""

from __future__ import annotations

import numpy as np


def _valid_matches(query_ids, gallery_ids, query_cams, gallery_cams, i, order):
    ranked_ids = gallery_ids[order]
    valid = (ranked_ids != query_ids[i]) | (gallery_cams[order] != query_cams[i])
    return valid, ranked_ids == query_ids[i]


def _defaults(distmat, query_ids, gallery_ids, query_cams, gallery_cams):
    m, n = distmat.shape
    query_ids = np.arange(m) if query_ids is None else np.asarray(query_ids)
    gallery_ids = np.arange(n) if gallery_ids is None else np.asarray(gallery_ids)
    query_cams = np.zeros(m, dtype=np.int32) if query_cams is None else np.asarray(query_cams)
    gallery_cams = np.ones(n, dtype=np.int32) if gallery_cams is None else np.asarray(gallery_cams)
    return query_ids, gallery_ids, query_cams, gallery_cams


def average_precision(matches: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's average_precision_score(matches, scores) for a binary 0/1 `matches`
    with at least one positive: sum over distinct scores, best first, of
    (recall gain) x (precision at that score)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, matches = scores[order], matches[order].astype(np.float64)
    last_of_group = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(matches)[last_of_group]
    precision = true_positives / (last_of_group + 1)
    recall_gain = np.diff(np.r_[0.0, true_positives]) / true_positives[-1]
    return float(np.sum(recall_gain * precision))


def mean_ap(distmat, query_ids=None, gallery_ids=None, query_cams=None, gallery_cams=None) -> tuple[float, int]:
    """(mAP, number of queries counted); ValueError when no query has a match ("No valid query")."""
    distmat = np.asarray(distmat)
    query_ids, gallery_ids, query_cams, gallery_cams = _defaults(distmat, query_ids, gallery_ids, query_cams, gallery_cams)
    aps = []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i])
        valid, matches = _valid_matches(query_ids, gallery_ids, query_cams, gallery_cams, i, order)
        y_true = matches[valid]
        if not y_true.any():
            continue
        aps.append(average_precision(y_true, -distmat[i][order][valid]))
    if not aps:
        raise ValueError("No valid query")
    return float(np.mean(aps)), len(aps)


def cmc(
    distmat, query_ids=None, gallery_ids=None, query_cams=None, gallery_cams=None, *, topk: int = 100, first_match_break: bool
) -> np.ndarray:
    """CMC curve (rank 1..topk) of Open-ReID's `cmc` without `separate_camera_set` and `single_gallery_shot`."""
    distmat = np.asarray(distmat)
    query_ids, gallery_ids, query_cams, gallery_cams = _defaults(distmat, query_ids, gallery_ids, query_cams, gallery_cams)
    ret = np.zeros(topk)
    counted = 0
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i])
        valid, matches = _valid_matches(query_ids, gallery_ids, query_cams, gallery_cams, i, order)
        index = np.flatnonzero(matches[valid])
        if index.size == 0:
            continue
        counted += 1
        if first_match_break:
            if index[0] < topk:
                ret[index[0]] += 1
            continue
        ranks = index - np.arange(index.size)  # matches before j are not counted as ranks
        ranks = ranks[ranks < topk]
        np.add.at(ret, ranks, 1.0 / index.size)
    if counted == 0:
        raise ValueError("No valid query")
    return ret.cumsum() / counted
