"""Score a submission file against the hidden test ground truth (the only step that reads it).

    python workflow_scripts/score.py --task classification --gt results/data/classification/hidden/test_gt.csv \
        --submission .../submission.csv --out .../scores --mode strict --submission-name NAME --seed 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    truth = parser.add_mutually_exclusive_group(required=True)
    truth.add_argument("--gt", type=Path, help="ground truth in the form the official grader reads")
    truth.add_argument("--hidden", type=Path, help="the hidden folder written by the subset step (the task finds its ground truth there)")
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--mode", choices=("official", "strict"), default="strict")
    parser.add_argument("--submission-name", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", type=Path, default=None, help="subset folder (for the manifest digest tag)")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.jobs import start
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    start(args)
    task = get_task(args.task)
    digest = read_manifest(args.subset)["digest"] if args.subset else ""
    try:
        with tracking.job_run(task=args.task, stage="score", rule=args.rule, submission=args.submission_name,
                              tags=tags(args, manifest_digest=digest, extra={"seed": args.seed, "mode": args.mode}),
                              run_name=f"score/{args.submission_name}/seed_{args.seed}") as mlrun:
            gt = args.gt or task.hidden_ground_truth(args.hidden)
            scores = task.score(gt, args.submission, args.out, mode=args.mode, options={})
            mlrun.log_metrics({k: v for k, v in scores.items() if k not in ("task", "mode")})
            for artifact in sorted(args.out.iterdir()):
                mlrun.log_artifact(artifact)
    except UserError as exc:
        print(f"score: error: {exc.message}", file=sys.stderr)
        return 1
    main_metric = task.main_metric
    print(f"{args.submission_name} seed {args.seed}: {main_metric.label} {scores[main_metric.key]:.6f} ({args.mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
