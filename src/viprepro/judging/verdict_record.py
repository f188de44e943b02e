"""The verdict record of one submission: one shape for engine and external submissions.

`read_run` reads what a submission's jobs left behind, keyed by the seed each record names
(never by a folder name); `build` judges it and returns the record `verdict.json` holds.
Both kinds go through one constructor (`record`), so the leaderboard and the certificate
read every verdict the same way; what only our engine can measure for an external
submission (weights audits, repeated inference, FLOPs, the environment) is None there.
The decision itself is `viprepro.judging.verdict` (README, "How a verdict is decided").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest, read_json
from viprepro.tasks.base import edition_record


@dataclass
class Run:
    """Everything a verdict is made from, already read; the dicts are keyed by seed."""

    spec_path: Path
    spec: dict
    task: object
    subset: Path
    manifest: dict
    train_records: list[dict]
    predict_records: dict[int, dict]
    test_scores: dict[int, dict]
    val_scores: dict[int, dict] = field(default_factory=dict)
    val_predict_records: dict[int, dict] = field(default_factory=dict)
    histories: dict[tuple[int, int], Path] = field(default_factory=dict)  # (seed, member) -> history.json

    @property
    def kind(self) -> str:
        return self.spec["kind"]


def by_seed(records: list[tuple[Path, dict]], what: str) -> dict[int, dict]:
    """Records keyed by the seed they name; a record without one, or two for a seed, is refused."""
    keyed: dict[int, dict] = {}
    for path, record in records:
        seed = record.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise UserError(f"the {what} names no seed (written by an older viprepro? rerun its step)", path=path)
        if seed in keyed:
            raise UserError(f"a second {what} for seed {seed}", path=path)
        keyed[seed] = record
    return keyed


def read_scores(folder: Path) -> dict:
    """scores.json of one score folder (the score step always writes one, even for a refused file)."""
    return read_json(Path(folder) / "scores.json")


def read_run(
    spec_path: Path,
    subset: Path,
    *,
    scores: list[Path],
    train_records: list[Path],
    predict_records: list[Path],
    val_scores: list[Path] = (),
    val_predict_records: list[Path] = (),
) -> Run:
    from viprepro.files.subset_manifest import read_manifest
    from viprepro.specs.load import load_spec
    from viprepro.tasks import get_task

    spec = load_spec(spec_path)
    train = [(Path(p), read_json(p)) for p in train_records]
    return Run(
        spec_path=Path(spec_path),
        spec=spec,
        task=get_task(spec["task"]),
        subset=Path(subset),
        manifest=read_manifest(subset),
        train_records=[record for _, record in train],
        predict_records=by_seed([(Path(p), read_json(p)) for p in predict_records], "inference record"),
        test_scores=by_seed([(Path(p), read_scores(p)) for p in scores], "scores record"),
        val_scores=by_seed([(Path(p), read_scores(p)) for p in val_scores], "val scores record"),
        val_predict_records=by_seed([(Path(p), read_json(p)) for p in val_predict_records], "val inference record"),
        histories={(r["seed"], r["member"]): p.with_name("history.json") for p, r in train},
    )


def build(run: Run, *, min_seeds: int, determinism_level: str, config_hash: str, scan_spec_folder: bool = True) -> dict:
    """Judge every claim and return the verdict record (both kinds, one shape)."""
    from viprepro.judging.verdict import judge

    spec, task = run.spec, run.task
    scores_on = {"test": run.test_scores, "val": run.val_scores}
    if any(claim.get("split", "test") == "val" for claim in spec["claimed"].values()) and not run.val_scores:
        raise UserError("a metric is claimed on val but no val scores were given (--val-scores)", path=run.spec_path, where="claimed")
    directions = {m.key: m.higher_is_better for m in task.metrics}
    judgements = [
        judge(metric, claim, scores_on[claim.get("split", "test")], spec["seed"], higher_is_better=directions[metric], min_seeds=min_seeds)
        for metric, claim in spec["claimed"].items()
    ]
    problems = [
        f"{where}seed {seed}: {problem}"
        for where, scores in (("", run.test_scores), ("val ", run.val_scores))
        for seed, record in sorted(scores.items())
        if record.get("status") == "invalid"
        for problem in record.get("problems", [])
    ]
    sections = (_external if run.kind == "external" else _engine)(
        run, determinism_level=determinism_level, config_hash=config_hash, scan_spec_folder=scan_spec_folder
    )
    return record(run, judgements, problems=problems, **sections)


def record(
    run: Run,
    judgements: list[dict],
    *,
    problems: list[str],
    audits: dict,
    resource_limits: list[dict],
    determinism: dict,
    environments: dict | None,
    efficiency: dict,
    provenance: dict,
    external: dict | None = None,
    trajectory: dict | None = None,
) -> dict:
    """The one shape of a verdict record; audits, refused files and resource limits decide
    before the score does (`viprepro.judging.verdict.overall`)."""
    from viprepro.judging.verdict import MEANING, overall

    spec = run.spec
    verdict, why = overall(judgements, audits=audits, problems=problems, resource_limits=resource_limits)
    edition = scored_edition(run)
    made = {
        "task": run.task.name,
        "submission": spec["name"],
        "kind": run.kind,
        "edition": edition_record(run.task, edition),
        "verdict": verdict,
        "score_verdict": judgements[0]["verdict"],
        "reason": why,
        "meaning": MEANING[verdict],
        "metrics": judgements,
        "claimed_seed": spec["seed"],
        "seeds": sorted(run.test_scores),
        "ensemble": spec["ensemble"] if run.kind == "engine" else None,
        "determinism": determinism,
        "environments": environments,
        "efficiency": efficiency,
        "provenance": provenance,
        "submission_sha256": {str(seed): r["sha256"] for seed, r in sorted(run.predict_records.items())},
        "audits": audits,
        "audits_passed": all(a["passed"] for a in audits.values()),
        "submission_problems": problems,
        "resource_limits": resource_limits,
        "spec": spec,
    }
    if run.val_scores:
        made["val_submission_sha256"] = {str(seed): r["sha256"] for seed, r in sorted(run.val_predict_records.items())}
    if external is not None:
        made["external"] = external
    if trajectory is not None:
        made["trajectory"] = trajectory
    return made


def scored_edition(run: Run) -> str | None:
    """The edition every seed was scored to (scores.json `edition`); seeds scored to different
    editions' rules cannot be judged together, so that is refused."""
    editions = {
        scores.get("edition")
        for records in (run.test_scores, run.val_scores)
        for scores in records.values()
        if scores.get("status") == "scored"
    }
    if len(editions) > 1:
        named = ", ".join(sorted(str(e) for e in editions))
        raise UserError(f"the seeds were scored to different editions ({named}); score them all to one", path=run.spec_path)
    return next(iter(editions), None)


