"""`viprepro leaderboard` and `viprepro leaderboard-page`: every verdict in one table, and its page."""

from __future__ import annotations

from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def _pipeline_run(stage: str):
    def run_info(args) -> RunInfo:
        return RunInfo(task=None, stage=stage, run_name=stage)

    return run_info


def add_leaderboard_arguments(parser) -> None:
    parser.add_argument("--verdicts", required=True, type=Path, nargs="+", help="verdict.json of every submission")
    parser.add_argument("--out", required=True, type=Path, help="the CSV to write")


def run_leaderboard(job: Job) -> str:
    from viprepro.report.leaderboard import build_rows, write_csv

    rows = build_rows(job.args.verdicts)
    write_csv(rows, job.args.out)
    verdicts = {row["verdict"] for row in rows}
    job.mlrun.log_metrics({"submissions": len(rows), **{f"verdict.{v}": sum(r["verdict"] == v for r in rows) for v in verdicts}})
    job.mlrun.log_artifact(job.args.out)
    return f"leaderboard: {len(rows)} submission(s) -> {job.args.out}"


def add_page_arguments(parser) -> None:
    parser.add_argument("--leaderboard", required=True, type=Path, help="leaderboard.csv")
    parser.add_argument("--out", required=True, type=Path, help="the page to write (beside the task folders)")


def run_page(job: Job) -> str:
    from viprepro.report import leaderboard_page

    rows = leaderboard_page.write(job.args.leaderboard, job.args.out)
    job.mlrun.log_artifact(job.args.out)
    return f"leaderboard page: {rows} submission(s) -> {job.args.out}"


LEADERBOARD = Step(
    name="leaderboard",
    description="Collect every submission's verdict into one CSV (results/leaderboard.csv).",
    add_arguments=add_leaderboard_arguments,
    run=run_leaderboard,
    run_info=_pipeline_run("leaderboard"),
    uses_torch=False,
)

LEADERBOARD_PAGE = Step(
    name="leaderboard-page",
    description="Write the leaderboard as a static, sortable, self-contained HTML page; each row links to its certificate.",
    add_arguments=add_page_arguments,
    run=run_page,
    run_info=_pipeline_run("leaderboard_page"),
    uses_torch=False,
)
