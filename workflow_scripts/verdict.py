"""Set a submission's reproduced scores (every seed) against its claims and write the verdict.

    python workflow_scripts/verdict.py --spec SPEC --scores results/<task>/<name>/seed_0/scores ... \
        --histories results/<task>/<name>/seed_0/member_0/history.json ... --out results/<task>/<name>/verdict.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viprepro.jobs import add_job_arguments, tags


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--scores", required=True, type=Path, nargs="+", help="score folders, one per seed (seed_<s> in the path)")
    parser.add_argument("--histories", type=Path, nargs="*", default=[], help="training histories of member 0, one per seed")
    parser.add_argument("--subset", type=Path, default=None)
    parser.add_argument("--out", required=True, type=Path)
    add_job_arguments(parser)
    return parser


def seed_of(path: Path) -> int:
    for part in reversed(path.parts):
        if part.startswith("seed_"):
            return int(part[len("seed_"):])
    raise ValueError(f"{path}: no seed_<n> folder in the path")


def main(args: argparse.Namespace) -> int:
    from viprepro import tracking
    from viprepro.fileio import read_json, write_json
    from viprepro.spec import load_spec, spec_digest
    from viprepro.subset_manifest import read_manifest
    from viprepro.tasks import get_task
    from viprepro.verdict import judge

    spec = load_spec(args.spec)
    task = get_task(spec["task"])
    directions = {m.key: m.higher_is_better for m in task.metrics}
    test_scores = {seed_of(p): read_json(p / "scores.json") for p in args.scores}
    val_scores = {seed_of(p): _last_val_metrics(read_json(p)) for p in args.histories}
    judgements = []
    for metric, claim in spec["claimed"].items():
        by_seed = val_scores if claim.get("split", "test") == "val" else test_scores
        judgements.append(judge(metric, claim, by_seed, spec["seed"], higher_is_better=directions[metric]))
    digest = read_manifest(args.subset)["digest"] if args.subset else ""
    record = {
        "task": task.name,
        "submission": spec["name"],
        "spec_digest": spec_digest(spec),
        "data_manifest_digest": digest,
        "determinism": args.determinism,
        "verdict": judgements[0]["verdict"],
        "metrics": judgements,
    }
    with tracking.job_run(task=task.name, stage="verdict", rule=args.rule, submission=spec["name"],
                          tags=tags(args, manifest_digest=digest, extra={"verdict": record["verdict"]}),
                          run_name=f"verdict/{spec['name']}") as mlrun:
        write_json(args.out, record)
        main_judgement = judgements[0]
        mlrun.log_metrics({"claimed": main_judgement["claimed"], "reproduced": main_judgement["reproduced"],
                           "band_mean": main_judgement["band"]["mean"], "band_std": main_judgement["band"]["std"]})
        mlrun.log_artifact(args.out)
    print(f"{spec['name']}: {record['verdict']} ({main_judgement['metric']} claimed {main_judgement['claimed']:.4f}, "
          f"reproduced {main_judgement['reproduced']:.4f}, tolerance {main_judgement['tolerance']:.4f})")
    return 0


def _last_val_metrics(history: list[dict]) -> dict:
    last = history[-1] if history else {}
    return {key[len("val_"):]: value for key, value in last.items() if key.startswith("val_")}


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
