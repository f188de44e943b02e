"""Collect every submission's verdict into results/leaderboard.csv.

    python workflow_scripts/leaderboard.py --verdicts results/*/*/verdict.json --out results/leaderboard.csv

The same step as `viprepro leaderboard` (viprepro.steps.leaderboard).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.leaderboard import LEADERBOARD

get_args_parser, main = script(LEADERBOARD)

if __name__ == "__main__":
    sys.exit(main())
