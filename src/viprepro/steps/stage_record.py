"""What a stage job adds to its train_record.json, and how its MLflow run nests under the member.

A stage's record carries `chain`: one summary per stage of the member's chain up to and
including itself (the inputs' chains, read from the train_record.json beside each input
checkpoint, then its own). The last stage's record becomes the member's (rules/stages.smk
copies it beside the member's model.pt), so the verdict sees the whole chain in the one
record it reads per member, and the weights audit follows it (viprepro.judging.evidence).

MLflow: every stage job is its own run, nested under one run per (submission, seed, member)
through the tag `mlflow.parentRunId`. The member's run is created by the first stage job
that needs it and found again by the others by its tags (submission, seed, member, config
hash): the stages of one member run one after the other, so no two jobs create it at once.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.files.fileio import read_json

SUMMARY_KEYS = (
    "stage",
    "stage_kind",
    "seed",
    "member",
    "model_spec",
    "init",
    "fresh_weights_digest",
    "initial_weights_digest",
    "final_weights_digest",
    "inputs",
    "file_audit",
    "data_read",
    "train_splits",
    "train_data_digest",
    "pseudo_labels",
    "wall_seconds",
    "cpu_seconds",
    "history",
)


def input_record(checkpoint: Path) -> dict:
    """The train_record.json an earlier stage wrote beside its final checkpoint."""
    return read_json(Path(checkpoint).parent / "train_record.json")


def stage_entries(spec: dict, plan, final: dict, record: dict) -> dict:
    """The record keys of a stage job: which stage, what it loaded, and the chain it ends."""
    inputs = [{**entry, "checkpoint": str(plan.inputs[entry["stage"]])} for entry in final["inputs"]]
    entries = {
        "stage": plan.stage["name"],
        "stage_kind": plan.kind,
        "model_spec": plan.stage["model"],
        "init": plan.stage.get("init"),
        "fresh_weights_digest": final["fresh_weights_digest"],
        "inputs": inputs,
        **({"pseudo_labels": final["pseudo_labels"]} if "pseudo_labels" in final else {}),
    }
    order = [stage["name"] for stage in spec["stages"]]
    chain: dict[str, dict] = {}
    for path in plan.inputs.values():
        for summary in input_record(path).get("chain", []):
            chain.setdefault(summary["stage"], summary)
    own = {**record, **entries, "history": final["history"]}
    chain[entries["stage"]] = {key: own.get(key) for key in SUMMARY_KEYS}
    entries["chain"] = sorted(chain.values(), key=lambda s: order.index(s["stage"]) if s["stage"] in order else len(order))
    return entries


def nest_under_member(mlrun, *, task: str, submission: str, seed: int, member: int, config_hash: str) -> str | None:
    """Tag the job's run with its member's run id (created on first use); returns that id."""
    if getattr(mlrun, "run_id", None) is None:  # --no-track
        return None
    from viprepro.jobs import tracking

    parent = tracking.member_run(task=task, submission=submission, seed=seed, member=member, config_hash=config_hash)
    mlrun.set_tags({"mlflow.parentRunId": parent})
    return parent


def add_collect_arguments(parser) -> None:
    parser.add_argument("--stage-dir", required=True, type=Path, help="the last stage's folder (model.pt, history.json, train_record.json)")
    parser.add_argument("--probes", type=Path, nargs="*", default=[], help="probe.json of the member's pretext stages")
    parser.add_argument("--out", required=True, type=Path, help="the member's model.pt (history.json, train_record.json beside it)")
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment)")


def collect(job) -> str:
    """The member's model, history and record are its last stage's; the record also holds the probes."""
    import shutil

    from viprepro.files.fileio import atomic_path, write_json

    args = job.args
    record = read_json(args.stage_dir / "train_record.json")
    if not record.get("chain"):
        from viprepro.errors import UserError

        raise UserError("not the record of a stage (no chain)", path=args.stage_dir / "train_record.json")
    record["probes"] = [read_json(path) for path in args.probes]
    # The member's cost is every stage's (the efficiency figures read these two).
    record["last_stage_seconds"] = {"wall": record["wall_seconds"], "cpu": record["cpu_seconds"]}
    record["wall_seconds"] = sum(entry.get("wall_seconds") or 0.0 for entry in record["chain"])
    record["cpu_seconds"] = sum(entry.get("cpu_seconds") or 0.0 for entry in record["chain"])
    with atomic_path(args.out) as staged:
        shutil.copyfile(args.stage_dir / "model.pt", staged)
    write_json(args.out.parent / "history.json", read_json(args.stage_dir / "history.json"))
    write_json(args.out.parent / "train_record.json", record)
    return f"member {record['member']} of {record['submission']} seed {record['seed']}: the output of stage {record['stage']}"


def _collect_info(args):
    from viprepro.jobs.step import RunInfo

    return RunInfo(task=args.task, stage="collect_member", run_name=f"collect/{args.stage_dir}")


def _collect_step():
    from viprepro.jobs.step import Step

    return Step(
        name="collect-member",
        description="Make a multi-stage member's last stage its model: model.pt, history.json, train_record.json (+ probes).",
        add_arguments=add_collect_arguments,
        run=collect,
        run_info=_collect_info,
        uses_torch=False,
    )


COLLECT = _collect_step()
