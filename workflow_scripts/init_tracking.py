"""Create the MLflow store and one experiment per task, once, before jobs fan out.

    python workflow_scripts/init_tracking.py --tasks TASK [TASK ...] --out results/mlflow/experiments.json

The same step as `viprepro init-tracking` (viprepro.steps.init_tracking).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.init_tracking import INIT_TRACKING

get_args_parser, main = script(INIT_TRACKING)

if __name__ == "__main__":
    sys.exit(main())
