"""Judge a submission: reproduced scores (every seed) against its claims, with the evidence.

    python workflow_scripts/verdict.py --spec SPEC --subset results/data/<task>/subset \
        --scores results/<task>/<name>/seed_*/scores --train-records results/<task>/<name>/seed_*/member_*/train_record.json \
        --predict-records results/<task>/<name>/seed_*/submission.*.record.json --out results/<task>/<name>/verdict.json

The verdict record holds the decision (README, "How a verdict is decided"), the seed band,
the determinism record, the rule-compliance audits, the efficiency figures and the provenance.
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
    parser.add_argument("--scores", required=True, type=Path, nargs="+", help="score folders, one per seed (seed_<s> in the path)")
    parser.add_argument("--train-records", required=True, type=Path, nargs="+", help="train_record.json of every seed and member")
    parser.add_argument("--predict-records", required=True, type=Path, nargs="+", help="inference records, one per seed")
    parser.add_argument("--out", required=True, type=Path)
    add_job_arguments(parser)
    return parser


def seed_of(path: Path) -> int:
    for part in reversed(path.parts):
        if part.startswith("seed_"):
            return int(part[len("seed_"):])
    raise ValueError(f"{path}: no seed_<n> folder in the path")


def rederive_initial_digests(task, spec: dict, subset: Path, train_records: list[dict]) -> dict:
    """Build every member's initial model again from its seed alone and digest it."""
    from viprepro import engine
    from viprepro.checkpoint import state_digest

    digests = {}
    for record in train_records:
        run = engine.TrainingRun(task=task, spec=spec, subset_dir=subset, seed=record["seed"], member=record["member"])
        digests[(record["seed"], record["member"])] = state_digest(engine.initial_model(run).state_dict())
    return digests


def main(args: argparse.Namespace) -> int:
    start(args)
    from viprepro import evidence, trajectory, tracking
    from viprepro.fileio import read_json, write_json
    from viprepro.spec import load_spec, spec_digest
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task
    from viprepro.verdict import judge

    spec = load_spec(args.spec)
    task = get_task(spec["task"])
    manifest = read_manifest(args.subset)
    train_records = [read_json(p) for p in args.train_records]
    predict_records = {seed_of(p): read_json(p) for p in args.predict_records}
    test_scores = {seed_of(p): read_json(p / "scores.json") for p in args.scores}
    if spec["kind"] == "external":  # the participant's own code: no engine audits; its commands instead
        directions = {m.key: m.higher_is_better for m in task.metrics}
        judgements = [judge(metric, claim, test_scores, spec["seed"], higher_is_better=directions[metric])
                      for metric, claim in spec["claimed"].items()]
        return _write(args, task, spec, manifest, _external_record(args, task, spec, judgements, train_records,
                                                                    predict_records, test_scores, manifest))
    histories = {r["seed"]: read_json(p.with_name("history.json")) for r, p in zip(train_records, args.train_records) if r["member"] == 0}
    val_scores = {seed: _last_val_metrics(history) for seed, history in histories.items()}

    directions = {m.key: m.higher_is_better for m in task.metrics}
    judgements = [judge(metric, claim, val_scores if claim.get("split", "test") == "val" else test_scores, spec["seed"],
                        higher_is_better=directions[metric]) for metric, claim in spec["claimed"].items()]
    audits = evidence.audits(train_records, manifest, rederive_initial_digests(task, spec, args.subset, train_records))
    record = {
        "task": task.name,
        "submission": spec["name"],
        "verdict": judgements[0]["verdict"],
        "metrics": judgements,
        "claimed_seed": spec["seed"],
        "seeds": sorted(test_scores),
        "ensemble": spec["ensemble"],
        "determinism": evidence.determinism(train_records, predict_records, args.determinism),
        "audits": audits,
        "audits_passed": all(a["passed"] for a in audits.values()),
        "efficiency": evidence.efficiency(train_records, predict_records.get(spec["seed"]), spec["seed"]),
        "provenance": evidence.provenance(train_records, spec_digest=spec_digest(spec), config_hash=args.config_hash,
                                          manifest_digest=manifest["digest"]),
        "submission_sha256": {str(seed): r["sha256"] for seed, r in sorted(predict_records.items())},
        "spec": spec,
    }
    if spec.get("claimed_log"):
        claimed_log = trajectory.read_claimed_log(Path(args.spec).parent / spec["claimed_log"])
        record["trajectory"] = trajectory.compare(claimed_log, histories[spec["seed"]], task.val_metric, spec["claimed_log_tolerance"])
    return _write(args, task, spec, manifest, record)


