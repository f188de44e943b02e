"""Collect every submission's verdict into results/leaderboard.csv.

    python workflow_scripts/leaderboard.py --verdicts results/*/*/verdict.json --out results/leaderboard.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", required=True, type=Path, nargs="+")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--rule", default="manual")
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.leaderboard import build_rows, write_csv

    with tracking.job_run(task=tracking.PIPELINE, stage="leaderboard", rule=args.rule, run_name="leaderboard") as mlrun:
        rows = build_rows(args.verdicts)
        write_csv(rows, args.out)
        mlrun.log_metrics({"submissions": len(rows), **{f"verdict.{v}": sum(r["verdict"] == v for r in rows) for v in {r["verdict"] for r in rows}}})
        mlrun.log_artifact(args.out)
    print(f"leaderboard: {len(rows)} submission(s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
