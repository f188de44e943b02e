"""Run a participant's own code (a `kind: external` spec): its environment, training, prediction.

    python workflow_scripts/external.py environment --spec SPEC --out results/<task>/<name>/external/environment
    python workflow_scripts/external.py train --spec SPEC --environment ENV --subset SUBSET --seed 0 \
        --out results/<task>/<name>/seed_0/external/train --record .../external/train_record.json
    python workflow_scripts/external.py predict --spec SPEC --environment ENV --subset SUBSET --seed 0 \
        --model-dir .../external/train --out .../seed_0/submission.csv --record .../submission.csv.record.json

Installing, training and prediction all run in the bubblewrap sandbox (viprepro.external),
the install with network, decoys in place of the --forbid folders. Every step is an MLflow
run with the command, its exit code, its duration and its log. Its record carries `audits`
and `resource_limit`; a limit hit or a failed audit is not a failed job: the record says it,
the outputs are placeholders (an empty training folder, an empty submission file, the
record's `placeholder: true`) and the verdict judges it (`resource_limit`, `audit_failed`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    env = steps.add_parser("environment", help="build the submission's virtual environment")
    train = steps.add_parser("train", help="run the training command in the sandbox")
    predict = steps.add_parser("predict", help="run the predict command in the sandbox and collect the submission file")
    for sub in (env, train, predict):
        sub.add_argument("--spec", required=True, type=Path)
        sub.add_argument("--out", required=True, type=Path)
        sub.add_argument("--forbid", nargs="*", type=Path, default=[],
                         help="folders the participant's code must not read (hidden ground truth, source dataset): decoys stand there")
        add_job_arguments(sub)
    for sub in (train, predict):
        sub.add_argument("--environment", required=True, type=Path)
        sub.add_argument("--subset", required=True, type=Path)
        sub.add_argument("--seed", required=True, type=int)
        sub.add_argument("--record", required=True, type=Path)
    predict.add_argument("--model-dir", required=True, type=Path, help="the training step's output folder")
    return parser


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.errors import UserError
    from viprepro.external import build_environment, external_part
    from viprepro.spec import load_spec, spec_digest
    from viprepro.subset_manifest import read_manifest

    try:
        spec = load_spec(args.spec)
        part = external_part(spec, args.spec)
        digest = read_manifest(args.subset)["digest"] if args.step != "environment" else ""
    except UserError as exc:
        print(f"external {args.step}: error: {exc.message}", file=sys.stderr)
        return 1
    seed = getattr(args, "seed", None)
    run_name = f"external_{args.step}/{spec['name']}" + (f"/seed_{seed}" if seed is not None else "")
    extra = {"kind": "external", "repository": part["repository"], **({"seed": seed} if seed is not None else {})}
    try:
        with tracking.job_run(task=spec["task"], stage=f"external_{args.step}", rule=args.rule, submission=spec["name"],
                              tags=tags(args, manifest_digest=digest, extra=extra), run_name=run_name) as mlrun:
            mlrun.log_params({"spec_digest": spec_digest(spec), "train_template": part["train"], "predict_template": part["predict"],
                              "limits": part["limits"], "requirements": part["requirements"]})
            if args.step == "environment":
                log = args.out.parent / "environment.log"
                try:
                    record = build_environment(part, args.out, log=log, forbidden=args.forbid)
                finally:
                    if log.exists():
                        mlrun.log_artifact(log)
                mlrun.log_params({"packages": len(record["packages"])})
                mlrun.log_artifact(args.out / "environment.json")
                print(f"environment of {spec['name']}: {len(record['packages'])} package(s)")
            else:
                _sandboxed(args, spec, part, mlrun, manifest_digest=digest)
    except UserError as exc:
        print(f"external {args.step}: error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _stopped(record: dict) -> str | None:
    """Why a step's record means the next step must not run (a limit hit, a failed audit), or None."""
    if record.get("resource_limit"):
        return f"{record['resource_limit']['limit']} limit"
    failed = [name for name, audit in (record.get("audits") or {}).items() if not audit["passed"]]
    return f"failed audit(s): {', '.join(failed)}" if failed else None


