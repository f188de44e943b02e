"""Predict the test split with a submission's trained member(s) and write its submission file.

    python workflow_scripts/predict.py --spec SPEC --subset results/data/TASK/subset \\
        --checkpoints .../member_0/model.pt [.../member_1/model.pt ...] --out .../submission.csv [--split val]

Several checkpoints form an ensemble (probabilities averaged). The test ground truth is not
an input of this step; `--split val` predicts the val split (for a claim on val). The same
step, flags and behaviour as `viprepro predict` (viprepro.steps.predict).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.predict import PREDICT

get_args_parser, main = script(PREDICT)

if __name__ == "__main__":
    sys.exit(main())
