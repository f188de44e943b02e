"""The evidence behind a verdict, gathered from the job records of one submission.

Pure functions over the JSON records the training and inference jobs wrote (plus the subset
manifest), so that every check can be tested on constructed records.
"""

from __future__ import annotations

from viprepro.files.fileio import canonical_digest
from viprepro.files.subset_manifest import training_data_digest


def determinism(train_records: list[dict], predict_records: dict[int, dict], level: str) -> dict:
    operations = sorted({op for record in train_records for op in record.get("nondeterministic_operations", [])})
    identical = {str(seed): record["identical"] for seed, record in sorted(predict_records.items())}
    return {
        "level": level,
        "nondeterministic_operations": operations,
        "inference_repeats": min((r["repeats"] for r in predict_records.values()), default=0),
        "inference_identical": identical,
        "passed": all(identical.values()) and (level != "strict" or not operations),
        # Precision, channels_last, torch.compile, several processes: what each costs in bit-exactness.
        "training_options": _training_options(train_records),
    }


def _training_options(train_records: list[dict]) -> dict:
    options = [record["training_options"] for record in train_records if record.get("training_options")]
    costs = sorted({cost for option in options for cost in option["bit_exactness_costs"]})
    settings = []
    for option in options:
        setting = {k: v for k, v in option.items() if k != "bit_exactness_costs"}
        if setting not in settings:
            settings.append(setting)
    return {"settings": settings, "bit_exactness_costs": costs}


def audits(
    train_records: list[dict],
    manifest: dict,
    rederived_initial: dict[tuple[int, int], str],
    *,
    weight_files: list[dict] | None = None,
    claims: dict | None = None,
    scores: dict[int, dict] | None = None,
    predict_records: dict[int, dict] | None = None,
    val_scores: dict[int, dict] | None = None,
    val_predict_records: dict[int, dict] | None = None,
    spec_stages: list[dict] | None = None,
    rederived_stages: dict[tuple, dict] | None = None,
) -> dict:
    """Rule compliance: from-scratch weights, only the provided data, no test-label leakage.

    Every audit compares two things made independently: the initial weights with a build in a
    fresh process, the files opened (in every process) with the subset manifest, the bytes
    read with the manifest's digests, the scored file (test, and val when a claim is on val)
    with the file inference wrote. A multi-stage member (its record has a `chain`) is audited
    stage by stage (`stage_chain`): every stage's files, and weights that start from scratch
    or from the stage the spec names.
    """
    weights_problems, leak_problems, access_problems = [], [], []
    for record in train_records:
        key = (record["seed"], record["member"])
        where = f"seed {record['seed']} member {record['member']}"
        if record.get("chain") is not None or spec_stages:
            chain = stage_chain(record, spec_stages or [], rederived_stages or {})
            weights_problems += chain["weights"]
            access_problems += chain["access"]
            leak_problems += chain["leak"]
        elif rederived_initial.get(key) != record["initial_weights_digest"]:
            weights_problems.append(f"{where}: initial weights differ from an independent from-scratch build of the model")
        splits = record["train_splits"]
        if not set(splits) <= {"train", "val"}:
            leak_problems.append(f"{where}: trained on {splits}")
        elif record["train_data_digest"] != training_data_digest(manifest, splits):
            leak_problems.append(f"{where}: training data digest is not the digest of the {'+'.join(splits)} subset")
        read = record.get("data_read")
        if read is None:
            leak_problems.append(f"{where}: no digest of the bytes training read was recorded")
        else:
            if read["modified_count"]:
                leak_problems.append(
                    f"{where}: read {read['modified_count']} file(s) whose bytes differ from the subset "
                    f"manifest: {', '.join(read['modified'][:5])}"
                )
            if read.get("outside_splits_count"):
                leak_problems.append(
                    f"{where}: read {read['outside_splits_count']} file(s) of splits it may not read: "
                    f"{', '.join(read['outside_splits'][:5])}"
                )
        audit = record.get("file_audit", {})
        if not audit.get("passed", False):
            problems = audit.get("problems") or [
                f"opened {audit.get('violation_count', '?')} file(s) outside its splits: {', '.join(audit.get('violations', [])[:5])}"
            ]
            access_problems += [f"{where}: {problem}" for problem in problems]
    weights_problems += [f"weight file shipped with the submission: {f['path']} ({f['size']:,} bytes)" for f in weight_files or []]
    result = {
        "pretrained_weights": {
            "passed": not weights_problems,
            "problems": weights_problems,
            "detail": "initial weights equal a from-scratch build in a fresh process (registry builder, "
            "hub and caches disabled); no weight files shipped with the submission",
        },
        "data_access": {
            "passed": not access_problems,
            "problems": access_problems,
            "detail": "files opened by the training job and every process it started (DataLoader workers) "
            "checked against the subset manifest; none recorded is a failure",
        },
        "test_label_leakage": {
            "passed": not leak_problems,
            "problems": leak_problems,
            "detail": "every file training read hashed when opened and checked against the subset manifest; trained on train(+val) only",
        },
    }
    if claims is not None:
        result["claim_split_unseen"] = claim_split_unseen(train_records, claims)
    if scores is not None and predict_records is not None:
        result["submission_provenance"] = submission_provenance(scores, predict_records)
        if val_scores is not None:
            val = submission_provenance(val_scores, val_predict_records or {}, split="val")
            result["submission_provenance"]["problems"] += val["problems"]
            result["submission_provenance"]["passed"] = not result["submission_provenance"]["problems"]
    return result


