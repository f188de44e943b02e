"""Predict the test split with a submission's trained member(s) and write its submission file.

    python workflow_scripts/predict.py --spec SPEC --subset results/data/classification/subset \
        --checkpoints .../member_0/model.pt [.../member_1/model.pt ...] --out .../submission.csv

Several checkpoints form an ensemble (probabilities averaged). The test ground truth is not
an input of this step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, start, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--checkpoints", required=True, type=Path, nargs="+")
    parser.add_argument("--seed", type=int, default=0, help="the seed the members were trained with (for the tags)")
    parser.add_argument("--out", required=True, type=Path, help="submission file to write")
    parser.add_argument("--workers", type=int, default=0)
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    device = start(args)
    from viprepro import tracking
    from viprepro.engine import load_trained_model
    from viprepro.errors import UserError
    from viprepro.fileio import sha256_file
    from viprepro.spec import load_spec
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task

    try:
        spec = load_spec(args.spec)
        task = get_task(spec["task"])
        manifest = read_manifest(args.subset)
        loaded = [load_trained_model(task, path, args.subset, device) for path in args.checkpoints]
    except UserError as exc:
        print(f"predict: error: {exc.message}", file=sys.stderr)
        return 1
    with tracking.job_run(task=task.name, stage="predict", rule=args.rule, submission=spec["name"],
                          tags=tags(args, manifest_digest=manifest["digest"], extra={"seed": args.seed}),
                          run_name=f"predict/{spec['name']}/seed_{args.seed}") as mlrun:
        summary = task.predict([model for model, _ in loaded], args.subset, spec["recipe"], args.out, device=device, workers=args.workers)
        digest = sha256_file(args.out)
        mlrun.log_params({"members": len(loaded), "checkpoint_digests": ",".join(state["final_weights_digest"][:16] for _, state in loaded)})
        mlrun.log_metrics({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        mlrun.set_tags({"submission_sha256": digest})
        mlrun.log_artifact(args.out)
    print(f"wrote {args.out} ({summary}); sha256 {digest[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
