"""Initial weights built again in a fresh process, away from the training job's code path.

The weights audit must not trust the code that trained: a training job could load weights
after building its model, or patch the builder in its own process. Here a new interpreter
(no state shared with any job) disables torch hub and every weight cache, builds each
member's model with the task registry's builder from its seed alone, and prints the digests.

    python -m viprepro.judging.fresh_build --task T --model JSON --subset DIR --keys 0:0 0:1 ...
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", required=True, help="the spec's model section as JSON")
    parser.add_argument("--subset", required=True, type=Path)
    parser.add_argument("--keys", nargs="+", required=True, help="seed:member pairs")
    args = parser.parse_args(argv)
    from viprepro.training.guards import forbid_weight_downloads

    forbid_weight_downloads()
    import torch

    from viprepro.jobs.determinism import derive_seed
    from viprepro.tasks import get_task
    from viprepro.training.checkpoint import state_digest

    task = get_task(args.task)
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
