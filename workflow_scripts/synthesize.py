"""Generate a task's synthetic dataset in the original layout (the embedded default's data).

    python workflow_scripts/synthesize.py --task classification --out results/data/classification/synthetic \
        --seed 0 --options '{"classes": 10}'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", default="{}", help="generator options as JSON (see schemas/synthetic.<task>.schema.yaml)")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.jobs import start
    from viprepro.schemas_io import validate
    from viprepro.tasks import get_task

    start(args, uses_torch=False)
    task = get_task(args.task)
    options = json.loads(args.options)
    try:
        validate(options, f"synthetic.{args.task}.schema.yaml", where="synthetic options")
    except UserError as exc:
        print(f"synthesize: error: {exc.message}", file=sys.stderr)
        return 1
    with tracking.job_run(task=args.task, stage="synthesize", rule=args.rule, tags=tags(args), run_name=f"synthesize/{args.task}") as mlrun:
        mlrun.log_params({"seed": args.seed, **options})
        result = task.synthesize(args.out, seed=args.seed, options=options)
    print(f"synthetic {args.task}: {result['source']}, manifests {result['manifests']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