def _external_record(args, task, spec: dict, judgements: list[dict], train_records: list[dict], predict_records: dict,
                     test_scores: dict, manifest: dict) -> dict:
    """The verdict of a participant's own code: the judgements, what ran, how and for how long.

    Same sections as an engine verdict, so the leaderboard reads both; what only our engine can
    measure (weights audits, repeated inference, FLOPs) is empty or None here.
    """
    from viprepro.fileio import canonical_digest
    from viprepro.provenance import code_version
    from viprepro.spec import spec_digest

    steps = {str(r["seed"]): {"train": r, "predict": predict_records[r["seed"]]} for r in train_records}
    at_seed = steps[str(spec["seed"])]
    provenance = {
        "code_version": code_version(),
        "environment": None,
        "spec_digest": spec_digest(spec),
        "config_hash": args.config_hash,
        "data_manifest_digest": manifest["digest"],
        "jobs": [{"seed": r["seed"], "wall_seconds": r["seconds"], "threads": r["limits"].get("threads")} for r in train_records],
        "training_outputs": {seed: pair["train"]["output_digest"] for seed, pair in steps.items()},
    }
    provenance["digest"] = canonical_digest(provenance)
    return {
        "task": task.name,
        "submission": spec["name"],
        "kind": "external",
        "verdict": judgements[0]["verdict"],
        "metrics": judgements,
        "claimed_seed": spec["seed"],
        "seeds": sorted(test_scores),
        "ensemble": None,
        "determinism": {"level": "external", "nondeterministic_operations": [], "inference_repeats": 1,
                        "inference_identical": {}, "passed": None},
        "audits": {},
        "audits_passed": True,
        "efficiency": {"parameters": None, "members": None, "train_wall_seconds": at_seed["train"]["seconds"],
                       "train_cpu_seconds": None, "inference_samples_per_s": None, "flops_per_sample": None},
        "external": {seed: {step: {k: rec[k] for k in ("command", "exit_code", "seconds", "timed_out", "limits")}
                            for step, rec in pair.items()} for seed, pair in steps.items()},
        "provenance": provenance,
        "submission_sha256": {str(seed): r["sha256"] for seed, r in sorted(predict_records.items())},
        "spec": spec,
    }


def _write(args, task, spec: dict, manifest: dict, record: dict) -> int:
    from viprepro import tracking
    from viprepro.fileio import write_json

    judgements = record["metrics"]
    main_judgement = judgements[0]
    with tracking.job_run(task=task.name, stage="verdict", rule=args.rule, submission=spec["name"],
                          tags=tags(args, manifest_digest=manifest["digest"], extra={"verdict": record["verdict"],
                                                                                    "audits": "passed" if record["audits_passed"] else "FAILED"}),
                          run_name=f"verdict/{spec['name']}") as mlrun:
        write_json(args.out, record)
        mlrun.log_metrics({"claimed": main_judgement["claimed"], "reproduced": main_judgement["reproduced"],
                           "band_mean": main_judgement["band"]["mean"], "band_std": main_judgement["band"]["std"]})
        mlrun.log_params({"provenance_digest": record["provenance"]["digest"], "seeds": record["seeds"]})
        mlrun.log_artifact(args.out)
    print(f"{spec['name']}: {record['verdict']} ({main_judgement['metric']} claimed {main_judgement['claimed']:.4f}, "
          f"reproduced {main_judgement['reproduced']:.4f}, tolerance {main_judgement['tolerance']:.4f}); "
          f"audits {'passed' if record['audits_passed'] else 'FAILED'}")
    return 0


def _last_val_metrics(history: list[dict]) -> dict:
    last = history[-1] if history else {}
    return {key[len("val_"):]: value for key, value in last.items() if key.startswith("val_")}


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
