"""`viprepro rerun <mlflow-run-id | certificate-folder>`: run a past reproduction again.

A certificate folder holds what a rerun needs: the submission spec (with its claimed
training log), the resolved pipeline config and the code version (rerun.json). Given an
MLflow run id instead, the certificate is downloaded from the store: the run's own artifacts
when it is a certificate run, else the certificate run of the same submission and config
hash (so the id of any job of a reproduction works: train, predict, score, verdict).

The rerun happens in a new folder: the code at the recorded commit is cloned into
WORKDIR/code (the repository is only read), the config is narrowed to this one submission
with its spec and log from the certificate, and Snakemake runs there with that code first on
PYTHONPATH. Afterwards the new reproduced scores are set beside the old ones.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from viprepro.errors import UserError
from viprepro.files.fileio import read_json, write_text

CERTIFICATE_ARTIFACTS = "certificate"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="viprepro rerun", description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a certificate folder (results/<task>/<name>/certificate) or an MLflow run id")
    parser.add_argument("--workdir", required=True, type=Path, help="new folder for the rerun (code/, config.yaml, results/)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repo", type=Path, default=None, help="git repository holding the recorded commit (default: this package's)")
    parser.add_argument("--current-code", action="store_true", help="run the code of --repo as it is instead of the recorded commit")
    parser.add_argument("--dry-run", action="store_true", help="reconstruct everything and let Snakemake list the jobs, run nothing")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store to look the run id up in (default: MLFLOW_TRACKING_URI)")
    return parser


# --- where the certificate comes from ---------------------------------------------------------


def fetch_certificate(source: str, workdir: Path, *, tracking_uri: str | None = None) -> Path:
    """The certificate folder: `source` itself, or downloaded from MLflow into WORKDIR/certificate."""
    if Path(source).is_dir():
        folder = Path(source)
        if not (folder / "rerun.json").is_file():
            raise UserError("not a certificate folder (no rerun.json)", path=folder)
        return folder
    if os.sep in source or source.startswith("."):
        raise UserError("no such certificate folder", path=source)
    from mlflow.tracking import MlflowClient

    from viprepro.jobs import tracking

    client = MlflowClient(tracking_uri=tracking_uri or tracking.tracking_uri())
    try:
        run = client.get_run(source)
    except Exception as exc:  # noqa: BLE001 - MlflowException for an unknown id
        raise UserError(f"no MLflow run {source!r} in {client.tracking_uri} ({type(exc).__name__})") from None
    certificate_run = run if run.data.tags.get("stage") == "certificate" else _certificate_run_of(client, run)
    target = Path(workdir) / "certificate"
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    downloaded = Path(client.download_artifacts(certificate_run.info.run_id, CERTIFICATE_ARTIFACTS, str(target.parent)))
    if downloaded != target:
        shutil.move(downloaded, target)
    return target


def _certificate_run_of(client, run):
    tags = run.data.tags
    if not tags.get("submission"):
        raise UserError(f"MLflow run {run.info.run_id} ({tags.get('stage', '?')}) belongs to no submission")
    query = (
        f"tags.stage = 'certificate' and tags.submission = '{tags['submission']}' "
        f"and tags.config_hash = '{tags.get('config_hash', '')}' and attributes.status = 'FINISHED'"
    )
    found = client.search_runs([run.info.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    if not found:
        raise UserError(
            f"no finished certificate run for submission {tags['submission']!r} with config hash "
            f"{tags.get('config_hash')!r}: run the pipeline up to its certificate first"
        )
    return found[0]


# --- what to run ------------------------------------------------------------------------------


def reconstruct(certificate: Path, workdir: Path) -> dict:
    """Write WORKDIR/inputs (spec, log) and WORKDIR/config.yaml for this one submission."""
    manifest = read_json(certificate / "rerun.json")
    inputs = manifest["inputs"]
    if not inputs.get("config"):
        raise UserError("the certificate holds no pipeline config (written without --config)", path=certificate)
    workdir = Path(workdir).resolve()
    if (workdir / "inputs").exists():
        shutil.rmtree(workdir / "inputs")
    shutil.copytree(certificate / "inputs", workdir / "inputs")
    config = yaml.safe_load((certificate / inputs["config"]).read_text(encoding="utf-8"))
    task = manifest["task"]
    if task not in config.get("datasets", {}):
        raise UserError(f"the certificate's config has no dataset for task {task!r}", path=certificate / inputs["config"])
    dataset = dict(config["datasets"][task], submissions=[str(workdir / inputs["spec"])])
    config.update(tasks=[task], datasets={task: dataset}, tracking_uri=None)
    write_text(workdir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    return {"manifest": manifest, "config": workdir / "config.yaml"}


def package_repository() -> Path | None:
    """The git checkout this package runs from, if it runs from one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip())


