"""One line of the benchmark report: what a benchmark measured, against which baseline.

Every benchmark prints its figures for a reader; `record` also appends them, as one JSON line,
to the file named by $VIPREPRO_BENCH_RECORD when `benchmarks/run_all.py` runs it, so that the
report's table is built from what the runs printed, never typed in.
"""

from __future__ import annotations

import json
import os

ENV = "VIPREPRO_BENCH_RECORD"


def record(
    figure: str,
    *,
    ours: float,
    baseline: float | None,
    unit: str,
    ratio: float | None = None,
    target: str | None = None,
    met: bool | None = None,
    note: str = "",
) -> None:
    """`ratio` is how many times better than the baseline (for times: baseline / ours);
    `target` is the issue's target in words ('>= 3x'); `met` whether the ratio reaches it."""
    row = {"figure": figure, "ours": ours, "baseline": baseline, "unit": unit, "ratio": ratio, "target": target, "met": met, "note": note}
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
