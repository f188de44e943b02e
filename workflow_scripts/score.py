"""Score a submission file against the hidden test ground truth (the only step that reads it).

    python workflow_scripts/score.py --task classification --gt results/data/classification/hidden/test_gt.csv \
        --submission .../submission.csv --out .../scores --mode strict --submission-name NAME --seed 0 \
        --subset results/data/classification/subset

Because this is the only step that may read the ground truth, it also draws the figures that
need it into OUT/figures/ (example test predictions for every task, a confusion matrix for
classification and action recognition; the test images come from --subset); the
certificate picks them up from there.

A val submission (a claim on val, see predict.py --split val) is scored the same way, in the
same mode, against the val ground truth folder of the val_ground_truth rule:

    python workflow_scripts/score.py --task classification --val-gt results/data/classification/val_gt \
        --submission .../seed_0/val/submission.csv --out .../seed_0/val/scores --mode strict
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags
from viprepro.tasks import METRIC_KEYS

FIGURES = "figures"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    truth = parser.add_mutually_exclusive_group(required=True)
    truth.add_argument("--gt", type=Path, help="ground truth in the form the official grader reads")
    truth.add_argument("--hidden", type=Path, help="the hidden folder written by the subset step (the task finds its ground truth there)")
    truth.add_argument("--val-gt", type=Path, help="the val ground-truth folder written by the val_ground_truth rule (scores a val submission)")
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

    start(args, uses_torch=False)
    try:
        # The run opens before any work, so a job that fails leaves a FAILED run with its error.
        with tracking.job_run(task=args.task, stage="score", rule=args.rule, submission=args.submission_name,
                              tags=tags(args, extra={"seed": args.seed, "mode": args.mode, "split": split_of(args)}),
                              run_name=f"{'score' if split_of(args) == 'test' else 'score_val'}/{args.submission_name}/seed_{args.seed}") as mlrun:
            scores = score(args, mlrun)
    except UserError as exc:
        print(f"score: error: {exc.message}", file=sys.stderr)
        return 1
    if scores["status"] == "not_run":
        print(f"{args.submission_name} seed {args.seed}: not scored: {scores['reason']}")
        return 0
    if scores["status"] == "invalid":
        print(f"{args.submission_name} seed {args.seed}: submission refused ({len(scores['problems'])} problem(s)): "
              f"{'; '.join(scores['problems'][:3])}")
        return 0
    from viprepro.tasks import get_task

    main_metric = get_task(args.task).main_metric
    value = scores.get(main_metric.key)
    print(f"{args.submission_name} seed {args.seed}: {main_metric.label} {value if value is None else f'{value:.6f}'} ({args.mode})")
    return 0


def split_of(args: argparse.Namespace) -> str:
    return "val" if args.val_gt else "test"


def ground_truth(task, args: argparse.Namespace) -> Path:
    if args.gt:
        return args.gt
    return task.val_ground_truth(args.val_gt) if args.val_gt else task.hidden_ground_truth(args.hidden)


def score(args: argparse.Namespace, mlrun) -> dict:
    """Score the file; a file that strict validation refuses gets a scores record with its problems.

    Refusing one submission must not stop the pipeline: the verdict of a refused file is
    `invalid_submission`, with every problem listed, and the other submissions go on.
    """
    from viprepro.errors import UserError
    from viprepro.fileio import read_json, write_json
    from viprepro.scores_io import placeholder_scores, refused_scores, scored_submission_digest
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    task = get_task(args.task)
    if args.subset:
        mlrun.set_tags({"data_manifest_digest": read_manifest(args.subset)["digest"]})
    placeholder = placeholder_scores(args.submission, task=task.name, mode=args.mode)
    if placeholder is not None:  # a limit hit or a failed audit stopped the participant's step
        write_json(args.out / "scores.json", placeholder)
        mlrun.set_tags({"submission_status": "not_run", "reason": placeholder["reason"][:5000]})
        return placeholder
    gt = ground_truth(task, args)
    digest = scored_submission_digest(args.submission)
    try:
        task.score(gt, args.submission, args.out, mode=args.mode, options={})
    except UserError as exc:
        refused = refused_scores(exc, args.submission, task=task.name, mode=args.mode, submission_sha256=digest)
        if refused is None:  # a problem of the ground truth or of our own files: the job fails
            raise
        write_json(args.out / "scores.json", refused)
        mlrun.set_tags({"submission_status": "invalid", "problems": "; ".join(refused["problems"])[:5000]})
        mlrun.log_artifact(args.out / "scores.json")
        return refused
    scores = {**read_json(args.out / "scores.json"), "split": split_of(args), "status": "scored", "submission_sha256": digest}
    write_json(args.out / "scores.json", scores)
    # a metric the scorer could not compute (None in scores.json) is logged as NaN, not dropped
    mlrun.log_metrics({k: (math.nan if v is None and k in METRIC_KEYS[task.name] else v) for k, v in scores.items()
                       if k not in ("task", "mode", "split", "status", "submission_sha256")})
    mlrun.set_tags({"submission_status": "scored", "submission_sha256": digest})
    for artifact in sorted(p for p in args.out.iterdir() if p.is_file()):
        mlrun.log_artifact(artifact)
    if args.figures and args.subset and split_of(args) == "test":  # the figures show test images
        drawn = draw_figures(args, gt)
        for artifact in sorted((args.out / FIGURES).iterdir()):
            mlrun.log_artifact(artifact, FIGURES)
        mlrun.set_tags({"figures": ", ".join(f"{k}: {'ok' if 'file' in v else 'FAILED'}" for k, v in drawn.items())})
    return scores


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
