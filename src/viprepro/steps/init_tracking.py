"""`viprepro init-tracking`: the MLflow store and one experiment per task, once, before jobs fan out.

Concurrent first use of a fresh SQLite database races on schema creation, so the pipeline's
first job creates it alone.
"""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--tasks", nargs="+", required=True, help="the tasks whose experiments to create")
    parser.add_argument("--out", required=True, type=Path, help="marker file listing the experiments")


def run(job: Job) -> str:
    from viprepro.files.fileio import write_json
    from viprepro.jobs import tracking

    ids = tracking.init_store(job.args.tasks)
    job.mlrun.log_params({"tasks": ",".join(job.args.tasks), "tracking_uri_scheme": tracking.tracking_uri().split(":", 1)[0]})
    write_json(job.args.out, {"experiments": {tracking.experiment_name(t): i for t, i in ids.items()}})
    return f"MLflow store ready: {', '.join(tracking.experiment_name(t) for t in ids)}"


def _run_info(args) -> RunInfo:
    return RunInfo(task=None, stage="init_tracking", run_name="init_tracking")


INIT_TRACKING = Step(
    name="init-tracking",
    description="Create the MLflow store and one experiment per task, before any other job.",
    add_arguments=add_arguments,
    run=run,
    run_info=_run_info,
    uses_torch=False,
)
