"""`viprepro train`: one ensemble member of a submission at one seed, from scratch.

A killed run resumes from its last finished epoch (state in --state-dir) and ends with the
same weights as an uninterrupted run.

Launched by torchrun (config `distributed`), every process runs this step: rank 0 owns the
MLflow run, the records and the checkpoints; the others only train.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
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
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment before the spec is read)")


def run_info(args) -> RunInfo:
    return RunInfo(
        task=args.task,
        stage="train",
        submission=args.spec.stem,
        run_name=f"train/{args.spec.stem}/seed_{args.seed}/member_{args.member}",
        tags={"seed": args.seed, "member": args.member},
    )


def run(job: Job) -> str:
    from viprepro.training import distributed

    context, device = distributed.initialise(distributed.Context.from_environment(), job.device.type)
    try:
        return train_member(job.args, device, job.mlrun, context)
    finally:
        distributed.shutdown(context)


def train_member(args, device, mlrun, context) -> str:
    import torch

    from viprepro.files.subset_manifest import read_manifest, training_data_digest
    from viprepro.jobs.provenance import code_version, environment
    from viprepro.specs.load import load_spec, spec_digest
    from viprepro.tasks import get_task
    from viprepro.training import acceleration, distributed, engine
    from viprepro.training.guards import forbid_weight_downloads
    from viprepro.training.record import audited_training, write_training_record

    spec = load_spec(args.spec)
    task = get_task(spec["task"])
    manifest = read_manifest(args.subset)
    forbid_weight_downloads()
    train_splits = spec["recipe"].get("train_splits", ["train"])
    data_digest = training_data_digest(manifest, train_splits)
    identity = {"spec": spec_digest(spec), "seed": args.seed, "member": args.member, "data": data_digest}
    state_dir = args.state_dir or args.out.parent / "state"
    access_log = None
    if context.active:
        distributed.per_rank_batch(spec["recipe"], context.world_size, spec_path=args.spec)
        torch.set_num_threads(max(1, args.threads // context.local_world_size))  # the job's threads, shared out
        identity["world_size"] = context.world_size  # another world size is another training chain
        # Every rank's file accesses go to one folder that rank 0 audits (one per launch).
        access_log = state_dir / f"access-{os.environ.get('TORCHELASTIC_RUN_ID', 'run')}"
    training = engine.TrainingRun(
        task=task,
        spec=spec,
        subset_dir=args.subset,
        seed=args.seed,
        member=args.member,
        device=device,
        workers=args.workers,
        identity=identity,
        context=context,
    )
    options = acceleration.record(
        spec["recipe"],
        device.type,
        world_size=context.world_size,
        sync_batchnorm=context.active and bool(spec["recipe"].get("sync_batchnorm")),
    )
    if not context.is_main:
        audited_training(training, args.out, state_dir, manifest=manifest, forbidden=args.forbid, access_log=access_log)
        distributed.barrier(context)  # rank 0 reads every rank's access log, then removes the state
        return ""
    mlrun.set_tags({"submission": spec["name"], "data_manifest_digest": manifest["digest"], "train_data_digest": data_digest})
    mlrun.log_params(
        {
            "recipe": spec["recipe"],
            "model": spec["model"],
            "seed": args.seed,
            "member": args.member,
            "threads": args.threads,
            "device": str(device),
            "spec_digest": identity["spec"],
        }
    )
    clock = time.perf_counter(), time.process_time()
    final, audited = audited_training(
        training,
        args.out,
        state_dir,
        manifest=manifest,
        forbidden=args.forbid,
        access_log=access_log,
        on_epoch_end=lambda epoch, metrics: mlrun.log_metrics(metrics, step=epoch),
    )
    distributed.barrier(context)
    audit = audited["file_audit"]
    record = {
        "task": task.name,
        "submission": spec["name"],
        "seed": args.seed,
        "member": args.member,
        "determinism": args.determinism,
        "nondeterministic_operations": audited["nondeterministic_operations"],
        "training_options": options,
        **({"distributed": context.describe()} if context.active else {}),
        "initial_weights_digest": final["initial_weights_digest"],
        "final_weights_digest": final["final_weights_digest"],
        "train_data_digest": data_digest,
        "train_splits": train_splits,
        "data_manifest_digest": manifest["digest"],
        "parameters": final["parameters"],
        "wall_seconds": time.perf_counter() - clock[0],
        "cpu_seconds": time.process_time() - clock[1],
        "threads": args.threads,
        "device": str(device),
        "file_audit": audit,
        "data_read": audited["data_read"],
        "code_version": code_version(),
        "environment": environment(),
    }
    write_training_record(
        args.history or args.out.parent / "history.json", final["history"], args.record or args.out.parent / "train_record.json", record
    )
    mlrun.set_tags(
        {
            "initial_weights_digest": final["initial_weights_digest"],
            "final_weights_digest": final["final_weights_digest"],
            "checkpoint": str(args.out),
            "file_audit": "passed" if audit["passed"] else "FAILED",
            "train_data_read_digest": audited["data_read"]["digest"],
        }
    )
    mlrun.log_metrics(
        {
            "wall_seconds": record["wall_seconds"],
            "cpu_seconds": record["cpu_seconds"],
            "parameters": final["parameters"],
            "training_files_opened": audit["training_files_opened"],
            "processes_recorded": audit["processes"],
        }
    )
    mlrun.log_params({"training_options": {k: v for k, v in options.items() if k != "bit_exactness_costs"}})
    mlrun.log_params(
        {"environment": {k: v for k, v in record["environment"].items() if k != "packages"}, "code_version": record["code_version"]}
    )
    mlrun.log_dict(record["environment"]["packages"], "packages.json")
    shutil.rmtree(state_dir, ignore_errors=True)
    return (
        f"trained {spec['name']} seed {args.seed} member {args.member}: weights {final['final_weights_digest'][:16]}"
        f", file audit {'passed' if audit['passed'] else 'FAILED'}"
    )


TRAIN = Step(
    name="train",
    description="Train one ensemble member of a submission at one seed, from scratch (resumes exactly after a kill).",
    add_arguments=add_arguments,
    run=run,
    run_info=run_info,
)
