"""Write a task's val ground truth, in the official format, from its subset (once per dataset).

    python workflow_scripts/val_ground_truth.py --task classification \
        --subset results/data/classification/subset --out results/data/classification/val_gt

Val labels are public in the challenge (they ship with the subset), so this folder lives
beside the subset, not in the hidden one; `score.py --val-gt OUT` scores a val submission
against it with the task's own scorer, which is how a claim on val is judged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="folder to write (it must not exist yet or is replaced whole)")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.jobs import start
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    start(args, uses_torch=False)
    try:
        with tracking.job_run(task=args.task, stage="val_ground_truth", rule=args.rule, tags=tags(args),
                              run_name=f"val_ground_truth/{args.task}") as mlrun:
            mlrun.set_tags({"data_manifest_digest": read_manifest(args.subset)["digest"]})
            gt = get_task(args.task).write_val_ground_truth(args.subset, args.out)
            mlrun.log_params({"ground_truth": gt.relative_to(args.out).as_posix() or "."})
    except UserError as exc:
        print(f"val_ground_truth: error: {exc.message}", file=sys.stderr)
        return 1
    print(f"val ground truth of {args.task}: {gt}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
