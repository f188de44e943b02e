"""`viprepro synth`: a task's synthetic dataset in the original layout (the embedded default's data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def _schema(task) -> str:
    return f"synthetic.{task.name}.schema.yaml"


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="folder to create (source/ and manifests/ inside)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--options",
        type=_json_object,
        default={},
        help="generator options as one JSON object (keys as in the task's options below); an option's own flag wins",
    )


def add_task_arguments(parser, task) -> None:
    """One flag per property of the task's synthetic-options schema (`--some-key` for `some_key`)."""
    from viprepro.files.schemas_io import load_schema

    kinds = {"integer": int, "number": float, "string": str}
    for key, prop in load_schema(_schema(task)).get("properties", {}).items():
        flag = "--" + key.replace("_", "-")
        help_text = f"{prop.get('description', '')} (default: {prop.get('default')})"
        if prop.get("type") == "boolean":
            parser.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=key, type=kinds.get(prop.get("type"), str), default=None, help=help_text)


def options_of(args: argparse.Namespace, task) -> dict:
    """--options, then each option's own flag, then the schema's defaults; refused if unknown or out of range."""
    from viprepro.files.schemas_io import validate

    chosen = {key: value for key, value in args.task_options.items() if value is not None}
    edition = chosen.pop("edition", None)  # not a generator option: the year whose layout is written
    options = {**args.options, **chosen}
    validate(options, _schema(task), where="synthetic options")
    return options if edition is None else {**options, "edition": edition}


def run(job: Job) -> str:
    from viprepro.tasks import get_task

    args = job.args
    task = get_task(args.task)
    options = options_of(args, task)
    job.mlrun.log_params({"seed": args.seed, **options})
    result = task.synthesize(args.out, seed=args.seed, options=options)
    return f"synthetic {task.name} dataset: source {result['source']}, manifests {result['manifests']}"


SYNTH = Step(
    name="synth",
    description="Generate a task's synthetic dataset in the original layout, with its official manifests.",
    add_arguments=add_arguments,
    task_arguments=add_task_arguments,
    run=run,
    run_info=lambda args: RunInfo(task=args.task, stage="synthesize", run_name=f"synthesize/{args.task}"),
    uses_torch=False,
    tracked=False,
)
