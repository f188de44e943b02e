"""Write results/leaderboard.html from results/leaderboard.csv (static, sortable, self-contained).

    python workflow_scripts/leaderboard_page.py --leaderboard results/leaderboard.csv --out results/leaderboard.html

Each row links to results/<task>/<submission>/certificate/certificate.html. The same step as
`viprepro leaderboard-page` (viprepro.steps.leaderboard).
"""

from __future__ import annotations

import sys

from viprepro.jobs.step import script
from viprepro.steps.leaderboard import LEADERBOARD_PAGE

get_args_parser, main = script(LEADERBOARD_PAGE)

if __name__ == "__main__":
    sys.exit(main())
