"""Make a multi-stage member's last stage its model (model.pt, history.json, train_record.json + probes).

Runnable by hand, e.g.:
    python workflow_scripts/collect_member.py --stage-dir results/TASK/SUBMISSION/seed_0/member_0/stage_LAST \\
        --out results/TASK/SUBMISSION/seed_0/member_0/model.pt

The same step as `viprepro collect-member` (viprepro.steps.stage_record).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.stage_record import COLLECT

get_args_parser, main = script(COLLECT)

if __name__ == "__main__":
    sys.exit(main())
