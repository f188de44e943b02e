"""`viprepro certificate`: a submission's reproduction certificate (HTML, Markdown, figures, rerun inputs).

Reads the records of the run only (never the hidden ground truth: the figures that need it
come from the score folders). See viprepro.report.certificate for the folder's contents.
"""

from __future__ import annotations

import json
from pathlib import Path

from viprepro.errors import UserError
from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--verdict", required=True, type=Path)
    parser.add_argument("--train-records", required=True, type=Path, nargs="+", help="train_record.json of every seed and member")
    parser.add_argument("--scores", required=True, type=Path, nargs="+", help="score folders, one per seed")
    parser.add_argument("--claimed-log", type=Path, default=None, help="the submission's own training log, when it has one")
    parser.add_argument("--ablation-verdict", type=Path, default=None, help="verdict of the submission the spec names as its ablation")
    parser.add_argument(
        "--config",
        default=None,
        help="the resolved pipeline config (kept for `viprepro rerun`): a JSON file "
        "(the pipeline's results/config.resolved.json), or the JSON text itself",
    )
    parser.add_argument("--out", required=True, type=Path, help="the certificate folder to write")
    parser.add_argument("--task", default=None, help="the submission's task (names the MLflow experiment before anything is read)")


def read_config(value: str | None) -> dict | None:
    """The --config value: JSON text when it starts with `{`, else the path of a JSON file."""
    from viprepro.files.fileio import read_json

    if value is None:
        return None
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise UserError(f"not JSON: {exc}", where="--config") from None
    return read_json(Path(value))


def run(job: Job) -> str:
    from viprepro.report import certificate

    args, mlrun = job.args, job.mlrun
    evidence = certificate.gather(
        args.verdict,
        args.train_records,
        args.scores,
        config=read_config(args.config),
        claimed_log=args.claimed_log,
        workdir=Path.cwd(),
        ablation=args.ablation_verdict,
    )
    verdict = evidence.verdict
    mlrun.set_tags(
        {
            "submission": verdict["submission"],
            "mlflow.runName": f"certificate/{verdict['submission']}",
            "data_manifest_digest": verdict["provenance"]["data_manifest_digest"],
            "verdict": verdict["verdict"],
            "provenance_digest": verdict["provenance"]["digest"],
        }
    )
    certificate.write(evidence, args.out)
    for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
        parent = path.parent.relative_to(args.out).as_posix()
        mlrun.log_artifact(path, "certificate" if parent == "." else f"certificate/{parent}")
    figures = sorted(p.name for p in (args.out / "figures").glob("*.png"))
    return f"{verdict['submission']}: certificate in {args.out} ({len(figures)} figures: {', '.join(figures)})"


def _run_info(args) -> RunInfo:
    return RunInfo(task=args.task, stage="certificate", run_name="certificate")


CERTIFICATE = Step(
    name="certificate",
    description="Write a submission's reproduction certificate from the records of its run (never the hidden ground truth).",
    add_arguments=add_arguments,
    run=run,
    run_info=_run_info,
    uses_torch=False,
)
