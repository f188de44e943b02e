"""Cut a task's official subset out of its source dataset (never modifying the source).

    python workflow_scripts/subset.py --task TASK --source /data/ILSVRC2012 \\
        --manifests /data/vipriors/manifests --out results/data/TASK/subset \\
        --hidden results/data/TASK/hidden

The same step, flags and behaviour as `viprepro subset` (viprepro.steps.subset).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.subset import SUBSET

get_args_parser, main = script(SUBSET)

if __name__ == "__main__":
    sys.exit(main())
