"""Write results/leaderboard.html from results/leaderboard.csv (static, sortable, self-contained).

    python workflow_scripts/leaderboard_page.py --leaderboard results/leaderboard.csv --out results/leaderboard.html

Each row links to results/<task>/<submission>/certificate/certificate.html.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaderboard", required=True, type=Path, help="leaderboard.csv")
    parser.add_argument("--out", required=True, type=Path, help="the page to write (beside the task folders)")
    parser.add_argument("--rule", default="manual")
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.report import leaderboard_page

    with tracking.job_run(task=tracking.PIPELINE, stage="leaderboard_page", rule=args.rule, run_name="leaderboard_page") as mlrun:
        rows = leaderboard_page.write(args.leaderboard, args.out)
        mlrun.log_artifact(args.out)
    print(f"leaderboard page: {rows} submission(s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
