"""Score a submission file against the hidden test ground truth (the only step that reads it).

    python workflow_scripts/score.py --task TASK --hidden results/data/TASK/hidden \\
        --submission .../submission.csv --out .../scores --mode strict --submission-name NAME --seed 0 \\
        --subset results/data/TASK/subset [--on-invalid record]
    python workflow_scripts/score.py --task TASK --val-gt results/data/TASK/val_gt \\
        --submission .../seed_0/val/submission.csv --out .../seed_0/val/scores --mode strict

The same step, flags and behaviour as `viprepro score` (viprepro.steps.score): it also draws
the figures that need the ground truth into OUT/figures/; `--on-invalid record` (the
pipeline's) writes a refused file's problems into scores.json instead of failing.
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.score import SCORE, score  # noqa: F401  (score: the step's logic, for tests)

get_args_parser, main = script(SCORE)

if __name__ == "__main__":
    sys.exit(main())
