"""Seed-band figures of the embedded specs, from finished runs: how the shipped claims were derived.

    python scripts/seed_band_figures.py --run avx2=/path/to/workdir_a --run default=/path/to/workdir_b \
        [--point intel-seed0=classification_resnet_small:0.96 ...]

Each --run is the working folder of a finished `snakemake` run (its results/ holds
<task>/<submission>/seed_<s>/scores/scores.json), labelled by the CPU it ran on (e.g. a run
with ATEN_CPU_CAPABILITY=default next to one with avx2). --point adds single scores measured
elsewhere (e.g. the seed-0 score of an older claim on another CPU vendor).

For every submission it prints each run's scores and band, then the pooled figures the
claims use: claim = mean of every score (all seeds, all CPUs); tolerance = the larger of the
half-width of the pooled 95 % prediction interval for one more seed and the largest distance
from the claim to any single score, rounded up to the next 0.005.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from viprepro.judging.verdict import Band
from viprepro.tasks import get_task, task_names


def scores(workdir: Path) -> dict[tuple[str, str], dict[int, float]]:
    found: dict[tuple[str, str], dict[int, float]] = {}
    for path in sorted(Path(workdir, "results").glob("*/*/seed_*/scores/scores.json")):
        task, submission, seed = path.parts[-5], path.parts[-4], int(path.parts[-3][len("seed_") :])
        if task == "data" or task not in task_names():
            continue
        record = json.loads(path.read_text())
        value = record.get(get_task(task).main_metric.key)
        if value is not None:
            found.setdefault((task, submission), {})[seed] = float(value)
    return found


def round_up(value: float, step: float = 0.005) -> float:
    return math.ceil(value / step - 1e-9) * step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="LABEL=WORKDIR of a finished run")
    parser.add_argument("--point", action="append", default=[], help="LABEL=SUBMISSION:SCORE measured elsewhere")
    args = parser.parse_args()
    runs = {label: scores(Path(folder)) for label, folder in (item.split("=", 1) for item in args.run)}
    points: dict[str, list[tuple[str, float]]] = {}
    for item in args.point:
        label, rest = item.split("=", 1)
        name, value = rest.rsplit(":", 1)
        points.setdefault(name, []).append((label, float(value)))
    keys = sorted({key for found in runs.values() for key in found})
    for task, submission in keys:
        print(f"{submission} ({task}, {get_task(task).main_metric.key})")
        pooled = []
        for label, found in runs.items():
            values = found.get((task, submission), {})
            if not values:
                continue
            band = Band.of(list(values.values()))
            pooled += values.values()
            listing = ", ".join(f"s{seed} {value:.4f}" for seed, value in sorted(values.items()))
            print(f"  {label:>10}: {listing}; mean {band.mean:.4f} sd {band.std:.4f} (n={band.n})")
        for label, value in points.get(submission, []):
            pooled.append(value)
            print(f"  {label:>10}: {value:.4f}")
        band = Band.of(pooled)
        half = band.half_width if math.isfinite(band.half_width) else math.nan
        farthest = max(abs(v - band.mean) for v in pooled)
        tolerance = round_up(max(half if math.isfinite(half) else 0.0, farthest))
        print(
            f"  pooled: n={band.n} mean {band.mean:.4f} sd {band.std:.4f} 95% PI half-width {half:.4f}; "
            f"farthest score {farthest:.4f} -> claim {band.mean:.4f}, tolerance {tolerance:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
