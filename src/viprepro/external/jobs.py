"""The pipeline's three external steps (environment, train, predict) as the jobs run them.

A limit hit or a failed audit is not a failed job: the step's record says it, its outputs are
placeholders (an empty training folder, an empty submission file, the record's
`placeholder: true`) and the verdict judges it (`resource_limit`, `audit_failed`). A step after
one that stopped does not run: it carries the earlier step's audits and limit over, so the
verdict sees them in every record. Every record names its task, submission, seed and member.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from viprepro.errors import UserError
from viprepro.external.steps import build_environment, collect_submission, folder_digest, run_step
from viprepro.files.fileio import atomic_path, write_json


def describe(mlrun, spec: dict, part: dict) -> None:
    from viprepro.specs.load import spec_digest

    mlrun.log_params(
        {
            "spec_digest": spec_digest(spec),
            "train_template": part["train"],
            "predict_template": part["predict"],
            "limits": part["limits"],
            "requirements": part["requirements"],
        }
    )


def environment(spec: dict, part: dict, out: Path, *, forbidden: list[Path], mlrun) -> str:
    """Build the submission's virtual environment (in the sandbox, with network)."""
    log = out.parent / "environment.log"
    try:
        record = build_environment(part, out, log=log, forbidden=forbidden)
    finally:
        if log.exists():
            mlrun.log_artifact(log)
    mlrun.log_params({"packages": len(record["packages"])})
    mlrun.log_artifact(out / "environment.json")
    return f"environment of {spec['name']}: {len(record['packages'])} package(s)"


def stopped(record: dict) -> str | None:
    """Why a step's record means the next step must not run (a limit hit, a failed audit), or None."""
    if record.get("resource_limit"):
        return f"{record['resource_limit']['limit']} limit"
    failed = [name for name, audit in (record.get("audits") or {}).items() if not audit["passed"]]
    return f"failed audit(s): {', '.join(failed)}" if failed else None


def sandboxed(
    step: str,
    spec: dict,
    part: dict,
    *,
    environment: Path,
    subset: Path,
    seed: int,
    out: Path,
    record_path: Path,
    threads: int,
    forbidden: list[Path],
    manifest_digest: str,
    mlrun,
    model_dir: Path | None = None,
) -> str:
    """The train or predict step: run, record, log. A failed command fails the job (UserError)."""
    log = record_path.with_name(f"{step}.log")
    earlier = environment / "environment.json" if step == "train" else model_dir.parent / "train_record.json"
    before = json.loads(earlier.read_text()) if earlier.is_file() else {}
    why = stopped(before)
    with tempfile.TemporaryDirectory(prefix=f".{step}-", dir=record_path.parent) as scratch:
        output = Path(scratch) / "output"
        record = {
            "task": spec["task"],
            "submission": spec["name"],
            "step": step,
            "seed": seed,
            "member": 0,
            "template": part[step],
            "audits": {},
            "resource_limit": None,
        }
        if why:  # carried over: the verdict sees the first step's audits and limit in every record
            output.mkdir()
            record.update(
                placeholder=True,
                skipped=f"not run: the {earlier.stem.replace('_record', '')} step ended with {why}",
                audits=before.get("audits") or {},
                resource_limit=before.get("resource_limit"),
            )
            log.write_text(f"[viprepro] {record['skipped']}\n")
        else:
            result = run_step(
                step,
                part,
                environment=environment,
                subset=subset,
                output=output,
                log=log,
                threads=threads,
                seed=seed,
                model_dir=model_dir if step == "predict" else None,
                forbidden=forbidden,
            )
            record.update(result.as_record())
            if step == "train":  # the install's isolation audit counts for the training too
                for name, audit in (before.get("audits") or {}).items():
                    record["audits"][f"install_{name}"] = audit
            mlrun.log_params({"command": result.command, "enforcement": result.enforcement})
            mlrun.log_metrics(
                {
                    "exit_code": -1 if result.exit_code is None else result.exit_code,
                    "seconds": result.seconds,
                    "timed_out": int(result.timed_out),
                    "resource_limit": int(result.resource_limit is not None),
                    "audits_failed": sum(not a["passed"] for a in record["audits"].values()),
                }
            )
            why = stopped(record)
            if why:
                record["placeholder"] = True
            elif not result.ok:
                mlrun.log_artifact(log)
                raise UserError(f"the {step} command failed: exit code {result.exit_code}; its log: {log}", where=spec["name"])
        mlrun.log_artifact(log)
        mlrun.set_tags(
            {
                "resource_limit": (record["resource_limit"] or {}).get("limit", "none"),
                "audits_passed": str(all(a["passed"] for a in record["audits"].values())).lower(),
            }
        )
        if step == "train":
            # One training per seed (member 0). The fields the engine's records also have let the
            # verdict, leaderboard and certificate read both kinds; the "weights" of external code
            # are everything its training wrote, and it saw the public subset without the test images.
            record["output_digest"] = folder_digest(output)
            record.update(train_data_digest=manifest_digest, initial_weights_digest="", final_weights_digest=record["output_digest"])
            with atomic_path(out) as target:
                output.rename(target)
        elif record.get("placeholder"):
            with atomic_path(out) as target:
                target.write_bytes(b"")
            record["sha256"] = None
        else:
            record["sha256"] = collect_submission(output, part["submission_file"] or out.name, out)
            mlrun.set_tags({"submission_sha256": record["sha256"]})
            mlrun.log_artifact(out)
    write_json(record_path, record)
    mlrun.log_artifact(record_path, None)
    return f"external {step} of {spec['name']} seed {seed}: " + (
        f"{why}; placeholder outputs written" if why else f"exit {record['exit_code']} in {record['seconds']:.1f} s"
    )
