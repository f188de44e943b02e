"""`viprepro predict`: the test split (or val) through a submission's trained member(s), into its submission file.

Several checkpoints form an ensemble (probabilities averaged). The test ground truth is not
an input of this step. `--split val` predicts the val split instead, through the same
ensemble, test-time augmentation and inference resolution, into a val submission file in
the same official format: what a claim on val is judged on. The inference record names its
task, submission, seed and split.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--checkpoints", required=True, type=Path, nargs="+")
    parser.add_argument("--seed", type=int, default=None, help="the seed the members were trained with (recorded in the inference record)")
    parser.add_argument("--split", choices=("test", "val"), default="test", help="the split to predict (val: for a claim on val)")
    parser.add_argument("--out", required=True, type=Path, help="submission file to write")
    parser.add_argument("--record", type=Path, default=None, help="inference record JSON (default: OUT + .record.json)")
    parser.add_argument("--repeats", type=int, default=2, help="run inference this many times and compare the files' digests")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment before the spec is read)")


def run(job: Job) -> str:
    from viprepro.specs.load import load_spec
    from viprepro.tasks import get_task

    args = job.args
    spec = load_spec(args.spec)
    record = predict(get_task(spec["task"]), spec, args, job.device, job.mlrun)
    summary = {k: record[k] for k in ("images", "samples_per_s", "identical")}
    return f"wrote {args.out} ({summary}); sha256 {record['sha256'][:16]}"


def predict(task, spec: dict, args, device, mlrun) -> dict:
    """Load the members, predict `repeats` times, write the inference record; log it all to `mlrun`."""
    from viprepro.files.fileio import write_json
    from viprepro.files.subset_manifest import read_manifest
    from viprepro.training.engine import load_trained_model
    from viprepro.training.guards import forbid_weight_downloads

    mlrun.set_tags({"submission": spec["name"], "data_manifest_digest": read_manifest(args.subset)["digest"]})
    loaded = [load_trained_model(task, path, args.subset, device) for path in args.checkpoints]
    forbid_weight_downloads()
    models = [model for model, _ in loaded]
    measured = repeated_inference(task, models, args, spec["recipe"], device)
    record = {
        "task": task.name,
        "submission": spec["name"],
        "seed": args.seed,
        "split": args.split,
        **measured,
        "members": len(loaded),
        "checkpoint_digests": [state["final_weights_digest"] for _, state in loaded],
        "parameters": sum(p.numel() for m in models for p in m.parameters()),
        "determinism": args.determinism,
    }
    write_json(args.record or args.out.with_name(args.out.name + ".record.json"), record)
    mlrun.log_params({"members": len(loaded), "repeats": args.repeats})
    mlrun.log_metrics({k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed"})
    mlrun.set_tags({"submission_sha256": record["sha256"], "inference_deterministic": record["identical"]})
    mlrun.log_artifact(args.out)
    return record


def repeated_inference(task, models, args, recipe, device) -> dict:
    """Predict `repeats` times from the same weights; the files must be byte-identical.

    The last repetition also counts FLOPs (torch's own counter), per predicted sample.
    """
    import tempfile

    from torch.utils.flop_counter import FlopCounterMode

    from viprepro.files.fileio import sha256_file

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


def _run_info(args) -> RunInfo:
    stage = "predict" if args.split == "test" else "predict_val"
    seed = "" if args.seed is None else f"/seed_{args.seed}"
    return RunInfo(
        task=args.task,
        stage="predict",
        submission=args.spec.stem,
        run_name=f"{stage}/{args.spec.stem}{seed}",
        tags={"seed": "" if args.seed is None else args.seed, "split": args.split},
    )


PREDICT = Step(
    name="predict",
    description="Predict the test split (or val) with a submission's trained member(s) and write its submission file.",
    add_arguments=add_arguments,
    run=run,
    run_info=_run_info,
)
