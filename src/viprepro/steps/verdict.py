"""`viprepro verdict`: judge a submission, its reproduced scores (every seed) against its claims.

The verdict record holds the decision (README, "How a verdict is decided"), the seed band,
the determinism record, the rule-compliance audits, the efficiency figures and the
provenance (viprepro.judging.verdict_record). A claim on the val split is judged, by the same rule,
on the seed band of the val scores: each seed's own val predictions (ensemble, TTA,
inference resolution) scored by the task's scorer (predict --split val, score --val-gt).
Every record read names its seed; the paths may be given in any order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from viprepro.jobs.step import Job, RunInfo, Step


def add_arguments(parser) -> None:
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--scores", required=True, type=Path, nargs="+", help="score folders, one per seed")
    parser.add_argument("--train-records", required=True, type=Path, nargs="+", help="train_record.json of every seed and member")
    parser.add_argument("--predict-records", required=True, type=Path, nargs="+", help="inference records, one per seed")
    parser.add_argument(
        "--val-scores", type=Path, nargs="*", default=[], help="val score folders, one per seed (needed when a metric is claimed on val)"
    )
    parser.add_argument("--val-predict-records", type=Path, nargs="*", default=[], help="val inference records, one per seed")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--task", default=None, help="the spec's task (names the MLflow experiment before the spec is read)")
    parser.add_argument(
        "--min-seeds", type=int, default=5, help="fewest seeds with a score for `within_noise` (config seed_band.min_seeds)"
    )
    parser.add_argument(
        "--scan-spec-folder",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="list weight files shipped beside the spec as a failed pretrained-weights audit",
    )


def build_verdict(args: argparse.Namespace) -> dict:
    from viprepro.judging.verdict_record import build, read_run

    run = read_run(
        args.spec,
        args.subset,
        scores=args.scores,
        train_records=args.train_records,
        predict_records=args.predict_records,
        val_scores=args.val_scores,
        val_predict_records=args.val_predict_records,
    )
    return build(
        run,
        min_seeds=args.min_seeds,
        determinism_level=args.determinism,
        config_hash=args.config_hash,
        scan_spec_folder=args.scan_spec_folder,
    )


def run(job: Job) -> str:
    from viprepro.files.fileio import write_json

    args, mlrun = job.args, job.mlrun
    record = build_verdict(args)
    main = record["metrics"][0]
    mlrun.set_tags(
        {
            "submission": record["submission"],
            "verdict": record["verdict"],
            "audits": "passed" if record["audits_passed"] else "FAILED",
            "data_manifest_digest": record["provenance"]["data_manifest_digest"],
        }
    )
    write_json(args.out, record)
    band = main["band"]
    mlrun.log_metrics(
        {
            "claimed": main["claimed"],
            "reproduced": _nan(main["reproduced"]),
            "band_n": band["n"],
            **{f"band_{k}": _nan(band[k]) for k in ("mean", "std", "interval_low", "interval_high", "robust_low", "robust_high")},
        }
    )
    mlrun.log_params({"provenance_digest": record["provenance"]["digest"], "seeds": record["seeds"]})
    mlrun.log_artifact(args.out)
    return (
        f"{record['submission']}: {record['verdict']} ({main['metric']} claimed {main['claimed']:.4f}, "
        f"reproduced {_fmt(main['reproduced'])}, tolerance {main['tolerance']:.4f}); "
        f"audits {'passed' if record['audits_passed'] else 'FAILED'}"
    )


def _nan(value):
    return float("nan") if value is None else value


def _fmt(value) -> str:
    return "none" if value is None else f"{value:.4f}"


def _run_info(args) -> RunInfo:
    return RunInfo(task=args.task, stage="verdict", submission=args.spec.stem, run_name=f"verdict/{args.spec.stem}")


VERDICT = Step(
    name="verdict",
    description="Judge a submission: its reproduced scores (every seed) against its claims, with the evidence.",
    add_arguments=add_arguments,
    run=run,
    run_info=_run_info,
    uses_torch=False,
)