def stage_chain(record: dict, spec_stages: list[dict], rederived: dict[tuple, dict]) -> dict:
    """The problems of one member's chain of stages: {"weights", "access", "leak"} lists.

    Weights: the chain holds exactly the spec's stages in order, all of this seed and member;
    each stage's fresh build equals an independent one (`rederived`, fresh process), and it
    started from that build (no `init`) or from that build with the named stage's output
    loaded (rebuilt too); every input it loaded is the output of the earlier stage the spec
    names, digest for digest; the member's weights are the last stage's. Files: each stage's
    access audit (a pretext stage's includes its withheld label files) and bytes read."""
    from viprepro.specs.stages import inputs_of

    seed, member = record["seed"], record["member"]
    chain = record.get("chain") or []
    weights, access, leak = [], [], []
    names = [entry.get("stage") for entry in chain]
    expected = [stage["name"] for stage in spec_stages]
    base = f"seed {seed} member {member}"
    if names != expected:
        weights.append(f"{base}: the chain of stages is {names or 'missing'}, the spec's is {expected}")
    by_name = {entry.get("stage"): entry for entry in chain}
    spec_by_name = {stage["name"]: stage for stage in spec_stages}
    for entry in chain:
        name = entry.get("stage")
        where = f"{base} stage {name}"
        if (entry.get("seed"), entry.get("member")) != (seed, member):
            weights.append(f"{where}: recorded for seed {entry.get('seed')} member {entry.get('member')}")
        stage = spec_by_name.get(name)
        loaded = {(i.get("role"), i.get("stage")): i for i in entry.get("inputs") or []}
        named = set(inputs_of(stage)) if stage else set()
        if stage and set(loaded) != named:
            weights.append(
                f"{where}: loaded {sorted(f'{r} {s}' for r, s in loaded) or 'nothing'}, the spec names "
                f"{sorted(f'{r} {s}' for r, s in named) or 'nothing'}"
            )
        for (role, source), item in sorted(loaded.items()):
            output = (by_name.get(source) or {}).get("final_weights_digest")
            if source not in names or names.index(source) >= names.index(name):
                weights.append(f"{where}: its {role} input {source!r} is not an earlier stage of this member's chain")
            elif item.get("digest") != output:
                weights.append(f"{where}: its {role} input is not stage {source!r}'s output (loaded {str(item.get('digest'))[:16]})")
        rebuilt = rederived.get((seed, member, name))
        if rebuilt is None or "error" in rebuilt:
            weights.append(f"{where}: no independent rebuild of its initial weights{': ' + rebuilt['error'] if rebuilt else ''}")
        else:
            if entry.get("fresh_weights_digest") != rebuilt["fresh"]:
                weights.append(f"{where}: its from-scratch build differs from an independent build in a fresh process")
            if entry.get("initial_weights_digest") != rebuilt["initial"]:
                start = (
                    f"stage {stage['init']['from']!r}'s output loaded as init" if stage and stage.get("init") else "a from-scratch build"
                )
                weights.append(f"{where}: its initial weights are neither {start} nor anything the spec names")
        audit = entry.get("file_audit") or {}
        if not audit.get("passed", False):
            access += [f"{where}: {problem}" for problem in audit.get("problems") or ["no file audit recorded"]]
        read = entry.get("data_read") or {}
        if read.get("modified_count"):
            leak.append(f"{where}: read {read['modified_count']} file(s) whose bytes differ from the subset manifest")
        if read.get("outside_splits_count"):
            leak.append(f"{where}: read {read['outside_splits_count']} file(s) of splits it may not read")
    if chain and chain[-1].get("final_weights_digest") != record.get("final_weights_digest"):
        weights.append(f"{base}: the member's weights are not its last stage's output")
    return {"weights": weights, "access": access, "leak": leak}


