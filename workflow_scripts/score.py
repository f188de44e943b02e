"""Score a submission file against the hidden test ground truth (the only step that reads it).

    python workflow_scripts/score.py --task classification --gt results/data/classification/hidden/test_gt.csv \
        --submission .../submission.csv --out .../scores --mode strict --submission-name NAME --seed 0 \
        --subset results/data/classification/subset

Because this is the only step that may read the ground truth, it also draws the figures that
need it into OUT/figures/ (example test predictions for every task, a confusion matrix for
classification and action recognition; the test images come from --subset); the
certificate picks them up from there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags

FIGURES = "figures"


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
    parser.add_argument("--subset", type=Path, default=None, help="subset folder (manifest digest tag, test images for the figures)")
    parser.add_argument("--figures", action=argparse.BooleanOptionalAction, default=True,
                        help="draw the figures that need the ground truth into OUT/figures (needs --subset)")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.jobs import start
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    start(args, uses_torch=False)
    task = get_task(args.task)
    digest = read_manifest(args.subset)["digest"] if args.subset else ""
    try:
        with tracking.job_run(task=args.task, stage="score", rule=args.rule, submission=args.submission_name,
                              tags=tags(args, manifest_digest=digest, extra={"seed": args.seed, "mode": args.mode}),
                              run_name=f"score/{args.submission_name}/seed_{args.seed}") as mlrun:
            gt = args.gt or task.hidden_ground_truth(args.hidden)
            scores = task.score(gt, args.submission, args.out, mode=args.mode, options={})
            mlrun.log_metrics({k: v for k, v in scores.items() if k not in ("task", "mode")})
            for artifact in sorted(p for p in args.out.iterdir() if p.is_file()):
                mlrun.log_artifact(artifact)
            if args.figures and args.subset:
                drawn = draw_figures(args, gt)
                for artifact in sorted((args.out / FIGURES).iterdir()):
                    mlrun.log_artifact(artifact, FIGURES)
                mlrun.set_tags({"figures": ", ".join(f"{k}: {'ok' if 'file' in v else 'FAILED'}" for k, v in drawn.items())})
    except UserError as exc:
        print(f"score: error: {exc.message}", file=sys.stderr)
        return 1
    main_metric = task.main_metric
    print(f"{args.submission_name} seed {args.seed}: {main_metric.label} {scores[main_metric.key]:.6f} ({args.mode})")
    return 0


def draw_figures(args: argparse.Namespace, gt: Path) -> dict:
    """Examples and confusion matrix into OUT/figures; a figure that fails is reported, not fatal."""
    from viprepro.fileio import write_json
    from viprepro.report import examples

    folder = args.out / FIGURES
    drawn = examples.render(args.task, gt, args.submission, args.subset, folder, title=f" ({args.submission_name}, seed {args.seed})")
    write_json(folder / "figures.json", drawn)
    for name, result in drawn.items():
        if "error" in result:
            print(f"score: warning: figure {name} not drawn: {result['error']}", file=sys.stderr)
    return drawn


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
