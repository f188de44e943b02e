"""Train one ensemble member of a submission at one seed, from scratch.

Runnable by hand, e.g.:
    python workflow_scripts/train.py --spec config/submissions/SPEC.yaml \\
        --subset results/data/TASK/subset --seed 0 --member 0 \\
        --out results/TASK/SUBMISSION/seed_0/member_0/model.pt --threads 2

A killed run resumes from its last finished epoch (state in --state-dir) and ends with the
same weights as an uninterrupted run. The same step as `viprepro train` (viprepro.steps.train).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.train import TRAIN

get_args_parser, main = script(TRAIN)

if __name__ == "__main__":
    sys.exit(main())
