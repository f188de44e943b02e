"""`viprepro probe`: did a pretext stage learn anything? Linear probe and k-NN per epoch on val.

Reads the per-epoch backbones a pretext stage saved (`epoch_000.pt` is its random init),
extracts features of the labelled train and val images (the task's evaluation transform),
and reports, per epoch, the val accuracy of a k-NN classifier and of a linear classifier
trained on the frozen train features (viprepro.training.selfsup). It is the one stage-side
job that reads labels, and nothing it writes feeds training: its output is a report
(probe.json, the MLflow run's per-epoch metrics, the certificate's probe figure).
"""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--spec", required=True, type=Path, help="submission spec (YAML)")
    parser.add_argument("--subset", required=True, type=Path, help="the task's public subset folder")
    parser.add_argument("--stage", required=True, help="the pretext stage")
    parser.add_argument("--backbones", required=True, type=Path, help="the stage's per-epoch backbones (epoch_<e>.pt)")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--member", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="probe.json to write")
    parser.add_argument("--workers", type=int, default=0, help="data-loader workers unless the recipe sets them")
    parser.add_argument("--knn-k", type=int, default=20, help="neighbours of the k-NN classifier")
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment before the spec is read)")


def run_info(args) -> RunInfo:
    return RunInfo(
        task=args.task,
        stage="probe",
        submission=args.spec.stem,
        run_name=f"probe/{args.spec.stem}/seed_{args.seed}/member_{args.member}/stage_{args.stage}",
        tags={"seed": args.seed, "member": args.member, "training_stage": args.stage},
    )


def probe(task, stage: dict, subset: Path, backbones: Path, device, *, workers: int, knn_k: int, seed: int, on_epoch=None) -> list[dict]:
    """[{"epoch", "knn_top1", "linear_top1"}] for every saved backbone, in epoch order."""
    import torch

    from viprepro.jobs.determinism import derive_seed
    from viprepro.training import checkpoint, selfsup

    files = sorted(backbones.glob("epoch_*.pt"))
    if not files:
        from viprepro.errors import UserError

        raise UserError("no per-epoch backbones (epoch_<e>.pt)", path=backbones)
    train_loader, val_loader = task.probe_loaders(subset, stage["recipe"], workers=workers)
    rows = []
    for path in files:
        state = checkpoint.load(path)
        backbone, _ = selfsup.backbone_of(task.build_model(stage["model"], subset))
        backbone.load_state_dict(state["backbone"])
        backbone.to(device).eval()
        train = selfsup.extract_features(backbone, train_loader, device)
        val = selfsup.extract_features(backbone, val_loader, device)
        generator = torch.Generator().manual_seed(derive_seed(seed, state["epoch"]))
        classes = int(torch.cat([train[1], val[1]]).max()) + 1
        row = {
            "epoch": state["epoch"],
            "knn_top1": float(selfsup.knn_accuracy(*train, *val, k=knn_k, classes=classes)),
            "linear_top1": float(selfsup.linear_probe_accuracy(*train, *val, classes=classes, generator=generator)),
        }
        rows.append(row)
        if on_epoch:
            on_epoch(row)
    return rows


def run(job: Job) -> str:
    from viprepro.files.fileio import write_json
    from viprepro.specs.load import load_spec
    from viprepro.specs.stages import stage_named
    from viprepro.steps.stage_record import nest_under_member
    from viprepro.tasks import get_task
    from viprepro.training.guards import forbid_weight_downloads

    args, mlrun = job.args, job.mlrun
    forbid_weight_downloads()
    spec = load_spec(args.spec)
    task = get_task(spec["task"])
    stage = stage_named(spec, args.stage)
    if stage["kind"] != "pretext":
        from viprepro.errors import UserError

        raise UserError(f"stage {args.stage!r} is a {stage['kind']} stage: only a pretext stage is probed", path=args.spec)
    nest_under_member(mlrun, task=task.name, submission=spec["name"], seed=args.seed, member=args.member, config_hash=args.config_hash)
    mlrun.log_params({"stage": args.stage, "knn_k": args.knn_k, "seed": args.seed, "member": args.member})
    rows = probe(
        task,
        stage,
        args.subset,
        args.backbones,
        job.device,
        workers=args.workers,
        knn_k=args.knn_k,
        seed=derive(args),
        on_epoch=lambda row: mlrun.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"]),
    )
    record = {
        "task": task.name,
        "submission": spec["name"],
        "seed": args.seed,
        "member": args.member,
        "stage": args.stage,
        "method": stage["recipe"]["pretext"]["name"],
        "knn_k": args.knn_k,
        "epochs": rows,
        "random_init": rows[0],
        "final": rows[-1],
        "gain_over_random_init": {k: rows[-1][k] - rows[0][k] for k in ("knn_top1", "linear_top1")},
    }
    write_json(args.out, record)
    gain = record["gain_over_random_init"]
    return (
        f"probed {spec['name']} stage {args.stage}: linear {rows[0]['linear_top1']:.3f} -> {rows[-1]['linear_top1']:.3f}"
        f" ({gain['linear_top1']:+.3f}), k-NN {rows[0]['knn_top1']:.3f} -> {rows[-1]['knn_top1']:.3f}"
    )


def derive(args) -> int:
    from viprepro.jobs.determinism import derive_seed

    return derive_seed(args.seed, args.member)


PROBE = Step(
    name="probe",
    description="Linear probe and k-NN on val of a pretext stage's per-epoch backbones (epoch 0 = random init).",
    add_arguments=add_arguments,
    run=run,
    run_info=run_info,
)
