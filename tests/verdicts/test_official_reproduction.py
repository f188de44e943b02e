"""An official reproduction refuses to run from a dirty tree unless told to allow it."""

from __future__ import annotations

import shutil
import subprocess

import yaml
from testutils import REPO, pipeline_env, snakemake_command


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_official_run_from_a_dirty_tree_needs_allow_dirty(tmp_path):
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    for item in ("Snakefile", "rules", "workflow_scripts", "profiles", "report", "envs"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(REPO / item, workflow / item)
    shutil.copytree(REPO / "tests" / "data", workflow / "tests" / "data")
    (workflow / "config").mkdir()
    (workflow / "config" / "schemas").symlink_to(REPO / "src" / "viprepro" / "schemas")
    shutil.copy(REPO / "tests/data/tiny_config.yaml", workflow / "config" / "config.yaml")
    _git(workflow, "init", "-q")
    _git(workflow, "add", ".")
    _git(workflow, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    (workflow / "rules" / "score.smk").write_text((workflow / "rules" / "score.smk").read_text() + "\n# local edit\n")

    def dry_run(reproduction):
        config = yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text())
        config["reproduction"] = reproduction
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return subprocess.run(
            [*snakemake_command(), "-n", "--cores", "1", "--configfile", str(path), "--directory", str(tmp_path / "work")],
            cwd=workflow,
            capture_output=True,
            text=True,
            env=pipeline_env(),
            timeout=120,
        )

    refused = dry_run({"official": True})
    assert refused.returncode != 0
    assert "official reproduction from a git tree with uncommitted changes" in refused.stdout + refused.stderr
    assert dry_run({"official": True, "allow_dirty": True}).returncode == 0
    assert dry_run({"official": False}).returncode == 0
