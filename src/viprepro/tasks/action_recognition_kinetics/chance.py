"""The official baseline of Kinetics400ViPriors: the chance predictor of `baselines/chance/chance.py`.

Its procedure (both editions): Python's `random` seeded with 1992 draws five labels
`randint(1, 401)` (1..401: one past the 400 classes) per line of the val list, then, seeded
with 1992 again, shuffles the videoids, and line i of the file pairs the i-th shuffled videoid
with the i-th five draws. The toolkit reports its val scores (0.241 / 0.631 / 1.072 % top-1/3/5)
without the seed of the scorer's own random fallbacks; scoring this file in official mode
gives the score under a stated draw seed and the range every run of the scorer lies in.

    python -m viprepro.tasks.action_recognition_kinetics.chance --list kinetics400ViPriors-val.csv --out chance_baseline_val.txt
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from viprepro.files.fileio import write_text

SEED = 1992
LABELS = 5
CLASSES = 400


def chance_lines(videoids: list[str], *, classes: int = CLASSES, seed: int = SEED) -> list[str]:
    rng = random.Random(seed)
    draws = [[rng.randint(1, classes + 1) for _ in range(LABELS)] for _ in videoids]
    shuffled = list(videoids)
    random.Random(seed).shuffle(shuffled)
    return [" ".join([videoid, *map(str, labels)]) for videoid, labels in zip(shuffled, draws)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, required=True, help="a `label,videoid,split` list (the toolkit's kinetics400ViPriors-val.csv)")
    parser.add_argument("--out", type=Path, required=True, help="the submission file to write")
    parser.add_argument("--classes", type=int, default=CLASSES, help="classes of clsIdx.csv (400)")
    args = parser.parse_args(argv)
    from viprepro.tasks.action_recognition_kinetics.annotations import LABELLED_HEADER, _rows

    videoids = [row[1] for _, row in _rows(args.list, LABELLED_HEADER)]
    write_text(args.out, "".join(line + "\n" for line in chance_lines(videoids, classes=args.classes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
