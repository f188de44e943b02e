"""`viprepro explain <submission>`: why each job of a submission would (re)run or not.

Asks Snakemake itself: `--summary` gives every output's status and plan from Snakemake's
own records (code, params, input and software changes it tracks), and a dry run gives the
reason of each job it would run.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import subprocess
import sys
from pathlib import Path


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="viprepro explain", description=__doc__.splitlines()[0])
    parser.add_argument("submission", help="submission name (as in its spec)")
    parser.add_argument("--snakefile", type=Path, default=Path("Snakefile"))
    parser.add_argument("--directory", type=Path, default=None, help="the pipeline's working directory (default: here)")
    parser.add_argument("--configfile", type=Path, default=None)
    return parser


def _snakemake(args: argparse.Namespace, *extra: str) -> str:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(args.snakefile), "--cores", "1", *extra]
    if args.directory:
        command += ["--directory", str(args.directory)]
    if args.configfile:
        command += ["--configfile", str(args.configfile)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def summary_rows(text: str, submission: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(text[text.index("output_file") :]), delimiter="\t")) if "output_file" in text else []
    mine = [r for r in rows if f"/{submission}/" in r["output_file"]]
    tasks = {r["output_file"].split("/")[1] for r in mine}
    shared = [r for r in rows if any(r["output_file"].startswith(f"results/data/{t}/") for t in tasks)]
    return shared + mine


def dry_run_reasons(text: str, submission: str) -> list[tuple[str, str, str]]:
    """(rule, wildcards, reason) of every job the dry run would run for the submission."""
    reasons = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        header = re.match(r"(?:local)?rule (\w+):", block)
        if not header:
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        reason = re.search(r"^\s+reason: (.*)$", block, re.M)
        outputs = re.search(r"^\s+output: (.*)$", block, re.M)
        if outputs and f"/{submission}/" in outputs.group(1) and reason:
            reasons.append((header.group(1), wildcards.group(1) if wildcards else "", reason.group(1)))
    return reasons


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        rows = summary_rows(_snakemake(args, "--summary"), args.submission)
        reasons = dry_run_reasons(_snakemake(args, "--dry-run"), args.submission)
    except RuntimeError as exc:
        print(f"viprepro explain: error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"viprepro explain: error: no job of a submission named {args.submission!r} in this pipeline", file=sys.stderr)
        return 1
    width = max(len(r["rule"]) for r in rows)
    print(f"{'rule':<{width}}  {'status':<22}  {'plan':<15}  output")
    for row in rows:
        print(f"{row['rule']:<{width}}  {row['status']:<22}  {row['plan']:<15}  {row['output_file']}")
    if reasons:
        print("\nwhy the pending jobs would run:")
        for rule, wildcards, reason in reasons:
            print(f"  {rule} ({wildcards}): {reason}")
    else:
        print("\nnothing of this submission would run: every output is up to date")
    return 0
