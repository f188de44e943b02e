"""Generate a task's synthetic dataset in the original layout (the embedded default's data).

    python workflow_scripts/synthesize.py --task TASK --out results/data/TASK/synthetic \\
        --seed 0 --options '{"classes": 10}'   (or --classes 10)

The same step, flags and behaviour as `viprepro synth` (viprepro.steps.synth).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.synth import SYNTH

get_args_parser, main = script(SYNTH)

if __name__ == "__main__":
    sys.exit(main())
