"""`viprepro subset`: cut a task's official subset out of its source dataset (never modifying the source)."""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--source", required=True, type=Path, help="root of the original dataset (read only)")
    parser.add_argument("--manifests", required=True, type=Path, help="folder holding the official manifests")
    parser.add_argument("--out", required=True, type=Path, help="the subset folder to create")
    parser.add_argument("--hidden", type=Path, default=None, help="where the test ground truth goes (default: OUT.hidden)")
    parser.add_argument("--link", choices=("hardlink", "symlink", "copy"), default="hardlink")


def hidden_of(args) -> Path:
    return args.hidden or args.out.with_name(args.out.name + ".hidden")


def run(job: Job) -> str:
    from viprepro.tasks import get_task

    args = job.args
    hidden = hidden_of(args)
    result = get_task(args.task).subset(args.source, args.manifests, args.out, hidden, link=args.link, options=args.task_options)
    counts = {split: len(files) for split, files in result.manifest["splits"].items()}
    job.mlrun.set_tags({"data_manifest_digest": result.manifest["digest"]})
    job.mlrun.log_params(
        {
            "source": args.source,
            "manifests": args.manifests,
            "link": args.link,
            **args.task_options,
            **{f"files.{k}": v for k, v in counts.items()},
            **{f"digest.{k}": v for k, v in result.manifest["split_digests"].items()},
        }
    )
    job.mlrun.log_artifact(Path(args.out) / "subset_manifest.json")
    lines = [f"subset {args.out}: {counts}, digest {result.manifest['digest']}; ground truth in {hidden}"]
    return "\n".join([*lines, *(f"note: {note}" for note in result.notes)])


SUBSET = Step(
    name="subset",
    description="Cut a task's official subset out of its source dataset; the test ground truth goes to a separate folder.",
    add_arguments=add_arguments,
    task_arguments=lambda parser, task: task.add_subset_arguments(parser),
    run=run,
    run_info=lambda args: RunInfo(task=args.task, stage="subset", run_name=f"subset/{args.task}"),
    uses_torch=False,
    tracked=False,
)
