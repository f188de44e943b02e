"""Create the MLflow store and one experiment per task, once, before jobs fan out.

    python workflow_scripts/init_tracking.py --tasks classification segmentation --out results/mlflow/.initialised
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--out", required=True, type=Path, help="marker file listing the experiments")
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.fileio import write_json

    ids = tracking.init_store(args.tasks)
    with tracking.job_run(task=tracking.PIPELINE, stage="init_tracking", rule="init_tracking", run_name="init_tracking") as mlrun:
        mlrun.log_params({"tasks": ",".join(args.tasks), "tracking_uri_scheme": tracking.tracking_uri().split(":", 1)[0]})
    write_json(args.out, {"experiments": {tracking.experiment_name(t): i for t, i in ids.items()}})
    print(f"MLflow store ready: {', '.join(tracking.experiment_name(t) for t in ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
