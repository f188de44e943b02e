"""Predict the test split with a submission's trained member(s) and write its submission file.

    python workflow_scripts/predict.py --spec SPEC --subset results/data/classification/subset \
        --checkpoints .../member_0/model.pt [.../member_1/model.pt ...] --out .../submission.csv [--split val]

Several checkpoints form an ensemble (probabilities averaged). The test ground truth is not
an input of this step. `--split val` predicts the val split instead, through the same
ensemble, test-time augmentation and inference resolution, into a val submission file in
the same official format: what a claim on val is judged on.
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
    parser.add_argument("--split", choices=("test", "val"), default="test", help="the split to predict (val: for a claim on val)")
    parser.add_argument("--out", required=True, type=Path, help="submission file to write")
    parser.add_argument("--record", type=Path, default=None, help="inference record JSON (default: OUT + .record.json)")
    parser.add_argument("--repeats", type=int, default=2, help="run inference this many times and compare the files' digests")
    parser.add_argument("--workers", type=int, default=0)
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    device = start(args)
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.spec import load_spec
    from viprepro.tasks import get_task

    try:
        spec = load_spec(args.spec)
        task = get_task(spec["task"])
        # The run opens before any work, so a job that fails leaves a FAILED run with its error.
        with tracking.job_run(task=task.name, stage="predict", rule=args.rule, submission=spec["name"],
                              tags=tags(args, extra={"seed": args.seed, "split": args.split}),
                              run_name=f"{'predict' if args.split == 'test' else 'predict_val'}/{spec['name']}/seed_{args.seed}") as mlrun:
            record = predict(task, spec, args, device, mlrun)
    except UserError as exc:
        print(f"predict: error: {exc.message}", file=sys.stderr)
        return 1
    summary = {k: record[k] for k in ("images", "samples_per_s", "identical")}
    digest = record["sha256"]
    print(f"wrote {args.out} ({summary}); sha256 {digest[:16]}")
    return 0


def predict(task, spec: dict, args: argparse.Namespace, device, mlrun) -> dict:
    """Load the members, predict `repeats` times, write the inference record; log it all to `mlrun`."""
    from viprepro.audit import forbid_weight_downloads
    from viprepro.engine import load_trained_model
    from viprepro.fileio import write_json
    from viprepro.subset_manifest import read_manifest

    mlrun.set_tags({"data_manifest_digest": read_manifest(args.subset)["digest"]})
    loaded = [load_trained_model(task, path, args.subset, device) for path in args.checkpoints]
    forbid_weight_downloads()
    models = [model for model, _ in loaded]
    record = repeated_inference(task, models, args, spec["recipe"], device)
    record.update(split=args.split, members=len(loaded), checkpoint_digests=[state["final_weights_digest"] for _, state in loaded],
                  parameters=sum(p.numel() for m in models for p in m.parameters()), determinism=args.determinism)
    write_json(args.record or args.out.with_name(args.out.name + ".record.json"), record)
    mlrun.log_params({"members": len(loaded), "repeats": args.repeats})
    mlrun.log_metrics({k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    mlrun.set_tags({"submission_sha256": record["sha256"], "inference_deterministic": record["identical"]})
    mlrun.log_artifact(args.out)
    return record


def repeated_inference(task, models, args, recipe, device) -> dict:
    """Predict `repeats` times from the same weights; the files must be byte-identical.

    The last repetition also counts FLOPs (torch's own counter), per predicted sample.
    """
    import tempfile

    from torch.utils.flop_counter import FlopCounterMode

    from viprepro.fileio import sha256_file

    digests, summary, flops = [], {}, None
    with tempfile.TemporaryDirectory(prefix="viprepro-repeat-", dir=args.out.parent) as scratch:
        for repeat in range(max(1, args.repeats)):
            target = args.out if repeat == 0 else Path(scratch) / f"repeat_{repeat}_{args.out.name}"
            last = repeat == max(1, args.repeats) - 1
            counter = FlopCounterMode(display=False) if last else None
            if counter:
                with counter:
                    run_summary = task.predict(models, args.subset, recipe, target, device=device, workers=args.workers, split=args.split)
                flops = counter.get_total_flops()
            else:
                run_summary = task.predict(models, args.subset, recipe, target, device=device, workers=args.workers, split=args.split)
            if repeat == 0:
                summary = run_summary
            digests.append(sha256_file(target))
    images = summary.get("images") or summary.get("clips") or summary.get("count") or 0
    seconds = summary.get("seconds")
    return {
        "sha256": digests[0],
        "repeat_sha256": digests[1:],
        "identical": len(set(digests)) == 1,
        "repeats": len(digests),
        "images": images,
        "seconds": seconds,
        "samples_per_s": images / seconds if images and seconds else None,
        "flops_per_sample": flops / images if flops and images else None,
        "summary": summary,
    }


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