def checkout(code_version: dict | None, repo: Path, target: Path) -> list[str]:
    """Clone `repo` into `target` at the recorded commit; returns warnings for the reader."""
    commit = (code_version or {}).get("commit")
    if not commit or commit == "unknown":
        raise UserError("the certificate records no code commit: rerun with --current-code to use the code as it is now")
    known = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if known.returncode != 0:
        raise UserError(f"commit {commit[:12]} is not in {repo}: fetch it, point --repo at a clone that has it, or use --current-code")
    if target.exists():
        shutil.rmtree(target)
    for command in (
        ["git", "clone", "--quiet", "--shared", "--no-checkout", str(repo), str(target)],
        ["git", "-C", str(target), "checkout", "--quiet", "--detach", commit],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise UserError(f"{' '.join(command[:3])} failed: {done.stderr.strip()}")
    if code_version.get("dirty"):
        return [
            f"the original run had uncommitted changes (diff sha256 {code_version.get('diff_sha256')}); commit {commit[:12]} alone is rerun"
        ]
    return []


def snakemake_command(code: Path, workdir: Path, config: Path, cores: int, dry_run: bool) -> list[str]:
    beside = Path(sys.executable).with_name("snakemake")
    executable = str(beside) if beside.exists() else (shutil.which("snakemake") or "snakemake")
    command = [
        executable,
        "--snakefile",
        str(code / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        str(cores),
    ]
    return command + (["--dry-run"] if dry_run else [])


def compare(manifest: dict, verdict_path: Path) -> list[str]:
    """Old and new reproduced score of every claimed metric."""
    new = {j["metric"]: j["reproduced"] for j in read_json(verdict_path)["metrics"]}
    lines = []
    for metric, before in manifest.get("reproduced", {}).items():
        after = new.get(metric)
        same = "identical" if after == before else "DIFFERENT"
        lines.append(f"{metric}: before {before}, now {after} ({same})")
    return lines


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    certificate = fetch_certificate(args.source, workdir, tracking_uri=args.tracking_uri)
    plan = reconstruct(certificate, workdir)
    manifest = plan["manifest"]
    repo = Path(args.repo or package_repository() or ".").resolve()
    if args.current_code:
        code, warnings = repo, [f"running the code in {repo} as it is, not the recorded commit"]
    else:
        code = workdir / "code"
        warnings = checkout(manifest.get("code_version"), repo, code)
    for warning in warnings:
        print(f"viprepro rerun: warning: {warning}", file=sys.stderr)
    command = snakemake_command(code, workdir, plan["config"], args.cores, args.dry_run)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(code / "src"), os.environ.get("PYTHONPATH")) if p))
    env.pop("MLFLOW_TRACKING_URI", None)  # the rerun tracks into its own store, never the original one
    print(
        f"rerunning {manifest['task']}/{manifest['submission']} (code {(manifest.get('code_version') or {}).get('commit', '?')[:12]}) "
        f"in {workdir}:\n  {' '.join(command)}",
        flush=True,
    )
    done = subprocess.run(command, env=env)
    if done.returncode != 0 or args.dry_run:
        return done.returncode
    verdict = workdir / "results" / manifest["task"] / manifest["submission"] / "verdict.json"
    for line in compare(manifest, verdict):
        print(line)
    return 0


def main(argv: list[str]) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"viprepro rerun: error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
