"""Write a task's val ground truth, in the official format, from its subset (once per dataset).

    python workflow_scripts/val_ground_truth.py --task TASK \\
        --subset results/data/TASK/subset --out results/data/TASK/val_gt

Val labels are public in the challenge (they ship with the subset), so this folder lives
beside the subset, not in the hidden one. The same step as `viprepro val-ground-truth`
(viprepro.steps.val_ground_truth).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.val_ground_truth import VAL_GROUND_TRUTH

get_args_parser, main = script(VAL_GROUND_TRUTH)

if __name__ == "__main__":
    sys.exit(main())
