"""A well-behaved external submission: the majority class of the training split (stdlib only).

python train.py --train /data/train --out /submission/output --seed 0
"""

import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

counts = {d.name: sum(1 for _ in d.iterdir()) for d in sorted(args.train.iterdir()) if d.is_dir()}
majority = max(sorted(counts), key=counts.get)
(args.out / "model.json").write_text(json.dumps({"counts": counts, "majority": majority, "seed": args.seed}))
print(f"trained: {len(counts)} classes, majority {majority}")
