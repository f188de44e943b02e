"""Write a submission's reproduction certificate (HTML, Markdown, figures, rerun inputs).

    python workflow_scripts/certificate.py --verdict results/<task>/<name>/verdict.json \
        --train-records results/<task>/<name>/seed_*/member_*/train_record.json \
        --scores results/<task>/<name>/seed_*/scores --config "$(json of the pipeline config)" \
        --out results/<task>/<name>/certificate

Reads the records of the run only (never the hidden ground truth: the figures that need it
come from the score folders). See viprepro.report.certificate for the folder's contents.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, start, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdict", required=True, type=Path)
    parser.add_argument("--train-records", required=True, type=Path, nargs="+", help="train_record.json of every seed and member")
    parser.add_argument("--scores", required=True, type=Path, nargs="+", help="score folders, one per seed (seed_<s> in the path)")
    parser.add_argument("--claimed-log", type=Path, default=None, help="the submission's own training log, when it has one")
    parser.add_argument("--config", default=None, help="the resolved pipeline config as JSON text (kept for `viprepro rerun`)")
    parser.add_argument("--out", required=True, type=Path, help="the certificate folder to write")
    add_job_arguments(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    start(args, uses_torch=False)
    from viprepro import tracking
    from viprepro.report import certificate

    config = json.loads(args.config) if args.config else None
    evidence = certificate.gather(args.verdict, args.train_records, args.scores, config=config,
                                  claimed_log=args.claimed_log, workdir=Path.cwd())
    verdict = evidence.verdict
    with tracking.job_run(task=verdict["task"], stage="certificate", rule=args.rule, submission=verdict["submission"],
                          tags=tags(args, manifest_digest=verdict["provenance"]["data_manifest_digest"],
                                    extra={"verdict": verdict["verdict"], "provenance_digest": verdict["provenance"]["digest"]}),
                          run_name=f"certificate/{verdict['submission']}") as mlrun:
        certificate.write(evidence, args.out)
        for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
            parent = path.parent.relative_to(args.out).as_posix()
            mlrun.log_artifact(path, "certificate" if parent == "." else f"certificate/{parent}")
    figures = sorted(p.name for p in (args.out / "figures").glob("*.png"))
    print(f"{verdict['submission']}: certificate in {args.out} ({len(figures)} figures: {', '.join(figures)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
