"""Train one ensemble member of a submission at one seed, from scratch.

Runnable by hand, e.g.:
    python workflow_scripts/train.py --spec config/submissions/classification_resnet_small.yaml \
        --subset results/data/classification/subset --seed 0 --member 0 \
        --out results/classification/resnet_small/seed_0/member_0/model.pt --threads 2

A killed run resumes from its last finished epoch (state in --state-dir) and ends with the
same weights as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from viprepro.jobs import add_job_arguments, start, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, type=Path, help="submission spec (YAML)")
    parser.add_argument("--subset", required=True, type=Path, help="the task's public subset folder")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--member", type=int, default=0, help="ensemble member index")
    parser.add_argument("--out", required=True, type=Path, help="final checkpoint to write")
    parser.add_argument("--state-dir", type=Path, default=None, help="per-epoch resume state (default: OUT's folder/state)")
    parser.add_argument("--history", type=Path, default=None, help="per-epoch metrics as JSON (default: OUT's folder/history.json)")
    parser.add_argument("--record", type=Path, default=None, help="training record JSON (default: OUT's folder/train_record.json)")
    parser.add_argument("--forbid", type=Path, nargs="*", default=[], help="folders the job must not read (hidden ground truth, source)")
    parser.add_argument("--workers", type=int, default=0, help="data-loader workers unless the recipe sets them")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    device = start(args)
    from viprepro import engine, tracking
    from viprepro.audit import FileAccessRecorder, forbid_weight_downloads
    from viprepro.determinism import NondeterminismRecorder
    from viprepro.errors import UserError
    from viprepro.provenance import code_version, environment
    from viprepro.spec import load_spec, spec_digest
    from viprepro.subset_manifest import read_manifest, training_data_digest
    from viprepro.tasks import get_task
    from viprepro.training_record import audit_opened_files, write_training_record

    try:
        spec = load_spec(args.spec)
        task = get_task(spec["task"])
        manifest = read_manifest(args.subset)
    except UserError as exc:
        print(f"train: error: {exc.message}", file=sys.stderr)
        return 1
    forbid_weight_downloads()
    train_splits = spec["recipe"].get("train_splits", ["train"])
    data_digest = training_data_digest(manifest, train_splits)
    identity = {"spec": spec_digest(spec), "seed": args.seed, "member": args.member, "data": data_digest}
    run = engine.TrainingRun(task=task, spec=spec, subset_dir=args.subset, seed=args.seed, member=args.member,
                             device=device, workers=args.workers, identity=identity)
    state_dir = args.state_dir or args.out.parent / "state"
    job_tags = tags(args, manifest_digest=manifest["digest"], extra={"seed": args.seed, "member": args.member, "train_data_digest": data_digest})
    clock = time.perf_counter(), time.process_time()
    with tracking.job_run(task=task.name, stage="train", rule=args.rule, submission=spec["name"], tags=job_tags,
                          run_name=f"train/{spec['name']}/seed_{args.seed}/member_{args.member}") as mlrun:
        mlrun.log_params({"recipe": spec["recipe"], "model": spec["model"], "seed": args.seed, "member": args.member,
                          "threads": args.threads, "device": str(device), "spec_digest": identity["spec"]})
        with FileAccessRecorder() as opened, NondeterminismRecorder() as nondeterminism:
            final = engine.train(run, args.out, state_dir, on_epoch_end=lambda epoch, metrics: mlrun.log_metrics(metrics, step=epoch))
        audit = audit_opened_files(opened.paths, args.subset, manifest, train_splits, forbidden=args.forbid)
        record = {
            "task": task.name, "submission": spec["name"], "seed": args.seed, "member": args.member,
            "determinism": args.determinism, "nondeterministic_operations": nondeterminism.operations,
            "initial_weights_digest": final["initial_weights_digest"], "final_weights_digest": final["final_weights_digest"],
            "train_data_digest": data_digest, "train_splits": train_splits, "data_manifest_digest": manifest["digest"],
            "parameters": final["parameters"], "wall_seconds": time.perf_counter() - clock[0],
            "cpu_seconds": time.process_time() - clock[1], "threads": args.threads, "device": str(device),
            "file_audit": audit, "code_version": code_version(), "environment": environment(),
        }
        write_training_record(args.history or args.out.parent / "history.json", final["history"], args.record or args.out.parent / "train_record.json", record)
        mlrun.set_tags({"initial_weights_digest": final["initial_weights_digest"], "final_weights_digest": final["final_weights_digest"],
                        "checkpoint": str(args.out), "file_audit": "passed" if audit["passed"] else "FAILED"})
        mlrun.log_metrics({"wall_seconds": record["wall_seconds"], "cpu_seconds": record["cpu_seconds"], "parameters": final["parameters"]})
        mlrun.log_params({"environment": {k: v for k, v in record["environment"].items() if k != "packages"},
                          "code_version": record["code_version"]})
        mlrun.log_dict(record["environment"]["packages"], "packages.json")
    shutil.rmtree(state_dir, ignore_errors=True)
    print(f"trained {spec['name']} seed {args.seed} member {args.member}: weights {final['final_weights_digest'][:16]}"
          f", file audit {'passed' if audit['passed'] else 'FAILED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