def _sandboxed(args, spec: dict, part: dict, mlrun, *, manifest_digest: str) -> None:
    """The train or predict step: run, record, log. A failed command fails the job; a limit hit
    or a failed audit writes its record and placeholder outputs for the verdict to judge."""
    import json
    import tempfile

    from viprepro.errors import UserError
    from viprepro.external import collect_submission, run_step
    from viprepro.external.steps import folder_digest
    from viprepro.fileio import atomic_path, write_json

    step = args.step
    log = args.record.with_name(f"{step}.log")
    earlier = args.environment / "environment.json" if step == "train" else args.model_dir.parent / "train_record.json"
    before = json.loads(earlier.read_text()) if earlier.is_file() else {}
    stopped = _stopped(before)
    with tempfile.TemporaryDirectory(prefix=f".{step}-", dir=args.record.parent) as scratch:
        output = Path(scratch) / "output"
        record = {"step": step, "seed": args.seed, "template": part[step], "audits": {}, "resource_limit": None}
        if stopped:  # carried over: the verdict sees the first step's audits and limit in every record
            output.mkdir()
            record.update(placeholder=True, skipped=f"not run: the {earlier.stem.replace('_record', '')} step ended with {stopped}",
                          audits=before.get("audits") or {}, resource_limit=before.get("resource_limit"))
            log.write_text(f"[viprepro] {record['skipped']}\n")
        else:
            result = run_step(step, part, environment=args.environment, subset=args.subset, output=output, log=log,
                              threads=args.threads, seed=args.seed, model_dir=args.model_dir if step == "predict" else None,
                              forbidden=args.forbid)
            record.update(result.as_record())
            if step == "train":  # the install's isolation audit counts for the training too
                for name, audit in (before.get("audits") or {}).items():
                    record["audits"][f"install_{name}"] = audit
            mlrun.log_params({"command": result.command, "enforcement": result.enforcement})
            mlrun.log_metrics({"exit_code": -1 if result.exit_code is None else result.exit_code, "seconds": result.seconds,
                               "timed_out": int(result.timed_out), "resource_limit": int(result.resource_limit is not None),
                               "audits_failed": sum(not a["passed"] for a in record["audits"].values())})
            stopped = _stopped(record)
            if stopped:
                record["placeholder"] = True
            elif not result.ok:
                mlrun.log_artifact(log)
                raise UserError(f"the {step} command failed: exit code {result.exit_code}; its log: {log}", where=spec["name"])
        mlrun.log_artifact(log)
        mlrun.set_tags({"resource_limit": (record["resource_limit"] or {}).get("limit", "none"),
                        "audits_passed": str(all(a["passed"] for a in record["audits"].values())).lower()})
        if step == "train":
            # One training per seed (member 0). The fields the engine's records also have let the
            # verdict, leaderboard and certificate read both kinds; the "weights" of external code
            # are everything its training wrote, and it saw the public subset without the test images.
            record["output_digest"] = folder_digest(output)
            record.update(member=0, train_data_digest=manifest_digest, initial_weights_digest="",
                          final_weights_digest=record["output_digest"])
            with atomic_path(args.out) as target:
                output.rename(target)
        elif record.get("placeholder"):
            with atomic_path(args.out) as target:
                target.write_bytes(b"")
            record["sha256"] = None
        else:
            filename = part["submission_file"] or args.out.name
            record["sha256"] = collect_submission(output, filename, args.out)
            mlrun.set_tags({"submission_sha256": record["sha256"]})
            mlrun.log_artifact(args.out)
    write_json(args.record, record)
    mlrun.log_artifact(args.record, None)
    print(f"external {step} of {spec['name']} seed {args.seed}: "
          + (f"{stopped}; placeholder outputs written" if stopped else f"exit {record['exit_code']} in {record['seconds']:.1f} s"))


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
