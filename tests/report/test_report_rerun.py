"""`viprepro rerun`: from a certificate folder or an MLflow run id back to a runnable workflow."""

from __future__ import annotations

import shutil
import subprocess

import yaml
from testutils import REPO

from viprepro.jobs import tracking
from viprepro.report import rerun


def test_reconstructs_one_submission_config_with_its_spec_and_log(finished_run, tmp_path):
    cert = finished_run / "results/classification/report_smoke/certificate"
    plan = rerun.reconstruct(cert, tmp_path)
    config = yaml.safe_load(plan["config"].read_text())
    assert config["tasks"] == ["classification"] and config["tracking_uri"] is None
    (spec_path,) = config["datasets"]["classification"]["submissions"]
    spec = yaml.safe_load(open(spec_path))
    assert spec["name"] == "report_smoke" and spec["extra_seeds"] == 1
    assert (tmp_path / "inputs" / spec["claimed_log"]).is_file()


def test_checks_out_the_recorded_commit_without_touching_the_repository(tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "Snakefile").write_text("first\n")
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "one"], check=True)
    first = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (repo / "Snakefile").write_text("second\n")
    subprocess.run([*git, "-C", str(repo), "commit", "-qam", "two"], check=True)
    warnings = rerun.checkout({"commit": first, "dirty": True, "diff_sha256": "x"}, repo, tmp_path / "code")
    assert (tmp_path / "code/Snakefile").read_text() == "first\n"
    assert (repo / "Snakefile").read_text() == "second\n" and "uncommitted" in warnings[0]
    unknown = "f" * 40
    try:
        rerun.checkout({"commit": unknown}, repo, tmp_path / "other")
    except rerun.UserError as exc:
        assert "not in" in exc.message
    else:
        raise AssertionError("an unknown commit must be refused")


def test_an_mlflow_run_id_of_any_job_finds_the_certificate(finished_run, tmp_path):
    cert = finished_run / "results/classification/report_smoke/certificate"
    tags = {"config_hash": "c" * 16}
    with tracking.job_run(
        task="classification", stage="certificate", rule="certify_submission", submission="report_smoke", tags=tags
    ) as run:
        for path in sorted(p for p in cert.rglob("*") if p.is_file()):
            parent = path.parent.relative_to(cert).as_posix()
            run.log_artifact(path, "certificate" if parent == "." else f"certificate/{parent}")
    with tracking.job_run(task="classification", stage="train", rule="train_member", submission="report_smoke", tags=tags) as train:
        pass
    fetched = rerun.fetch_certificate(train.run_id, tmp_path)
    assert (fetched / "rerun.json").read_text() == (cert / "rerun.json").read_text()
    assert (fetched / "certificate.html").stat().st_size == (cert / "certificate.html").stat().st_size


def test_dry_run_lets_snakemake_plan_the_rerun(finished_run, tmp_path, capfd):
    cert = finished_run / "results/classification/report_smoke/certificate"
    code = tmp_path / "code"
    shutil.copytree(REPO, code, ignore=shutil.ignore_patterns(".venv", "results", ".snakemake", ".git", "logs", "__pycache__"))
    status = rerun.main([str(cert), "--workdir", str(tmp_path / "work"), "--repo", str(code), "--current-code", "--dry-run"])
    assert status == 0
    output = capfd.readouterr()
    assert "judge_submission" in output.out + output.err and "train_member" in output.out + output.err
