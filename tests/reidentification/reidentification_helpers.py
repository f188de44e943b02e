"""Helpers for the re-identification tests: the tiny dataset's options, and Open-ReID's
ranking functions written out as the 2021 toolkit has them (the reference procedure)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

#: the smallest SynergyReID that still has train, val and test identities
TINY = {"train_ids": 4, "val_ids": 2, "test_ids": 3, "frames": 3, "image_height": 24, "image_width": 12}


def reference_cmc(distmat, query_ids, gallery_ids, query_cams, gallery_cams, topk=100, first_match_break=False):
    """reid/evaluation_metrics/ranking.py:cmc of the 2021 toolkit, without its
    separate_camera_set and single_gallery_shot branches (off in both CMCs scored)."""
    m, _ = distmat.shape
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    query_cams, gallery_cams = np.asarray(query_cams), np.asarray(gallery_cams)
    indices = np.argsort(distmat, axis=1)
    matches = gallery_ids[indices] == query_ids[:, np.newaxis]
    ret = np.zeros(topk)
    num_valid_queries = 0
    for i in range(m):
        valid = (gallery_ids[indices[i]] != query_ids[i]) | (gallery_cams[indices[i]] != query_cams[i])
        if not np.any(matches[i, valid]):
            continue
        repeat = 1
        for _ in range(repeat):
            index = np.nonzero(matches[i, valid])[0]
            delta = 1.0 / (len(index) * repeat)
            for j, k in enumerate(index):
                if k - j >= topk:
                    break
                if first_match_break:
                    ret[k - j] += 1
                    break
                ret[k - j] += delta
        num_valid_queries += 1
    if num_valid_queries == 0:
        raise RuntimeError("No valid query")
    return ret.cumsum() / num_valid_queries


def reference_mean_ap(distmat, query_ids, gallery_ids, query_cams, gallery_cams):
    """reid/evaluation_metrics/ranking.py:mean_ap of the 2021 toolkit (scikit-learn's AP)."""
    m, _ = distmat.shape
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    query_cams, gallery_cams = np.asarray(query_cams), np.asarray(gallery_cams)
    indices = np.argsort(distmat, axis=1)
    matches = gallery_ids[indices] == query_ids[:, np.newaxis]
    aps = []
    for i in range(m):
        valid = (gallery_ids[indices[i]] != query_ids[i]) | (gallery_cams[indices[i]] != query_cams[i])
        y_true = matches[i, valid]
        y_score = -distmat[i][indices[i]][valid]
        if not np.any(y_true):
            continue
        aps.append(average_precision_score(y_true, y_score))
    if len(aps) == 0:
        raise RuntimeError("No valid query")
    return np.mean(aps)
