"""Linear probe and k-NN on val of a pretext stage's per-epoch backbones (epoch 0 = random init).

Runnable by hand, e.g.:
    python workflow_scripts/probe.py --spec config/submissions/SPEC.yaml --subset results/data/TASK/subset \\
        --stage STAGE --backbones results/TASK/SUBMISSION/seed_0/member_0/stage_STAGE/backbones \\
        --seed 0 --out results/TASK/SUBMISSION/seed_0/member_0/stage_STAGE/probe.json

The same step as `viprepro probe` (viprepro.steps.probe).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.probe import PROBE

get_args_parser, main = script(PROBE)

if __name__ == "__main__":
    sys.exit(main())
