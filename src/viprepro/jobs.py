"""What every pipeline job does first: environment, threads, device, determinism, tags.

Import this before torch: `start` sets the variables CUDA and Python read at start-up.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .determinism import LEVELS, apply_level, prepare_environment


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (the job's `threads`)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when present")
    parser.add_argument("--determinism", choices=LEVELS, default="strict", help="torch deterministic algorithms: strict, warn or off")
    parser.add_argument("--rule", default="manual", help="Snakemake rule name (for the MLflow tags)")
    parser.add_argument("--config-hash", default="", help="digest of the resolved pipeline config (for the MLflow tags)")


def start(args: argparse.Namespace, *, uses_torch: bool = True):
    """Prepare the process for a job and return the torch device to use.

    Jobs that never touch a model (scoring) pass `uses_torch=False` and keep torch, and its
    half a gigabyte, out of the process; they get no device.
    """
    prepare_environment(args.determinism)
    if os.environ.get("PYTHONHASHSEED") and sys.flags.hash_randomization and os.environ.get("_VIPREPRO_REEXEC") is None:
        # PYTHONHASHSEED only takes effect at interpreter start: restart once with it set.
        os.environ["_VIPREPRO_REEXEC"] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not uses_torch:
        return None
    import torch

    torch.set_num_threads(max(1, args.threads))
    apply_level(args.determinism)
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def tags(args: argparse.Namespace, *, manifest_digest: str = "", extra: dict | None = None) -> dict:
    from .provenance import code_version

    code = code_version()
    return {
        "config_hash": args.config_hash,
        "code_version": code["commit"] + ("+dirty" if code["dirty"] else ""),
        "data_manifest_digest": manifest_digest,
        "determinism": args.determinism,
        **(extra or {}),
    }