def _stage_audit_inputs(spec: dict, run: Run, train_records: list[dict]) -> dict:
    """A multi-stage spec's stages and their initial weights rebuilt in a fresh process (issue 14)."""
    if not spec.get("stages"):
        return {}
    from viprepro.judging.fresh_build import stage_digests

    return {"spec_stages": spec["stages"], "rederived_stages": stage_digests(run.task.name, spec, run.subset, train_records)}


def _engine(run: Run, *, determinism_level: str, config_hash: str, scan_spec_folder: bool) -> dict:
    """What our engine measured: from-scratch, data and leakage audits, determinism, FLOPs."""
    from viprepro.jobs.provenance import compare_environments
    from viprepro.judging import evidence, trajectory
    from viprepro.judging.fresh_build import initial_digests
    from viprepro.specs.load import spec_digest
    from viprepro.training.guards import scan_weight_files

    spec, task, train_records = run.spec, run.task, run.train_records
    keys = sorted({(r["seed"], r["member"]) for r in train_records})
    audits = evidence.audits(
        train_records,
        run.manifest,
        initial_digests(task.name, spec["model"], run.subset, keys),
        weight_files=scan_weight_files(run.spec_path.parent) if scan_spec_folder else [],
        claims=spec["claimed"],
        scores=run.test_scores,
        predict_records=run.predict_records,
        val_scores=run.val_scores or None,
        val_predict_records=run.val_predict_records,
        **_stage_audit_inputs(spec, run, train_records),
    )
    reproduced_environment = (train_records[0] if train_records else {}).get("environment")
    sections = {
        "audits": audits,
        "resource_limits": [],
        "determinism": evidence.determinism(train_records, run.predict_records, determinism_level),
        "environments": compare_environments(spec.get("environment"), reproduced_environment, determinism=determinism_level),
        "efficiency": evidence.efficiency(train_records, run.predict_records.get(spec["seed"]), spec["seed"]),
        "provenance": evidence.provenance(
            train_records, spec_digest=spec_digest(spec), config_hash=config_hash, manifest_digest=run.manifest["digest"]
        ),
    }
    if spec.get("claimed_log"):
        claimed_log = trajectory.read_claimed_log(run.spec_path.parent / spec["claimed_log"])
        history = read_json(run.histories[(spec["seed"], 0)])
        sections["trajectory"] = trajectory.compare(claimed_log, history, task.val_metric, spec["claimed_log_tolerance"])
    return sections


def _external(run: Run, *, determinism_level: str, config_hash: str, scan_spec_folder: bool) -> dict:
    """What ran of a participant's own code, how and for how long; its steps' audits and limits."""
    from viprepro.jobs.provenance import code_version
    from viprepro.judging import evidence
    from viprepro.specs.load import spec_digest

    spec = run.spec
    train = {r["seed"]: r for r in run.train_records}
    provenance = {
        "code_version": code_version(),
        "environment": None,
        "spec_digest": spec_digest(spec),
        "config_hash": config_hash,
        "data_manifest_digest": run.manifest["digest"],
        "jobs": [{"seed": r["seed"], "wall_seconds": r["seconds"], "threads": r["limits"].get("threads")} for r in run.train_records],
        "training_outputs": {str(seed): r["output_digest"] for seed, r in train.items()},
    }
    provenance["digest"] = canonical_digest(provenance)
    audits, limits = evidence.merge_external_audits(
        [{**r, "step": "train"} for r in run.train_records] + [{**r, "step": "predict"} for r in run.predict_records.values()]
    )
    steps = {seed: {"train": r, "predict": run.predict_records[seed]} for seed, r in train.items()}
    return {
        "audits": audits,
        "resource_limits": limits,
        "determinism": {
            "level": "external",
            "nondeterministic_operations": [],
            "inference_repeats": 1,
            "inference_identical": {},
            "passed": None,
        },
        "environments": None,
        "efficiency": {
            "parameters": None,
            "members": None,
            "train_wall_seconds": train[spec["seed"]]["seconds"],
            "train_cpu_seconds": None,
            "inference_samples_per_s": None,
            "flops_per_sample": None,
        },
        "provenance": provenance,
        "external": {
            str(seed): {step: {k: rec[k] for k in ("command", "exit_code", "seconds", "timed_out", "limits")} for step, rec in pair.items()}
            for seed, pair in steps.items()
        },
    }