def claim_split_unseen(train_records: list[dict], claims: dict) -> dict:
    """A score claimed on a split is only a claim if the model never trained on that split."""
    problems = []
    for metric, claim in claims.items():
        split = claim.get("split", "test")
        trained = sorted({f"seed {r['seed']} member {r['member']}" for r in train_records if split in _trained_splits(r)})
        if trained:
            problems.append(f"{metric} is claimed on {split}, which {', '.join(trained[:3])} trained on")
    return {"passed": not problems, "problems": problems, "detail": "no claimed score is measured on a split the model was trained on"}


def _trained_splits(record: dict) -> set[str]:
    """The splits a member trained on: its recipe's, and those a pseudo_label stage of its chain labelled."""
    pseudo = {(entry.get("pseudo_labels") or {}).get("split") for entry in record.get("chain") or []}
    return set(record.get("train_splits", [])) | (pseudo - {None})


def submission_provenance(scores: dict[int, dict], predict_records: dict[int, dict], *, split: str = "test") -> dict:
    """The file that was scored is the file inference wrote from the trained checkpoints."""
    problems = []
    where = "" if split == "test" else f"{split} "
    for seed, record in sorted(scores.items()):
        scored = record.get("submission_sha256")
        written = (predict_records.get(seed) or {}).get("sha256")
        if scored is None or written is None:
            problems.append(f"{where}seed {seed}: no digest of the {'scored' if scored is None else 'written'} {where}submission file")
        elif scored != written:
            problems.append(
                f"{where}seed {seed}: the scored {where}submission file (sha256 {scored[:16]}) is not the file inference "
                f"wrote from the checkpoints (sha256 {written[:16]})"
            )
    return {
        "passed": not problems,
        "problems": problems,
        "detail": "sha256 of every scored file (test, and val for a claim on val) equals the sha256 the inference "
        "step recorded for its output",
    }


def merge_external_audits(records: list[dict]) -> tuple[dict, list[dict]]:
    """The audits and resource limits external steps put into their records, merged per audit name."""
    merged: dict[str, dict] = {}
    limits = []
    for record in records:
        where = f"seed {record.get('seed', '?')} {record.get('step', 'step')}"
        for name, audit in (record.get("audits") or {}).items():
            entry = merged.setdefault(name, {"passed": True, "problems": [], "detail": audit.get("detail", "")})
            entry["passed"] = entry["passed"] and bool(audit.get("passed"))
            entry["problems"] += [f"{where}: {p}" for p in audit.get("problems", [])]
            if not audit.get("passed") and not audit.get("problems"):
                entry["problems"].append(f"{where}: failed")
        if record.get("resource_limit"):
            limits.append({**record["resource_limit"], "where": where})
    return merged, limits


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
