"""An invalid config or spec fails before any job runs, naming the key and the problem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from testutils import REPO, pipeline_env, snakemake_command

from viprepro.errors import UserError
from viprepro.specs.load import load_spec

TINY = yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text())


def dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            *snakemake_command(),
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(path),
            "--directory",
            str(tmp_path / "work"),
            "--snakefile",
            str(REPO / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=120,
    )


def test_the_tiny_config_is_valid(tmp_path):
    result = dry_run(tmp_path, TINY)
    assert result.returncode == 0, result.stderr
    assert "train_member" in result.stdout


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.update(colour="blue"), "'colour' was unexpected"),
        (lambda c: c.update(tasks="classification"), "'classification' is not of type 'array'"),
        (lambda c: c["datasets"]["classification"].update(source="/no/such/imagenet"), "source '/no/such/imagenet' is not a folder"),
        (lambda c: c["datasets"]["classification"]["synthetic"]["options"].update(classes="ten"), "'ten' is not of type 'integer'"),
        (lambda c: c["datasets"]["classification"]["synthetic"]["options"].update(colours=3), "unknown key(s)"),
        (lambda c: c["datasets"]["classification"].update(submissions=["config/submissions/nope.yaml"]), "nope.yaml: file not found"),
        (lambda c: c["datasets"]["classification"].update(edition="2021"), "the classification task has a single edition"),
        (lambda c: c["datasets"]["classification"].update(edition="21"), "does not match"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, change, expected):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    change(config)
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert expected in result.stderr + result.stdout
    assert not (tmp_path / "work" / "results").exists()


def test_the_later_editions_config_runs_each_later_task_at_its_edition(tmp_path):
    """config/later_editions.yaml (the opt-in later-edition tasks) is valid and passes each task's edition to its jobs."""
    later = yaml.safe_load((REPO / "config" / "later_editions.yaml").read_text())
    result = dry_run(tmp_path, later)
    assert result.returncode == 0, result.stderr
    for task, dataset in later["datasets"].items():
        assert f"--task {task} --out results/data/{task}/synthetic" in result.stdout
        assert f"--edition {dataset['edition']}" in result.stdout


def test_a_real_dataset_needs_its_manifests_folder(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["datasets"]["classification"].update(source=str(tmp_path))
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "manifests None must be the folder holding the official manifests" in result.stdout + result.stderr


def test_every_shipped_spec_is_valid():
    specs = sorted((REPO / "config" / "submissions").glob("*.yaml"))
    assert specs
    for path in specs:
        spec = load_spec(path)
        assert path.stem == spec["name"], f"{path.name}: file name and spec name differ"


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: s.pop("claimed"), "'claimed' is a required property"),
        (lambda s: s["recipe"].update(epochs=0), "key 'recipe.epochs'"),
        (lambda s: s["recipe"]["optimizer"].update(name="lion"), "'lion' is not one of"),
        (lambda s: s.update(claimed={"top5": {"value": 0.5}}), "claims unknown metric 'top5'"),
        (lambda s: s["recipe"].update(augment={"mixup": 0.2}), "key 'recipe.augment.mixup'"),
    ],
)
def test_bad_spec_is_refused_with_its_key(tmp_path, edit, expected):
    spec = yaml.safe_load((REPO / "config/submissions/classification_resnet_small.yaml").read_text())
    edit(spec)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError) as error:
        load_spec(path)
    assert expected in error.value.message
    assert str(path) in error.value.message


def test_a_key_written_twice_in_a_spec_is_refused_with_its_line(tmp_path):
    """PyYAML would keep the second `epochs` silently; a spec must say what it means once."""
    from viprepro.specs.load import load_spec

    text = (REPO / "config/submissions/classification_resnet_small.yaml").read_text()
    spec = tmp_path / "twice.yaml"
    spec.write_text(text.replace("recipe:\n", "recipe:\n  epochs: 1\n", 1))
    assert "  epochs:" in text  # the shipped spec sets epochs: now it is written twice
    with pytest.raises(UserError) as caught:
        load_spec(spec)
    assert "twice.yaml" in caught.value.message and "'epochs' appears twice" in caught.value.message and "line" in caught.value.message


def test_every_shipped_schema_and_spec_writes_each_key_once():
    from viprepro.files.schemas_io import load_yaml

    for path in [*(REPO / "src/viprepro/schemas").glob("*.yaml"), *(REPO / "config").rglob("*.yaml")]:
        load_yaml(path.read_text(encoding="utf-8"))
