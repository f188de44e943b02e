"""The test predictions the scoring step draws: queries with their top-ranked gallery images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viprepro.report.examples import DEFAULT_COUNT, Example, pick, rgb
from viprepro.tasks.reidentification.layout import FOLDERS, read_identities
from viprepro.tasks.reidentification.submission import read_matrix

RANKS_SHOWN = 5


def examples(gt: Path, submission: Path, subset: Path, count: int = DEFAULT_COUNT) -> tuple[list[Example], str]:
    truth = read_identities(gt)
    matrix, _ = read_matrix(submission, max_mb=float("inf"))
    if matrix is None:
        return [], "the submission could not be read"
    query_person, gallery_person = truth.person_of("query"), truth.person_of("gallery")
    rows = [k for k, q in enumerate(matrix.query_ids.tolist()) if q in query_person]
    gallery_known = np.array([g in gallery_person for g in matrix.gallery_ids.tolist()])
    ranked = []
    for k in rows:
        order = [int(g) for g in np.argsort(matrix.distances[k]) if gallery_known[g]][:RANKS_SHOWN]
        ranked.append(order)
    hits = [
        [gallery_person[int(matrix.gallery_ids[g])] == query_person[int(matrix.query_ids[k])] for g in order]
        for k, order in zip(rows, ranked)
    ]
    chosen = pick([bool(h and h[0]) for h in hits], count)
    folder = Path(subset)
    shown = []
    for i in chosen:
        query = int(matrix.query_ids[rows[i]])
        panels = [rgb(folder / FOLDERS[("test", "query")] / f"{query}.jpeg", 128)]
        panels += [rgb(folder / FOLDERS[("test", "gallery")] / f"{int(matrix.gallery_ids[g])}.jpeg", 128) for g in ranked[i]]
        titles = ["query"] + [f"{rank} {'✓' if hit else '✗'}" for rank, hit in enumerate(hits[i], start=1)]
        shown.append(
            Example(panels, f"query {query}: ranks 1-{len(hits[i])} {''.join('✓' if hit else '✗' for hit in hits[i])}", hits[i][0], titles)
        )
    return shown, f"each row: a test query, then its {RANKS_SHOWN} nearest gallery images (✓ same person); green: rank 1 is right"
