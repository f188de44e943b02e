"""Judge a submission: reproduced scores (every seed) against its claims, with the evidence.

    python workflow_scripts/verdict.py --spec SPEC --subset results/data/<task>/subset \
        --scores results/<task>/<name>/seed_*/scores --train-records results/<task>/<name>/seed_*/member_*/train_record.json \
        --predict-records results/<task>/<name>/seed_*/submission.*.record.json --out results/<task>/<name>/verdict.json \
        [--val-scores results/<task>/<name>/seed_*/val/scores --val-predict-records results/<task>/<name>/seed_*/val/submission.*.record.json]

The verdict record holds the decision (README, "How a verdict is decided"), the seed band,
the determinism record, the rule-compliance audits, the efficiency figures and the provenance.
A claim on the val split is judged, by the same rule, on the seed band of the val scores:
each seed's own val predictions (ensemble, TTA, inference resolution) scored by the task's
scorer (predict.py --split val, score.py --val-gt).
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
    parser.add_argument("--val-scores", type=Path, nargs="*", default=[],
                        help="val score folders, one per seed (needed when a metric is claimed on val)")
    parser.add_argument("--val-predict-records", type=Path, nargs="*", default=[], help="val inference records, one per seed")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment before the spec is read)")
    parser.add_argument("--min-seeds", type=int, default=5, help="fewest seeds with a score for `within_noise` (config seed_band.min_seeds)")
    parser.add_argument("--scan-spec-folder", action=argparse.BooleanOptionalAction, default=True,
                        help="list weight files shipped beside the spec as a failed pretrained-weights audit")
    add_job_arguments(parser)
    return parser


def seed_of(path: Path) -> int:
    for part in reversed(path.parts):
        if part.startswith("seed_"):
            return int(part[len("seed_"):])
    raise ValueError(f"{path}: no seed_<n> folder in the path")


def main(args: argparse.Namespace) -> int:
    start(args, uses_torch=False)
    from viprepro import tracking
    from viprepro.errors import UserError

    try:
        # The run opens before any work, so a job that fails leaves a FAILED run with its error.
        with tracking.job_run(task=args.task or tracking.PIPELINE, stage="verdict", rule=args.rule, submission=args.spec.stem,
                              tags=tags(args), run_name=f"verdict/{args.spec.stem}") as mlrun:
            record = build_verdict(args)
            _log(mlrun, args, record)
    except UserError as exc:
        print(f"verdict: error: {exc.message}", file=sys.stderr)
        return 1
    main_judgement = record["metrics"][0]
    print(f"{record['submission']}: {record['verdict']} ({main_judgement['metric']} claimed {main_judgement['claimed']:.4f}, "
          f"reproduced {_fmt(main_judgement['reproduced'])}, tolerance {main_judgement['tolerance']:.4f}); "
          f"audits {'passed' if record['audits_passed'] else 'FAILED'}")
    return 0


def build_verdict(args: argparse.Namespace) -> dict:
    from viprepro import evidence, trajectory
    from viprepro.audit import scan_weight_files
    from viprepro.errors import UserError
    from viprepro.fileio import read_json
    from viprepro.fresh_build import initial_digests
    from viprepro.provenance import compare_environments
    from viprepro.spec import load_spec, spec_digest
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task
    from viprepro.verdict import judge

    spec = load_spec(args.spec)
    task = get_task(spec["task"])
    manifest = read_manifest(args.subset)
    train_records = [read_json(p) for p in args.train_records]
    predict_records = {seed_of(p): read_json(p) for p in args.predict_records}
    test_scores = {seed_of(p): _read_scores(p) for p in args.scores}
    val_scores = {seed_of(p): _read_scores(p) for p in args.val_scores}
    scores_on = {"test": test_scores, "val": val_scores}
    claimed_splits = {claim.get("split", "test") for claim in spec["claimed"].values()}
    if "val" in claimed_splits and not val_scores:
        raise UserError("a metric is claimed on val but no val scores were given (--val-scores)", path=args.spec, where="claimed")
    directions = {m.key: m.higher_is_better for m in task.metrics}
    problems = [f"{where}seed {seed}: {problem}" for where, by_seed in (("", test_scores), ("val ", val_scores))
                for seed, scores in sorted(by_seed.items()) if scores.get("status") == "invalid" for problem in scores.get("problems", [])]
    if spec["kind"] == "external":  # the participant's own code: its steps' audits instead of the engine's
        judgements = [judge(metric, claim, test_scores, spec["seed"], higher_is_better=directions[metric], min_seeds=args.min_seeds)
                      for metric, claim in spec["claimed"].items()]
        record = _external_record(args, task, spec, judgements, train_records, predict_records, test_scores, manifest)
        audits, limits = evidence.merge_external_audits(
            [{**r, "step": "train"} for r in train_records] + [{**r, "seed": s, "step": "predict"} for s, r in predict_records.items()])
        return _conclude(record, audits, problems, limits)
    judgements = [judge(metric, claim, scores_on[claim.get("split", "test")], spec["seed"],
                        higher_is_better=directions[metric], min_seeds=args.min_seeds) for metric, claim in spec["claimed"].items()]
    keys = sorted({(r["seed"], r["member"]) for r in train_records})
    val_predict_records = {seed_of(p): read_json(p) for p in args.val_predict_records}
    audits = evidence.audits(train_records, manifest, initial_digests(task.name, spec["model"], args.subset, keys),
                             weight_files=scan_weight_files(args.spec.parent) if args.scan_spec_folder else [],
                             claims=spec["claimed"], scores=test_scores, predict_records=predict_records,
                             val_scores=val_scores if val_scores else None, val_predict_records=val_predict_records)
    reproduced_environment = (train_records[0] if train_records else {}).get("environment")
    record = {
        "task": task.name,
        "submission": spec["name"],
        "verdict": judgements[0]["verdict"],
        "metrics": judgements,
        "claimed_seed": spec["seed"],
        "seeds": sorted(test_scores),
        "ensemble": spec["ensemble"],
        "determinism": evidence.determinism(train_records, predict_records, args.determinism),
        "environments": compare_environments(spec.get("environment"), reproduced_environment, determinism=args.determinism),
        "efficiency": evidence.efficiency(train_records, predict_records.get(spec["seed"]), spec["seed"]),
        "provenance": evidence.provenance(train_records, spec_digest=spec_digest(spec), config_hash=args.config_hash,
                                          manifest_digest=manifest["digest"]),
        "submission_sha256": {str(seed): r["sha256"] for seed, r in sorted(predict_records.items())},
        "spec": spec,
    }
    if val_scores:
        record["val_submission_sha256"] = {str(seed): r["sha256"] for seed, r in sorted(val_predict_records.items())}
    if spec.get("claimed_log"):
        claimed_log = trajectory.read_claimed_log(Path(args.spec).parent / spec["claimed_log"])
        history = next(read_json(p.with_name("history.json")) for r, p in zip(train_records, args.train_records)
                       if r["seed"] == spec["seed"] and r["member"] == 0)
        record["trajectory"] = trajectory.compare(claimed_log, history, task.val_metric, spec["claimed_log_tolerance"])
    return _conclude(record, audits, problems, [])


def _conclude(record: dict, audits: dict, problems: list[str], limits: list[dict]) -> dict:
    """Audits, refused files and resource limits decide before the score does (viprepro.verdict)."""
    from viprepro.verdict import MEANING, overall

    verdict, why = overall(record["metrics"], audits=audits, problems=problems, resource_limits=limits)
    record.update(verdict=verdict, score_verdict=record["metrics"][0]["verdict"], reason=why, meaning=MEANING[verdict],
                  audits=audits, audits_passed=all(a["passed"] for a in audits.values()),
                  submission_problems=problems, resource_limits=limits)
    return record


def _read_scores(folder: Path) -> dict:
    """scores.json of one seed; a missing one is a seed without a score, not a crash."""
    from viprepro.errors import UserError
    from viprepro.fileio import read_json

    try:
        return read_json(folder / "scores.json")
    except UserError as exc:
        return {"status": "missing", "problems": [exc.message]}


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
        "efficiency": {"parameters": None, "members": None, "train_wall_seconds": at_seed["train"]["seconds"],
                       "train_cpu_seconds": None, "inference_samples_per_s": None, "flops_per_sample": None},
        "external": {seed: {step: {k: rec[k] for k in ("command", "exit_code", "seconds", "timed_out", "limits")}
                            for step, rec in pair.items()} for seed, pair in steps.items()},
        "provenance": provenance,
        "submission_sha256": {str(seed): r["sha256"] for seed, r in sorted(predict_records.items())},
        "spec": spec,
    }


def _log(mlrun, args, record: dict) -> None:
    from viprepro.fileio import write_json

    main_judgement = record["metrics"][0]
    mlrun.set_tags({"submission": record["submission"], "verdict": record["verdict"],
                    "audits": "passed" if record["audits_passed"] else "FAILED",
                    "data_manifest_digest": record["provenance"]["data_manifest_digest"]})
    write_json(args.out, record)
    band = main_judgement["band"]
    mlrun.log_metrics({"claimed": main_judgement["claimed"], "reproduced": _nan(main_judgement["reproduced"]), "band_n": band["n"],
                       **{f"band_{k}": _nan(band[k]) for k in ("mean", "std", "interval_low", "interval_high", "robust_low", "robust_high")}})
    mlrun.log_params({"provenance_digest": record["provenance"]["digest"], "seeds": record["seeds"]})
    mlrun.log_artifact(args.out)


def _nan(value):
    return float("nan") if value is None else value


def _fmt(value) -> str:
    return "none" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
