"""The evidence behind a verdict, gathered from the job records of one submission.

Pure functions over the JSON records the training and inference jobs wrote (plus the subset
manifest), so that every check can be tested on constructed records.
"""

from __future__ import annotations

from .fileio import canonical_digest
from .subset_manifest import training_data_digest


def determinism(train_records: list[dict], predict_records: dict[int, dict], level: str) -> dict:
    operations = sorted({op for record in train_records for op in record.get("nondeterministic_operations", [])})
    identical = {str(seed): record["identical"] for seed, record in sorted(predict_records.items())}
    return {
        "level": level,
        "nondeterministic_operations": operations,
        "inference_repeats": min((r["repeats"] for r in predict_records.values()), default=0),
        "inference_identical": identical,
        "passed": all(identical.values()) and (level != "strict" or not operations),
    }


def audits(train_records: list[dict], manifest: dict, rederived_initial: dict[tuple[int, int], str]) -> dict:
    """Rule compliance: from-scratch weights, only the provided data, no test-label leakage."""
    weights_problems, leak_problems, access_problems = [], [], []
    for record in train_records:
        key = (record["seed"], record["member"])
        where = f"seed {record['seed']} member {record['member']}"
        if rederived_initial.get(key) != record["initial_weights_digest"]:
            weights_problems.append(f"{where}: initial weights differ from a fresh seeded initialisation")
        splits = record["train_splits"]
        if not set(splits) <= {"train", "val"}:
            leak_problems.append(f"{where}: trained on {splits}")
        elif record["train_data_digest"] != training_data_digest(manifest, splits):
            leak_problems.append(f"{where}: training data digest is not the digest of the {'+'.join(splits)} subset")
        audit = record.get("file_audit", {})
        if not audit.get("passed", False):
            shown = ", ".join(audit.get("violations", [])[:5])
            access_problems.append(f"{where}: opened {audit.get('violation_count', '?')} file(s) outside its splits: {shown}")
    return {
        "pretrained_weights": {"passed": not weights_problems, "problems": weights_problems,
                               "detail": "every model built with weights=None; initial weights re-derived from the seed"},
        "data_access": {"passed": not access_problems, "problems": access_problems,
                        "detail": "files opened by training jobs checked against the subset manifest"},
        "test_label_leakage": {"passed": not leak_problems, "problems": leak_problems,
                               "detail": "checkpoint training-data digest equals the train(+val) subset digest"},
    }


def efficiency(train_records: list[dict], predict_record: dict | None, claimed_seed: int) -> dict:
    at_seed = [r for r in train_records if r["seed"] == claimed_seed]
    return {
        "parameters": at_seed[0]["parameters"] if at_seed else None,
        "members": len(at_seed),
        "train_wall_seconds": sum(r["wall_seconds"] for r in at_seed),
        "train_cpu_seconds": sum(r["cpu_seconds"] for r in at_seed),
        "inference_samples_per_s": (predict_record or {}).get("samples_per_s"),
        "flops_per_sample": (predict_record or {}).get("flops_per_sample"),
    }


def provenance(train_records: list[dict], *, spec_digest: str, config_hash: str, manifest_digest: str) -> dict:
    first = train_records[0] if train_records else {}
    record = {
        "code_version": first.get("code_version"),
        "environment": first.get("environment"),
        "spec_digest": spec_digest,
        "config_hash": config_hash,
        "data_manifest_digest": manifest_digest,
        "jobs": [{k: r[k] for k in ("seed", "member", "wall_seconds", "cpu_seconds", "threads", "device")} for r in train_records],
    }
    record["digest"] = canonical_digest(record)
    return record
