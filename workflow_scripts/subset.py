"""Cut a task's official subset out of its source dataset (never modifying the source).

    python workflow_scripts/subset.py --task classification --source /data/ILSVRC2012 \
        --manifests /data/vipriors/manifests --out results/data/classification/subset \
        --hidden results/data/classification/hidden
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--source", required=True, type=Path)
    parser.add_argument("--manifests", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--hidden", required=True, type=Path)
    parser.add_argument("--link", choices=("hardlink", "symlink", "copy"), default="hardlink")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.jobs import start
    from viprepro.tasks import get_task

    start(args, uses_torch=False)
    task = get_task(args.task)
    try:
        with tracking.job_run(task=args.task, stage="subset", rule=args.rule, tags=tags(args), run_name=f"subset/{args.task}") as mlrun:
            result = task.subset(args.source, args.manifests, args.out, args.hidden, link=args.link, options={})
            counts = {split: len(files) for split, files in result.manifest["splits"].items()}
            mlrun.set_tags({"data_manifest_digest": result.manifest["digest"]})
            mlrun.log_params({"source": args.source, "manifests": args.manifests, "link": args.link,
                              **{f"files.{k}": v for k, v in counts.items()},
                              **{f"digest.{k}": v for k, v in result.manifest["split_digests"].items()}})
            mlrun.log_artifact(Path(args.out) / "subset_manifest.json")
    except UserError as exc:
        print(f"subset: error: {exc.message}", file=sys.stderr)
        return 1
    print(f"subset {args.out}: {counts}, digest {result.manifest['digest']}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
