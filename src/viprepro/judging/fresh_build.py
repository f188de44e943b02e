"""Initial weights built again in a fresh process, away from the training job's code path.

The weights audit must not trust the code that trained: a training job could load weights
after building its model, or patch the builder in its own process. Here a new interpreter
(no state shared with any job) disables torch hub and every weight cache, builds each
member's model with the task registry's builder from its seed alone, and prints the digests.

    python -m viprepro.judging.fresh_build --task T --model JSON --subset DIR --keys 0:0 0:1 ...

The stages of a multi-stage spec (`stage_digests`, `--stages` reads a JSON list on stdin) are
rebuilt the same way: each stage's model from its seed alone (a pretext stage's pretext
model around it), and, for a stage initialised from an earlier one, that build with the
earlier stage's checkpoint loaded weights-only into the layers the spec names.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def initial_digests(
    task: str, model: dict, subset: str | Path, keys: list[tuple[int, int]], *, timeout: float = 600
) -> dict[tuple[int, int], str]:
    """{(seed, member): digest of the from-scratch initial weights}, computed in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "viprepro.judging.fresh_build",
        "--task",
        task,
        "--model",
        json.dumps(model),
        "--subset",
        str(subset),
        "--keys",
        *[f"{seed}:{member}" for seed, member in keys],
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPREPRO_ACCESS")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the independent build of the initial weights failed: {result.stderr.strip().splitlines()[-1:]}")
    return {tuple(int(x) for x in key.split(":")): digest for key, digest in json.loads(result.stdout).items()}


def stage_digests(task: str, spec: dict, subset: str | Path, records: list[dict], *, timeout: float = 1800) -> dict[tuple, dict]:
    """{(seed, member, stage): {"fresh", "initial"} or {"error"}} for every stage of every member record's chain."""
    from viprepro.jobs.determinism import derive_seed
    from viprepro.specs.stages import stage_named

    jobs = []
    for record in records:
        for entry in record.get("chain") or []:
            try:
                stage = stage_named(spec, entry["stage"])
            except KeyError:
                continue  # a stage the spec does not have: the chain audit says so
            inputs = {i["stage"]: i["checkpoint"] for i in entry.get("inputs", []) if i.get("role") == "init"}
            jobs.append(
                {
                    "key": [record["seed"], record["member"], entry["stage"]],
                    "stage": stage,
                    "member_seed": derive_seed(record["seed"], record["member"]),
                    "inputs": inputs,
                }
            )
    if not jobs:
        return {}
    command = [sys.executable, "-m", "viprepro.judging.fresh_build", "--task", task, "--subset", str(subset), "--stages"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPREPRO_ACCESS")}
    result = subprocess.run(command, input=json.dumps(jobs), capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the independent build of the stages' initial weights failed: {result.stderr.strip().splitlines()[-1:]}")
    return {tuple(item["key"]): item["digests"] for item in json.loads(result.stdout)}


def _stage_main(task, subset: Path) -> list[dict]:
    from viprepro.training import stages
    from viprepro.training.checkpoint import state_digest

    out = []
    for job in json.loads(sys.stdin.read()):
        try:
            model, fresh, _ = stages.initial_weights(
                task, job["stage"], subset, job["member_seed"], {k: Path(v) for k, v in job["inputs"].items()}
            )
            digests = {"fresh": fresh, "initial": state_digest(model.state_dict())}
        except Exception as exc:  # a missing or foreign input checkpoint is an audit failure, not a crash
            digests = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        out.append({"key": job["key"], "digests": digests})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", help="the spec's model section as JSON")
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--keys", nargs="+", help="seed:member pairs")
    parser.add_argument("--stages", action="store_true", help="rebuild stages: a JSON list of jobs on stdin")
    args = parser.parse_args(argv)
    from viprepro.training.guards import forbid_weight_downloads

    forbid_weight_downloads()
    import torch

    from viprepro.jobs.determinism import derive_seed
    from viprepro.tasks import get_task
    from viprepro.training.checkpoint import state_digest

    task = get_task(args.task)
    if args.stages:
        print(json.dumps(_stage_main(task, args.subset)))
        return 0
    model = json.loads(args.model)
    digests = {}
    for key in args.keys:
        seed, member = (int(x) for x in key.split(":"))
        torch.manual_seed(derive_seed(seed, member))
        digests[key] = state_digest(task.build_model(model, args.subset).state_dict())
    print(json.dumps(digests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
