"""`viprepro train`: one ensemble member of a submission at one seed, from scratch.

A killed run resumes from its last finished epoch (state in --state-dir) and ends with the
same weights as an uninterrupted run.

Launched by torchrun (config `distributed`), every process runs this step: rank 0 owns the
MLflow run, the records and the checkpoints; the others only train.

With `--stage NAME` it trains one stage of a multi-stage spec (viprepro.specs.stages) from the
final checkpoints of the stages it names (`--input STAGE=model.pt`, each with its
train_record.json beside it); the record then carries the chain of every stage it came from
(viprepro.steps.stage_record), and its MLflow run is nested under the member's run.
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
    parser.add_argument("--stage", default=None, help="the stage of a multi-stage spec to train (default: a single-stage spec)")
    parser.add_argument(
        "--input", action="append", default=[], metavar="STAGE=CHECKPOINT", help="final checkpoint of an earlier stage this stage names"
    )
    parser.add_argument("--backbones", type=Path, default=None, help="pretext stage: folder for the per-epoch backbones (for the probe)")
    parser.add_argument(
        "--pseudo-labels",
        type=Path,
        default=None,
        help="pseudo_label stage: the labelled set it trained on, every prediction with its confidence (default: OUT's folder/pseudo_labels.json)",
    )


def run_info(args) -> RunInfo:
    if args.stage:
        return RunInfo(
            task=args.task,
            stage="train",
            submission=args.spec.stem,
            run_name=f"train/{args.spec.stem}/seed_{args.seed}/member_{args.member}/stage_{args.stage}",
            tags={"seed": args.seed, "member": args.member, "training_stage": args.stage},
        )
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
    plan = stage_plan(spec, args) if args.stage or spec.get("stages") else None
    recipe, model_spec = (plan.stage["recipe"], plan.stage["model"]) if plan else (spec["recipe"], spec["model"])
    train_splits = recipe.get("train_splits", ["train"])
    data_digest = training_data_digest(manifest, train_splits)
    identity = {"spec": spec_digest(spec), "seed": args.seed, "member": args.member, "data": data_digest}
    if plan:  # another input (a rerun earlier stage) is another training chain
        from viprepro.files.fileio import sha256_file

        identity.update(stage=plan.stage["name"], inputs={name: sha256_file(path) for name, path in sorted(plan.inputs.items())})
    state_dir = args.state_dir or args.out.parent / "state"
    access_log = None
    if context.active:
        distributed.per_rank_batch(recipe, context.world_size, spec_path=args.spec)
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
        stage=plan,
    )
    options = acceleration.record(
        recipe,
        device.type,
        world_size=context.world_size,
        sync_batchnorm=context.active and bool(recipe.get("sync_batchnorm")),
    )
    if plan and context.active:  # rank 0 links the stage's image view, the others use it (one folder the audit maps back)
        from viprepro.training.stages import prepare_views

        if context.is_main:
            prepare_views(plan, task, args.subset, state_dir, manifest=manifest)
        distributed.barrier(context)
        if not context.is_main:
            prepare_views(plan, task, args.subset, state_dir, manifest=manifest, built=True)
    if not context.is_main:
        audited_training(training, args.out, state_dir, manifest=manifest, forbidden=args.forbid, access_log=access_log)
        distributed.barrier(context)  # rank 0 reads every rank's access log, then removes the state
        return ""
    mlrun.set_tags({"submission": spec["name"], "data_manifest_digest": manifest["digest"], "train_data_digest": data_digest})
    if plan:
        from viprepro.steps.stage_record import nest_under_member

        nest_under_member(mlrun, task=task.name, submission=spec["name"], seed=args.seed, member=args.member, config_hash=args.config_hash)
        mlrun.set_tags({"stage_kind": plan.kind})
    mlrun.log_params(
        {
            "recipe": recipe,
            "model": model_spec,
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
        label_files=task.label_files(args.subset) if plan and plan.kind == "pretext" else None,
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
    if plan:
        from viprepro.steps.stage_record import stage_entries

        record.update(stage_entries(spec, plan, final, record))
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
        f"trained {spec['name']} seed {args.seed} member {args.member}{f' stage {args.stage}' if plan else ''}: weights {final['final_weights_digest'][:16]}"
        f", file audit {'passed' if audit['passed'] else 'FAILED'}"
    )


def stage_plan(spec: dict, args):
    """The stage `--stage` names, with its `--input` checkpoints (exactly the stages it names)."""
    from viprepro.errors import UserError
    from viprepro.specs.stages import inputs_of, stage_named
    from viprepro.training.stages import StagePlan

    if not spec.get("stages"):
        raise UserError("--stage needs a spec with `stages`", path=args.spec)
    if not args.stage:
        raise UserError("a multi-stage spec trains one stage per job: name it with --stage", path=args.spec)
    try:
        stage = stage_named(spec, args.stage)
    except KeyError:
        raise UserError(f"no stage {args.stage!r} (stages: {', '.join(s['name'] for s in spec['stages'])})", path=args.spec) from None
    inputs = {}
    for item in args.input:
        name, _, path = item.partition("=")
        if not path:
            raise UserError(f"--input {item!r} is not STAGE=CHECKPOINT")
        inputs[name] = Path(path)
    named = {name for _, name in inputs_of(stage)}
    if set(inputs) != named:
        raise UserError(
            f"stage {args.stage!r} loads {', '.join(sorted(named)) or 'nothing'}; --input gave {', '.join(sorted(inputs)) or 'nothing'}",
            path=args.spec,
        )
    if stage["kind"] == "pretext" and args.backbones is None:
        raise UserError("a pretext stage saves its per-epoch backbones for the probe: give --backbones")
    pseudo = stage["kind"] == "pseudo_label"
    return StagePlan(
        stage,
        inputs,
        backbones_dir=args.backbones if stage["kind"] == "pretext" else None,
        pseudo_labels_path=(getattr(args, "pseudo_labels", None) or args.out.parent / "pseudo_labels.json") if pseudo else None,
    )


TRAIN = Step(
    name="train",
    description="Train one ensemble member of a submission at one seed, from scratch (resumes exactly after a kill).",
    add_arguments=add_arguments,
    run=run,
    run_info=run_info,
)
