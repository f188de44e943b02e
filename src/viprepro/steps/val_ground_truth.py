"""`viprepro val-ground-truth`: a task's val ground truth, in the official format, from its subset.

Val labels are public in the challenge (they ship with the subset), so this folder lives
beside the subset, not in the hidden one; `score --val-gt OUT` scores a val submission
against it with the task's own scorer, which is how a claim on val is judged.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--task", required=True, help="the task whose val ground truth to write")
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="folder to write (it must not exist yet or is replaced whole)")


def run(job: Job) -> str:
    from viprepro.files.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    args = job.args
    job.mlrun.set_tags({"data_manifest_digest": read_manifest(args.subset)["digest"]})
    gt = get_task(args.task).write_val_ground_truth(args.subset, args.out)
    job.mlrun.log_params({"ground_truth": gt.relative_to(args.out).as_posix() or "."})
    return f"val ground truth of {args.task}: {gt}"


VAL_GROUND_TRUTH = Step(
    name="val-ground-truth",
    description="Write a task's val ground truth, in the official format, from its subset (once per dataset).",
    add_arguments=add_arguments,
    run=run,
    run_info=lambda args: RunInfo(task=args.task, stage="val_ground_truth", run_name=f"val_ground_truth/{args.task}"),
    uses_torch=False,
)
