"""`viprepro external environment|train|predict`: a participant's own code (a `kind: external` spec).

Installing, training and prediction all run in the bubblewrap sandbox (viprepro.external),
the install with network, decoys in place of the --forbid folders; the steps' logic is
viprepro.external.jobs. Every step is an MLflow run with the command, its exit code, its
duration and its log.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def _common(parser) -> None:
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--forbid",
        nargs="*",
        type=Path,
        default=[],
        help="folders the participant's code must not read (hidden ground truth, source dataset): decoys stand there",
    )
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment before the spec is read)")


def _sandboxed_arguments(parser) -> None:
    _common(parser)
    parser.add_argument("--environment", required=True, type=Path, help="the environment step's output folder")
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--record", required=True, type=Path)


def _predict_arguments(parser) -> None:
    _sandboxed_arguments(parser)
    parser.add_argument("--model-dir", required=True, type=Path, help="the training step's output folder")


def _run_info(step: str):
    def run_info(args) -> RunInfo:
        seed = getattr(args, "seed", None)
        return RunInfo(
            task=args.task,
            stage=f"external_{step}",
            submission=args.spec.stem,
            run_name=f"external_{step}/{args.spec.stem}" + (f"/seed_{seed}" if seed is not None else ""),
            tags={"kind": "external", **({"seed": seed} if seed is not None else {})},
        )

    return run_info


def _read(job: Job, step: str):
    from viprepro.external import external_part
    from viprepro.external.jobs import describe
    from viprepro.files.subset_manifest import read_manifest
    from viprepro.specs.load import load_spec

    spec = load_spec(job.args.spec)
    part = external_part(spec, job.args.spec)
    digest = read_manifest(job.args.subset)["digest"] if step != "environment" else ""
    job.mlrun.set_tags({"submission": spec["name"], "repository": part["repository"], "data_manifest_digest": digest})
    describe(job.mlrun, spec, part)
    return spec, part, digest


def _environment(job: Job) -> str:
    from viprepro.external import jobs

    spec, part, _ = _read(job, "environment")
    return jobs.environment(spec, part, job.args.out, forbidden=job.args.forbid, mlrun=job.mlrun)


def _sandboxed(step: str):
    def run(job: Job) -> str:
        from viprepro.external import jobs

        args = job.args
        spec, part, digest = _read(job, step)
        return jobs.sandboxed(
            step,
            spec,
            part,
            environment=args.environment,
            subset=args.subset,
            seed=args.seed,
            out=args.out,
            record_path=args.record,
            threads=args.threads,
            forbidden=args.forbid,
            manifest_digest=digest,
            mlrun=job.mlrun,
            model_dir=getattr(args, "model_dir", None),
        )

    return run


ENVIRONMENT = Step(
    name="external environment",
    description="Build an external submission's virtual environment (in the sandbox; the only step with network).",
    add_arguments=_common,
    run=_environment,
    run_info=_run_info("environment"),
    uses_torch=False,
)
TRAIN = Step(
    name="external train",
    description="Run an external submission's training command in the sandbox at one seed.",
    add_arguments=_sandboxed_arguments,
    run=_sandboxed("train"),
    run_info=_run_info("train"),
    uses_torch=False,
)
PREDICT = Step(
    name="external predict",
    description="Run an external submission's predict command in the sandbox and collect its submission file.",
    add_arguments=_predict_arguments,
    run=_sandboxed("predict"),
    run_info=_run_info("predict"),
    uses_torch=False,
)
