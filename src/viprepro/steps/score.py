"""`viprepro score` and `viprepro validate`: a submission file against the test ground truth.

Scoring is the only step that reads the hidden ground truth, so it also draws the figures
that need it into OUT/figures/ (the figure kinds each task declares: example test predictions,
a confusion matrix; the test images come from --subset); the
certificate picks them up from there. scores.json names the task, submission, seed and split
it belongs to, so nothing downstream reads them from folder names.

A val submission (a claim on val, see `predict --split val`) is scored the same way, in the
same mode, against the val ground truth folder of the val_ground_truth rule (`--val-gt`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from viprepro.errors import ValidationFailed
from viprepro.jobs.step import Job, RunInfo, Step

FIGURES = "figures"


def _ground_truth_arguments(parser) -> None:
    truth = parser.add_mutually_exclusive_group(required=True)
    truth.add_argument("--gt", type=Path, help="ground truth in the form the official grader reads")
    truth.add_argument("--hidden", type=Path, help="the hidden folder written by the subset step (the task finds its ground truth there)")
    truth.add_argument(
        "--val-gt", type=Path, help="the val ground-truth folder written by the val_ground_truth rule (scores a val submission)"
    )
    parser.add_argument("--submission", required=True, type=Path)


def add_validate_arguments(parser) -> None:
    _ground_truth_arguments(parser)


def add_score_arguments(parser) -> None:
    _ground_truth_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="folder for the official text file and scores.json")
    parser.add_argument("--mode", choices=("official", "strict"), default="strict")
    parser.add_argument(
        "--on-invalid",
        choices=("fail", "record"),
        default="fail",
        help="a submission strict validation refuses: fail (exit 1, its problems on one line) or record "
        "(scores.json with status invalid and every problem, exit 0: the pipeline's choice, so that "
        "the verdict says invalid_submission and the other submissions go on)",
    )
    parser.add_argument("--submission-name", default="", help="the submission's name (recorded in scores.json and MLflow)")
    parser.add_argument("--seed", type=int, default=None, help="the seed the submission file was made with (recorded in scores.json)")
    parser.add_argument("--subset", type=Path, default=None, help="subset folder (manifest digest tag, test images for the figures)")
    parser.add_argument(
        "--figures",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw the figures that need the ground truth into OUT/figures (needs --subset)",
    )


def split_of(args) -> str:
    return "val" if args.val_gt else "test"


def ground_truth(task, args) -> Path:
    if args.gt:
        return args.gt
    return task.val_ground_truth(args.val_gt) if args.val_gt else task.hidden_ground_truth(args.hidden)


def run_validate(job: Job) -> str:
    from viprepro.tasks import get_task

    args = job.args
    task = get_task(args.task)
    problems = task.validate(ground_truth(task, args), args.submission, args.task_options)
    if problems:
        raise ValidationFailed(args.submission, problems)
    return f"{args.submission}: valid"


def _identity(args) -> dict:
    """Whose scores these are; the edition scored to (a task of several editions) goes with them to the verdict."""
    made = {"submission": args.submission_name, "seed": args.seed, "split": split_of(args)}
    if args.task_options.get("edition") is not None:
        made["edition"] = args.task_options["edition"]
    return made


def run_score(job: Job) -> str:
    """Score the file; a file strict validation refuses fails the job, or with --on-invalid record
    gets a scores record with its problems (the verdict of a refused file is `invalid_submission`)."""
    from viprepro.tasks import get_task

    args = job.args
    scores = score(args, job.mlrun)
    who = f"{args.submission_name or args.submission} seed {args.seed}: " if args.seed is not None else ""
    if scores["status"] == "not_run":
        return f"{who}not scored: {scores['reason']}"
    if scores["status"] == "invalid":
        return f"{who}submission refused ({len(scores['problems'])} problem(s)): {'; '.join(scores['problems'][:3])}"
    main = get_task(args.task).main_metric
    value = scores.get(main.key)
    return f"{who}{main.label}: {'none' if value is None else f'{value:.8f}'} ({args.mode} mode); scores in {args.out}"


def score(args, mlrun) -> dict:
    """Write OUT/scores.json (and the official text file, and the figures) and return the scores."""
    from viprepro.errors import UserError
    from viprepro.files.fileio import read_json, write_json
    from viprepro.files.scores_io import placeholder_scores, refused_scores, scored_submission_digest
    from viprepro.files.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    task = get_task(args.task)
    if args.subset:
        mlrun.set_tags({"data_manifest_digest": read_manifest(args.subset)["digest"]})
    placeholder = placeholder_scores(args.submission, task=task.name, mode=args.mode)
    if placeholder is not None:  # a limit hit or a failed audit stopped the participant's step
        placeholder = {**placeholder, **_identity(args)}
        write_json(args.out / "scores.json", placeholder)
        mlrun.set_tags({"submission_status": "not_run", "reason": placeholder["reason"][:5000]})
        return placeholder
    gt = ground_truth(task, args)
    digest = scored_submission_digest(args.submission)
    try:
        task.score(gt, args.submission, args.out, mode=args.mode, options=args.task_options)
    except UserError as exc:
        refused = refused_scores(exc, args.submission, task=task.name, mode=args.mode, submission_sha256=digest)
        if refused is None or args.on_invalid == "fail":  # or a problem of the ground truth or of our own files
            raise
        refused = {**refused, **_identity(args)}
        write_json(args.out / "scores.json", refused)
        mlrun.set_tags({"submission_status": "invalid", "problems": "; ".join(refused["problems"])[:5000]})
        mlrun.log_artifact(args.out / "scores.json")
        return refused
    scores = {**read_json(args.out / "scores.json"), "status": "scored", "submission_sha256": digest, **_identity(args)}
    write_json(args.out / "scores.json", scores)
    # a metric the scorer could not compute (None in scores.json) is logged as NaN, not dropped
    metric_keys = {metric.key for metric in task.metrics}
    mlrun.log_metrics(
        {
            k: (math.nan if v is None and k in metric_keys else v)
            for k, v in scores.items()
            if k not in ("task", "mode", "split", "status", "submission_sha256", "submission", "seed")
        }
    )
    mlrun.set_tags({"submission_status": "scored", "submission_sha256": digest})
    for artifact in sorted(p for p in args.out.iterdir() if p.is_file()):
        mlrun.log_artifact(artifact)
    if args.figures and args.subset and split_of(args) == "test":  # the figures show test images
        drawn = draw_figures(args, gt)
        for artifact in sorted((args.out / FIGURES).iterdir()):
            mlrun.log_artifact(artifact, FIGURES)
        mlrun.set_tags({"figures": ", ".join(f"{k}: {'ok' if 'file' in v else 'FAILED'}" for k, v in drawn.items())})
    return scores


def draw_figures(args, gt: Path) -> dict:
    """Examples and confusion matrix into OUT/figures; a figure that fails is reported, not fatal."""
    from viprepro.files.fileio import write_json
    from viprepro.report import examples

    folder = args.out / FIGURES
    title = f" ({args.submission_name}" + (f", seed {args.seed}" if args.seed is not None else "") + ")"
    drawn = examples.render(args.task, gt, args.submission, args.subset, folder, title=title)
    write_json(folder / "figures.json", drawn)
    for name, result in drawn.items():
        if "error" in result:
            print(f"viprepro score: warning: figure {name} not drawn: {result['error']}", file=sys.stderr)
    return drawn


def _score_run(args) -> RunInfo:
    seed = "" if args.seed is None else f"/seed_{args.seed}"
    stage = "score" if split_of(args) == "test" else "score_val"
    return RunInfo(
        task=args.task,
        stage="score",
        submission=args.submission_name,
        run_name=f"{stage}/{args.submission_name}{seed}",
        tags={"seed": "" if args.seed is None else args.seed, "mode": args.mode, "split": split_of(args)},
    )


SCORE = Step(
    name="score",
    description="Score a submission file against the test ground truth (the only step that reads it).",
    add_arguments=add_score_arguments,
    task_arguments=lambda parser, task: task.add_score_arguments(parser),
    run=run_score,
    run_info=_score_run,
    uses_torch=False,
    tracked=False,
)

VALIDATE = Step(
    name="validate",
    description="List every problem of a submission file against the test ground truth (strict mode's checks).",
    add_arguments=add_validate_arguments,
    task_arguments=lambda parser, task: task.add_score_arguments(parser),
    run=run_validate,
    run_info=lambda args: RunInfo(task=args.task, stage="validate"),
    uses_torch=False,
    tracked=False,
)
